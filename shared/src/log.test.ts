import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const logModule = fileURLToPath(new URL('./log.ts', import.meta.url));

/** Runs a fresh process that logs one info line with KEYWAY_LOG_LEVEL set; returns its exit status and JSON lines. */
function logWith(level: string): { status: number | null; lines: Array<{ level: number; msg: string }> } {
  const script = `const { createLogger } = await import(${JSON.stringify(logModule)}); createLogger('probe').info('hello');`;
  const env: NodeJS.ProcessEnv = { ...process.env, KEYWAY_LOG_LEVEL: level };
  delete env.VITEST;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 20_000 });
  const lines = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
  return { status: run.status, lines };
}

describe('KEYWAY_LOG_LEVEL', () => {
  it('when it names no log level, a warn line says so and logging goes on at info', () => {
    const { status, lines } = logWith('verbose');
    expect(status).toBe(0);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, expect.stringContaining('KEYWAY_LOG_LEVEL="verbose" is not a log level')],
      [30, 'hello'],
    ]);
  });

  it('when it names a level, that level applies', () => {
    expect(logWith('warn').lines).toEqual([]);
  });
});
