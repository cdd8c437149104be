import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, which } from './exec.js';
import { REPO_ROOT } from './paths.js';
import { targetInfo, type Target } from './targets.js';

/** The sentinel Node 20 looks for to know a SEA blob was injected (from Node's docs, fixed per major). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * Makes a single executable: writes the SEA preparation blob from the CommonJS bundle with the running Node,
 * copies the target's Node binary, strips its debug info (about 100 MB of DWARF a controller never needs), and
 * injects the blob with postject.
 *
 * The V8 code cache is only used when the target is the build machine's own architecture: a cache written by
 * an x64 V8 is rejected by an arm64 one, so it would only cost size there.
 */
export async function makeSea(opts: {
  bundle: string;
  workDir: string;
  nodeBinary: string;
  target: Target;
  codeCache: boolean;
  outFile: string;
}): Promise<void> {
  const blob = join(opts.workDir, 'sea-prep.blob');
  const config = join(opts.workDir, 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify({ main: opts.bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: opts.codeCache }, null, 2),
  );
  await run(process.execPath, ['--experimental-sea-config', config], { cwd: opts.workDir });
  copyFileSync(opts.nodeBinary, opts.outFile);
  chmodSync(opts.outFile, 0o755);
  const strip = `${targetInfo(opts.target).crossPrefix}strip`;
  if (which(strip)) await run(strip, ['--strip-debug', opts.outFile]);
  const postject = join(REPO_ROOT, 'node_modules', 'postject', 'dist', 'cli.js');
  await run(process.execPath, [postject, opts.outFile, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
}
