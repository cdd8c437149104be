import { constants } from 'node:fs';
import { access as fsAccess, readFile, stat as fsStat } from 'node:fs/promises';
import { ErrorCode, KeywayError } from '@keyway/shared';

/**
 * Explains why GPIO is not usable: which file, which permission, which group to join.
 * The file-system calls are injectable because the tests run as root, where access() never fails.
 */
export interface AccessProbe {
  access(path: string, mode: number): Promise<void>;
  stat(path: string): Promise<{ uid: number; gid: number; mode: number }>;
  /** Contents of /etc/group, for naming the group that owns the file. */
  groupFile(): Promise<string>;
}

export const realProbe: AccessProbe = {
  access: (path, mode) => fsAccess(path, mode),
  stat: (path) => fsStat(path),
  groupFile: () => readFile('/etc/group', 'utf8').catch(() => ''),
};

export function groupName(groupFile: string, gid: number): string | undefined {
  for (const line of groupFile.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && Number(id) === gid) return name;
  }
  return undefined;
}

/**
 * Resolves when `path` can be opened read-write; otherwise throws HardwareUnavailable whose
 * message names the file, the missing permission and the owning group. `hint` says what the
 * file is for (e.g. "sysfs GPIO export").
 */
export async function assertReadWrite(path: string, hint: string, probe: AccessProbe = realProbe): Promise<void> {
  try {
    await probe.access(path, constants.R_OK | constants.W_OK);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new KeywayError(ErrorCode.HardwareUnavailable, `${path} does not exist (${hint}); check gpio.binding in the config (sysfs needs /sys/class/gpio; the gpiod library binding needs /dev/gpiochip*)`, {
        cause: error,
        details: { path, errno: code },
      });
    }
    let owner = '';
    let group: string | undefined;
    try {
      const st = await probe.stat(path);
      group = groupName(await probe.groupFile(), st.gid) ?? `gid ${st.gid}`;
      owner = `; it is mode ${(st.mode & 0o777).toString(8)}, group ${group}`;
    } catch {
      // The stat is only for a better message.
    }
    const join = group ? `add the agent's user to group "${group}" (sudo usermod -aG ${group} <user>, then log in again)` : 'run the agent as a user allowed to use GPIO';
    throw new KeywayError(ErrorCode.HardwareUnavailable, `no read/write permission on ${path} (${hint})${owner}; ${join}`, {
      cause: error,
      details: { path, errno: code, group },
    });
  }
}
