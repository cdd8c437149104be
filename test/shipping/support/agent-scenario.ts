import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { generateHubKeyPair, signCommand, signGrant } from '@keyway/shared/grants';
import { HubAckResponder } from '../../../agent/src/sync/test-support/hub-responder.js';
import { startAedes, type TestBroker } from '../../agent/support/brokers.js';

/**
 * Drives a packaged agent executable end to end, as the hub would, against a real broker (aedes) and the
 * simulated garage inside the agent (gpio.binding "sim"): it starts, opens the door on a signed command with a
 * signed grant, keeps events in its outbox while the broker is gone, and syncs them once it is back.
 */
export interface ScenarioOptions {
  executable: string;
  /** Prepended to the command line, e.g. ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu']. */
  wrapper?: readonly string[];
  workDir: string;
  deviceId?: string;
  /** Scales waits for slow emulation. */
  slowdown?: number;
  log?: (line: string) => void;
}

export interface ScenarioResult {
  startupMs: number;
  /** VmRSS of the agent process (KiB) once it is running and after the scenario; undefined under emulation. */
  rssKiBAfterStart?: number;
  rssKiBAtEnd?: number;
  commandResult: Record<string, unknown>;
  eventTypes: string[];
  offlineDepth: number;
  seqs: number[];
  exitCode: number | null;
  output: string;
}

function rssKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runAgentScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const slow = opts.slowdown ?? 1;
  const deviceId = opts.deviceId ?? 'garage-ship-1';
  const hub = generateHubKeyPair();
  const dataDir = join(opts.workDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  let broker: TestBroker = await startAedes();
  const port = broker.port;
  const responder = new HubAckResponder({ url: broker.url, hubPrivateKey: hub.privateKey });
  await responder.start();
  const hubClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 200, clientId: `ship-hub-${process.pid}` });
  const results: Array<Record<string, unknown>> = [];
  hubClient.on('message', (_t, p) => results.push(JSON.parse(p.toString()) as Record<string, unknown>));
  await hubClient.subscribeAsync(`keyway/v1/d/${deviceId}/up/cmd-result`, { qos: 1 });

  const config = join(opts.workDir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({ version: 1, deviceId, dataDir, broker: { url: broker.url, keepaliveS: 5 }, hubPublicKey: hub.publicKeyPem, sync: { heartbeatS: 5 } }),
  );
  const cmdLine = (...args: string[]): [string, string[]] => {
    const [first, ...rest] = [...(opts.wrapper ?? []), opts.executable, ...args];
    return [first!, rest];
  };
  const cli = (...args: string[]): string => {
    const [cmd, rest] = cmdLine(...args);
    const r = spawnSync(cmd, rest, { encoding: 'utf8', env: { ...process.env, KEYWAY_LOG_LEVEL: 'warn' }, timeout: 60_000 * slow });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };

  let output = '';
  let child: ChildProcess | undefined;
  const context = (): string => `agent output:\n${output.slice(-4000)}\nresults: ${JSON.stringify(results)}\nreceived: ${JSON.stringify([...responder.received.values()])}`;
  try {
    const t0 = performance.now();
    const [cmd, rest] = cmdLine('run', '-c', config);
    child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KEYWAY_LOG_LEVEL: 'info' } });
    const proc = child;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    await until('the agent prints "running"', () => output.includes(' running ') || proc.exitCode !== null, 30_000 * slow, context);
    if (proc.exitCode !== null) throw new Error(`the agent exited early\n${context()}`);
    const startupMs = performance.now() - t0;
    const rssKiBAfterStart = opts.wrapper?.length ? undefined : rssKiB(proc.pid);
    opts.log?.(`started in ${startupMs.toFixed(0)} ms`);

    // The agent learns trusted time from the hub's signed acks; until then it refuses grants with time-uncertain.
    await until('the hub receives the first events', () => responder.count(deviceId) > 0, 30_000 * slow, context);
    const nowS = (): number => Math.floor(Date.now() / 1000);
    const grant = await signGrant({ jti: 'g-ship', aud: deviceId, sub: 'courier-1', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open'], maxUses: 5 }, hub.privateKey);
    let commandResult: Record<string, unknown> | undefined;
    for (let attempt = 0; attempt < 10 && !commandResult; attempt++) {
      const jti = `c-open-${attempt}`;
      const token = await signCommand({ jti, aud: deviceId, iat: nowS(), exp: nowS() + 120, action: 'open', grantId: 'g-ship', grant }, hub.privateKey);
      await hubClient.publishAsync(`keyway/v1/d/${deviceId}/down/cmd`, token, { qos: 1 });
      await until(`a result for ${jti}`, () => results.some((r) => r.commandId === jti), 40_000 * slow, context);
      const r = results.find((x) => x.commandId === jti)!;
      if (r.status === 'ok') commandResult = r;
      else if (JSON.stringify(r).includes('time')) await new Promise((res) => setTimeout(res, 1000));
      else throw new Error(`command refused: ${JSON.stringify(r)}\n${context()}`);
    }
    if (!commandResult) throw new Error(`the open command never succeeded\n${context()}`);
    const types = (): string[] => (responder.received.get(deviceId) ?? []).map((e) => e.type);
    await until('DoorStateChanged and GrantUsed reach the hub', () => types().includes('keyway.access.GrantUsed') && types().includes('keyway.device.DoorStateChanged'), 30_000 * slow, context);
    const depth = (): number => (JSON.parse(cli('outbox', '-c', config, '--json')) as { depth: number } | null)?.depth ?? 0;
    await until('the outbox drains while online', () => depth() === 0, 30_000 * slow, context);

    // The network goes away: heartbeats (every 5 s) pile up in the outbox.
    await broker.stop();
    opts.log?.('broker stopped');
    let offlineDepth = 0;
    await until('events are kept in the outbox while offline', () => (offlineDepth = depth()) >= 1, 30_000 * slow, context);
    const before = responder.count(deviceId);

    // It comes back on the same address: everything kept is delivered, in sequence, without gaps.
    broker = await startAedes(port);
    opts.log?.('broker restarted');
    await until('the offline events reach the hub', () => responder.count(deviceId) >= before + offlineDepth, 60_000 * slow, context);
    await until('the outbox drains after reconnecting', () => depth() === 0, 60_000 * slow, context);
    const seqs = (responder.received.get(deviceId) ?? []).map((e) => e.seq);
    const rssKiBAtEnd = opts.wrapper?.length ? undefined : rssKiB(proc.pid);

    proc.kill('SIGTERM');
    const exitCode = await exited;
    return { startupMs, rssKiBAfterStart, rssKiBAtEnd, commandResult, eventTypes: types(), offlineDepth, seqs, exitCode, output };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await hubClient.endAsync(true);
    await responder.stop();
    await broker.stop();
  }
}
