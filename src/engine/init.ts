// `dagrun init [DIR]`: scaffold a minimal pipeline that builds immediately — pipeline.yaml (with the
// `$schema` comment editors use), one SQL step, one kernel step importing dagrun/sdk, a sample input
// and a test — from templates/init/. Nothing that already exists is overwritten.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { UserError } from '../sdk/errors.js';
import { ENGINE_ROOT, ENGINE_VERSION, SCHEMAS_DIR } from './paths.js';

const TEMPLATE = resolve(ENGINE_ROOT, 'templates', 'init');

export interface InitResult {
  /** Files written, relative to DIR, '/'-separated. */
  readonly created: string[];
  /** Files DIR already had and that were left as they were (package.json, tsconfig.json, .gitignore). */
  readonly kept: string[];
}

export function initProject(dir: string): InitResult {
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

  const kept: string[] = [];
  const writeIfMissing = (file: string, text: string): void => {
    if (existsSync(join(target, file))) kept.push(file);
    else {
      writeFileSync(join(target, file), text);
      created.push(file);
    }
  };
  writeIfMissing('package.json', `${JSON.stringify({
    name,
    private: true,
    type: 'module',
    scripts: { build: 'dagrun build', test: 'node --import tsx --test test/*.test.ts' },
    devDependencies: { dagrun: `^${ENGINE_VERSION}` },
  }, null, 2)}\n`);
  writeIfMissing('tsconfig.json', `${JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: true },
    include: ['steps/**/*.ts', 'test/**/*.ts'],
  }, null, 2)}\n`);
  // npm never packs a file named .gitignore, so it is written here rather than kept in the template.
  writeIfMissing('.gitignore', 'node_modules/\ncache/\nout/\n');
  return { created, kept };
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
