// A step's code: its SQL file, or its kernel module plus every local module it imports
// (transitively), so editing a helper a kernel uses rebuilds the step. Two things are left out of
// the per-file digests on purpose:
//   - engine modules (`src/sdk/*`): they are covered by the engine version, so editing an error
//     sentence there does not rebuild every kernel step;
//   - packages: a step's key holds the resolved versions of the packages its code imports (and
//     their dependencies), not the lock file's bytes, which `npm install` rewrites freely.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { builtinModules } from 'node:module';
import { digestJson } from '../sdk/hash.js';
import { ENGINE_ROOT } from './paths.js';
import type { Store } from './store.js';

const IMPORT_PATTERN = /(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|import\s*['"](\.{1,2}\/[^'"]+)['"]/g;
/** Any relative module path in a string literal (e.g. a worker started with new URL('../worker.ts', import.meta.url)). */
const MODULE_LITERAL = /['"](\.{1,2}\/[^'"\s]+\.m?[jt]s)['"]/g;
/** Bare package imports: `from 'sharp'`, `import('@duckdb/node-api')`, `import 'x'`. Type-only imports carry no code. */
const PACKAGE_IMPORT = /(?:^|[\s;])(?:import(?!\s+type\s)\s[^'"]*?from|export\s[^'"]*?from|import)\s*\(?\s*['"]((?:@[\w.-]+\/)?[\w.-][\w.-]*)(?:\/[^'"]*)?['"]/gm;
const BUILTINS = new Set(builtinModules);

/** Packages every SQL step runs on. */
const SQL_PACKAGES = ['@duckdb/node-api'];

export interface CodeFiles {
  /** Local files, entry first, then sorted (engine modules included). */
  readonly files: string[];
  /** Bare package names imported by any of them, with the folder each import resolves from. */
  readonly packages: { name: string; from: string }[];
  /** Where a local import was looked for before the file it resolved to, and found nothing: one appearing there is used instead. */
  readonly absent: string[];
}

/** The local files a kernel's code consists of and the packages they import. */
export function codeFiles(entry: string): CodeFiles {
  const seen = new Set<string>();
  const packages = new Map<string, { name: string; from: string }>();
  const absent = new Set<string>();
  const resolveLocal = (from: string, specifier: string): string | undefined => resolveLocalFile(from, specifier, absent);
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
    for (const match of text.matchAll(PACKAGE_IMPORT)) {
      const name = match[1];
      if (name.startsWith('node:') || BUILTINS.has(name)) continue;
      const key = `${name}\0${dirname(file)}`;
      if (!packages.has(key)) packages.set(key, { name, from: dirname(file) });
    }
  };
  visit(entry);
  const [first, ...rest] = [...seen];
  return { files: [first, ...rest.sort()], packages: [...packages.values()], absent: [...absent].sort() };
}

/** The file a local import resolves to; the candidates tried before it (none there) go into `absent`. */
function resolveLocalFile(from: string, specifier: string, absent: Set<string>): string | undefined {
  const base = resolve(from, specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, `${base}.js`, resolve(base, 'index.ts'), resolve(base, 'index.js')];
  for (const candidate of candidates) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    absent.add(candidate);
  }
  return undefined;
}

/** Engine modules: the sdk of the engine itself, or the copy a pipeline folder carries beside its steps. */
function isEngineModule(file: string, root: string): boolean {
  return [resolve(ENGINE_ROOT, 'src', 'sdk'), resolve(ENGINE_ROOT, 'dist', 'src', 'sdk'), resolve(root, 'src', 'sdk')].some((dir) => file.startsWith(dir + sep));
}

export interface CodeDigest {
  readonly digest: string;
  /** Every local file the code consists of, relative to the pipeline folder (engine modules included). */
  readonly files: string[];
  /** `name@version` of each package the code imports and of their dependencies, sorted. */
  readonly packages: string[];
  /** Where a local import was looked for first and found nothing (absolute: never stored), for the settled build. */
  readonly absent: readonly string[];
}

/**
 * `packages` is the package.json reads of one build (a fresh map per build: packages may be
 * upgraded between two builds of one long-lived process).
 */
export async function codeDigest(store: Store, entry: string, root: string, kind: 'sql' | 'kernel' = 'kernel', packages: PackageCache = new Map()): Promise<CodeDigest> {
  const found = kind === 'sql' ? { files: [entry], packages: SQL_PACKAGES.map((name) => ({ name, from: ENGINE_ROOT })), absent: [] } : codeFiles(entry);
  const parts: [string, string][] = [];
  for (const file of found.files) {
    if (isEngineModule(file, root)) continue;
    parts.push([relative(root, file).split(sep).join('/'), (await store.digestOf(file)).digest]);
  }
  const versions = new Set<string>();
  for (const { name, from } of found.packages) for (const resolved of packageClosure(name, from, packages)) versions.add(resolved);
  return { digest: digestJson(parts), files: found.files.map((file) => relative(root, file).split(sep).join('/')), packages: [...versions].sort(), absent: found.absent };
}

// ---------- package versions ----------

export interface InstalledPackage {
  readonly dir: string;
  readonly version: string;
  readonly dependencies: string[];
}

/** package folder → what its package.json says (null: unreadable). */
export type PackageCache = Map<string, InstalledPackage | null>;

/** The package `name` as Node resolves it from folder `from` (node_modules up the tree); null when absent. */
function findPackage(name: string, from: string, installed: PackageCache): InstalledPackage | null {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    const cached = installed.get(candidate);
    if (cached !== undefined) return cached;
    const manifest = join(candidate, 'package.json');
    if (existsSync(manifest)) {
      let found: InstalledPackage | null = null;
      try {
        const json = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
        // optionalDependencies are left out: they are the per-platform builds, and the key must be the same on every platform.
        found = { dir: candidate, version: json.version ?? '0.0.0', dependencies: Object.keys({ ...json.dependencies, ...json.peerDependencies }) };
      } catch {
        found = null;
      }
      installed.set(candidate, found);
      return found;
    }
    if (dirname(dir) === dir) return null;
  }
}

/** `name@version` of a package and of everything it depends on, as installed. */
export function packageClosure(name: string, from: string, installed: PackageCache = new Map()): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  const visit = (pkg: string, dir: string): void => {
    const found = findPackage(pkg, dir, installed);
    if (!found || seen.has(found.dir)) return;
    seen.add(found.dir);
    out.add(`${pkg}@${found.version}`);
    for (const dependency of found.dependencies) visit(dependency, found.dir);
  };
  visit(name, from);
  return [...out];
}
