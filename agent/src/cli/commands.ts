import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '@keyway/shared';
import { importHubPublicKey } from '@keyway/shared/grants';
import { formatProblems, hubPublicKeyPem, loadConfig, validateConfig, type AgentConfig } from '../config/index.js';
import { inspectOutbox } from '../outbox/inspect.js';
import { AutoCloser } from '../door/auto-close.js';
import { SerialKeypad } from '../keypad/keypad.js';
import { Agent, type KeypadSource } from '../runtime/agent.js';
import { readStatus } from '../runtime/status-file.js';
import { openHardware } from './hardware.js';
import { guardRelay } from './relay-guard.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/**
 * `run`: the agent until SIGTERM/SIGINT, then a graceful shutdown (relay released, database closed). A second signal
 * or a crash releases the relay before the process ends (see guardRelay).
 */
export async function runAgent(configPath: string, io: Io): Promise<number> {
  const config = loadConfig(configPath);
  const hardware = await openHardware(config);
  const autoClose = new AutoCloser(hardware.door, { afterOpenMs: config.door.autoCloseAfterOpenS * 1000, afterDeliveryMs: config.door.autoCloseAfterDeliveryS * 1000 });
  const serialKeypad = config.keypad.serialPath ? new SerialKeypad({ path: config.keypad.serialPath }) : undefined;
  const keypad: KeypadSource | undefined = serialKeypad && {
    onEntry: (listener) => serialKeypad.events.on('pin', (e) => listener(e.pin)),
    feedback: (accepted) => (accepted ? serialKeypad.accept() : serialKeypad.reject()),
  };
  // Installed before anything can pulse the relay, removed only after the graceful stop has released it.
  const guard = guardRelay({ relay: hardware.io.relay, say: (line) => io.out(line) });
  const agent = new Agent({ config, door: hardware.door, ...(keypad ? { keypad } : {}) });
  try {
    await agent.start();
    await autoClose.start();
    await serialKeypad?.start();
  } catch (error) {
    // Nothing has pulsed yet; the caller reports the error and the process ends as it would without the guard.
    guard.dispose();
    throw error;
  }
  if (config.gpio.binding === 'sim') {
    io.err('warning: gpio.binding is "sim": the door is the hardware simulator and no relay is driven; set gpio.binding to "sysfs" on a controller');
  }
  io.out(`keyway-agent ${config.deviceId} running (gpio ${config.gpio.binding}, broker ${config.broker.url}, data ${config.dataDir}); SIGTERM stops it`);
  await guard.stopRequested;
  await serialKeypad?.stop();
  await autoClose.stop();
  await agent.stop();
  await hardware.close();
  guard.dispose();
  io.out('stopped cleanly');
  return 0;
}

export function checkConfig(configPath: string, io: Io): number {
  let raw: unknown;
  try {
    raw = JSON.parse(readText(configPath));
  } catch (error) {
    io.err(`config ${configPath}: ${describeError(error)}`);
    return 2;
  }
  const result = validateConfig(raw);
  if (!result.ok) {
    io.err(`config ${configPath} is invalid:\n${formatProblems(result.problems)}`);
    return 2;
  }
  try {
    importHubPublicKey(hubPublicKeyPem(result.config));
  } catch (error) {
    io.err(`config ${configPath}: ${describeError(error)}`);
    return 2;
  }
  io.out(`config ${configPath} is valid for device ${result.config.deviceId}`);
  return 0;
}

export function status(configPath: string, io: Io, json: boolean): number {
  const config = loadConfig(configPath);
  const snapshot = readStatus(config.dataDir);
  const outbox = inspectOutbox(join(config.dataDir, 'agent.db'), 0);
  const report = {
    deviceId: config.deviceId,
    door: snapshot?.door ?? 'unknown',
    connected: snapshot?.connected ?? false,
    outboxDepth: outbox?.depth ?? 0,
    lastSeq: outbox?.lastSeq ?? 0,
    droppedTotal: outbox?.droppedTotal ?? 0,
    lastSyncAt: snapshot?.lastSyncAt ?? null,
    time: snapshot?.time ?? null,
    statusUpdatedAt: snapshot?.updatedAt ?? null,
  };
  if (json) {
    io.out(JSON.stringify(report));
    return 0;
  }
  io.out(`device        ${report.deviceId}`);
  io.out(`door          ${report.door}`);
  io.out(`connectivity  ${report.connected ? 'online' : 'offline'}${snapshot ? '' : ' (agent has not written status yet)'}`);
  io.out(`outbox depth  ${report.outboxDepth} (last seq ${report.lastSeq}, dropped ${report.droppedTotal})`);
  io.out(`last sync     ${report.lastSyncAt ?? 'never'}`);
  io.out(`trusted time  ${report.time ? (report.time.bounded ? `±${Math.round((report.time.uncertaintyMs ?? 0) / 1000)} s` : 'unbounded (no hub time since boot)') : 'unknown'}`);
  return 0;
}

export function outbox(configPath: string, io: Io, limit: number, json: boolean): number {
  const config = loadConfig(configPath);
  const inspection = inspectOutbox(join(config.dataDir, 'agent.db'), limit);
  if (!inspection) {
    io.out(json ? JSON.stringify(null) : 'no outbox yet (the agent has not run with this dataDir)');
    return 0;
  }
  if (json) {
    io.out(JSON.stringify(inspection));
    return 0;
  }
  io.out(`depth ${inspection.depth}, ${inspection.bytes} bytes, seq ${inspection.firstSeq ?? '-'}..${inspection.lastSeq}, dropped ${inspection.droppedTotal}`);
  for (const t of inspection.byType) io.out(`  ${t.count.toString().padStart(8)}  ${t.type}`);
  for (const r of inspection.oldest) io.out(`  #${r.seq}  ${r.createdAt}  p${r.priority}  ${r.type}  ${r.bytes} B`);
  return 0;
}

/** `gpio-test`: blinks the warning light and prints the sensors. The relay is never touched. */
export async function gpioTest(config: AgentConfig, io: Io, blinks: number): Promise<number> {
  const hardware = await openHardware(config);
  try {
    const read = (): string => `closed-switch=${hardware.io.closedSwitch.read() ? 'made' : 'open'} open-switch=${hardware.io.openSwitch.read() ? 'made' : 'open'} beam=${hardware.io.beam.read() ? 'broken' : 'clear'}`;
    io.out(`binding ${config.gpio.binding}; sensors: ${read()}`);
    for (let i = 0; i < blinks; i++) {
      await hardware.io.warning.write(true);
      await new Promise((r) => setTimeout(r, 300));
      await hardware.io.warning.write(false);
      await new Promise((r) => setTimeout(r, 300));
      io.out(`warning light blink ${i + 1}/${blinks}; sensors: ${read()}`);
    }
    return 0;
  } finally {
    await hardware.io.warning.write(false);
    await hardware.close();
  }
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
