import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { ErrorCode, KeywayError, createLogger, isKeywayError, isValidDeviceId, type Logger } from '@keyway/shared';
import { createEvent, type Publisher } from '@keyway/shared/client';
import { hashPin, signCommand, signGrant, signRevocations, type CommandAction, type GrantAction } from '@keyway/shared/grants';
import type { DeviceRecord, GrantRecord, HubStateStore } from '../state/types.js';
import type { DeviceDownlink } from './downlink.js';
import { publishAll } from './publish.js';

const SOURCE = 'keyway://service/access';

export interface AccessServiceOptions {
  state: HubStateStore;
  /** Publishes as the `access` account. */
  publisher: Publisher;
  downlink: DeviceDownlink;
  signingKey: KeyObject;
  /** The hub's public key (SPKI PEM), handed to devices at provisioning. */
  publicKeyPem: string;
  clock?: () => number;
  logger?: Logger;
  /** How long a command stays valid. Default 60 s. */
  commandTtlMs?: number;
}

export interface IssueGrantInput {
  deviceId: string;
  holder: string;
  deliveryId?: string;
  validFrom: number;
  validUntil: number;
  actions: GrantAction[];
  maxUses: number;
  /** A keypad PIN; only its scrypt hash leaves the hub inside the signed grant. */
  pin?: string;
}

export function hashDeviceToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The access service: provisions devices and their credentials, issues Ed25519-signed grants, revokes them and
 * pushes the signed revocation list to the device, and signs commands that reference a grant.
 */
export class AccessService {
  private readonly clock: () => number;
  private readonly log: Logger;

  constructor(private readonly options: AccessServiceOptions) {
    this.clock = options.clock ?? Date.now;
    this.log = options.logger ?? createLogger('service.access');
  }

  async provisionDevice(input: { deviceId: string; customerId: string; vendor?: string }): Promise<{ device: DeviceRecord; token: string; hubPublicKeyPem: string }> {
    if (!isValidDeviceId(input.deviceId)) {
      throw new KeywayError(ErrorCode.InvalidInput, `device id ${JSON.stringify(input.deviceId)} must be 1-64 letters, digits, '-' or '_' and start with a letter or digit`);
    }
    if (await this.options.state.getDevice(input.deviceId)) {
      throw new KeywayError(ErrorCode.Conflict, `device ${input.deviceId} is already provisioned`, { details: { deviceId: input.deviceId } });
    }
    const token = randomBytes(24).toString('base64url');
    const device: DeviceRecord = {
      id: input.deviceId,
      customerId: input.customerId,
      vendor: input.vendor ?? 'default',
      tokenHash: hashDeviceToken(token),
      createdAt: this.clock(),
      online: false,
      lastSeenAt: null,
      reported: null,
    };
    // The check above answers the common case; this one decides a race between two provisioning calls.
    if (!(await this.options.state.insertDevice(device))) {
      throw new KeywayError(ErrorCode.Conflict, `device ${input.deviceId} is already provisioned`, { details: { deviceId: input.deviceId } });
    }
    this.log.info({ deviceId: device.id, customerId: device.customerId }, 'device provisioned');
    return { device, token, hubPublicKeyPem: this.options.publicKeyPem };
  }

  async issueGrant(input: IssueGrantInput): Promise<GrantRecord> {
    const device = await this.options.state.getDevice(input.deviceId);
    if (!device) throw new KeywayError(ErrorCode.UnknownDevice, `device ${input.deviceId} is not provisioned`, { details: { deviceId: input.deviceId } });
    if (!(input.validUntil > input.validFrom)) throw new KeywayError(ErrorCode.InvalidInput, 'validUntil must be after validFrom');
    const id = `g-${randomUUID()}`;
    const pinHash = input.pin === undefined ? undefined : await hashPin(input.pin);
    const token = await signGrant(
      {
        jti: id,
        aud: input.deviceId,
        sub: input.holder,
        ...(input.deliveryId ? { deliveryId: input.deliveryId } : {}),
        nbf: Math.floor(input.validFrom / 1000),
        exp: Math.ceil(input.validUntil / 1000),
        iat: Math.floor(this.clock() / 1000),
        actions: input.actions,
        maxUses: input.maxUses,
        ...(pinHash ? { pinHash } : {}),
      },
      this.options.signingKey,
    );
    const grant: GrantRecord = {
      id,
      deviceId: input.deviceId,
      holder: input.holder,
      deliveryId: input.deliveryId ?? null,
      validFrom: input.validFrom,
      validUntil: input.validUntil,
      actions: input.actions,
      maxUses: input.maxUses,
      hasPin: pinHash !== undefined,
      token,
      createdAt: this.clock(),
      revokedAt: null,
      uses: 0,
    };
    await this.options.state.insertGrant(grant);
    await publishAll(this.options.publisher, [
      createEvent(
        'keyway.access.GrantIssued',
        {
          grantId: id,
          deviceId: grant.deviceId,
          holder: grant.holder,
          ...(grant.deliveryId ? { deliveryId: grant.deliveryId } : {}),
          validFrom: new Date(grant.validFrom).toISOString(),
          validUntil: new Date(grant.validUntil).toISOString(),
          actions: input.actions,
          maxUses: grant.maxUses,
          hasPin: grant.hasPin,
        },
        { source: SOURCE, id: `issued-${id}`, subject: grant.deviceId },
      ),
    ]);
    await this.pushGrants(grant.deviceId, [token]);
    return grant;
  }

  async revokeGrant(grantId: string, reason?: string): Promise<GrantRecord> {
    const grant = await this.options.state.revokeGrant(grantId, this.clock());
    if (!grant) throw new KeywayError(ErrorCode.NotFound, `grant ${grantId} does not exist`, { details: { grantId } });
    await publishAll(this.options.publisher, [
      createEvent(
        'keyway.access.GrantRevoked',
        { grantId, deviceId: grant.deviceId, ...(reason ? { reason } : {}), revokedAt: new Date(grant.revokedAt ?? this.clock()).toISOString() },
        { source: SOURCE, id: `revoked-${grantId}`, subject: grant.deviceId },
      ),
    ]).catch((error: unknown) => {
      // Revoked before, with another reason: that revocation's event stands (its id is taken by design).
      if (!isKeywayError(error, ErrorCode.Conflict)) throw error;
    });
    await this.pushRevocations(grant.deviceId);
    return grant;
  }

  /** Sends everything a device should hold (unexpired grants and its revocation list), e.g. when it comes online. */
  async syncDevice(deviceId: string): Promise<void> {
    const now = this.clock();
    const grants = await this.options.state.listGrants({ deviceId }, { limit: 1000 });
    const live = grants.filter((g) => g.revokedAt === null && g.validUntil > now).map((g) => g.token);
    await this.pushGrants(deviceId, live);
    await this.pushRevocations(deviceId);
  }

  /** Signs a command for one device; an `open` must name a grant for that device. Returns the command id. */
  async sendCommand(deviceId: string, action: CommandAction, grantId?: string, commandId = `c-${randomUUID()}`): Promise<string> {
    const grant = grantId === undefined ? undefined : await this.options.state.getGrant(grantId);
    if (action === 'open' && (!grant || grant.deviceId !== deviceId)) {
      throw new KeywayError(ErrorCode.GrantInvalid, `an open command for ${deviceId} needs a grant issued for that device`, { details: { deviceId, grantId } });
    }
    const now = this.clock();
    const token = await signCommand(
      {
        jti: commandId,
        aud: deviceId,
        iat: Math.floor(now / 1000),
        exp: Math.ceil((now + (this.options.commandTtlMs ?? 60_000)) / 1000),
        action,
        ...(grantId ? { grantId } : {}),
        // The grant travels with the command, so a device that missed the grant push can still verify it.
        ...(grant && grant.deviceId === deviceId ? { grant: grant.token } : {}),
      },
      this.options.signingKey,
    );
    await this.options.downlink.sendCommand(deviceId, token);
    return commandId;
  }

  async recordUse(grantId: string): Promise<void> {
    await this.options.state.recordGrantUse(grantId);
  }

  private async pushGrants(deviceId: string, tokens: string[]): Promise<void> {
    if (tokens.length === 0) return;
    // Best effort while offline: the device receives everything again through syncDevice when it reconnects.
    await this.options.downlink.sendGrants(deviceId, { grants: tokens }).catch((error: unknown) => {
      this.log.warn({ err: error, deviceId }, 'could not push grants; they are sent again when the device reconnects');
    });
  }

  private async pushRevocations(deviceId: string): Promise<void> {
    const now = this.clock();
    const grants = await this.options.state.listGrants({ deviceId }, { limit: 10_000 });
    const revoked = grants.filter((g) => g.revokedAt !== null && g.validUntil > now).map((g) => ({ jti: g.id, exp: Math.ceil(g.validUntil / 1000) }));
    const token = await signRevocations({ aud: deviceId, iat: Math.floor(now / 1000), revoked }, this.options.signingKey);
    await this.options.downlink.sendGrants(deviceId, { revocations: token }).catch((error: unknown) => {
      this.log.warn({ err: error, deviceId }, 'could not push the revocation list; it is sent again when the device reconnects');
    });
  }
}
