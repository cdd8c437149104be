import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageAgent, type PackagedTarget } from '../../scripts/package/agent-package.js';
import { hostTarget } from '../../scripts/package/targets.js';
import { runAgentScenario } from './support/agent-scenario.js';

// The build machine's own target (linux-x64 here and in CI): built and run by the default test command (~20 s).
const target = hostTarget();
if (!target) console.log(`skipping the agent executable test: ${process.platform}-${process.arch} is not a packaged target`);

describe.skipIf(!target)(`agent single executable (${target ?? 'none'})`, () => {
  let work: string;
  let built: PackagedTarget;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'keyway-agent-exe-'));
    [built] = (await packageAgent({ targets: [target!], outDir: join(work, 'out'), log: () => undefined })) as [PackagedTarget];
  }, 180_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the tarball unpacks to the executable, its native addons, the controller files and matching checksums', () => {
    const unpack = join(work, 'unpacked');
    mkdirSync(unpack);
    execFileSync('tar', ['xzf', built.tarball, '-C', unpack]);
    const [folder] = readdirSync(unpack);
    const dir = join(unpack, folder!);
    expect(readdirSync(dir).sort()).toEqual(
      expect.arrayContaining(['SHA256SUMS', 'VERSION', 'install.sh', 'keyway-agent', 'keyway-agent.service', 'native']),
    );
    expect(readdirSync(join(dir, 'native'))).toContain('better_sqlite3.node');
    expect(execFileSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' })).toMatch(/keyway-agent: OK/);
    expect(execFileSync('sha256sum', ['-c', `${built.tarball}.sha256`], { cwd: join(work, 'out'), encoding: 'utf8' })).toMatch(/OK/);
    // Run from the unpacked copy, far from the repository's node_modules: nothing may be loaded from there.
    expect(execFileSync(join(dir, 'keyway-agent'), ['--help'], { cwd: unpack, encoding: 'utf8' })).toMatch(/keyway-agent <command>/);
  });

  it('starts, opens the simulated door on a signed command, buffers events while the broker is down and syncs them after', async () => {
    const r = await runAgentScenario({ executable: built.executable, workDir: join(work, 'scenario') });
    console.log(
      `agent executable ${target}: ready in ${r.startupMs.toFixed(0)} ms, RSS ${((r.rssKiBAfterStart ?? 0) / 1024).toFixed(1)} MiB after start, ` +
        `${((r.rssKiBAtEnd ?? 0) / 1024).toFixed(1)} MiB at the end; ${r.offlineDepth} events buffered offline`,
    );
    expect(r.commandResult).toMatchObject({ status: 'ok', data: { action: 'open' } });
    expect(r.eventTypes).toEqual(expect.arrayContaining(['keyway.device.DoorStateChanged', 'keyway.access.GrantUsed']));
    expect(r.offlineDepth).toBeGreaterThanOrEqual(1);
    // Every sequence number from 1 to the last arrived exactly once.
    expect([...r.seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: r.seqs.length }, (_, i) => i + 1));
    expect(r.output).toContain('stopped cleanly');
    expect(r.exitCode).toBe(0);
  }, 180_000);
});
