/**
 * `npm run package:agent [-- --target linux-x64,linux-arm64] [--entry path/to/main.ts]`
 * Builds the agent as a Node single executable per target plus its native addons, one tarball per target
 * with a checksum, under dist/package. Ends with one line of JSON describing what it built.
 */
import { parseArgs } from 'node:util';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { packageAgent } from './package/agent-package.js';
import { isTarget, TARGETS, type Target } from './package/targets.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { target: { type: 'string', default: TARGETS.join(',') }, entry: { type: 'string' }, out: { type: 'string' } },
  });
  const targets: Target[] = [];
  for (const t of values.target.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!isTarget(t)) throw new KeywayError(ErrorCode.InvalidInput, `unknown target ${t}; choose from ${TARGETS.join(', ')}`);
    targets.push(t);
  }
  const results = await packageAgent({ targets, entry: values.entry, outDir: values.out });
  console.log(
    JSON.stringify(
      results.map((r) => ({
        target: r.target,
        tarball: r.tarball,
        sha256: r.sha256,
        addons: r.addons,
        executableBytes: r.executableBytes,
        tarballBytes: r.tarballBytes,
        seconds: Number(r.seconds.toFixed(1)),
      })),
    ),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
