import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ErrorCode, KeywayError } from '@keyway/shared';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the command's output goes; build logs are long, so callers usually pass a log file's writer. */
  onOutput?: (chunk: string) => void;
}

/** Runs a program to completion; rejects with its last output when it exits non-zero. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (b: Buffer): void => {
      const s = b.toString();
      out = (out + s).slice(-64_000);
      opts.onOutput?.(s);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (cause) =>
      reject(new KeywayError(ErrorCode.Unavailable, `cannot start ${cmd}; install it or put it on PATH`, { cause })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else
        reject(
          new KeywayError(ErrorCode.Internal, `${cmd} ${args.join(' ')} exited with ${code ?? 'a signal'}; its output ends:\n${out.slice(-4000)}`),
        );
    });
  });
}

/** The absolute path of a program on PATH, or undefined. */
export function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, program);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}
