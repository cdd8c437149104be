import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { DeviceGateway, type GatewayBus } from '@keyway/hub/gateway';
import { batch, collect, connectDevice, range, startGatewayHub, waitFor, type GatewayHub } from './helpers.js';

const hasOpenssl = spawnSync('openssl', ['version']).error === undefined;
if (!hasOpenssl) console.warn('skipping the TLS listener test: install the Debian package "openssl"');

describe('device gateway transport, bus outages and vendor isolation', () => {
  let hub: GatewayHub | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await hub?.close();
    hub = undefined;
  });

  it('makes no ack progress while the bus is down, says why, and acks the resent batch once the bus is back', async () => {
    const h = (hub = await startGatewayHub());
    const token = await h.provision('garage-1');
    const client = await connectDevice(h.url, 'garage-1', token);
    clients.push(client);
    const acks = await collect(client, 'keyway/v1/d/garage-1/down/ack');
    await h.hub.bus.stop();
    const payload = batch('garage-1', range(1, 15));
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the refusal');
    expect(acks[0]).toMatchObject({ upTo: 0, error: { code: 'UNAVAILABLE' } });
    await h.hub.bus.start();
    await client.publishAsync('keyway/v1/d/garage-1/up/events', payload, { qos: 1 });
    await waitFor(() => acks.length === 2, 5_000, 'the ack');
    expect(acks[1]).toMatchObject({ upTo: 15 });
    expect(acks[1]!.error).toBeUndefined();
  });

  it('fails to start with UNAVAILABLE when the broker port is taken, and leaves nothing open', async () => {
    const h = (hub = await startGatewayHub());
    const taken = h.gateway.address?.port ?? 0;
    const second = new DeviceGateway({ bus: h.hub.bus, devices: h.state, transport: { kind: 'embedded', port: taken, host: '127.0.0.1' } });
    await expect(second.start()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(second.stats().connectedClients).toBeUndefined();
    await second.stop();
  });

  // Needs the openssl binary (Debian package "openssl") to make a throwaway certificate.
  it.skipIf(!hasOpenssl)('accepts devices over TLS as well as TCP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-tls-'));
    try {
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
      expect(made.status).toBe(0);
      const cert = readFileSync(join(dir, 'cert.pem'));
      const h = (hub = await startGatewayHub({ transport: { kind: 'embedded', port: 0, host: '127.0.0.1', tls: { port: 0, key: readFileSync(join(dir, 'key.pem')), cert } } }));
      const tlsPort = h.gateway.address?.tlsPort;
      expect(tlsPort).toBeGreaterThan(0);
      const token = await h.provision('garage-1');
      const client = await connectDevice(`mqtts://127.0.0.1:${tlsPort}`, 'garage-1', token, { ca: cert, rejectUnauthorized: true });
      clients.push(client);
      const acks = await collect(client, 'keyway/v1/d/garage-1/down/ack');
      await client.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', [1, 2]), { qos: 1 });
      await waitFor(() => acks.length === 1, 5_000, 'the ack over TLS');
      expect(acks[0]).toMatchObject({ upTo: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Needs the openssl binary (Debian package "openssl") to make a throwaway CA and device certificates.
describe.skipIf(!hasOpenssl)('device identity by client certificate', () => {
  let hub: GatewayHub | undefined;
  const clients: MqttClient[] = [];
  let dir = '';
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await hub?.close();
    hub = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function openssl(...args: string[]): void {
    const r = spawnSync('openssl', args, { cwd: dir });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
  }

  function deviceCert(name: string): { key: Buffer; cert: Buffer } {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', `${name}.pem`);
    return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.pem`)) };
  }

  it('accepts a device whose CA-signed certificate names it, without a token, and refuses a certificate naming another device', async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyway-mtls-'));
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=keyway-device-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', 'server.key', '-out', 'server.pem');
    const ca = readFileSync(join(dir, 'ca.pem'));
    const serverCert = readFileSync(join(dir, 'server.pem'));
    const h = (hub = await startGatewayHub({
      transport: { kind: 'embedded', port: 0, host: '127.0.0.1', tls: { port: 0, key: readFileSync(join(dir, 'server.key')), cert: serverCert, ca, requestCert: true } },
    }));
    await h.provision('garage-1');
    await h.provision('garage-2');
    const url = `mqtts://127.0.0.1:${h.gateway.address?.tlsPort ?? 0}`;
    const one = deviceCert('garage-1');
    const client = await connectDevice(url, 'garage-1', '', { password: undefined, username: undefined, ...one, ca: serverCert });
    clients.push(client);
    const acks = await collect(client, 'keyway/v1/d/garage-1/down/ack');
    await client.publishAsync('keyway/v1/d/garage-1/up/events', batch('garage-1', [1]), { qos: 1 });
    await waitFor(() => acks.length === 1, 5_000, 'the ack');
    expect(acks[0]).toMatchObject({ upTo: 1 });

    const two = deviceCert('garage-2');
    await expect(connectDevice(url, 'garage-1', '', { password: undefined, username: undefined, ...two, ca: serverCert })).rejects.toThrow(/Not authorized/i);
  });

  // One vendor's devices flooding the gateway must not hold up another vendor's: its batches wait in its own queue.
  it("processes at most vendorConcurrency batches of a flooding vendor at once, while another vendor's batch is acknowledged", async () => {
    // The bus holds every batch of vendor "bulk" until released, as a slow validation or commit would.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let bulkInProgress = 0;
    let bulkMost = 0;
    const real: { bus?: GatewayBus } = {};
    const bus: GatewayBus = {
      async publishAs(account, entries) {
        const source = (entries[0] as { source?: string } | undefined)?.source ?? '';
        if (source.startsWith('keyway://device/bulk-')) {
          bulkInProgress += 1;
          bulkMost = Math.max(bulkMost, bulkInProgress);
          await released;
          bulkInProgress -= 1;
        }
        return real.bus!.publishAs(account, entries);
      },
    };
    const h = (hub = await startGatewayHub({ bus, limits: { vendorConcurrency: 2 } }));
    real.bus = h.hub.bus;
    const connect = async (id: string, vendor: string) => {
      const client = await connectDevice(h.url, id, await h.provision(id, vendor));
      clients.push(client);
      return { client, acks: await collect(client, `keyway/v1/d/${id}/down/ack`) };
    };
    const bulk = await Promise.all(['bulk-1', 'bulk-2', 'bulk-3', 'bulk-4'].map((id) => connect(id, 'bulk')));
    for (const [i, d] of bulk.entries()) await d.client.publishAsync(`keyway/v1/d/bulk-${i + 1}/up/events`, batch(`bulk-${i + 1}`, [1]), { qos: 1 });
    await waitFor(() => bulkInProgress === 2, 5_000, 'two bulk batches in progress');

    const other = await connect('garage-other', 'acme');
    await other.client.publishAsync('keyway/v1/d/garage-other/up/events', batch('garage-other', [1]), { qos: 1 });
    await waitFor(() => other.acks.length === 1, 5_000, "the other vendor's ack while bulk waits");
    expect(other.acks[0]).toMatchObject({ upTo: 1 });
    expect(bulk.every((d) => d.acks.length === 0)).toBe(true);
    expect(bulkMost).toBe(2);

    release();
    await waitFor(() => bulk.every((d) => d.acks.length === 1), 5_000, 'every bulk batch acknowledged once released');
    expect(bulkMost).toBe(2);
  });
});
