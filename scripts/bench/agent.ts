// npm run bench:agent — measures the edge agent's outbox and sync.
// Prints: durable append rates, time and rate to drain 1,000,000 buffered events through a local MQTT broker
// (aedes) to a hub endpoint that deduplicates and acks, database size per million events, and the RSS of the
// real agent process (`keyway-agent run`, bundled with esbuild as shipped) at idle and during the drain.
// The last line is one JSON object. KEYWAY_BENCH_EVENTS overrides the 1,000,000.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { build } from 'esbuild';
import { generateHubKeyPair } from '@keyway/shared/grants';
import { Outbox, openAgentDatabase, type AppendInput } from '@keyway/agent/outbox';
import { HubAckResponder } from '../../agent/src/sync/test-support/hub-responder.js';

process.env.KEYWAY_LOG_LEVEL ??= 'silent';
const TOTAL = Number(process.env.KEYWAY_BENCH_EVENTS ?? 1_000_000);
// V8 limits for a board with little memory: without them V8 lets garbage pile up while there is headroom, and RSS
// during a long drain roughly doubles (the live heap stays ~20 MB). The shipped service unit does not set them: given
// in NODE_OPTIONS, the single executable rejects its code cache (built without them) and says so at every start.
// KEYWAY_BENCH_NODE_FLAGS="" measures plain node, as shipped.
const NODE_FLAGS = process.env.KEYWAY_BENCH_NODE_FLAGS ?? '--max-old-space-size=32 --max-semi-space-size=1';
/** How long the idle agent runs before its RSS is read (after the 3 s start-up reading). */
const IDLE_SETTLE_MS = 27_000;
const repo = process.cwd();
const work = mkdtempSync(join(tmpdir(), 'keyway-bench-agent-'));
const at = new Date().toISOString();
const doorEvent = (): AppendInput => ({ type: 'keyway.device.DoorStateChanged', data: { deviceId: 'bench-1', state: 'open', previous: 'opening', at, cause: { kind: 'command', commandId: 'c-1', grantId: 'g-1', holder: 'courier-7' } } });
const heartbeat = (n: number): AppendInput => ({ type: 'keyway.device.Heartbeat', data: { deviceId: 'bench-1', uptimeS: n, outboxDepth: n, doorState: 'closed', at } });

/** Bytes this process has caused to be written to storage (Linux /proc/self/io), or NaN elsewhere. */
function writtenBytes(): number {
  try {
    const m = /^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

async function measureAppends(): Promise<{ criticalPerSec: number; telemetryPerSec: number; groupPerSec: number; criticalWriteBytes: number }> {
  const dir = join(work, 'append');
  const db = openAgentDatabase(join(dir, 'agent.db'));
  const outbox = new Outbox(db, { deviceId: 'bench-1', caps: { maxRows: 10_000_000, maxBytes: 10 * 1024 ** 3 } });
  await outbox.start();
  const timed = (n: number, fn: (i: number) => void): number => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    return rate(n, performance.now() - t0);
  };
  const w0 = writtenBytes();
  const criticalPerSec = timed(2_000, () => outbox.appendMany([doorEvent()]));
  const criticalWriteBytes = (writtenBytes() - w0) / 2_000;
  const telemetryPerSec = timed(20_000, (i) => outbox.appendMany([heartbeat(i)]));
  const group = Array.from({ length: 100 }, doorEvent);
  const groupPerSec = timed(500, () => outbox.appendMany(group)) * 100;
  await outbox.stop();
  db.close();
  return { criticalPerSec, telemetryPerSec, groupPerSec, criticalWriteBytes };
}

async function fillOutbox(dbPath: string, n: number): Promise<{ ms: number; bytes: number; writeBytes: number; payloadBytes: number }> {
  const db = openAgentDatabase(dbPath);
  const outbox = new Outbox(db, { deviceId: 'bench-1', caps: { maxRows: 10_000_000, maxBytes: 10 * 1024 ** 3 } });
  await outbox.start();
  const w0 = writtenBytes();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const k = Math.min(1000, n - i);
    outbox.appendMany(Array.from({ length: k }, (_, j) => ((i + j) % 10 === 0 ? doorEvent() : heartbeat(i + j))));
  }
  const ms = performance.now() - t0;
  const payloadBytes = outbox.stats().bytes;
  await outbox.stop();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  // Includes the WAL, the checkpoint into the main file and the final TRUNCATE: everything the card sees.
  return { ms, bytes: statSync(dbPath).size, writeBytes: writtenBytes() - w0, payloadBytes };
}

async function startBroker(): Promise<{ url: string; stop: () => Promise<void> }> {
  const broker = await Aedes.createBroker();
  const server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

async function bundleAgent(): Promise<string> {
  // Inside node_modules so the native externals (better-sqlite3, onoff, serialport) resolve as in a deployment.
  const outDir = join(repo, 'node_modules', '.cache', 'keyway-bench');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, 'keyway-agent.mjs');
  await build({
    entryPoints: [join(repo, 'agent/src/cli/bin.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Minified: V8 keeps every script's source in memory, so an unminified bundle costs ~8 MB more RSS.
    minify: true,
    outfile,
    external: ['better-sqlite3', 'onoff', 'epoll', 'serialport', '@serialport/*'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

/** Total RSS and its anonymous part (the process's own memory; the rest is file pages, mostly the node binary). */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function anonMb(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function bareNodeRssMb(): number {
  const out = spawnSync(process.execPath, ['-e', "setTimeout(() => process.stdout.write(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1]), 300)"], { encoding: 'utf8' });
  return Number(out.stdout) / 1024;
}

function startAgentProcess(bundle: string, configPath: string): ChildProcess {
  const flags = NODE_FLAGS.split(' ').filter(Boolean);
  return spawn(process.execPath, [...flags, bundle, 'run', '-c', configPath], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KEYWAY_LOG_LEVEL: 'warn' } });
}

async function waitOutput(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not print "${text}" in ${timeoutMs} ms: ${out}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${out}`)));
  });
}

async function stopAgentProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  console.log(`keyway agent benchmark: ${TOTAL.toLocaleString('en-US')} events, node ${process.version}, ${process.platform}/${process.arch}; agent node flags: ${NODE_FLAGS || '(none)'}`);
  const appends = await measureAppends();
  console.log(`append, door event, own fsynced commit each : ${appends.criticalPerSec.toLocaleString('en-US')} events/s`);
  console.log(`append, heartbeat, own commit (no fsync)    : ${appends.telemetryPerSec.toLocaleString('en-US')} events/s`);
  console.log(`append, door events, 100 per fsynced commit : ${appends.groupPerSec.toLocaleString('en-US')} events/s`);
  console.log(`bytes written to storage per fsynced single-event commit: ${Math.round(appends.criticalWriteBytes).toLocaleString('en-US')}`);

  const hub = generateHubKeyPair();
  const broker = await startBroker();
  const responder = new HubAckResponder({ url: broker.url, hubPrivateKey: hub.privateKey, countOnly: true });
  await responder.start();
  const bundle = await bundleAgent();
  const dataDir = join(work, 'agent');
  mkdirSync(dataDir, { recursive: true });
  const configPath = join(work, 'agent.json');
  writeFileSync(configPath, JSON.stringify({ version: 1, deviceId: 'bench-1', dataDir, broker: { url: broker.url }, hubPublicKey: hub.publicKeyPem, outbox: { maxRows: 10_000_000, maxBytes: 8 * 1024 ** 3 }, sync: { heartbeatS: 3600 } }));

  // Idle: the real agent, connected, nothing to send.
  let child = startAgentProcess(bundle, configPath);
  await waitOutput(child, 'running', 20_000);
  await new Promise((r) => setTimeout(r, 3_000));
  const startRssMb = rssMb(child.pid!);
  // V8 returns the pages start-up used (parsing, compiling, config validation) to the OS only once
  // its memory reducer runs, some seconds into idling; what a board runs for days is the settled figure.
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const idleRssMb = rssMb(child.pid!);
  const idleAnonMb = anonMb(child.pid!);
  await stopAgentProcess(child);
  const bareMb = bareNodeRssMb();
  console.log(`agent RSS 3 s after start                   : ${startRssMb.toFixed(1)} MB`);
  console.log(
    `agent RSS at idle, settled (${IDLE_SETTLE_MS / 1000 + 3} s, connected) : ${idleRssMb.toFixed(1)} MB (anonymous ${idleAnonMb.toFixed(1)} MB; a bare \`node -e\` here: ${bareMb.toFixed(1)} MB)`,
  );

  // Buffer TOTAL events while "offline" (straight into the agent's database), then let the agent drain them.
  const fill = await fillOutbox(join(dataDir, 'agent.db'), TOTAL);
  const dbBytesPerMillion = Math.round((fill.bytes / TOTAL) * 1_000_000);
  // Against what the database keeps per event (WAL frame + checkpoint copy + b-tree/index pages on top of it).
  const writeAmplification = fill.writeBytes / fill.bytes;
  console.log(
    `storage writes while buffering: ${(fill.writeBytes / TOTAL).toFixed(0)} B per event; the database keeps ${(fill.bytes / TOTAL).toFixed(0)} B per event ` +
      `(write amplification ${writeAmplification.toFixed(2)}x); the envelope as sent is ${(fill.payloadBytes / TOTAL).toFixed(0)} B`,
  );
  console.log(`buffered ${TOTAL.toLocaleString('en-US')} events in ${(fill.ms / 1000).toFixed(1)} s (1000 per commit); database ${(fill.bytes / 1024 ** 2).toFixed(0)} MB -> ${(dbBytesPerMillion / 1024 ** 2).toFixed(0)} MB per million events`);

  const startCount = responder.uniqueCount;
  const t0 = performance.now();
  child = startAgentProcess(bundle, configPath);
  let drainRssMb = 0;
  let drainAnonMb = 0;
  const sampler = setInterval(() => {
    try {
      drainRssMb = Math.max(drainRssMb, rssMb(child.pid!));
      drainAnonMb = Math.max(drainAnonMb, anonMb(child.pid!));
    } catch {
      // process gone
    }
  }, 200);
  // +1: the heartbeat the agent appends on connect.
  await responder.waitFor(() => responder.uniqueCount - startCount >= TOTAL, 30 * 60_000);
  const drainMs = performance.now() - t0;
  clearInterval(sampler);
  await stopAgentProcess(child);
  const drainPerSec = rate(TOTAL, drainMs);
  console.log(`drained ${TOTAL.toLocaleString('en-US')} events to broker + hub endpoint in ${(drainMs / 1000).toFixed(1)} s (incl. agent start): ${drainPerSec.toLocaleString('en-US')} events/s (${responder.batches} batches, ${responder.duplicates} duplicates discarded)`);
  console.log(`agent RSS during drain (peak)               : ${drainRssMb.toFixed(1)} MB (anonymous ${drainAnonMb.toFixed(1)} MB)`);

  await responder.stop();
  await broker.stop();
  rmSync(work, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      events: TOTAL,
      appendPerSec: appends.criticalPerSec,
      appendTelemetryPerSec: appends.telemetryPerSec,
      appendGroupPerSec: appends.groupPerSec,
      drainPerSec,
      drainSeconds: Math.round(drainMs) / 1000,
      idleRssMb: Math.round(idleRssMb * 10) / 10,
      startRssMb: Math.round(startRssMb * 10) / 10,
      drainRssMb: Math.round(drainRssMb * 10) / 10,
      idleAnonMb: Math.round(idleAnonMb * 10) / 10,
      drainAnonMb: Math.round(drainAnonMb * 10) / 10,
      bareNodeRssMb: Math.round(bareMb * 10) / 10,
      nodeFlags: NODE_FLAGS,
      dbBytesPerMillion,
      writeBytesPerEvent: Math.round(fill.writeBytes / TOTAL),
      writeAmplification: Math.round(writeAmplification * 100) / 100,
      writeBytesPerFsyncedAppend: Math.round(appends.criticalWriteBytes),
    }),
  );
}

await main();
