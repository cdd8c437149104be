/**
 * `npm run bench:agent-executable [-- --runs 10]`: startup time and memory of the packaged agent executable
 * on this machine (build it first with `npm run package:agent -- --target linux-x64`).
 *  - cold CLI: wall time of `keyway-agent check-config` (process start, SEA bundle load, config + key check, exit)
 *  - run: time from spawn to the "running" line of `keyway-agent run` against a local broker (aedes), and
 *    VmRSS after 5 s of idling connected (heartbeats on), from /proc.
 * Prints the figures and ends with one line of JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { generateHubKeyPair } from '@keyway/shared/grants';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { DIST } from './paths.js';
import { hostTarget } from './targets.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, exe: { type: 'string' } } });
  const runs = Number(values.runs);
  const version = (JSON.parse(readFileSync(join(DIST, '..', 'agent', 'package.json'), 'utf8')) as { version: string }).version;
  const exe = values.exe ?? join(DIST, 'package', `keyway-agent-${version}-${hostTarget() ?? 'linux-x64'}`, 'keyway-agent');
  if (!existsSync(exe)) throw new KeywayError(ErrorCode.NotFound, `${exe} is missing; run npm run package:agent -- --target linux-x64 first`);
  const work = mkdtempSync(join(tmpdir(), 'keyway-bench-exe-'));
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const hub = generateHubKeyPair();
    const config = join(work, 'agent.json');
    writeFileSync(config, JSON.stringify({ version: 1, deviceId: 'bench-1', dataDir: join(work, 'data'), broker: { url: `mqtt://127.0.0.1:${port}` }, hubPublicKey: hub.publicKeyPem, sync: { heartbeatS: 5 } }));

    const cli: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = spawnSync(exe, ['check-config', '-c', config], { encoding: 'utf8' });
      if (r.status !== 0) throw new KeywayError(ErrorCode.Internal, `check-config failed: ${r.stderr}`);
      cli.push(performance.now() - t0);
    }
    const ready: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < Math.max(1, Math.floor(runs / 3)); i++) {
      const t0 = performance.now();
      const child = spawn(exe, ['run', '-c', config], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, KEYWAY_LOG_LEVEL: 'warn' } });
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes(' running ')) resolve();
        });
        child.once('exit', (code) => reject(new KeywayError(ErrorCode.Internal, `agent exited with ${code}: ${out}`)));
      });
      ready.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5000));
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      rss.push(Number(m?.[1] ?? NaN) / 1024);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    cli.sort((a, b) => a - b);
    ready.sort((a, b) => a - b);
    rss.sort((a, b) => a - b);
    const result = {
      executable: exe,
      executableMiB: Number((readFileSync(exe).length / 2 ** 20).toFixed(1)),
      cliMs: { p50: Number(percentile(cli, 50).toFixed(0)), p90: Number(percentile(cli, 90).toFixed(0)), runs: cli.length },
      runReadyMs: { p50: Number(percentile(ready, 50).toFixed(0)), max: Number((ready.at(-1) ?? NaN).toFixed(0)), runs: ready.length },
      runRssMiB: { p50: Number(percentile(rss, 50).toFixed(1)), max: Number((rss.at(-1) ?? NaN).toFixed(1)) },
    };
    console.log(`executable       ${result.executableMiB} MiB`);
    console.log(`check-config     p50 ${result.cliMs.p50} ms, p90 ${result.cliMs.p90} ms (${cli.length} runs, process start to exit)`);
    console.log(`run -> running   p50 ${result.runReadyMs.p50} ms, max ${result.runReadyMs.max} ms (${ready.length} runs)`);
    console.log(`RSS after 5 s    p50 ${result.runRssMiB.p50} MiB, max ${result.runRssMiB.max} MiB`);
    console.log(JSON.stringify(result));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => broker.close(() => r()));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
