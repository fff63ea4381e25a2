// Builds datasets/sample/ deterministically: every generator in scripts/sample/ runs in name order and
// writes only below its own datasets/sample/<part>/ folder. Same code, same bytes.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve, join } from 'node:path';

// Usage: npm run sample [-- PART…] [--root DIR]   (--root writes DIR/datasets/sample instead, for checks)
const projectRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
const rootFlag = args.indexOf('--root');
const root = rootFlag >= 0 ? resolve(args[rootFlag + 1]) : projectRoot;
const only = rootFlag >= 0 ? args.filter((_, i) => i !== rootFlag && i !== rootFlag + 1) : args;
const generators = join(projectRoot, 'scripts', 'sample');
for (const file of readdirSync(generators).filter((f) => f.endsWith('.ts')).sort()) {
  const part = file.replace(/\.ts$/, '');
  if (only.length > 0 && !only.includes(part)) continue;
  const module = (await import(pathToFileURL(join(generators, file)).href)) as { generate(root: string): Promise<void> };
  const started = Date.now();
  await module.generate(root);
  console.log(`sample ${part}: ${Date.now() - started} ms`);
}
