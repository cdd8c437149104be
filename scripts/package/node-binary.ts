import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { run } from './exec.js';
import { CACHE } from './paths.js';
import { hostTarget, targetInfo, type Target } from './targets.js';

/** The exact Node version the SEA blob is written by; the target binary must match it. */
export const NODE_VERSION = process.version.replace(/^v/, '');

/**
 * Returns a folder holding `bin/node` (and `include/node`) of exactly this Node version for `target`.
 * For the build machine's own platform that is the running Node; otherwise the binary comes from the npm
 * registry package `node-linux-<arch>` (`npm pack`, never a direct download), unpacked under dist/cache.
 */
export async function nodeDistFor(target: Target, log: (s: string) => void): Promise<{ nodeBinary: string; nodeDir: string }> {
  if (target === hostTarget()) {
    // Headers of the running Node, as node-gyp would find them (`npm config get nodedir`).
    return { nodeBinary: process.execPath, nodeDir: join(process.execPath, '..', '..') };
  }
  const pkg = targetInfo(target).nodePackage;
  const dir = join(CACHE, `${pkg}-${NODE_VERSION}`);
  const bin = join(dir, 'bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(CACHE, { recursive: true });
    log(`fetching ${pkg}@${NODE_VERSION} from the npm registry`);
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      await run('npm', ['pack', `${pkg}@${NODE_VERSION}`, '--silent', '--pack-destination', tmp], { cwd: tmp });
    } catch (cause) {
      throw new KeywayError(
        ErrorCode.Unavailable,
        `cannot fetch ${pkg}@${NODE_VERSION} from the npm registry; check the registry is reachable and that this Node version is published (npm view ${pkg} versions)`,
        { cause },
      );
    }
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new KeywayError(ErrorCode.Internal, `npm pack ${pkg} wrote no tarball into ${tmp}`);
    const unpacked = join(tmp, 'unpacked');
    mkdirSync(unpacked);
    await run('tar', ['xzf', join(tmp, tgz), '-C', unpacked, '--strip-components=1']);
    rmSync(dir, { recursive: true, force: true });
    renameSync(unpacked, dir);
    rmSync(tmp, { recursive: true, force: true });
  }
  return { nodeBinary: bin, nodeDir: dir };
}
