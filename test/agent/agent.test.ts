import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateHubKeyPair, hashPin, signCommand, signGrant, type CommandClaims } from '@keyway/shared/grants';
import { HubAckResponder } from '../../agent/src/sync/test-support/hub-responder.js';
import { startAgentHarness, type AgentHarness } from './support/agent-harness.js';
import { startAedes, type TestBroker } from './support/brokers.js';
import { NetworkCut } from './support/proxy.js';
import { waitUntil } from '../../scripts/support/until.js';

const hub = generateHubKeyPair();

describe('the agent against a real broker and a simulated garage', () => {
  let broker: TestBroker;
  let responder: HubAckResponder;
  let harness: AgentHarness | undefined;
  let hubClient: mqtt.MqttClient;
  const results: Array<Record<string, unknown>> = [];

  beforeEach(async () => {
    broker = await startAedes();
    responder = new HubAckResponder({ url: broker.url, hubPrivateKey: hub.privateKey });
    await responder.start();
    hubClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    results.length = 0;
    hubClient.on('message', (_t, p) => results.push(JSON.parse(p.toString()) as Record<string, unknown>));
    await hubClient.subscribeAsync('keyway/v1/d/garage-1/up/cmd-result', { qos: 1 });
  });
  afterEach(async () => {
    await harness?.dispose();
    harness = undefined;
    await hubClient.endAsync();
    await responder.stop();
    await broker.stop();
  });

  const types = (): string[] => (responder.received.get('garage-1') ?? []).map((e) => e.type);
  const nowS = (): number => Math.floor(Date.now() / 1000);
  const command = (over: Partial<CommandClaims> = {}): CommandClaims => ({ jti: `c-${Math.random()}`, aud: 'garage-1', iat: nowS(), exp: nowS() + 60, action: 'open', grantId: 'g-1', ...over });
  const sendCommand = async (token: string): Promise<void> => {
    await hubClient.publishAsync('keyway/v1/d/garage-1/down/cmd', token, { qos: 1 });
  };
  /** A started agent with trusted time whose door was opened by command c-open under grant g-1 (open and close, 5 uses). */
  const openWithCloseGrant = async (): Promise<AgentHarness> => {
    harness = await startAgentHarness(broker.url, hub);
    await waitUntil(() => harness!.agent.internals.clock.status().bounded);
    const grant = await signGrant({ jti: 'g-1', aud: 'garage-1', sub: 'courier-7', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open', 'close'], maxUses: 5 }, hub.privateKey);
    await sendCommand(await signCommand(command({ jti: 'c-open', grant }), hub.privateKey));
    await waitUntil(() => results.some((r) => r.commandId === 'c-open'));
    return harness;
  };

  it('learns trusted time from the hub, then opens the door for a signed command carrying a valid grant', async () => {
    harness = await startAgentHarness(broker.url, hub);
    const { agent, garage } = harness;
    await waitUntil(() => agent.internals.clock.status().bounded);
    const grant = await signGrant({ jti: 'g-1', aud: 'garage-1', sub: 'courier-7', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open'], maxUses: 1 }, hub.privateKey);
    await sendCommand(await signCommand(command({ jti: 'c-open', grant }), hub.privateKey));
    await waitUntil(() => results.some((r) => r.commandId === 'c-open'));
    expect(results.find((r) => r.commandId === 'c-open')).toMatchObject({ status: 'ok', data: { action: 'open', state: 'open' } });
    expect(garage.door.position).toBe(1);
    await waitUntil(() => types().includes('keyway.access.GrantUsed') && types().filter((t) => t === 'keyway.device.DoorStateChanged').length >= 2);
    expect(types()).toContain('keyway.device.CommandAccepted');
    // The same grant has no use left: a second command is refused with AccessDenied(exhausted).
    await sendCommand(await signCommand(command({ jti: 'c-again' }), hub.privateKey));
    await waitUntil(() => results.some((r) => r.commandId === 'c-again'));
    expect(results.find((r) => r.commandId === 'c-again')).toMatchObject({ status: 'error', error: { reason: 'grant-invalid' } });
    await waitUntil(() => types().includes('keyway.access.AccessDenied'));
  });

  it('a close while the beam is broken answers reason "obstruction" (not "fault") and never presses the relay', async () => {
    const { agent, garage } = await openWithCloseGrant();
    expect(garage.door.position).toBe(1);
    const pressesBefore = garage.door.relayPressCount();
    garage.door.setObstruction(true);
    // Once the controller has seen the beam (after its debounce), as a courier standing in the doorway would be seen.
    await waitUntil(() => types().includes('keyway.device.ObstructionDetected'));
    await sendCommand(await signCommand(command({ jti: 'c-close', action: 'close' }), hub.privateKey));
    await waitUntil(() => results.some((r) => r.commandId === 'c-close'));
    expect(results.find((r) => r.commandId === 'c-close')).toMatchObject({ status: 'error', error: { reason: 'obstruction' } });
    expect(garage.door.relayPressCount()).toBe(pressesBefore);
    expect(garage.door.position).toBe(1);
    // Refused before the grant: the close spent no use, and the hub hears CommandRejected(obstruction), not CommandAccepted.
    expect(agent.internals.grants.list().find((g) => g.grantId === 'g-1')?.uses).toBe(1);
    await waitUntil(() => types().includes('keyway.device.CommandRejected'));
    expect(types().filter((t) => t === 'keyway.device.CommandAccepted')).toHaveLength(1);
    expect(types().filter((t) => t === 'keyway.access.GrantUsed')).toHaveLength(1);
  });

  it('a close refused by the door during its warning (beam broken before the door moves) is reported as CommandRejected(obstruction)', async () => {
    const { garage } = await openWithCloseGrant();
    const pressesBefore = garage.door.relayPressCount();
    await sendCommand(await signCommand(command({ jti: 'c-close', action: 'close' }), hub.privateKey));
    // The beam breaks while the warning runs (it lasts 5 s before any press), however late the events reach the hub.
    await waitUntil(() => garage.chip.level(garage.pins.warning) === 1);
    garage.door.setObstruction(true);
    await waitUntil(() => results.some((r) => r.commandId === 'c-close'), 15_000);
    expect(results.find((r) => r.commandId === 'c-close')).toMatchObject({ status: 'error', error: { reason: 'obstruction' } });
    await waitUntil(() => types().includes('keyway.device.CommandRejected'));
    expect(garage.door.relayPressCount()).toBe(pressesBefore);
    expect(garage.door.position).toBe(1);
  }, 30_000);

  it('refuses forged, expired, replayed and other-device commands, each as a CommandRejected event and an error result', async () => {
    harness = await startAgentHarness(broker.url, hub);
    await waitUntil(() => harness!.agent.internals.clock.status().bounded);
    const forger = generateHubKeyPair();
    const grant = await signGrant({ jti: 'g-1', aud: 'garage-1', sub: 'courier-7', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open', 'close'], maxUses: 5 }, hub.privateKey);
    await sendCommand(await signCommand(command({ jti: 'c-forged' }), forger.privateKey));
    await sendCommand(await signCommand(command({ jti: 'c-expired', iat: nowS() - 900, exp: nowS() - 600 }), hub.privateKey));
    await sendCommand(await signCommand(command({ jti: 'c-other', aud: 'garage-2' }), hub.privateKey));
    const good = await signCommand(command({ jti: 'c-once', action: 'stop', grantId: undefined, grant }), hub.privateKey);
    await sendCommand(good);
    await waitUntil(() => results.some((r) => r.commandId === 'c-once'));
    await sendCommand(good);
    await waitUntil(() => results.filter((r) => r.commandId === 'c-once').length === 2);
    const reasonOf = (id: string): unknown => (results.find((r) => r.commandId === id && r.status === 'error')?.error as { reason?: string } | undefined)?.reason;
    expect(reasonOf('c-forged')).toBe('forged');
    expect(reasonOf('c-expired')).toBe('expired');
    expect(reasonOf('c-other')).toBe('wrong-device');
    expect(reasonOf('c-once')).toBe('replayed');
    await waitUntil(() => types().filter((t) => t === 'keyway.device.CommandRejected').length === 4);
    expect(harness.garage.door.position).toBe(0);
  });

  it('a keypad PIN opens the door while the network is down, and the events reach the hub after reconnecting', async () => {
    harness = await startAgentHarness(broker.url, hub);
    const { agent, keypad, garage } = harness;
    await waitUntil(() => agent.internals.clock.status().bounded);
    const grantToken = await signGrant({ jti: 'g-pin', aud: 'garage-1', sub: 'courier-7', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open'], maxUses: 3, pinHash: await hashPin('482913') }, hub.privateKey);
    await hubClient.publishAsync('keyway/v1/d/garage-1/down/grants', JSON.stringify({ v: 1, grants: [grantToken] }), { qos: 1 });
    await waitUntil(() => agent.internals.grants.list().length === 1);
    const port = broker.port;
    await responder.stop();
    await hubClient.endAsync();
    await broker.stop();
    await waitUntil(() => !agent.internals.connector.connected);
    const before = responder.count('garage-1');
    keypad.type('000000');
    keypad.type('482913');
    await waitUntil(() => garage.door.position === 1 && agent.status().door === 'open', 5_000);
    const depth = agent.internals.outbox.stats().depth;
    expect(depth).toBeGreaterThanOrEqual(4);
    expect(agent.status()).toMatchObject({ connected: false, outboxDepth: depth, door: 'open' });
    broker = await startAedes(port);
    responder = new HubAckResponder({ url: broker.url, hubPrivateKey: hub.privateKey });
    await responder.start();
    hubClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    await waitUntil(() => types().includes('keyway.device.KeypadEntry') && types().includes('keyway.access.GrantUsed'), 15_000);
    const got = responder.received.get('garage-1') ?? [];
    expect(got.filter((e) => e.type === 'keyway.access.AccessDenied')).toHaveLength(1);
    expect(before).toBeGreaterThan(0);
  });

  it('a flood of PINs on a locked keypad is recorded once per interval with a count, not once per entry', async () => {
    harness = await startAgentHarness(broker.url, hub);
    const { agent, keypad } = harness;
    await waitUntil(() => agent.internals.clock.status().bounded);
    const keypadEvents = (): number => types().filter((t) => t === 'keyway.device.KeypadEntry').length;
    for (let i = 0; i < 200; i++) keypad.type(String(700_000 + i));
    // 4 wrong PINs, then the 5th locks the keypad and is recorded; the other 195 fall in the same interval.
    await waitUntil(() => keypadEvents() >= 5 && agent.internals.outbox.stats().depth === 0, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(keypadEvents()).toBe(5);
    expect(types().filter((t) => t === 'keyway.access.AccessDenied')).toHaveLength(5);
  });

  it('grants synced with a forged signature or for another device are refused as AccessDenied(grant-sync) and never stored', async () => {
    harness = await startAgentHarness(broker.url, hub);
    const { agent } = harness;
    await waitUntil(() => agent.internals.connector.connected);
    const forger = generateHubKeyPair();
    const forged = await signGrant({ jti: 'g-forged', aud: 'garage-1', sub: 'mallory', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open'], maxUses: 9 }, forger.privateKey);
    const other = await signGrant({ jti: 'g-other', aud: 'garage-2', sub: 'courier-7', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open'], maxUses: 1 }, hub.privateKey);
    const good = await signGrant({ jti: 'g-good', aud: 'garage-1', sub: 'courier-7', nbf: nowS() - 60, exp: nowS() + 3600, actions: ['open'], maxUses: 1 }, hub.privateKey);
    await hubClient.publishAsync('keyway/v1/d/garage-1/down/grants', JSON.stringify({ v: 1, grants: [forged, other, good] }), { qos: 1 });
    await waitUntil(() => agent.internals.grants.list().length === 1);
    expect(agent.internals.grants.list().map((g) => g.grantId)).toEqual(['g-good']);
    await waitUntil(() => types().filter((t) => t === 'keyway.access.AccessDenied').length === 2);
  });

  it('a graceful stop releases the relay, publishes offline and closes the database', async () => {
    harness = await startAgentHarness(broker.url, hub);
    const { agent, garage } = harness;
    await waitUntil(() => agent.internals.connector.connected);
    const status: string[] = [];
    hubClient.on('message', (t, p) => {
      if (t.endsWith('/status')) status.push(p.toString());
    });
    await hubClient.subscribeAsync('keyway/v1/d/garage-1/status', { qos: 1 });
    await waitUntil(() => status.some((s) => s.includes('"online":true')));
    await agent.stop();
    await waitUntil(() => status.some((s) => s.includes('"online":false')));
    expect(garage.chip.level(garage.pins.relay)).toBe(0);
    expect(() => agent.internals).toThrow(/not started/);
    harness = { ...harness, dispose: async () => garage.dispose() };
  });

  it('a graceful stop finishes, and closes the connection, when the broker never acknowledges the offline message', async () => {
    const proxy = new NetworkCut(broker.port);
    await proxy.start();
    try {
      harness = await startAgentHarness(`mqtt://127.0.0.1:${proxy.port}`, hub);
      const { agent, garage } = harness;
      await waitUntil(() => agent.internals.connector.connected);
      proxy.stall();
      const started = Date.now();
      await agent.stop();
      // Bounded: about 2 s for the offline message, 3 s for the DISCONNECT, not forever.
      expect(Date.now() - started).toBeLessThan(8_000);
      await waitUntil(() => proxy.openConnections === 0, 5_000);
      harness = { ...harness, dispose: async () => garage.dispose() };
    } finally {
      await proxy.stop();
    }
  }, 20_000);
});
