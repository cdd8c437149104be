import { settle, createHarness, type Harness } from './test-support/harness.js';
import type { DoorFaultKind } from '@keyway/hardware-sim';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * Random sequences of commands, wall-button presses, beam changes, faults, restarts and time,
 * driven through the real controller and the simulated opener. After every step the safety
 * invariants must hold.
 */
type Step =
  | { t: 'command'; action: 'open' | 'close' | 'stop' }
  | { t: 'wall' }
  | { t: 'beam'; on: boolean }
  | { t: 'fault'; kind: DoorFaultKind; on: boolean }
  | { t: 'clear-fault' }
  | { t: 'restart' }
  | { t: 'advance'; ms: number };

const FAULTS: DoorFaultKind[] = ['stuck-relay', 'dead-closed-sensor', 'dead-open-sensor', 'both-limits', 'jam', 'flapping-beam', 'power-loss'];

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('open', 'close', 'stop').map((action) => ({ t: 'command', action }) as const) },
  { weight: 1, arbitrary: fc.constant({ t: 'wall' } as const) },
  { weight: 2, arbitrary: fc.boolean().map((on) => ({ t: 'beam', on }) as const) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fault' as const), kind: fc.constantFrom(...FAULTS), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'clear-fault' } as const) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' } as const) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 9000 }).map((ms) => ({ t: 'advance', ms }) as const) },
);

const WARNING_MS = 5000;
const BEAM_DEBOUNCE_MS = 100;
const MAX_PRESSES = 4;
const SWITCH_DEBOUNCE_MS = 20;

function checkInvariants(h: Harness, pulsesSeen: number): void {
  const { garage, door } = h;
  const relayPresses = garage.door.presses.filter((p) => p.source === 'relay');
  // Every relay closure came from a press the controller announced inside a command, none at
  // start/restart/stop (fewer edges than presses only while the header is unpowered).
  expect(garage.chip.risingEdgeCount(garage.pins.relay)).toBeLessThanOrEqual(pulsesSeen);
  for (const p of relayPresses) {
    // A door still on the closed switch is closed for safety purposes: moving down inside that
    // band cannot trap anyone, and the controller cannot see the opener's memory there.
    const onClosedSwitch = p.position <= garage.door.limitBand;
    if ((p.effect === 'start-down' || p.effect === 'refused-obstruction') && !onClosedSwitch) {
      // The warning ran at least 5 s before any press that started (or tried to start) a close.
      expect(p.warningSince, 'warning on at a closing press').not.toBeNull();
      expect(p.at - p.warningSince!).toBeGreaterThanOrEqual(WARNING_MS);
      // No close started while the beam had been broken for longer than the debounce.
      if (p.obstructedSince !== null) expect(p.at - p.obstructedSince).toBeLessThanOrEqual(BEAM_DEBOUNCE_MS);
    }
  }
  if (!door.isBusy && garage.chip.isPowered) {
    // Outside a command the relay is released and the warning is off.
    expect(garage.chip.level(garage.pins.relay)).toBe(0);
    expect(garage.chip.level(garage.pins.warning)).toBe(0);
  }
}

function checkStateMatchesSensors(h: Harness, switchesStableSince: number): void {
  const { garage, door } = h;
  // Within the debounce window the controller may legitimately lag the switches.
  if (Date.now() - switchesStableSince <= SWITCH_DEBOUNCE_MS) return;
  const closed = garage.chip.level(garage.pins.closedSwitch) === 1;
  const open = garage.chip.level(garage.pins.openSwitch) === 1;
  const state = door.currentState;
  if (state === 'closed') expect(closed && !open).toBe(true);
  if (state === 'open') expect(open && !closed).toBe(true);
  if (closed && open) expect(state).toBe('fault');
  if (state !== 'fault') {
    if (closed && !open) expect(state).toBe('closed');
    if (open && !closed) expect(state).toBe('open');
  }
}

describe('door safety properties', () => {
  let h: Harness | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    if (h) await settle(h.dispose());
    h = undefined;
    vi.useRealTimers();
  });

  it('for any sequence of commands, sensor changes, faults and restarts, the safety invariants hold after every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.double({ min: 0, max: 1, noNaN: true }), fc.array(step, { minLength: 5, maxLength: 40 }), async (position, steps) => {
        h = await createHarness({
          position,
          config: { warningMs: WARNING_MS, beamDebounceMs: BEAM_DEBOUNCE_MS, maxPresses: MAX_PRESSES, switchDebounceMs: SWITCH_DEBOUNCE_MS },
        });
        const harness = h;
        let switchesStableSince = Date.now();
        const touched = (): void => {
          switchesStableSince = Date.now();
        };
        harness.garage.chip.onLevel(harness.garage.pins.closedSwitch, touched);
        harness.garage.chip.onLevel(harness.garage.pins.openSwitch, touched);
        let pulses = 0;
        const countPulses = (): void => {
          harness.door.events.on('relayPulse', () => pulses++);
        };
        countPulses();
        const results: Array<Promise<unknown>> = [];
        for (const s of steps) {
          switch (s.t) {
            case 'command': {
              const cause = { kind: 'command', commandId: `c${results.length}` } as const;
              const run = harness.door.execute(s.action, cause).then(
                (r) => expect(r.presses).toBeLessThanOrEqual(MAX_PRESSES),
                () => undefined,
              );
              results.push(run);
              break;
            }
            case 'wall':
              harness.garage.door.pressWallButton();
              break;
            case 'beam':
              harness.garage.door.setObstruction(s.on);
              break;
            case 'fault':
              if (s.on) harness.garage.door.injectFault(s.kind);
              else harness.garage.door.clearFault(s.kind);
              break;
            case 'clear-fault':
              harness.door.clearFault();
              break;
            case 'restart':
              await settle(harness.restart(), 10_000, 50);
              countPulses();
              break;
            case 'advance':
              await vi.advanceTimersByTimeAsync(s.ms);
              break;
          }
          await vi.advanceTimersByTimeAsync(1);
          try {
            checkInvariants(harness, pulses);
          } catch (error) {
            // Shrunk counterexamples are only useful with the opener's own log beside them.
            console.error('presses', JSON.stringify(harness.garage.door.presses), 'timeline', JSON.stringify(harness.timeline));
            throw error;
          }
          if (!harness.door.isBusy && s.t === 'advance') {
            // Let debounce windows pass, then the reported state must agree with the switches.
            await vi.advanceTimersByTimeAsync(60);
            checkStateMatchesSensors(harness, switchesStableSince);
          }
        }
        await settle(harness.dispose(), 10_000, 50);
        await Promise.all(results);
        checkInvariants(harness, pulses);
        h = undefined;
      }),
      { numRuns: 300 },
    );
  });
});
