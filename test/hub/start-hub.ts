import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hub, type HubConfig } from '@keyway/hub';

export interface TestHub {
  hub: Hub;
  dataDir: string;
  url: string;
  admin: string;
  /** fetch against the hub with the admin key (or another key), JSON in and out. */
  call(method: string, route: string, body?: unknown, key?: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  stop(keepData?: boolean): Promise<void>;
}

/** Starts a whole hub on ephemeral 127.0.0.1 ports with its SQLite files in a temp folder. */
export async function startTestHub(overrides: Partial<HubConfig> = {}, dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-hub-'))): Promise<TestHub> {
  const hub = new Hub({ dataDir, http: { host: '127.0.0.1', port: 0 }, mqtt: { kind: 'embedded', host: '127.0.0.1', port: 0 }, ...overrides });
  await hub.start();
  const url = hub.httpUrl;
  const admin = hub.adminApiKey;
  return {
    hub,
    dataDir,
    url,
    admin,
    async call(method, route, body, key = admin, headers = {}) {
      const response = await fetch(`${url}${route}`, {
        method,
        headers: { ...(key ? { 'x-api-key': key } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // metrics and other text bodies stay text
      }
      return { status: response.status, body: parsed };
    },
    async stop(keepData = false) {
      await hub.stop();
      if (!keepData) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
