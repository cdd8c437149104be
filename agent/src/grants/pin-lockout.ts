import type { AgentDatabase } from '../outbox/database.js';
import { durableTransaction } from '../outbox/database.js';
import type { ClockSources } from './clock-sources.js';

export interface LockoutPolicy {
  /** Wrong PINs in a row before the keypad locks (default 5). */
  maxFailures: number;
  /** How long the keypad stays locked (default 5 minutes). */
  lockoutMs: number;
}

/**
 * Keypad lockout after repeated wrong PINs. Counted durably so pulling the plug does not reset it; the lock
 * runs on the monotonic clock (the wall clock can be set forward to skip it), and after a reboot a lock that was
 * active starts over, because the time spent powered off cannot be measured.
 */
export class PinLockout {
  constructor(
    private readonly db: AgentDatabase,
    private readonly sources: ClockSources,
    private readonly policy: LockoutPolicy,
  ) {}

  init(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS pin_lockout (id INTEGER PRIMARY KEY CHECK (id = 1), failures INTEGER NOT NULL, locked_at_mono INTEGER, boot_id TEXT)');
    this.db.prepare('INSERT OR IGNORE INTO pin_lockout (id, failures) VALUES (1, 0)').run();
  }

  /** Remaining lock in ms, or 0 when the keypad may be used. */
  remainingMs(): number {
    const row = this.db.prepare('SELECT failures, locked_at_mono, boot_id FROM pin_lockout WHERE id = 1').get() as
      | { failures: number; locked_at_mono: number | null; boot_id: string | null }
      | undefined;
    if (!row || row.locked_at_mono === null) return 0;
    if (row.boot_id !== this.sources.bootId()) {
      this.db.prepare('UPDATE pin_lockout SET locked_at_mono = ?, boot_id = ? WHERE id = 1').run(this.sources.monoMs(), this.sources.bootId());
      return this.policy.lockoutMs;
    }
    const left = row.locked_at_mono + this.policy.lockoutMs - this.sources.monoMs();
    if (left > 0) return left;
    this.db.prepare('UPDATE pin_lockout SET failures = 0, locked_at_mono = NULL, boot_id = NULL WHERE id = 1').run();
    return 0;
  }

  /** Records a wrong PIN; returns true when this failure locked the keypad. */
  recordFailure(): boolean {
    return durableTransaction(this.db, () => {
      this.db.prepare('UPDATE pin_lockout SET failures = failures + 1 WHERE id = 1').run();
      const { failures } = this.db.prepare('SELECT failures FROM pin_lockout WHERE id = 1').get() as { failures: number };
      if (failures < this.policy.maxFailures) return false;
      this.db.prepare('UPDATE pin_lockout SET locked_at_mono = ?, boot_id = ? WHERE id = 1').run(this.sources.monoMs(), this.sources.bootId());
      return true;
    });
  }

  recordSuccess(): void {
    this.db.prepare('UPDATE pin_lockout SET failures = 0, locked_at_mono = NULL, boot_id = NULL WHERE id = 1').run();
  }
}
