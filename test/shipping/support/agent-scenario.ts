import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { generateHubKeyPair, signCommand, signGrant } from '@keyway/shared/grants';
import { until as pollUntil } from '../../../scripts/support/until.js';
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

/** The shared `until`, polling every 100 ms, with the agent's output added to a timeout's message. */
async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number, context: () => string): Promise<void> {
  try {
    await pollUntil(what, predicate, timeoutMs, 100);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${context()}`);
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
  // Asynchronous on purpose: the broker and the hub stand-in run in this process and must keep serving while
  // the CLI (seconds under qemu) runs.
  const cli = (...args: string[]): Promise<string> => {
    const [cmd, rest] = cmdLine(...args);
    return new Promise((resolve, reject) => {
      const c = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KEYWAY_LOG_LEVEL: 'warn' } });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.once('error', reject);
      c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))));
    });
  };
  const inspect = async (): Promise<{ depth: number; lastSeq: number }> => {
    const r = JSON.parse(await cli('outbox', '-c', config, '--json')) as { depth: number; lastSeq: number } | null;
    return { depth: r?.depth ?? 0, lastSeq: r?.lastSeq ?? 0 };
  };
  const receivedSeqs = (): Set<number> => new Set((responder.received.get(deviceId) ?? []).map((e) => e.seq));

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
    opts.log?.(`door command: ${JSON.stringify(commandResult)}`);
    await until('the outbox drains while online', async () => (await inspect()).depth === 0, 30_000 * slow, context);

    // The network goes away: new events (heartbeats every 5 s) are numbered and kept in the outbox.
    const lastSeenOnline = Math.max(0, ...receivedSeqs());
    await broker.stop();
    opts.log?.('broker stopped');
    let offlineDepth = 0;
    await until(
      'events created while offline are kept in the outbox',
      async () => {
        const o = await inspect();
        offlineDepth = o.depth;
        return o.depth >= 1 && o.lastSeq > lastSeenOnline;
      },
      60_000 * slow,
      context,
    );

    // It comes back on the same address: everything kept is delivered, and the hub then has every sequence number.
    broker = await startAedes(port);
    opts.log?.('broker restarted');
    let lastSeq = 0;
    await until(
      'the outbox drains after reconnecting',
      async () => {
        const o = await inspect();
        lastSeq = o.lastSeq;
        return o.depth === 0;
      },
      90_000 * slow,
      context,
    );
    await until('the hub has every event up to the last sequence', () => receivedSeqs().size >= lastSeq && Math.max(...receivedSeqs()) >= lastSeq, 30_000 * slow, context);
    const seqs = (responder.received.get(deviceId) ?? []).map((e) => e.seq);
    const rssKiBAtEnd = opts.wrapper?.length ? undefined : rssKiB(proc.pid);

    proc.kill('SIGTERM');
    // Bounded, so an agent that does not exit on SIGTERM fails here with its output, not as a test timeout.
    await until('the agent to exit on SIGTERM', () => proc.exitCode !== null || proc.signalCode !== null, 20_000 * slow, context);
    const exitCode = await exited;
    return { startupMs, rssKiBAfterStart, rssKiBAtEnd, commandResult, eventTypes: types(), offlineDepth, seqs, exitCode, output };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await hubClient.endAsync(true);
    await responder.stop();
    await broker.stop();
  }
}
