import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const dir = mkdtempSync(join(tmpdir(), 'keyway-crash-'));
const spawned: ChildProcess[] = [];
afterAll(() => {
  // A failed or timed-out test must not leave a child running (a drain waits for an empty queue forever).
  for (const proc of spawned) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(mode: 'publish' | 'drain', db: string, delivered: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, db, delivered, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KEYWAY_LOG_LEVEL: 'silent' },
  });
  spawned.push(proc);
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, exited, out: () => out, err: () => err };
}

describe('bus durability across a crash', () => {
  it('when the hub is killed with SIGKILL under load, every acknowledged event is delivered after restart', async () => {
    const db = join(dir, 'bus.db');
    const delivered = join(dir, 'delivered.txt');
    const first = run('publish', db, delivered);
    const until = Date.now() + 15_000;
    while ((first.out().match(/\n/g)?.length ?? 0) < 500) {
      if (Date.now() > until) throw new Error(`the child acked too little before the deadline; stderr: ${first.err()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    // only complete lines count: a line cut by the kill was never fully acknowledged
    const acked = first.out().split('\n').slice(0, -1).map((l) => l.replace(/^ACK /, ''));
    expect(acked.length).toBeGreaterThanOrEqual(500);

    const second = run('drain', db, delivered);
    expect(await second.exited, second.err()).toBe(0);
    expect(second.out()).toContain('DRAINED');
    const got = new Set(existsSync(delivered) ? readFileSync(delivered, 'utf8').split('\n').filter(Boolean) : []);
    const missing = acked.filter((id) => !got.has(id));
    expect(missing).toEqual([]);
  }, 60_000);
});
