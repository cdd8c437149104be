import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageAgent, type PackagedTarget } from '../../scripts/package/agent-package.js';
import { hostTarget } from '../../scripts/package/targets.js';
import { runAgentScenario } from './support/agent-scenario.js';
import { canReceiveNotify, startNotifyReceiver } from './support/notify-socket.js';
import { generateHubKeyPair } from '@keyway/shared/grants';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

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
    // No Node process warnings, e.g. the SEA's "require() ... only supports loading built-in modules".
    expect(r.output).not.toMatch(/\(node:\d+\) \w*Warning/);
    expect(r.exitCode).toBe(0);
  }, 180_000);

  it.skipIf(!canReceiveNotify)('under systemd (NOTIFY_SOCKET) run reports READY=1, pings the watchdog while it runs and STOPPING=1 on SIGTERM', async () => {
    const dir = join(work, 'notify');
    mkdirSync(dir);
    const receiver = await startNotifyReceiver(dir);
    const config = join(dir, 'agent.json');
    // No broker needed: the agent runs (and buffers) without one.
    writeFileSync(config, JSON.stringify({ version: 1, deviceId: 'garage-notify', dataDir: join(dir, 'data'), broker: { url: 'mqtt://127.0.0.1:1' }, hubPublicKey: generateHubKeyPair().publicKeyPem }));
    const child = spawn(built.executable, ['run', '-c', config], {
      stdio: 'ignore',
      env: { ...process.env, KEYWAY_LOG_LEVEL: 'silent', NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '600000' },
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 20_000;
      while (receiver.messages.filter((m) => m.includes('WATCHDOG=1')).length < 3) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no watchdog pings: ${JSON.stringify(receiver.messages)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(receiver.messages[0]).toMatch(/READY=1/);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const stopDeadline = Date.now() + 5000;
      while (!receiver.messages.some((m) => m.includes('STOPPING=1')) && Date.now() < stopDeadline) await new Promise((r) => setTimeout(r, 50));
      expect(receiver.messages.some((m) => m.includes('STOPPING=1'))).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await receiver.stop();
    }
  }, 60_000);

  it('with the aws-iot connector it loads aws-crt from native/ and reaches the native library', async () => {
    const dir = join(work, 'aws-iot');
    mkdirSync(dir);
    // Not PEM at all: the error then comes from aws-c-common inside the addon, which proves the addon loaded.
    writeFileSync(join(dir, 'bad.pem'), 'not a certificate');
    const config = join(dir, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        version: 1,
        deviceId: 'garage-aws',
        dataDir: join(dir, 'data'),
        connector: 'aws-iot',
        broker: { url: 'mqtts://127.0.0.1:1', certPath: join(dir, 'bad.pem'), keyPath: join(dir, 'bad.pem') },
        hubPublicKey: generateHubKeyPair().publicKeyPem,
      }),
    );
    const child = spawn(built.executable, ['run', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KEYWAY_LOG_LEVEL: 'info' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 20_000;
    while (!/aws-c-\w+: AWS_/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    await exited;
    expect(built.addons).toContain('native/aws-crt-nodejs.node');
    expect(out).toMatch(/aws-c-\w+: AWS_/);
    expect(out).not.toMatch(/AWS CRT binary not present|cannot load the native addon/);
  }, 60_000);
});
