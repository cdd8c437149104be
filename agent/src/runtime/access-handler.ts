import { createLogger, describeError, ErrorCode, isKeywayError, type Logger } from '@keyway/shared';
import type { AccessDeniedV1Data } from '@keyway/shared/generated';
import { tokenRefusal, type CommandClaims } from '@keyway/shared/grants';
import type { DoorController } from '../door/controller.js';
import type { CommandGuard, RejectReason } from '../grants/command-guard.js';
import type { AccessDecision, GrantStore } from '../grants/grant-store.js';
import type { Outbox } from '../outbox/outbox.js';
import { GrantsMessage, parseJson, WIRE_VERSION, type CommandResultMessage } from '../sync/wire.js';
import { KEYPAD_COMMAND_PREFIX } from './door-events.js';

export interface AccessHandlerDeps {
  deviceId: string;
  outbox: Outbox;
  grants: GrantStore;
  guard: CommandGuard;
  door: DoorController | undefined;
  now: () => Date;
  publishResult: (result: CommandResultMessage) => void;
  acceptHubTime: (token: string) => Promise<void>;
}

/** While the keypad is locked, at most one KeypadEntry + AccessDenied pair per this interval. */
export const LOCKED_OUT_RECORD_INTERVAL_MS = 10_000;

/** The wire reason for a door command the controller refused or failed: obstruction and busy are named as such. */
function doorRefusal(error: unknown): RejectReason {
  const reason = isKeywayError(error) ? error.details.reason : undefined;
  if (reason === 'obstructed') return 'obstruction';
  if (reason === 'busy') return 'door-busy';
  return 'fault';
}

/**
 * Whether a door failure of an accepted command is worth a CommandRejected event, so the hub's workflow reacts at once
 * instead of at its deadline. Not a command superseded by a stop (the sender asked for it) nor one cut short by this
 * agent stopping (the hub's deadline retries it after the restart).
 */
function reportsRefusal(error: unknown): boolean {
  if (isKeywayError(error, ErrorCode.DoorFault)) return true;
  return isKeywayError(error, ErrorCode.CommandRejected) && error.details.reason !== 'superseded';
}

/**
 * Turns signed commands, keypad PINs and grant syncs into door actions and events. Every refusal is an
 * event (CommandRejected and/or AccessDenied) committed to the outbox before anything is answered.
 */
export class AccessHandler {
  private readonly log: Logger;
  private keypadSeq = 0;
  /** Locked-out keypad entries: when one was last recorded, and how many came since without a record. */
  private lockedOutRecordedAt = Number.NEGATIVE_INFINITY;
  private lockedOutUnrecorded = 0;

  constructor(private readonly deps: AccessHandlerDeps) {
    this.log = createLogger('agent.access', { deviceId: deps.deviceId });
  }

  private at(): string {
    return this.deps.now().toISOString();
  }

  /** The AccessDenied event for a refusal, logged as it is made. */
  private deniedEvent(via: AccessDeniedV1Data['via'], reason: AccessDeniedV1Data['reason'], detail: string, grantId?: string, holder?: string, at = this.at()) {
    this.log.warn({ via, reason, grantId, holder }, `access denied (${via}): ${reason}: ${detail}`);
    const data: AccessDeniedV1Data = {
      deviceId: this.deps.deviceId,
      via,
      reason,
      detail: detail.slice(0, 500),
      at,
      ...(grantId !== undefined ? { grantId } : {}),
      ...(holder !== undefined ? { holder } : {}),
    };
    return { type: 'keyway.access.AccessDenied' as const, data };
  }

  private denied(via: AccessDeniedV1Data['via'], reason: AccessDeniedV1Data['reason'], detail: string, grantId?: string, holder?: string): void {
    const { type, data } = this.deniedEvent(via, reason, detail, grantId, holder);
    this.deps.outbox.append(type, data);
  }

  private rejectCommand(commandId: string, reason: RejectReason, detail: string): void {
    this.log.warn({ commandId, reason }, `command ${commandId} rejected: ${reason}: ${detail}`);
    this.deps.outbox.append('keyway.device.CommandRejected', { deviceId: this.deps.deviceId, commandId, reason, detail: detail.slice(0, 500), at: this.at() });
    this.deps.publishResult({ v: WIRE_VERSION, commandId, status: 'error', error: { code: 'COMMAND_REJECTED', reason, message: detail }, at: this.at() });
  }

  async handleCommand(token: string): Promise<void> {
    const check = await this.deps.guard.admit(token);
    if (!check.ok) {
      this.rejectCommand(check.commandId, check.reason, check.detail);
      return;
    }
    const command = check.command;
    const door = this.deps.door;
    if (!door) {
      this.rejectCommand(command.jti, 'fault', 'this agent runs without a door controller');
      return;
    }
    if (command.action !== 'stop' && door.isBusy) {
      this.rejectCommand(command.jti, 'door-busy', 'the door is running another command; send stop or retry when it finishes');
      return;
    }
    if (command.action === 'close' && door.obstructed && door.currentState !== 'closed') {
      // Refused before the grant is consulted: a close that cannot start must not spend one of the grant's uses.
      this.rejectCommand(command.jti, 'obstruction', 'the photo-eye beam is broken; clear the doorway and send close again');
      return;
    }
    let holder: string | undefined;
    let usesRemaining: number | undefined;
    if (command.action !== 'stop' && command.grantId !== undefined) {
      const decision = await this.grantFor(command);
      if (!decision.ok) {
        this.denied('command', decision.reason, decision.detail, command.grantId, decision.holder);
        this.rejectCommand(command.jti, 'grant-invalid', `${decision.reason}: ${decision.detail}`);
        return;
      }
      holder = decision.grant.sub;
      usesRemaining = decision.usesRemaining;
    }
    const at = this.at();
    const accepted = [
      { type: 'keyway.device.CommandAccepted' as const, data: { deviceId: this.deps.deviceId, commandId: command.jti, action: command.action, at, ...(command.grantId ? { grantId: command.grantId } : {}) } },
      ...(command.grantId && command.action !== 'stop' && usesRemaining !== undefined
        ? [{ type: 'keyway.access.GrantUsed' as const, data: { grantId: command.grantId, deviceId: this.deps.deviceId, action: command.action, via: 'command' as const, usesRemaining, at, ...(holder ? { holder } : {}) } }]
        : []),
    ];
    this.deps.outbox.appendMany(accepted);
    await this.runDoor(command.jti, command.action, { kind: 'command', commandId: command.jti, ...(command.grantId ? { grantId: command.grantId } : {}), ...(holder ? { holder } : {}) });
  }

  private async grantFor(command: CommandClaims): Promise<AccessDecision> {
    if (command.grant !== undefined) {
      try {
        await this.deps.grants.addGrant(command.grant);
      } catch (error) {
        const refusal = tokenRefusal(error) ?? 'malformed';
        return { ok: false, reason: refusal, detail: describeError(error) };
      }
    }
    const action = command.action === 'close' ? 'close' : 'open';
    return this.deps.grants.authorize(command.grantId ?? '', action);
  }

  private async runDoor(commandId: string, action: 'open' | 'close' | 'stop', cause: Parameters<DoorController['execute']>[1]): Promise<void> {
    const door = this.deps.door;
    if (!door) return;
    try {
      const result = await door.execute(action, cause);
      if (!commandId.startsWith(KEYPAD_COMMAND_PREFIX)) {
        this.deps.publishResult({ v: WIRE_VERSION, commandId, status: 'ok', data: { action, outcome: result.outcome, state: result.state }, at: this.at() });
      }
    } catch (error) {
      const reason = doorRefusal(error);
      this.log.warn({ commandId, reason, err: describeError(error) }, 'door command failed');
      if (!commandId.startsWith(KEYPAD_COMMAND_PREFIX)) {
        const message = describeError(error);
        if (reportsRefusal(error)) {
          this.deps.outbox.append('keyway.device.CommandRejected', { deviceId: this.deps.deviceId, commandId, reason, detail: message.slice(0, 500), at: this.at() });
        }
        const code = isKeywayError(error) ? error.code : 'INTERNAL';
        this.deps.publishResult({ v: WIRE_VERSION, commandId, status: 'error', error: { code, reason, message }, at: this.at() });
      }
    }
  }

  /** A PIN typed on the keypad. The PIN never leaves this function: events carry only its length. */
  async handlePin(pin: string): Promise<AccessDecision> {
    const decision = await this.deps.grants.checkPin(pin);
    const at = this.at();
    const digits = Math.min(pin.length, 32);
    if (!decision.ok) {
      const result = decision.reason === 'pin-locked-out' ? 'locked-out' : 'rejected';
      let detail = decision.detail;
      if (decision.reason === 'pin-locked-out') {
        // The keypad is outside the garage: while it is locked, someone could type (or a device stream) hundreds of
        // entries a second into the outbox and the log of an offline controller. One record per interval, with a count.
        const sinceLast = performance.now() - this.lockedOutRecordedAt;
        if (sinceLast < LOCKED_OUT_RECORD_INTERVAL_MS) {
          this.lockedOutUnrecorded += 1;
          return decision;
        }
        if (this.lockedOutUnrecorded > 0) detail = `${detail} (and ${this.lockedOutUnrecorded} more entries while locked, not recorded one by one)`;
        this.lockedOutUnrecorded = 0;
        this.lockedOutRecordedAt = performance.now();
      }
      this.deps.outbox.appendMany([
        { type: 'keyway.device.KeypadEntry', data: { deviceId: this.deps.deviceId, result, digits, at, ...(decision.grantId ? { grantId: decision.grantId } : {}) } },
        this.deniedEvent('keypad', decision.reason, detail, decision.grantId, decision.holder, at),
      ]);
      return decision;
    }
    const grantId = decision.grant.jti;
    this.deps.outbox.appendMany([
      { type: 'keyway.device.KeypadEntry', data: { deviceId: this.deps.deviceId, result: 'accepted', grantId, digits, at } },
      { type: 'keyway.access.GrantUsed', data: { grantId, deviceId: this.deps.deviceId, holder: decision.grant.sub, action: 'open', via: 'keypad', usesRemaining: decision.usesRemaining, at } },
    ]);
    this.keypadSeq += 1;
    void this.runDoor(`${KEYPAD_COMMAND_PREFIX}${this.keypadSeq}`, 'open', { kind: 'command', commandId: `${KEYPAD_COMMAND_PREFIX}${this.keypadSeq}`, grantId, holder: decision.grant.sub });
    return decision;
  }

  /** `down/grants`: store grants, apply the revocation list, take the signed time. Bad grants become AccessDenied(grant-sync). */
  async handleGrants(payload: Buffer): Promise<void> {
    const message = parseJson(GrantsMessage, payload);
    if (!message) {
      this.denied('grant-sync', 'malformed', 'down/grants payload is not a v1 grants message');
      return;
    }
    if (message.time) await this.deps.acceptHubTime(message.time);
    for (const token of message.grants ?? []) {
      try {
        await this.deps.grants.addGrant(token);
      } catch (error) {
        this.denied('grant-sync', tokenRefusal(error) ?? 'malformed', describeError(error));
      }
    }
    if (message.revocations) {
      try {
        await this.deps.grants.applyRevocations(message.revocations);
      } catch (error) {
        this.denied('grant-sync', tokenRefusal(error) ?? 'malformed', `revocation list refused: ${describeError(error)}`);
      }
    }
  }
}

export type { AccessDecision };
export type AccessDeniedReason = AccessDeniedV1Data['reason'];
