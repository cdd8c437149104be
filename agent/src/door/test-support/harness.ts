import { createSimulatedGarage, type SimulatedGarage } from '@keyway/hardware-sim';
import { vi } from 'vitest';
import { DoorController } from '../controller.js';
import type { DoorControllerConfig, DoorEvents } from '../types.js';

/** Fast door settings for tests: a 1 s travel, short gaps, the legal minimum 5 s warning. */
export const TEST_CONFIG: Partial<DoorControllerConfig> = {
  pulseMs: 300,
  pressGapMs: 200,
  warningMs: 5000,
  startTimeoutMs: 500,
  travelTimeoutMs: 3000,
  maxPresses: 4,
  beamDebounceMs: 100,
  switchDebounceMs: 20,
};

export type TimelineEntry =
  | { at: number; kind: 'state'; event: DoorEvents['stateChanged'] }
  | { at: number; kind: 'warning'; active: boolean }
  | { at: number; kind: 'pulse' }
  | { at: number; kind: 'obstruction'; active: boolean; during: string }
  | { at: number; kind: 'fault'; reason: string };

export interface Harness {
  garage: SimulatedGarage;
  door: DoorController;
  timeline: TimelineEntry[];
  states(): string[];
  /** Starts a controller on freshly opened lines, as a restarted agent would. */
  restart(): Promise<DoorController>;
  dispose(): Promise<void>;
}

export async function createHarness(
  options: { position?: number; travelMs?: number; config?: Partial<DoorControllerConfig> } = {},
): Promise<Harness> {
  const garage = createSimulatedGarage({ travelMs: options.travelMs ?? 1000, position: options.position ?? 0 });
  const timeline: TimelineEntry[] = [];
  const controllers: DoorController[] = [];
  const make = async (): Promise<DoorController> => {
    const door = new DoorController({ io: garage.openIo(), config: { ...TEST_CONFIG, ...options.config } });
    door.events.on('stateChanged', (event) => timeline.push({ at: event.at, kind: 'state', event }));
    door.events.on('warning', (e) => timeline.push({ at: e.at, kind: 'warning', active: e.active }));
    door.events.on('relayPulse', (e) => timeline.push({ at: e.at, kind: 'pulse' }));
    door.events.on('obstruction', (e) => timeline.push({ at: e.at, kind: 'obstruction', active: e.active, during: e.during }));
    door.events.on('fault', (e) => timeline.push({ at: e.at, kind: 'fault', reason: e.reason }));
    controllers.push(door);
    await door.start();
    return door;
  };
  const h: Harness = {
    garage,
    door: await make(),
    timeline,
    states: () => timeline.flatMap((e) => (e.kind === 'state' ? [e.event.state] : [])),
    restart: async () => {
      await h.door.stop();
      h.door = await make();
      return h.door;
    },
    dispose: async () => {
      for (const c of controllers) await c.stop();
      await garage.dispose();
    },
  };
  return h;
}

/** Runs fake time forward until the promise settles (or `maxMs` passes), then returns its result. */
export async function settle<T>(promise: Promise<T>, maxMs = 120_000, stepMs = 100): Promise<T> {
  let done = false;
  const tracked = promise.finally(() => {
    done = true;
  });
  // Avoid an unhandled rejection while time is advancing; the caller awaits `tracked`.
  tracked.catch(() => undefined);
  for (let t = 0; t < maxMs && !done; t += stepMs) await vi.advanceTimersByTimeAsync(stepMs);
  return tracked;
}
