// What enters an action key (issue 11): semantic step-definition fields, the resolved versions of the
// packages a step's code imports (not the lock file's bytes), and the step's own code — engine
// modules (src/sdk) are covered by the engine version.
import { describe, expect, it } from 'vitest';
import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../../src/engine/manifest.js';
import { buildableFixtures } from '../helpers/build-fixture.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const fixture = buildableFixtures();

const statuses = (manifest: Manifest): Record<string, string> => Object.fromEntries(manifest.steps.map((s) => [s.instance, s.status]));
const edit = (file: string, from: string, to: string): void => {
  const text = readFileSync(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} does not contain ${from}`);
  writeFileSync(file, text.replace(from, to));
};
function writePackage(dir: string, name: string, version: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(join(dir, 'node_modules', name), { recursive: true });
  writeFileSync(join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version, type: 'module', main: 'index.js', ...extra }));
  writeFileSync(join(dir, 'node_modules', name, 'index.js'), 'export const answer = 42;\n');
}

describe('action keys', () => {
  it('a param description, a title or a comment changes no key', async () => {
    const { dir, run } = fixture('basic');
    await run();
    const file = join(dir, 'pipeline.yaml');
    edit(file, 'rows: { type: integer, minimum: 1, default: 5 }', 'rows: { type: integer, minimum: 1, default: 5, description: "rows per day", title: Rows }   # a comment');
    edit(file, 'factor: { type: number, default: 2 }', 'factor: { type: number, default: 2, description: "multiplier", $comment: "seed 002" }');
    const again = await run();
    expect(Object.values(statuses(again.manifest))).toEqual(Array(7).fill('cached'));
    // A constraint is semantic: it re-keys the step.
    edit(file, 'rows: { type: integer, minimum: 1,', 'rows: { type: integer, minimum: 2,');
    const plan = await run({ dryRun: true });
    expect(statuses(plan.manifest)['make[date=2024-01-01]']).toBe('would-build');
    expect(plan.manifest.steps[0].reason).toMatch(/step definition changed/);
  });

  it('library versions are the resolved versions of what the code imports, with their dependencies; other packages do not count', async () => {
    const { dir, run } = fixture('basic');
    writePackage(dir, 'fakepkg', '1.0.0', { dependencies: { fakedep: '^1.0.0' }, optionalDependencies: { 'fakepkg-linux-x64': '1.0.0' } });
    writePackage(dir, 'fakedep', '1.0.0');
    const kernel = join(dir, 'steps', 'make', 'kernel.ts');
    writeFileSync(kernel, `import { answer } from 'fakepkg';\nimport type { Columns } from 'unused-types-only';\n${readFileSync(kernel, 'utf8').replace("ctx.metric('rows', rows);", "ctx.metric('rows', rows);\n  ctx.metric('answer', answer);")}`);
    const first = await run();
    expect(first.ok, JSON.stringify(first.manifest.steps.map((s) => s.error).filter(Boolean))).toBe(true);
    // An unrelated package, and another platform's optional build appearing, change nothing.
    writePackage(dir, 'unrelated', '3.0.0');
    writePackage(dir, 'fakepkg-linux-x64', '1.0.0');
    expect(Object.values(statuses((await run()).manifest))).toEqual(Array(7).fill('cached'));
    // A dependency of an imported package is upgraded: the steps that import it rebuild, and say why.
    writePackage(dir, 'fakedep', '1.0.1');
    const plan = await run({ dryRun: true });
    expect(statuses(plan.manifest)['make[date=2024-01-01]']).toBe('would-build');
    expect(plan.manifest.steps[0].reason).toBe('library versions changed (fakedep 1.0.0 → 1.0.1)');
    // SQL steps run on DuckDB, whose version the fixture's packages do not change.
    expect(statuses(plan.manifest)['double[date=2024-01-01]']).toBe('would-build'); // its input would change
    expect(plan.manifest.steps.find((s) => s.instance === 'double[date=2024-01-01]')?.reason).toMatch(/upstream/);
  });

  it('editing an engine module a kernel imports (src/sdk) rebuilds nothing; editing the kernel does', async () => {
    const { dir, run } = fixture('basic');
    // The pipeline folder carries its own copy of the sdk, as the project does.
    cpSync(join(PROJECT_ROOT, 'src', 'sdk'), join(dir, 'src', 'sdk'), { recursive: true });
    const kernel = join(dir, 'steps', 'make', 'kernel.ts');
    writeFileSync(kernel, readFileSync(kernel, 'utf8').replaceAll('../../../../../src/sdk/', '../../src/sdk/'));
    const first = await run();
    expect(first.ok).toBe(true);
    expect(first.manifest.steps[0].code_files).toEqual(expect.arrayContaining(['steps/make/kernel.ts', 'src/sdk/table-io.ts', 'src/sdk/kernel-api.ts']));
    appendFileSync(join(dir, 'src', 'sdk', 'table-io.ts'), '// one sentence in an engine module reworded\n');
    expect(Object.values(statuses((await run()).manifest))).toEqual(Array(7).fill('cached'));
    appendFileSync(kernel, '// the step itself changed\n');
    const plan = await run({ dryRun: true });
    expect(plan.manifest.steps[0].reason).toBe('code changed (steps/make/kernel.ts)');
  });
});
