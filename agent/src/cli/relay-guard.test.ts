import { EventEmitter } from 'node:events';
import { createSimulatedGarage } from '@keyway/hardware-sim';
import { afterEach, describe, expect, it } from 'vitest';
import { guardRelay, type SignalSource } from './relay-guard.js';

describe('the relay guard of keyway-agent run', () => {
  const garage = createSimulatedGarage();
  const io = garage.openIo();
  afterEach(async () => {
    await io.relay.write(false);
  });

  const start = () => {
    const source = new EventEmitter() as EventEmitter & SignalSource;
    const said: string[] = [];
    const exits: number[] = [];
    const guard = guardRelay({ relay: io.relay, say: (l) => said.push(l), source, exit: (code) => void exits.push(code) });
    return { source, said, exits, guard };
  };

  it('asks for a graceful stop on the first signal, without touching the relay in the middle of a pulse', async () => {
    const { source, exits, guard } = start();
    await io.relay.write(true);
    source.emit('SIGTERM', 'SIGTERM');
    await expect(guard.stopRequested).resolves.toBe('SIGTERM');
    expect(io.relay.active).toBe(true);
    expect(exits).toEqual([]);
    guard.dispose();
  });

  it('releases the relay before exiting on a second signal during the shutdown', async () => {
    const { source, said, exits, guard } = start();
    await io.relay.write(true);
    source.emit('SIGTERM', 'SIGTERM');
    source.emit('SIGINT', 'SIGINT');
    expect(io.relay.active).toBe(false);
    expect(garage.chip.level(garage.pins.relay)).toBe(0);
    expect(exits).toEqual([130]);
    expect(said.at(-1)).toContain('relay released');
    guard.dispose();
  });

  it('releases the relay synchronously when the process exits, a crash included, and not after dispose', async () => {
    const { source, guard } = start();
    await io.relay.write(true);
    source.emit('exit', 1);
    expect(io.relay.active).toBe(false);
    guard.dispose();
    await io.relay.write(true);
    source.emit('exit', 0);
    expect(io.relay.active).toBe(true);
    expect(source.listenerCount('SIGTERM') + source.listenerCount('SIGINT') + source.listenerCount('exit')).toBe(0);
  });
});
