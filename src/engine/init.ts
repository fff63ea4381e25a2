// `dagrun init [DIR]`: scaffold a minimal pipeline that builds immediately — pipeline.yaml (with the
// `$schema` comment editors use), one SQL step, one kernel step importing dagrun/sdk, a sample input
// and a test — from templates/init/. Nothing that already exists is overwritten.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { UserError } from '../sdk/errors.js';
import { ENGINE_ROOT, ENGINE_VERSION, SCHEMAS_DIR } from './paths.js';
import { parsePipeline } from './pipeline.js';
import { generateTypes } from './types-gen.js';

const TEMPLATE = resolve(ENGINE_ROOT, 'templates', 'init');

export interface InitResult {
  /** Files written, relative to DIR, '/'-separated. */
  readonly created: string[];
  /** Files DIR already had and that were left as they were (package.json, tsconfig.json, .gitignore). */
  readonly kept: string[];
  /** Scripts added to a kept package.json that lacked them (or had npm init's placeholder test). */
  readonly scriptsAdded: string[];
}

export async function initProject(dir: string): Promise<InitResult> {
  const target = resolve(dir);
  if (existsSync(target) && !statSync(target).isDirectory()) throw new UserError('CLI', `init: ${dir} exists and is not a folder`);
  const templateFiles = listTemplate(TEMPLATE);
  // The scaffold's own files must not replace anything: refuse before writing one.
  const clashes = templateFiles.filter((file) => existsSync(join(target, file)));
  if (clashes.length > 0) throw new UserError('CLI', `init: ${dir} already has ${clashes.join(', ')}; choose an empty folder (dagrun init DIR)`);
  mkdirSync(target, { recursive: true });

  const name = basename(target).toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'pipeline';
  const created: string[] = [];
  for (const file of templateFiles) {
    mkdirSync(dirname(join(target, file)), { recursive: true });
    if (file === 'pipeline.yaml') {
      const text = readFileSync(join(TEMPLATE, file), 'utf8').replace('SCHEMA_PATH', schemaReference(target)).replace('PIPELINE_NAME', name);
      writeFileSync(join(target, file), text);
    } else cpSync(join(TEMPLATE, file), join(target, file));
    created.push(file);
  }

  // The kernel's types module, as `dagrun types` writes it: the scaffold imports it instead of spelling its columns.
  for (const file of (await generateTypes(parsePipeline(readFileSync(join(target, 'pipeline.yaml'), 'utf8'), join(target, 'pipeline.yaml')))).files) {
    if (file.startsWith('steps/')) created.push(file);
  }

  const kept: string[] = [];
  const writeIfMissing = (file: string, text: string): void => {
    if (existsSync(join(target, file))) kept.push(file);
    else {
      writeFileSync(join(target, file), text);
      created.push(file);
    }
  };
  const scripts = { build: 'dagrun build', types: 'dagrun types', test: 'node --import tsx --test test/*.test.ts' };
  const packageFile = join(target, 'package.json');
  const added = existsSync(packageFile) ? addScripts(packageFile, scripts) : [];
  writeIfMissing('package.json', `${JSON.stringify({
    name,
    private: true,
    type: 'module',
    scripts,
    devDependencies: { dagrun: `^${ENGINE_VERSION}` },
  }, null, 2)}\n`);
  writeIfMissing('tsconfig.json', `${JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: true },
    include: ['steps/**/*.ts', 'test/**/*.ts'],
  }, null, 2)}\n`);
  // npm never packs a file named .gitignore, so it is written here rather than kept in the template.
  writeIfMissing('.gitignore', 'node_modules/\ncache/\nout/\n');
  return { created, kept, scriptsAdded: added };
}

/** npm init's placeholder test script: it only fails. */
const NPM_PLACEHOLDER_TEST = /^echo "Error: no test specified" && exit 1$/;

/**
 * A kept package.json gets the scaffold's scripts it lacks (a `test` that is npm init's placeholder
 * counts as lacking), so `npm test` runs the scaffolded test; nothing it has is changed. Returns the names added.
 */
function addScripts(file: string, scripts: Record<string, string>): string[] {
  const text = readFileSync(file, 'utf8');
  let manifest: { scripts?: Record<string, unknown> };
  try {
    manifest = JSON.parse(text) as typeof manifest;
  } catch {
    return []; // not ours to repair; npm names the problem
  }
  if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) return [];
  const current = manifest.scripts && typeof manifest.scripts === 'object' ? manifest.scripts : {};
  const added = Object.keys(scripts).filter((name) => current[name] === undefined || (name === 'test' && typeof current[name] === 'string' && NPM_PLACEHOLDER_TEST.test(current[name] as string)));
  if (added.length === 0) return [];
  manifest.scripts = { ...current, ...Object.fromEntries(added.map((name) => [name, scripts[name]])) };
  const indent = /^[{[]\r?\n([ \t]+)/.exec(text)?.[1] ?? '  ';
  writeFileSync(file, `${JSON.stringify(manifest, null, indent)}\n`);
  return added;
}

/**
 * The `$schema` path an editor resolves from pipeline.yaml: the project's own installed copy when
 * DIR sits below a node_modules/dagrun, else the running engine's — always relative, never absolute.
 */
function schemaReference(target: string): string {
  for (let dir = target; ; dir = dirname(dir)) {
    const installed = join(dir, 'node_modules', 'dagrun', 'schemas', 'pipeline.schema.json');
    if (existsSync(installed)) return toPosix(relative(target, installed));
    if (dirname(dir) === dir) break;
  }
  return toPosix(relative(target, join(SCHEMAS_DIR, 'pipeline.schema.json')));
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

function listTemplate(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listTemplate(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  ).sort();
}
