import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateHubKeyPair } from '@keyway/shared/grants';
import { main } from '@keyway/agent/cli';
import { inspectOutbox } from '@keyway/agent/outbox';
import { startAedes, type TestBroker } from './support/brokers.js';

const hub = generateHubKeyPair();

function capture(): { io: { out: (l: string) => void; err: (l: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

describe('keyway-agent CLI', () => {
  let dir: string;
  let configPath: string;
  let broker: TestBroker | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyway-cli-'));
    configPath = join(dir, 'agent.json');
  });
  afterEach(async () => {
    await broker?.stop();
    broker = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const writeConfig = (url: string, extra: Record<string, unknown> = {}): void => {
    writeFileSync(configPath, JSON.stringify({ version: 1, deviceId: 'garage-cli', dataDir: join(dir, 'data'), broker: { url }, hubPublicKey: hub.publicKeyPem, ...extra }));
  };

  it('prints help for every command', async () => {
    for (const command of ['run', 'status', 'outbox', 'check-config', 'gpio-test']) {
      const c = capture();
      expect(await main([command, '--help'], c.io)).toBe(0);
      expect(c.out.join('\n')).toContain(`keyway-agent ${command}`);
    }
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/gpio-test/);
  });

  it('check-config accepts a valid file and lists every problem of an invalid one with exit code 2', async () => {
    writeConfig('mqtt://127.0.0.1:1883');
    const ok = capture();
    expect(await main(['check-config', '-c', configPath], ok.io)).toBe(0);
    writeConfig('mqtt://127.0.0.1:1883', { door: { pulseMs: 5 }, outbox: { maxRows: 'many' } });
    const bad = capture();
    expect(await main(['check-config', '-c', configPath], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toMatch(/door\.pulseMs: got 5; allowed: 100-2000 ms/);
    expect(bad.err.join('\n')).toMatch(/outbox\.maxRows: got "many"/);
  });

  it('refuses a --limit or --blinks that is not a whole number, naming the option, with exit code 2', async () => {
    writeConfig('mqtt://127.0.0.1:1883');
    for (const args of [['outbox', '--limit', 'abc'], ['outbox', '--limit', '0'], ['gpio-test', '--blinks', '2.5']]) {
      const c = capture();
      expect(await main([...args, '-c', configPath], c.io)).toBe(2);
      expect(c.err.join('\n')).toMatch(new RegExp(`^--${args[1]!.slice(2)} must be a whole number from 1 to 100000, got "${args[2]!.replace('.', '\\.')}"`));
    }
  });

  it('gpio-test blinks the warning light on the simulator and reads the sensors', async () => {
    writeConfig('mqtt://127.0.0.1:1883');
    const c = capture();
    expect(await main(['gpio-test', '-c', configPath, '--blinks', '2'], c.io)).toBe(0);
    expect(c.out.filter((l) => l.startsWith('warning light blink'))).toHaveLength(2);
    expect(c.out[0]).toMatch(/closed-switch=made open-switch=open beam=clear/);
  });

  it('run stops gracefully on SIGTERM, and status and outbox then read what it left', async () => {
    broker = await startAedes();
    writeConfig(broker.url, { sync: { heartbeatS: 5 } });
    // `node --import tsx`, not the tsx wrapper: SIGTERM must reach the agent process itself.
    const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'agent/src/cli/bin.ts'), 'run', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KEYWAY_LOG_LEVEL: 'silent' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!output.includes('running')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`agent did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    // The config leaves gpio.binding out: the simulator, said so before the running line.
    expect(output).toContain('warning: gpio.binding is "sim"');
    expect(output).toMatch(/running \(gpio sim, broker /);
    expect(output).toContain('stopped cleanly');
    expect(code).toBe(0);
    const inspection = inspectOutbox(join(dir, 'data', 'agent.db'));
    expect(inspection?.lastSeq).toBeGreaterThan(0);
    const s = capture();
    expect(await main(['status', '-c', configPath, '--json'], s.io)).toBe(0);
    expect(JSON.parse(s.out[0]!)).toMatchObject({ deviceId: 'garage-cli', door: 'closed', connected: false });
    const o = capture();
    expect(await main(['outbox', '-c', configPath], o.io)).toBe(0);
    expect(o.out[0]).toMatch(/^depth \d+/);
  }, 30_000);
});
