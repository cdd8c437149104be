/** The standalone keypad simulator's command line: a wrong argument is named in one line with the usage, exit 2. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');

function sim(...args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(tsx, [path.join(root, 'hardware-sim/src/cli.ts'), ...args], { encoding: 'utf8', input: '', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('the keypad simulator command line', () => {
  it.each([
    [['--link'], /^Option '--link <value>' argument missing\nusage: /],
    [['--link='], /^--link needs a path\nusage: /],
    [['--bogus'], /^Unknown option '--bogus'\nusage: /],
  ])('%j is refused with a one-line reason and exit 2', (args, message) => {
    const r = sim(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--help prints the usage and exits 0', () => {
    const r = sim('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: .*--link/);
  });
});
