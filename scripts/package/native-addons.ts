import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { run, which } from './exec.js';
import { NODE_VERSION } from './node-binary.js';
import { CACHE, REPO_ROOT } from './paths.js';
import { hostTarget, targetInfo, type Target } from './targets.js';

/**
 * The native addons the agent may pull in, how each is obtained per target, and where it goes in the tarball.
 * The bundle's shims (native-shims.ts) load them from the same places:
 *   native/<file>.node                      addons loaded through the `bindings` package
 *   prebuilds/linux-<arch>/<file>.node       addons loaded through `node-gyp-build` (serialport)
 */
export interface AddonSpec {
  /** npm package name as it appears in a bundle input path. */
  pkg: string;
  /**
   * gyp: built by node-gyp (cross-compiled for other targets); prebuild: node-gyp-build prebuilds/ folders;
   * shipped: one binary per platform inside the npm package (dist/bin/linux-<arch>-glibc/<file>).
   */
  kind: 'gyp' | 'prebuild' | 'shipped';
  /** gyp and shipped: the file name, as `bindings(...)` or the loader asks for it under native/. */
  file?: string;
}

export const ADDONS: readonly AddonSpec[] = [
  { pkg: 'better-sqlite3', kind: 'gyp', file: 'better_sqlite3.node' },
  // onoff's edge-interrupt helper; shipped only when the agent's GPIO binding (onoff) is in the bundle.
  { pkg: 'epoll', kind: 'gyp', file: 'epoll.node' },
  { pkg: '@serialport/bindings-cpp', kind: 'prebuild' },
  // aws-iot-device-sdk-v2's runtime; its package carries linux x64/arm64 glibc binaries (no armv7).
  { pkg: 'aws-crt', kind: 'shipped', file: 'aws-crt-nodejs.node' },
];

/** Packages whose addons we cannot ship yet; a bundle that contains them fails the build instead of breaking at run time. */
const UNSUPPORTED: readonly string[] = [];

export interface FoundAddon {
  spec: AddonSpec;
  /** The package folder the bundle actually used (so the shipped addon matches the bundled JS version). */
  pkgDir: string;
  version: string;
}

/** Which addons a bundle needs, judged from esbuild's metafile input paths. */
export function addonsInBundle(inputPaths: readonly string[]): FoundAddon[] {
  const found = new Map<string, FoundAddon>();
  for (const input of inputPaths) {
    const m = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
    if (!m?.[1] || !m[2]) continue;
    const pkg = m[2];
    if (UNSUPPORTED.includes(pkg)) {
      throw new KeywayError(
        ErrorCode.InvalidInput,
        `the bundle contains ${pkg}, whose native binary the packager does not ship yet; add it to scripts/package/native-addons.ts`,
      );
    }
    const spec = ADDONS.find((a) => a.pkg === pkg);
    if (!spec || found.has(pkg)) continue;
    const pkgDir = join(REPO_ROOT, m[1]);
    const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
    found.set(pkg, { spec, pkgDir, version });
  }
  return [...found.values()];
}

function nodeGypScript(): string {
  const candidates = [process.env.npm_config_node_gyp];
  const npm = which('npm');
  if (npm) candidates.push(join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const hit = candidates.find((c): c is string => !!c && existsSync(c));
  if (!hit) throw new KeywayError(ErrorCode.Unavailable, 'cannot find node-gyp (it ships with npm); reinstall npm or set npm_config_node_gyp');
  return hit;
}

/**
 * Builds a node-gyp addon for `target` against that target's Node headers with the Debian cross compiler, in a
 * copy of the package under dist/cache (never in the repository's node_modules), and caches the result.
 */
async function crossBuildGyp(found: FoundAddon, target: Target, nodeDir: string, log: (s: string) => void): Promise<string> {
  const { spec, pkgDir, version } = found;
  const file = spec.file ?? '';
  const key = `${spec.pkg.replace('/', '+')}-${version}-node${NODE_VERSION}-${target}`;
  const cached = join(CACHE, 'addons', key, file);
  if (existsSync(cached)) return cached;
  const info = targetInfo(target);
  const cxx = `${info.crossPrefix}g++`;
  if (!which(cxx)) {
    throw new KeywayError(
      ErrorCode.Unavailable,
      `cannot build ${spec.pkg} for ${target}: ${cxx} is missing; install the Debian packages ${info.debianPackages.join(' ')}`,
    );
  }
  const work = join(CACHE, 'build', key);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  for (const entry of readdirSync(pkgDir)) {
    if (entry === 'build' || entry === 'node_modules') continue;
    cpSync(join(pkgDir, entry), join(work, entry), { recursive: true });
  }
  log(`cross-compiling ${spec.pkg}@${version} for ${target} (takes a minute or two)`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CC: `${info.crossPrefix}gcc`,
    CXX: cxx,
    LINK: cxx,
    AR: `${info.crossPrefix}ar`,
    // binding.gyp files that ask `node -e "require('nan')"` must find the repository's copy.
    NODE_PATH: join(REPO_ROOT, 'node_modules'),
    // npm passes its own nodedir setting (the build machine's headers) down to scripts; the target's wins.
    npm_config_nodedir: nodeDir,
  };
  await run(process.execPath, [nodeGypScript(), 'rebuild', `--arch=${info.arch}`, `--nodedir=${nodeDir}`, '-j', '2'], {
    cwd: work,
    env,
  });
  const built = join(work, 'build', 'Release', file);
  if (!existsSync(built)) throw new KeywayError(ErrorCode.Internal, `node-gyp finished but ${built} is missing`);
  mkdirSync(dirname(cached), { recursive: true });
  copyFileSync(built, cached);
  const strip = `${info.crossPrefix}strip`;
  if (which(strip)) await run(strip, ['--strip-unneeded', cached]);
  rmSync(work, { recursive: true, force: true });
  return cached;
}

/** Puts every addon the bundle needs into `outDir` in the layout the shims expect; returns the relative paths. */
export async function stageAddons(
  addons: readonly FoundAddon[],
  target: Target,
  nodeDir: string,
  outDir: string,
  log: (s: string) => void,
): Promise<string[]> {
  const placed: string[] = [];
  const arch = targetInfo(target).arch;
  for (const found of addons) {
    if (found.spec.kind === 'prebuild') {
      const from = join(found.pkgDir, 'prebuilds', `linux-${arch}`);
      if (!existsSync(from)) throw new KeywayError(ErrorCode.Unavailable, `${found.spec.pkg}@${found.version} ships no prebuild for linux-${arch}`);
      const rel = join('prebuilds', `linux-${arch}`);
      mkdirSync(join(outDir, rel), { recursive: true });
      // Controllers run glibc distributions (Raspberry Pi OS, Debian, Ubuntu); musl builds would only confuse the loader.
      for (const f of readdirSync(from).filter((n) => n.endsWith('.node') && !n.includes('musl'))) {
        copyFileSync(join(from, f), join(outDir, rel, f));
        placed.push(join(rel, f));
      }
      continue;
    }
    const file = found.spec.file ?? '';
    if (found.spec.kind === 'shipped') {
      const from = join(found.pkgDir, 'dist', 'bin', `linux-${arch}-glibc`, file);
      if (!existsSync(from)) throw new KeywayError(ErrorCode.Unavailable, `${found.spec.pkg}@${found.version} ships no ${file} for linux-${arch} (glibc)`);
      mkdirSync(join(outDir, 'native'), { recursive: true });
      copyFileSync(from, join(outDir, 'native', file));
      placed.push(join('native', file));
      continue;
    }
    const src =
      target === hostTarget() ? join(found.pkgDir, 'build', 'Release', file) : await crossBuildGyp(found, target, nodeDir, log);
    if (!existsSync(src)) {
      throw new KeywayError(ErrorCode.Unavailable, `${src} is missing; run npm ci (or npm rebuild ${found.spec.pkg}) so the addon is built for this machine`);
    }
    mkdirSync(join(outDir, 'native'), { recursive: true });
    copyFileSync(src, join(outDir, 'native', file));
    placed.push(join('native', file));
  }
  return placed;
}
