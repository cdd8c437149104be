/**
 * `npm run build:hub`: the hub's production bundle, the same files the container image carries:
 *   dist/hub/main.cjs                  esbuild bundle of hub/src/main.ts (all JS dependencies inside)
 *   dist/hub/native/better_sqlite3.node the SQLite addon, loaded by the bundle's shim from beside main.cjs
 *   dist/hub/BUILD.json                what was bundled
 * Start it as the image's entrypoint does: `node dist/hub/main.cjs` (npm run start:hub-bundle), configured
 * only by environment variables (KEYWAY_DATA_DIR, KEYWAY_HTTP_HOST/PORT, KEYWAY_MQTT_HOST/PORT, ...).
 * Ends with one line of JSON.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleEntry } from './package/bundle.js';
import { addonsInBundle, stageAddons } from './package/native-addons.js';
import { DIST, REPO_ROOT } from './package/paths.js';
import { hostTarget } from './package/targets.js';
import { ErrorCode, KeywayError } from '@keyway/shared';

export const REAL_HUB_ENTRY = join(REPO_ROOT, 'hub', 'src', 'main.ts');
export const HUB_PROBE_ENTRY = join(REPO_ROOT, 'scripts', 'package', 'fixtures', 'hub-probe.ts');

export interface HubBuild {
  outDir: string;
  main: string;
  entry: string;
  addons: string[];
  bundleBytes: number;
  seconds: number;
}

export async function buildHub(opts: { entry?: string; outDir?: string } = {}): Promise<HubBuild> {
  const t0 = performance.now();
  const entry = opts.entry ?? (existsSync(REAL_HUB_ENTRY) ? REAL_HUB_ENTRY : HUB_PROBE_ENTRY);
  const outDir = opts.outDir ?? join(DIST, 'hub');
  const target = hostTarget();
  if (!target) throw new KeywayError(ErrorCode.Unavailable, `the hub bundle is built for the machine it runs on; ${process.platform}-${process.arch} is not supported`);
  rmSync(outDir, { recursive: true, force: true });
  const main = join(outDir, 'main.cjs');
  const bundle = await bundleEntry(entry, main);
  const addons = await stageAddons(addonsInBundle(bundle.inputs), target, '', outDir, (l) => console.log(l));
  const build: HubBuild = { outDir, main, entry: relative(REPO_ROOT, entry), addons, bundleBytes: bundle.bytes, seconds: (performance.now() - t0) / 1000 };
  writeFileSync(join(outDir, 'BUILD.json'), JSON.stringify({ entry: build.entry, node: process.version, addons, builtAt: new Date().toISOString() }, null, 2));
  return build;
}

async function cli(): Promise<void> {
  const { values } = parseArgs({ options: { entry: { type: 'string' }, out: { type: 'string' } } });
  const b = await buildHub({ entry: values.entry, outDir: values.out });
  console.log(`bundled ${b.entry} -> ${b.main} (${(b.bundleBytes / 2 ** 20).toFixed(1)} MiB) with ${b.addons.join(', ') || 'no addons'} in ${b.seconds.toFixed(1)} s`);
  console.log(JSON.stringify({ main: b.main, entry: b.entry, addons: b.addons, bundleBytes: b.bundleBytes, seconds: Number(b.seconds.toFixed(1)) }));
}

if (process.argv[1] && /build-hub\.ts$/.test(process.argv[1])) {
  cli().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
