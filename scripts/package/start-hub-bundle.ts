/**
 * `npm run start:hub-bundle [-- --no-build] [--data DIR]`: for machines without a Docker engine, builds the hub's
 * production bundle (the image's /opt/keyway-hub) and starts it the way the image's ENTRYPOINT does, with the
 * image's ENV defaults. Both are read from hub/Dockerfile's runtime stage so the two cannot drift apart; the
 * image paths are mapped to this checkout (/opt/keyway-hub -> dist/hub, the data volume -> .data/hub-bundle).
 * Variables already set in the caller's environment win over the image defaults, as with `docker run -e`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { buildHub } from '../build-hub.js';
import { DIST, REPO_ROOT } from './paths.js';

export const IMAGE_APP_DIR = '/opt/keyway-hub';

export interface ImageRuntime {
  env: Record<string, string>;
  entrypoint: string[];
}

/** The ENV lines and exec-form ENTRYPOINT of the Dockerfile's last stage. */
export function readImageRuntime(dockerfile = join(REPO_ROOT, 'hub', 'Dockerfile')): ImageRuntime {
  const text = readFileSync(dockerfile, 'utf8');
  const stages = text.split(/^FROM\s/m);
  const last = stages[stages.length - 1] ?? '';
  const env: Record<string, string> = {};
  for (const m of last.matchAll(/^ENV\s+([A-Z0-9_]+)=(\S+)\s*$/gm)) {
    if (m[1] && m[2] !== undefined) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  const ep = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(last);
  if (!ep?.[1]) throw new KeywayError(ErrorCode.ConfigInvalid, `${dockerfile} has no exec-form ENTRYPOINT in its last stage; keep it as ENTRYPOINT ["node", "${IMAGE_APP_DIR}/main.cjs"]`);
  const entrypoint = JSON.parse(ep[1]) as string[];
  return { env, entrypoint };
}

/** The command, arguments and environment that run the bundle in `appDir` like the container would. */
export function hubBundleCommand(opts: { appDir: string; dataDir: string; env?: NodeJS.ProcessEnv }): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const image = readImageRuntime();
  const mapPath = (s: string): string => s.replace(IMAGE_APP_DIR, opts.appDir);
  const env: NodeJS.ProcessEnv = { ...image.env, KEYWAY_DATA_DIR: opts.dataDir, ...(opts.env ?? process.env) };
  // The image listens on all interfaces inside its own network namespace; on a bare machine stay on loopback
  // unless the caller says otherwise.
  if (!opts.env?.KEYWAY_HTTP_HOST && !process.env.KEYWAY_HTTP_HOST) env.KEYWAY_HTTP_HOST = '127.0.0.1';
  if (!opts.env?.KEYWAY_MQTT_HOST && !process.env.KEYWAY_MQTT_HOST) env.KEYWAY_MQTT_HOST = '127.0.0.1';
  const [cmd, ...args] = image.entrypoint.map(mapPath);
  if (!cmd) throw new KeywayError(ErrorCode.ConfigInvalid, 'the Dockerfile ENTRYPOINT is empty');
  return { cmd: cmd === 'node' ? process.execPath : cmd, args, env };
}

async function cli(): Promise<void> {
  const { values } = parseArgs({ options: { 'no-build': { type: 'boolean', default: false }, data: { type: 'string' } } });
  const appDir = join(DIST, 'hub');
  if (!values['no-build']) await buildHub({ outDir: appDir });
  const dataDir = resolve(values.data ?? process.env.KEYWAY_DATA_DIR ?? join(REPO_ROOT, '.data', 'hub-bundle'));
  mkdirSync(dataDir, { recursive: true });
  const { cmd, args, env } = hubBundleCommand({ appDir, dataDir, env: { ...process.env, KEYWAY_DATA_DIR: dataDir } });
  const child = spawn(cmd, args, { env, stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (process.argv[1] && /start-hub-bundle\.ts$/.test(process.argv[1])) {
  cli().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
