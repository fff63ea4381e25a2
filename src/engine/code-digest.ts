// A step's code digest: its SQL file, or its kernel module plus every local module it imports
// (transitively), so editing a helper a kernel uses rebuilds the step. Package versions enter the
// action key through the lock file's digest (runner.ts), not here.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { digestJson } from '../sdk/hash.js';
import type { Store } from './store.js';

const IMPORT_PATTERN = /(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|import\s*['"](\.{1,2}\/[^'"]+)['"]/g;
/** Any relative module path in a string literal (e.g. a worker started with new URL('../worker.ts', import.meta.url)). */
const MODULE_LITERAL = /['"](\.{1,2}\/[^'"\s]+\.m?[jt]s)['"]/g;

/** The local files a kernel's code consists of, entry first, then sorted. */
export function codeFiles(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!/\.(m?[jt]s)$/.test(file)) return;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT_PATTERN)) {
      const target = resolveLocal(dirname(file), match[1] ?? match[2] ?? match[3]);
      if (target) visit(target);
    }
    for (const match of text.matchAll(MODULE_LITERAL)) {
      const target = resolveLocal(dirname(file), match[1]);
      if (target) visit(target);
    }
  };
  visit(entry);
  const [first, ...rest] = [...seen];
  return [first, ...rest.sort()];
}

function resolveLocal(from: string, specifier: string): string | undefined {
  const base = resolve(from, specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, `${base}.js`, resolve(base, 'index.ts'), resolve(base, 'index.js')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

export async function codeDigest(store: Store, entry: string, root: string): Promise<{ digest: string; files: string[] }> {
  const files = codeFiles(entry);
  const parts: [string, string][] = [];
  for (const file of files) parts.push([relative(root, file).split(sep).join('/'), (await store.digestOf(file)).digest]);
  return { digest: digestJson(parts), files: parts.map(([path]) => path) };
}
