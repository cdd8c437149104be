import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '@keyway/agent/config';
import { REPO_ROOT } from '../../scripts/package/paths.js';

const DEPLOY = join(REPO_ROOT, 'deploy');

/** A release folder shaped like an unpacked tarball, with a shell script standing in for the executable. */
function fakeRelease(parent: string, version: string): string {
  const dir = join(parent, `keyway-agent-${version}-linux-x64`);
  mkdirSync(join(dir, 'native'), { recursive: true });
  writeFileSync(join(dir, 'keyway-agent'), `#!/bin/sh\necho ${version}\n`);
  chmodSync(join(dir, 'keyway-agent'), 0o755);
  writeFileSync(join(dir, 'native', 'better_sqlite3.node'), `addon ${version}`);
  writeFileSync(join(dir, 'VERSION'), `${version} linux-x64 node-v20 entry=test\n`);
  for (const f of ['install.sh', 'keyway-agent.service', 'agent.example.json']) cpSync(join(DEPLOY, f), join(dir, f));
  const sums = execFileSync('sha256sum', ['keyway-agent', 'native/better_sqlite3.node', 'VERSION'], { cwd: dir, encoding: 'utf8' });
  writeFileSync(join(dir, 'SHA256SUMS'), sums);
  return dir;
}

function install(release: string, root: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('bash', [join(release, 'install.sh'), '--root', root, ...args], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('controller install script', () => {
  let work: string;
  let root: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'keyway-install-'));
    root = join(work, 'root');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('a first install lays out the release, points current at it, writes the config once and installs the unit', () => {
    const v1 = fakeRelease(join(work, 'v1'), '1.0.0');
    const r = install(v1, root);
    expect(r.out).toContain('installed 1.0.0-linux-x64');
    expect(r.status).toBe(0);
    expect(readlinkSync(join(root, 'opt/keyway/current'))).toBe('releases/1.0.0-linux-x64');
    expect(execFileSync(join(root, 'opt/keyway/current/keyway-agent'), { encoding: 'utf8' }).trim()).toBe('1.0.0');
    expect(JSON.parse(readFileSync(join(root, 'etc/keyway/agent.json'), 'utf8'))).toMatchObject({ version: 1 });
    expect(readFileSync(join(root, 'etc/systemd/system/keyway-agent.service'), 'utf8')).toContain('WatchdogSec=');
    expect(existsSync(join(root, 'var/lib/keyway'))).toBe(true);
  });

  it('an upgrade keeps the outbox database and the edited config, backs the database up and remembers the previous release', () => {
    const db = join(root, 'var/lib/keyway/agent.db');
    writeFileSync(db, 'outbox rows not yet synced');
    writeFileSync(`${db}-wal`, 'wal frames');
    writeFileSync(join(root, 'etc/keyway/agent.json'), '{"version":1,"deviceId":"edited"}');
    const v2 = fakeRelease(join(work, 'v2'), '1.1.0');
    const r = install(v2, root);
    expect(r.status, r.out).toBe(0);
    expect(readlinkSync(join(root, 'opt/keyway/current'))).toBe('releases/1.1.0-linux-x64');
    expect(readFileSync(db, 'utf8')).toBe('outbox rows not yet synced');
    expect(readFileSync(join(root, 'etc/keyway/agent.json'), 'utf8')).toContain('edited');
    expect(readFileSync(join(root, 'opt/keyway/previous'), 'utf8').trim()).toBe('1.0.0-linux-x64');
    const backups = readdirSync(join(root, 'var/lib/keyway/backups'));
    expect(backups).toHaveLength(1);
    expect(readFileSync(join(root, 'var/lib/keyway/backups', backups[0]!, 'agent.db-wal'), 'utf8')).toBe('wal frames');
    expect(readdirSync(join(root, 'opt/keyway/releases')).sort()).toEqual(['1.0.0-linux-x64', '1.1.0-linux-x64']);
  });

  it('a rollback switches current back to the previous release and leaves the database alone', () => {
    const r = install(join(work, 'v2', 'keyway-agent-1.1.0-linux-x64'), root, '--rollback');
    expect(r.status, r.out).toBe(0);
    expect(readlinkSync(join(root, 'opt/keyway/current'))).toBe('releases/1.0.0-linux-x64');
    expect(readFileSync(join(root, 'opt/keyway/previous'), 'utf8').trim()).toBe('1.1.0-linux-x64');
    expect(readFileSync(join(root, 'var/lib/keyway/agent.db'), 'utf8')).toBe('outbox rows not yet synced');
  });

  it('a third release prunes the oldest one but keeps the one it replaces', () => {
    const v3 = fakeRelease(join(work, 'v3'), '1.2.0');
    expect(install(v3, root).status).toBe(0);
    expect(readdirSync(join(root, 'opt/keyway/releases')).sort()).toEqual(['1.0.0-linux-x64', '1.2.0-linux-x64']);
  });

  it('a release whose files do not match SHA256SUMS is refused before anything changes', () => {
    const bad = fakeRelease(join(work, 'bad'), '9.9.9');
    writeFileSync(join(bad, 'keyway-agent'), '#!/bin/sh\necho tampered\n');
    const r = install(bad, root);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/checksums .* do not match/);
    expect(readlinkSync(join(root, 'opt/keyway/current'))).toBe('releases/1.2.0-linux-x64');
  });
});

describe('example controller config', () => {
  it('agent.example.json, which install.sh copies to /etc/keyway/agent.json, passes the agent config schema', () => {
    const result = validateConfig(JSON.parse(readFileSync(join(DEPLOY, 'agent.example.json'), 'utf8')));
    expect(result.ok ? 'valid' : JSON.stringify(result.problems)).toBe('valid');
  });
});

// systemd-analyze checks the unit's syntax and directives the way systemd would load it.
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!analyze) console.log('skipping the unit check: systemd-analyze is missing (Debian package systemd)');
describe.skipIf(!analyze)('systemd unit', () => {
  it('the agent unit passes systemd-analyze verify apart from the executable not being installed here', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-unit-'));
    try {
      cpSync(join(DEPLOY, 'keyway-agent.service'), join(dir, 'keyway-agent.service'));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'keyway-agent.service')], { encoding: 'utf8' });
      const problems = (r.stdout + r.stderr)
        .split('\n')
        .filter((l) => l.trim() !== '')
        // The executable lives on the controller, not on the build machine.
        .filter((l) => !/keyway-agent(\.service)?: Command .* is not executable|not executable: No such file|Unit configuration has fatal error|Failed to prepare filename/i.test(l));
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
