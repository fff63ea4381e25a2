// `dagrun init` in a folder `npm init -y` made (the way a new user starts): the kept package.json gets
// the scaffold's scripts it lacks (npm's placeholder test counts as lacking) and keeps everything else,
// and the scaffolded kernel imports its generated types module instead of spelling its columns.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initProject } from '../../src/engine/init.js';
import { generateTypes } from '../../src/engine/types-gen.js';
import { loadPipeline } from '../../src/engine/pipeline.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-init-'));
  dirs.push(dir);
  return dir;
}

// What npm 11's `npm init -y` writes.
const NPM_INIT = { name: 'proj', version: '1.0.0', description: '', main: 'index.js', scripts: { test: 'echo "Error: no test specified" && exit 1' }, keywords: [], author: '', license: 'ISC', type: 'commonjs' };

describe('dagrun init', () => {
  it("fills npm init's placeholder test and the missing scripts into a kept package.json, changing nothing else", async () => {
    const dir = folder();
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(NPM_INIT, null, 2)}\n`);
    const result = await initProject(dir);
    expect(result.kept).toContain('package.json');
    expect(result.scriptsAdded).toEqual(['build', 'types', 'test']);
    const written = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof NPM_INIT;
    expect(written).toEqual({ ...NPM_INIT, scripts: { test: 'node --import tsx --test test/*.test.ts', build: 'dagrun build', types: 'dagrun types' } });
  });

  it("leaves a package.json's own scripts alone", async () => {
    const dir = folder();
    const own = { name: 'mine', type: 'module', scripts: { test: 'vitest run', build: 'make' } };
    writeFileSync(join(dir, 'package.json'), JSON.stringify(own));
    const result = await initProject(dir);
    expect(result.scriptsAdded).toEqual(['types']);
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))).toEqual({ ...own, scripts: { ...own.scripts, types: 'dagrun types' } });
  });

  it('leaves an unreadable package.json as it is', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'package.json'), '{ not json');
    expect((await initProject(dir)).scriptsAdded).toEqual([]);
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toBe('{ not json');
  });

  it('scaffolds the kernel with its generated types module, current with pipeline.yaml', async () => {
    const dir = folder();
    const result = await initProject(dir);
    expect(result.created).toContain('steps/score/score.dagrun.ts');
    const kernel = readFileSync(join(dir, 'steps', 'score', 'kernel.ts'), 'utf8');
    expect(kernel).toContain("from './score.dagrun.js'");
    expect(kernel).not.toMatch(/'VARCHAR'|as number/);
    await expect(generateTypes(loadPipeline(join(dir, 'pipeline.yaml'), join(dir, 'cache')), { check: true })).resolves.toMatchObject({ stale: [] });
  });
});
