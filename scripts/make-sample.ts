// Builds datasets/sample/ deterministically: every generator in scripts/sample/ runs in name order and
// writes only below its own datasets/sample/<part>/ folder. Same code, same bytes.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve, join } from 'node:path';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const generators = join(root, 'scripts', 'sample');
const only = process.argv.slice(2);
for (const file of readdirSync(generators).filter((f) => f.endsWith('.ts')).sort()) {
  const part = file.replace(/\.ts$/, '');
  if (only.length > 0 && !only.includes(part)) continue;
  const module = (await import(pathToFileURL(join(generators, file)).href)) as { generate(root: string): Promise<void> };
  const started = Date.now();
  await module.generate(root);
  console.log(`sample ${part}: ${Date.now() - started} ms`);
}
