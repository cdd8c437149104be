import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addonsInBundle, stageAddons } from './native-addons.js';
import { bundleEntry } from './bundle.js';
import { nodeDistFor, NODE_VERSION } from './node-binary.js';
import { packFolder } from './archive.js';
import { DIST, REPO_ROOT } from './paths.js';
import { makeSea } from './sea.js';
import { hostTarget, type Target } from './targets.js';

export const AGENT_CLI = join(REPO_ROOT, 'agent', 'src', 'cli', 'main.ts');
/** agent/src/cli's main wrapped with systemd readiness and watchdog pings (see agent-entry.ts). */
export const REAL_AGENT_ENTRY = join(REPO_ROOT, 'scripts', 'package', 'agent-entry.ts');
export const PROBE_ENTRY = join(REPO_ROOT, 'scripts', 'package', 'fixtures', 'agent-probe.ts');

/** The controller files shipped in every tarball (unit, install/upgrade scripts, example config, docs). */
const DEPLOY_FILES = ['keyway-agent.service', 'install.sh', 'agent.example.json'];

export interface PackageOptions {
  targets: readonly Target[];
  /** Defaults to the agent CLI when it exists, else the probe fixture. */
  entry?: string;
  outDir?: string;
  log?: (line: string) => void;
}

export interface PackagedTarget {
  target: Target;
  folder: string;
  executable: string;
  tarball: string;
  sha256: string;
  addons: string[];
  executableBytes: number;
  tarballBytes: number;
  seconds: number;
}

export function defaultEntry(): string {
  return existsSync(AGENT_CLI) ? REAL_AGENT_ENTRY : PROBE_ENTRY;
}

function agentVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'agent', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * `npm run package:agent`: for each target, one folder and one tarball under dist/package:
 *   keyway-agent-<version>-<target>/{keyway-agent, native/, prebuilds/, deploy files, VERSION, SHA256SUMS}
 *   keyway-agent-<version>-<target>.tar.gz (+ .sha256)
 */
export async function packageAgent(opts: PackageOptions): Promise<PackagedTarget[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const entry = opts.entry ?? defaultEntry();
  const outDir = opts.outDir ?? join(DIST, 'package');
  const version = agentVersion();
  const bundle = await bundleEntry(entry, join(outDir, 'bundle', 'keyway-agent.cjs'));
  log(`bundled ${entry} -> ${bundle.outFile} (${(bundle.bytes / 1024).toFixed(0)} KiB)`);
  const addons = addonsInBundle(bundle.inputs);
  log(`native addons in the bundle: ${addons.map((a) => `${a.spec.pkg}@${a.version}`).join(', ') || 'none'}`);

  const results: PackagedTarget[] = [];
  for (const target of opts.targets) {
    const t0 = performance.now();
    const name = `keyway-agent-${version}-${target}`;
    const folder = join(outDir, name);
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    const work = join(outDir, 'work', target);
    mkdirSync(work, { recursive: true });
    const { nodeBinary, nodeDir } = await nodeDistFor(target, log);
    const placed = await stageAddons(addons, target, nodeDir, folder, log);
    const executable = join(folder, 'keyway-agent');
    await makeSea({ bundle: bundle.outFile, workDir: work, nodeBinary, target, codeCache: target === hostTarget(), outFile: executable });
    for (const f of DEPLOY_FILES) {
      const src = join(REPO_ROOT, 'deploy', f);
      if (existsSync(src)) copyFileSync(src, join(folder, f));
    }
    // The README's "Flashing a controller" section travels with the executable.
    copyFileSync(join(REPO_ROOT, 'README.md'), join(folder, 'README.md'));
    if (existsSync(join(folder, 'install.sh'))) chmodSync(join(folder, 'install.sh'), 0o755);
    writeFileSync(join(folder, 'VERSION'), `${version} ${target} node-v${NODE_VERSION} entry=${entry.replace(REPO_ROOT, '')}\n`);
    const { tarball, sha256 } = await packFolder(folder);
    const r: PackagedTarget = {
      target,
      folder,
      executable,
      tarball,
      sha256,
      addons: placed,
      executableBytes: statSync(executable).size,
      tarballBytes: statSync(tarball).size,
      seconds: (performance.now() - t0) / 1000,
    };
    log(`${target}: ${tarball} (${(r.tarballBytes / 2 ** 20).toFixed(1)} MiB, sha256 ${sha256.slice(0, 16)}...) in ${r.seconds.toFixed(1)} s`);
    results.push(r);
  }
  return results;
}
