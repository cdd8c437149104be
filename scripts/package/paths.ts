import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root (this file is scripts/package/paths.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Build outputs; gitignored. */
export const DIST = join(REPO_ROOT, 'dist');
/** Downloaded Node binaries and cross-compiled addons, reused between builds (keyed by version). */
export const CACHE = join(DIST, 'cache');
