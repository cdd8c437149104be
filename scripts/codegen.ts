/**
 * `npm run codegen` writes shared/src/generated/ from schemas/;
 * `npm run codegen:check` exits 1, naming the stale files, when the committed output is out of date.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, staleFiles } from './codegen/generate.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const schemasDir = path.join(root, 'schemas');
const outDir = path.join(root, 'shared/src/generated');

if (process.argv.includes('--check')) {
  const stale = staleFiles(schemasDir, outDir);
  if (stale.length > 0) {
    console.error(`generated code is stale: ${stale.join(', ')} in shared/src/generated. Run \`npm run codegen\` and commit.`);
    process.exit(1);
  }
  console.log('generated code is up to date');
} else {
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, content] of generate(schemasDir)) fs.writeFileSync(path.join(outDir, name), content);
  console.log(`wrote ${outDir}`);
}
