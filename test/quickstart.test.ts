/**
 * The README's quick start, exercised as a user runs it: `npm start` comes up and serves the API with an online
 * simulated garage; `npm run demo` completes a delivery and exits 0.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const tsx = path.join(root, 'node_modules/.bin/tsx');

function run(script: string, cwd: string, env: Record<string, string>, until: (out: string) => boolean, timeoutMs: number): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [path.join(root, script)], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish in time:\n${out}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (until(out)) child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out, code });
    });
  });
}

describe('the quick start', () => {
  it('npm start runs the hub and a simulated garage, prints the API URL and a sample request, and stops cleanly on SIGTERM', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-start-'));
    try {
      const { out, code } = await run('scripts/start.ts', cwd, { KEYWAY_HTTP_PORT: '0', KEYWAY_MQTT_PORT: '0', KEYWAY_LOG_LEVEL: 'warn' }, (o) => o.includes('Ctrl-C stops everything'), 60_000);
      expect(out).toMatch(/API +http:\/\/127\.0\.0\.1:\d+/);
      expect(out).toMatch(/garage +garage-1/);
      expect(out).toMatch(/curl -s -H 'x-api-key: kw_admin_/);
      expect(code).toBe(0);
      expect(fs.existsSync(path.join(cwd, '.data/hub/bus.db'))).toBe(true);
      expect(fs.existsSync(path.join(cwd, '.data/garage-1/agent.db'))).toBe(true);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  }, 70_000);

  it('npm start with a port already taken says so in one line and exits 1, for the MQTT port as for the HTTP port', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-start-busy-'));
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as { port: number }).port);
    try {
      for (const ports of [{ KEYWAY_HTTP_PORT: '0', KEYWAY_MQTT_PORT: port }, { KEYWAY_HTTP_PORT: port, KEYWAY_MQTT_PORT: '0' }]) {
        const { out, code } = await run('scripts/start.ts', cwd, { ...ports, KEYWAY_LOG_LEVEL: 'fatal' }, () => false, 60_000);
        expect({ ports, code }).toEqual({ ports, code: 1 });
        expect(out).toContain(`A port is already in use (`);
        expect(out).toContain(`:${port}`);
        expect(out).not.toMatch(/\n\s+at /); // no stack trace
      }
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  }, 130_000);

  it('npm run demo completes a delivery through a network cut and exits 0', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-demo-'));
    try {
      const { out, code } = await run('scripts/demo.ts', cwd, {}, () => false, 90_000);
      expect(out).toMatch(/network cut while the courier is inside/);
      expect(out).toMatch(/door open -> closing \(wall-button\)/);
      expect(out).toMatch(/Delivery completed in/);
      // Shutting the garage down afterwards (its MQTT last will) is not printed as part of the delivery.
      expect(out.slice(out.indexOf('Delivery completed in'))).not.toMatch(/device\.DeviceOffline/);
      expect(code).toBe(0);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  }, 100_000);
});
