import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Where the trusted clock reads raw time from; tests inject fakes to simulate reboots and clocks set back. */
export interface ClockSources {
  /** The wall clock (untrusted: no battery-backed RTC on most boards). */
  wallMs(): number;
  /** A monotonic clock that never jumps, shared by all processes of one boot (CLOCK_MONOTONIC). */
  monoMs(): number;
  /** Changes on every boot; a monotonic reading is only comparable with one taken in the same boot. */
  bootId(): string;
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // Without a boot id every process start counts as a reboot: conservative, never wrong.
    return `process-${randomUUID()}`;
  }
}

let bootId: string | undefined;

export const systemClockSources: ClockSources = {
  wallMs: () => Date.now(),
  // process.hrtime uses CLOCK_MONOTONIC, which keeps counting across process restarts within one boot.
  monoMs: () => Number(process.hrtime.bigint() / 1_000_000n),
  bootId: () => (bootId ??= readBootId()),
};
