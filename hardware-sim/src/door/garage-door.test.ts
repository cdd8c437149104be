import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSimulatedGarage, type SimulatedGarage } from '../garage.js';

const TRAVEL = 1000;

describe('simulated garage door', () => {
  let g: SimulatedGarage;
  beforeEach(() => {
    vi.useFakeTimers();
    g = createSimulatedGarage({ travelMs: TRAVEL });
  });
  afterEach(async () => {
    await g.dispose();
    vi.useRealTimers();
  });

  const closed = () => g.chip.level(g.pins.closedSwitch) === 1;
  const open = () => g.chip.level(g.pins.openSwitch) === 1;

  it('when the wall button is pressed on a closed door, the closed switch opens at once and the open switch closes after the travel time', () => {
    expect(closed()).toBe(true);
    expect(g.door.pressWallButton()).toBe('start-up');
    vi.advanceTimersByTime(50);
    expect(closed()).toBe(false);
    expect(open()).toBe(false);
    vi.advanceTimersByTime(TRAVEL - 60);
    expect(open()).toBe(false);
    vi.advanceTimersByTime(20);
    expect(open()).toBe(true);
    expect(g.door.position).toBe(1);
  });

  it('when pressed repeatedly, the door cycles open -> stop -> close -> stop -> open', () => {
    const effects = [g.door.pressWallButton()];
    vi.advanceTimersByTime(300);
    effects.push(g.door.pressWallButton());
    const stoppedAt = g.door.position;
    vi.advanceTimersByTime(300);
    expect(g.door.position).toBe(stoppedAt);
    effects.push(g.door.pressWallButton());
    vi.advanceTimersByTime(100);
    effects.push(g.door.pressWallButton());
    effects.push(g.door.pressWallButton());
    expect(effects).toEqual(['start-up', 'stop', 'start-down', 'stop', 'start-up']);
  });

  it('when the beam breaks while closing, the door reverses to open', () => {
    const o = createSimulatedGarage({ travelMs: TRAVEL, position: 1 });
    o.door.pressWallButton();
    vi.advanceTimersByTime(400);
    expect(o.door.currentMotion).toBe('down');
    o.door.setObstruction(true);
    expect(o.door.currentMotion).toBe('up');
    vi.advanceTimersByTime(TRAVEL);
    expect(o.chip.level(o.pins.openSwitch)).toBe(1);
    expect(o.chip.level(o.pins.beam)).toBe(1);
    void o.dispose();
  });

  it('when the beam is broken, an open door refuses to start closing', () => {
    const o = createSimulatedGarage({ travelMs: TRAVEL, position: 1 });
    o.door.setObstruction(true);
    expect(o.door.pressWallButton()).toBe('refused-obstruction');
    expect(o.door.currentMotion).toBe('still');
    void o.dispose();
  });

  it('when the relay line rises, the opener toggles once per closure and counts it', async () => {
    const io = g.openIo();
    await io.relay.write(true);
    await io.relay.write(false);
    expect(g.door.relayPressCount()).toBe(1);
    expect(g.door.currentMotion).toBe('up');
  });

  it('when the relay is stuck, presses do nothing; when jammed, the door stops where it is', async () => {
    const io = g.openIo();
    g.door.injectFault('stuck-relay');
    await io.relay.write(true);
    await io.relay.write(false);
    expect(g.door.currentMotion).toBe('still');
    g.door.clearFault('stuck-relay');
    g.door.pressWallButton();
    vi.advanceTimersByTime(200);
    g.door.injectFault('jam');
    const at = g.door.position;
    vi.advanceTimersByTime(TRAVEL);
    expect(g.door.position).toBeCloseTo(at);
    expect(g.door.pressWallButton()).toBe('ignored-jam');
  });

  it('when a sensor is dead, or both limits are on, the lines report it', () => {
    g.door.injectFault('dead-closed-sensor');
    expect(closed()).toBe(false);
    g.door.clearFault('dead-closed-sensor');
    expect(closed()).toBe(true);
    g.door.injectFault('both-limits');
    expect(closed() && open()).toBe(true);
  });

  it('when the beam flaps, the line toggles without the door reversing', () => {
    const o = createSimulatedGarage({ travelMs: TRAVEL, position: 1 });
    const seen: boolean[] = [];
    const io = o.openIo();
    io.beam.onChange((v) => seen.push(v));
    o.door.injectFault('flapping-beam');
    vi.advanceTimersByTime(100);
    expect(seen.length).toBeGreaterThan(3);
    o.door.clearFault('flapping-beam');
    expect(io.beam.read()).toBe(false);
    void o.dispose();
  });

  it('when power is lost, every line drops and the door stops; power back restores the sensors', () => {
    const o = createSimulatedGarage({ travelMs: TRAVEL, position: 1 });
    expect(o.chip.level(o.pins.openSwitch)).toBe(1);
    o.door.injectFault('power-loss');
    expect(o.chip.level(o.pins.openSwitch)).toBe(0);
    expect(o.door.pressWallButton()).toBe('ignored-unpowered');
    o.door.clearFault('power-loss');
    expect(o.chip.level(o.pins.openSwitch)).toBe(1);
    void o.dispose();
  });

  it('when disposed, it leaves no chip listeners behind', async () => {
    g.openIo();
    await g.dispose();
    expect(g.chip.listenerCount()).toBe(0);
  });
});
