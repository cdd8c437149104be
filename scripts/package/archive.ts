import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { run } from './exec.js';

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function listFiles(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p, root));
    else out.push(relative(root, p));
  }
  return out;
}

/**
 * Writes SHA256SUMS inside the staged folder (checked by install.sh on the controller), packs the folder into
 * `<folder>.tar.gz` beside it, and writes `<tarball>.sha256` in `sha256sum -c` format.
 */
export async function packFolder(folder: string): Promise<{ tarball: string; sha256: string }> {
  const lines: string[] = [];
  for (const rel of listFiles(folder).filter((f) => f !== 'SHA256SUMS')) lines.push(`${await sha256File(join(folder, rel))}  ${rel}`);
  writeFileSync(join(folder, 'SHA256SUMS'), lines.join('\n') + '\n');
  const tarball = `${folder}.tar.gz`;
  // Root-owned entries, so the build machine's user ids do not end up on the controller.
  await run('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name', '-czf', tarball, '-C', dirname(folder), basename(folder)]);
  const sha256 = await sha256File(tarball);
  writeFileSync(`${tarball}.sha256`, `${sha256}  ${basename(tarball)}\n`);
  return { tarball, sha256 };
}
