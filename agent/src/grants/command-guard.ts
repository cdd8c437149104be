import type { KeyObject } from 'node:crypto';
import type { CommandRejectedV1Data } from '@keyway/shared/generated';
import { decodeCommandId, tokenRefusal, verifyCommand, type CommandClaims } from './command-token.js';
import { durableTransaction, type AgentDatabase } from '../outbox/database.js';
import type { TrustedClock } from './trusted-clock.js';

export type RejectReason = CommandRejectedV1Data['reason'];

export type CommandCheck =
  | { ok: true; command: CommandClaims }
  | { ok: false; reason: RejectReason; detail: string; commandId: string };

export interface CommandGuardOptions {
  deviceId: string;
  hubPublicKey: KeyObject;
  clock: TrustedClock;
  toleranceMs: number;
}

/**
 * Admits a signed command at most once: signature, device, expiry against trusted time, and replay (every
 * accepted command id is remembered durably until it has expired, so a restart does not reopen the window).
 */
export class CommandGuard {
  constructor(
    private readonly db: AgentDatabase,
    private readonly options: CommandGuardOptions,
  ) {}

  init(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS seen_commands (jti TEXT PRIMARY KEY, exp_ms INTEGER NOT NULL)');
  }

  async admit(token: string): Promise<CommandCheck> {
    let command: CommandClaims;
    try {
      command = await verifyCommand(token, this.options.hubPublicKey, { deviceId: this.options.deviceId });
    } catch (error) {
      const refusal = tokenRefusal(error);
      const reason: RejectReason = refusal === 'signature' ? 'forged' : refusal === 'wrong-device' ? 'wrong-device' : 'malformed';
      return { ok: false, reason, detail: error instanceof Error ? error.message : String(error), commandId: decodeCommandId(token) };
    }
    const reject = (reason: RejectReason, detail: string): CommandCheck => ({ ok: false, reason, detail, commandId: command.jti });
    const replayed = (): CommandCheck => reject('replayed', `command ${command.jti} was already received; a command id is used once, even when the door refused it (retry with a new id)`);
    if (this.db.prepare('SELECT 1 AS x FROM seen_commands WHERE jti = ?').get(command.jti) !== undefined) {
      return replayed();
    }
    // A signed iat is hub time too: the true time cannot be earlier than it.
    this.options.clock.raiseFloor(command.iat * 1000);
    const now = this.options.clock.interval();
    const expMs = command.exp * 1000;
    if (now.lowMs > expMs + this.options.toleranceMs) return reject('expired', `expired at ${new Date(expMs).toISOString()}`);
    if (now.highMs > expMs + this.options.toleranceMs) {
      return reject('expired', 'trusted time is too uncertain to tell whether the command is still valid; resend after the device has synced time');
    }
    const inserted = durableTransaction(this.db, () =>
      this.db.prepare('INSERT OR IGNORE INTO seen_commands (jti, exp_ms) VALUES (?, ?)').run(command.jti, expMs),
    );
    if (inserted.changes === 0) return replayed();
    return { ok: true, command };
  }

  /** Forgets command ids whose expiry has passed by trusted time: those commands are refused as expired anyway. */
  purgeExpired(): number {
    const cutoff = this.options.clock.interval().lowMs - this.options.toleranceMs;
    return this.db.prepare('DELETE FROM seen_commands WHERE exp_ms < ?').run(cutoff).changes;
  }
}
