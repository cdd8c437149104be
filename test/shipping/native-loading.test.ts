import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_ENTRY, packageAgent, type PackagedTarget } from '../../scripts/package/agent-package.js';
import { hostTarget } from '../../scripts/package/targets.js';

// The agent does not use serialport yet, so its executable does not exercise the node-gyp-build shim; the probe
// entry loads better-sqlite3 and serialport's binding exactly as the agent would.
const target = hostTarget();
if (!target) console.log(`skipping the native loading test: ${process.platform}-${process.arch} is not a packaged target`);

describe.skipIf(!target)('native addons inside a single executable', () => {
  let work: string;
  let built: PackagedTarget;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'keyway-native-'));
    [built] = (await packageAgent({ targets: [target!], entry: PROBE_ENTRY, outDir: join(work, 'out'), log: () => undefined })) as [PackagedTarget];
  }, 180_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships better-sqlite3 under native/ and serialport under prebuilds/<platform>-<arch>/, glibc only', () => {
    expect(built.addons).toContain('native/better_sqlite3.node');
    const serial = built.addons.filter((a) => a.startsWith(`prebuilds/${target}/`));
    expect(serial.length).toBeGreaterThan(0);
    expect(serial.some((a) => a.includes('musl'))).toBe(false);
  });

  it('the executable loads SQLite and the serial binding from beside itself, even when started from elsewhere', () => {
    const out = execFileSync(built.executable, ['--db', join(work, 'probe.db')], { cwd: tmpdir(), encoding: 'utf8' });
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { sqliteVersion: string; rows: number; serialError: string };
    expect(report.sqliteVersion).toMatch(/^3\.\d+\.\d+$/);
    expect(report.rows).toBe(1);
    // /dev/null is not a tty: the error comes from inside the native binding, so the binding ran.
    expect(report.serialError).toMatch(/ioctl|tty|baud/i);
  });

  it('with KEYWAY_NATIVE_DIR pointing at an empty folder it fails with a message saying where addons belong', () => {
    let message = '';
    try {
      execFileSync(built.executable, ['--db', ':memory:'], { env: { ...process.env, KEYWAY_NATIVE_DIR: work }, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      message = String((error as { stderr?: string }).stderr);
    }
    expect(message).toMatch(/cannot load the native addon .*KEYWAY_NATIVE_DIR/s);
  });
});
