import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '@keyway/shared/client';
import { runApiCommand } from '../../hub/src/cli/api-commands.js';
import { freePort } from '../support/ports.js';
import { startTestHub, type TestHub } from './start-hub.js';

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub();
});
afterAll(async () => {
  await t.stop();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return cliWith({ KEYWAY_URL: t.url, KEYWAY_API_KEY: t.admin }, ...args);
}

async function cliWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runApiCommand(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env, fetch });
  return { code, out, err };
}

describe('the keyway CLI against a running hub', () => {
  it('lists a dead letter with its last error, then redrives it back to the queue', async () => {
    const opsKey = (await t.call('POST', '/v1/accounts/ops/keys')).body.apiKey as string;
    await t.call('POST', '/v1/subscribers', { name: 'ops.dead-end', types: ['keyway.device.Heartbeat'], webhook: { url: 'http://127.0.0.1:9/unreachable', secret: 'a-very-long-secret' }, retry: { maxAttempts: 1 } }, opsKey);
    const hb = createEvent('keyway.device.Heartbeat', { deviceId: 'garage-9', uptimeS: 1, at: new Date().toISOString() }, { source: 'keyway://device/garage-9', id: 'garage-9-1', subject: 'garage-9' });
    const published = await t.hub.internals.bus.publishAs('device-gateway', [hb]);
    expect(published[0]!.status).toBe('accepted');

    let listed = await cli('dlq', 'list', 'ops.dead-end');
    for (let i = 0; i < 100 && JSON.parse(listed.out).items.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      listed = await cli('dlq', 'list', 'ops.dead-end');
    }
    expect(listed.code).toBe(0);
    const items = JSON.parse(listed.out).items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: 'keyway.device.Heartbeat', subject: 'garage-9', attempts: 1, lastError: expect.any(String) });

    const redriven = await cli('dlq', 'redrive', 'ops.dead-end', '--type', 'keyway.device.Heartbeat');
    expect(JSON.parse(redriven.out)).toEqual({ redriven: 1 });
  });

  it('exits non-zero with the hub error for an unknown subscriber, and 2 without a key', async () => {
    const missing = await cli('dlq', 'list', 'nobody');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^keyway: .*nobody.* \(NOT_FOUND, HTTP 404\)\n$/);
    const asJson = await cli('dlq', 'list', 'nobody', '--json');
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.err)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const noKey = await runApiCommand(['schemas'], { stdout: () => undefined, stderr: () => undefined, env: {}, fetch });
    expect(noKey).toBe(2);
  });

  it('names what is wrong with the command line before asking for a key, and exits 2', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command: frobnicate/],
      [['replay', 'notify.customers', '--from', '2026-11-28T00:00:00Z'], /replay needs --from and --to/],
      [['replay', 'notify.customers', '--from', 'yesterday', '--to', '2026-11-28T00:00:00Z'], /--from is not an ISO time: yesterday/],
      [['dlq', 'list'], /dlq list needs a subscriber name/],
      [['dlq', 'purge', 'x'], /dlq needs "list" or "redrive", got "purge"/],
      [['dlq', 'list', 'x', '--limit', 'abc'], /--limit must be a positive whole number, got abc/],
      [['subscribers', 'extra'], /unexpected argument: extra/],
      [['schemas', '--url', 'not-a-url'], /--url \(or KEYWAY_URL\) must be the hub's http\(s\) URL/],
      [['schemas', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await cliWith({}, ...args);
      expect({ args, code: r.code, err: r.err.split('\n')[0] }).toEqual({ args, code: 2, err: expect.stringMatching(message) });
    }
  });

  it('says which URL it could not reach and why, and exits 1', async () => {
    const url = `http://127.0.0.1:${await freePort()}`; // free, so nothing answers there
    const r = await cliWith({ KEYWAY_URL: url, KEYWAY_API_KEY: 'kw_any' }, 'subscribers');
    expect(r.code).toBe(1);
    expect(r.err).toBe(`keyway: could not reach the hub at ${url} (ECONNREFUSED); is it running? Name it with --url or KEYWAY_URL\n`);
  });
});
