import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPatternTest, type PatternCommandIo } from './pattern-command.js';

const dir = mkdtempSync(join(tmpdir(), 'keyway-pattern-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const io: PatternCommandIo = {
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    readFile: (p) => readFileSync(p, 'utf8'),
  };
  const code = runPatternTest(args, io);
  return { code, out, err };
}

const event = JSON.stringify({ type: 'keyway.device.DoorStateChanged', data: { state: 'open', batteryPct: 80 } });

describe('keyway pattern test', () => {
  it('when the event matches the pattern, it prints "match" and exits 0', () => {
    const r = run(['pattern', 'test', '--pattern', '{"data":{"state":["open"]}}', '--event', event]);
    expect(r).toEqual({ code: 0, out: 'match\n', err: '' });
  });

  it('when the event does not match, it prints "no match" and exits 1', () => {
    const r = run(['--pattern', '{"data":{"batteryPct":[{"numeric":["<",10]}]}}', '--event', event]);
    expect(r).toEqual({ code: 1, out: 'no match\n', err: '' });
  });

  it('when pattern and event are files, it reads them', () => {
    const patternFile = join(dir, 'pattern.json');
    const eventFile = join(dir, 'event.json');
    writeFileSync(patternFile, '{"type":[{"prefix":"keyway.device."}]}');
    writeFileSync(eventFile, event);
    expect(run(['test', `--pattern=${patternFile}`, `--event=${eventFile}`]).code).toBe(0);
  });

  it('when the pattern is invalid, it prints the path of the problem and exits 2', () => {
    const r = run(['--pattern', '{"data":{"batteryPct":[{"numeric":[">",10,"<",1]}]}}', '--event', event]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^invalid pattern at data\.batteryPct\[0\]\.numeric: [^\n]*bottom must be less than top[^\n]*\n$/);
    expect(r.err).not.toMatch(/Invalid event pattern|create the rule/); // the problem once, without advice meant for rule creation
  });

  it('when the event is not JSON, it says so and exits 2', () => {
    const r = run(['--pattern', '{"a":["x"]}', '--event', '{not json']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('the event is not valid JSON');
  });

  it('when an option is missing or a file is unreadable, it prints usage and exits 2', () => {
    expect(run(['--pattern', '{"a":["x"]}']).err).toContain('usage: keyway pattern test');
    const missing = run(['--pattern', join(dir, 'nope.json'), '--event', event]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read the pattern file');
    expect(run(['--pattern', '{"a":["x"]}', '--event', event, '--verbose']).err).toContain('unknown option --verbose');
  });
});
