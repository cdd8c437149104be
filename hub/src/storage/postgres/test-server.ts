/**
 * A throwaway PostgreSQL server for tests: Debian's server binaries, a cluster initialised into a
 * temp folder, listening on 127.0.0.1 on a free port with its socket in that folder, fsync on.
 * Needs the Debian package `postgresql` (its packaged cluster may stay stopped). As root, initdb
 * refuses to run, so the server runs as the `postgres` system user the package creates.
 * Re-exported as test/support/postgres.ts; it sits here because the hub's TypeScript project may
 * import only files under hub/.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PostgresServer {
  /** Connection string of the `postgres` database as the trusted superuser `keyway`. */
  url: string;
  host: string;
  port: number;
  /** Creates an empty database and returns its connection string. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: open sessions are cut) and removes every file it had. */
  stop(): Promise<void>;
  /**
   * Stops the server, waits `downMs` with nothing listening, then starts it again on the same port.
   * `fast` (default) ends sessions and checkpoints; `immediate` kills the server like a crash, and
   * it recovers from its WAL on start.
   */
  restart(downMs?: number, mode?: 'fast' | 'immediate'): Promise<void>;
}

const SUPERUSER = 'keyway';

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = join(root, v, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function systemUser(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) return undefined;
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** True when the server binaries exist (and, as root, the `postgres` user to run them as). */
export function postgresAvailable(): boolean {
  if (binDir() === undefined) return false;
  return !isRoot() || (systemUser('postgres') !== undefined && existsSync('/usr/sbin/runuser'));
}

/** The reason a skipped test prints. */
export const POSTGRES_MISSING =
  'PostgreSQL server binaries not found: install the Debian package `postgresql` (apt-get install postgresql)';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  if (!bin || !postgresAvailable()) throw new Error(POSTGRES_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'keyway-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const owner = isRoot() ? systemUser('postgres') : undefined;
  if (owner) chownSync(dir, owner.uid, owner.gid);

  // Runs a server binary as the folder's owner, without blocking the event loop (tests keep
  // working against the server while it stops and starts). Output is kept for the error message.
  const run = (program: string, args: string[]): Promise<void> => {
    const [cmd, argv] = owner
      ? ['/usr/sbin/runuser', ['-u', 'postgres', '--', join(bin, program), ...args]]
      : [join(bin, program), args];
    return new Promise((resolve, reject) => {
      execFile(cmd, argv, { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
        if (!error) return resolve();
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
        reject(new Error(`${program} ${args[0] ?? ''} failed: ${stderr || stdout || error.message}\n${log}`));
      });
    });
  };

  try {
    // --no-sync only skips fsync of the template files initdb writes; the server runs with fsync=on.
    await run('initdb', ['-D', data, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let port = 0;
  const startServer = (): Promise<void> => {
    const opts = [
      `-h 127.0.0.1 -p ${port} -k ${dir}`,
      '-c fsync=on -c synchronous_commit=on -c full_page_writes=on',
      '-c max_connections=200 -c shared_buffers=32MB',
      // Tests that provoke a deadlock should not wait the default second for its detection.
      '-c deadlock_timeout=50ms',
    ].join(' ');
    return run('pg_ctl', ['start', '-D', data, '-l', logFile, '-w', '-t', '60', '-o', opts]);
  };
  const stopServer = (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    return run('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '60']);
  };

  // The port is probed free and then bound by the server; another process may take it in between,
  // so a failed start is retried on a new port.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await startServer();
      break;
    } catch (error) {
      if (attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const url = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
  let running = true;
  // pg_ctl detaches the server; if the test process ends without stop() (a crash, a forgotten
  // afterAll), kill the server and its files anyway rather than leave it running.
  const onExit = (): void => {
    if (!running) return;
    try {
      const argv = ['stop', '-D', data, '-m', 'immediate', '-w'];
      if (owner)
        execFileSync('/usr/sbin/runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...argv], { stdio: 'ignore' });
      else execFileSync(join(bin, 'pg_ctl'), argv, { stdio: 'ignore' });
    } catch {
      // best effort while exiting
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return {
    url,
    host: '127.0.0.1',
    port,
    async createDatabase(name: string): Promise<string> {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      // psql keeps this helper free of a client library (test/ has no dependencies of its own).
      await run('psql', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        SUPERUSER,
        '-d',
        'postgres',
        '-qc',
        `CREATE DATABASE ${name}`,
      ]);
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${name}`;
    },
    async restart(downMs = 0, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
      if (running) await stopServer(mode);
      running = false;
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await startServer();
      running = true;
    },
    async stop(): Promise<void> {
      try {
        if (running) await stopServer();
      } finally {
        running = false;
        process.off('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
