import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { nativeShimsPlugin } from './native-shims.js';
import { REPO_ROOT } from './paths.js';

export interface BundleResult {
  outFile: string;
  /** Input paths (relative to the repository root) esbuild took into the bundle. */
  inputs: string[];
  bytes: number;
}

/**
 * Bundles an ESM TypeScript entry into one CommonJS file for Node 20: the only format a Node 20 SEA can run
 * as its main script. Native addons are loaded through the shims, so nothing stays external.
 * The entry must not use top-level await (CommonJS has none).
 */
export async function bundleEntry(entry: string, outFile: string, opts: { minify?: boolean } = {}): Promise<BundleResult> {
  mkdirSync(dirname(outFile), { recursive: true });
  const result = await build({
    entryPoints: [entry],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: opts.minify ?? false,
    sourcemap: false,
    metafile: true,
    absWorkingDir: REPO_ROOT,
    logLevel: 'warning',
    plugins: [nativeShimsPlugin()],
    // Code written for ESM may read import.meta.url (paths relative to the module); give it the bundle's own URL.
    define: { 'import.meta.url': '__keywayImportMetaUrl' },
    banner: { js: "const __keywayImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => (p.startsWith('/') ? relative(REPO_ROOT, p) : p));
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  return { outFile, inputs, bytes };
}
