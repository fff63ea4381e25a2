// Scans the relative imports of steps/, lib/ and src/sdk/ and lists those that cross a layer
// boundary the wrong way (README, "Architecture").
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

type Layer = 'steps' | 'lib' | 'sdk' | 'engine' | 'other';

const RULES: Record<'steps' | 'lib' | 'sdk', { forbidden: readonly Layer[]; says: string }> = {
  steps: { forbidden: ['engine'], says: 'steps import src/sdk/ and lib/, never src/engine/' },
  lib: { forbidden: ['engine', 'steps'], says: 'lib/ may import only src/sdk/ and lib/' },
  sdk: { forbidden: ['engine', 'steps', 'lib'], says: 'src/sdk/ never imports src/engine/, steps/ or lib/' },
};

/** `testing.ts` is the sdk's one door to the engine: it runs a step as `dagrun exec` does. */
const ALLOWED = new Set(['src/sdk/testing.ts']);

const IMPORT_PATTERNS = [
  /\bfrom\s+(['"])([^'"]+)\1/g,
  /\bimport\s+(['"])([^'"]+)\1/g,
  /\bimport\(\s*(['"])([^'"]+)\1/g,
  /\bnew URL\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url/g,
];

function layerOf(path: string): Layer {
  if (path.startsWith('steps/')) return 'steps';
  if (path.startsWith('lib/')) return 'lib';
  if (path.startsWith('src/sdk/')) return 'sdk';
  if (path.startsWith('src/engine/')) return 'engine';
  return 'other';
}

function sourceFiles(root: string, dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(root, path);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** Every wrong-way import below `root`, as `file:line imports target (rule)`, sorted. */
export function layerViolations(root: string): string[] {
  const found: string[] = [];
  for (const file of ['steps', 'lib', 'src/sdk'].flatMap((dir) => sourceFiles(root, dir))) {
    if (ALLOWED.has(file)) continue;
    const rule = RULES[layerOf(file) as keyof typeof RULES];
    readFileSync(join(root, file), 'utf8').split('\n').forEach((line, index) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('//') || trimmed.startsWith('*')) return;
      for (const pattern of IMPORT_PATTERNS) {
        for (const match of line.matchAll(pattern)) {
          const specifier = match[2];
          if (!specifier.startsWith('.')) continue;
          const target = relative(root, resolve(root, dirname(file), specifier)).split(sep).join('/');
          if (rule.forbidden.includes(layerOf(target))) found.push(`${file}:${index + 1} imports ${target} (${rule.says})`);
        }
      }
    });
  }
  return found.sort();
}
