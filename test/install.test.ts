// dagrun as a product: the packed tarball installed into a fresh project (npx dagrun init, build,
// the scaffolded test) and globally into a temp prefix (dagrun --version). Packs dist/ as `npm test`
// compiled it; installs resolve dependencies from npm's local cache first (--prefer-offline).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from './helpers/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'dagrun-install-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// The outer environment must not leak in (a cache folder elsewhere, an npm prefix).
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DAGRUN_') && !/^npm_config_prefix$/i.test(k)));

function run(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
}

function ok(result: SpawnSyncReturns<string>): string {
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

// npm installs and several CLI runs: minutes on a loaded 2-core machine, not the suite's default 2.
const INSTALL_TIMEOUT_MS = 600_000;

let tarball = '';
let packed: string[] = [];

beforeAll(() => {
  const out = ok(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], PROJECT_ROOT));
  const report = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  tarball = join(scratch, report[0].filename);
  packed = report[0].files.map((f) => f.path);
}, INSTALL_TIMEOUT_MS);

describe('the packed tarball', () => {
  it('holds the engine, the sdk with its types, the schema and the init template, and none of the flagship', () => {
    for (const file of ['bin/dagrun.js', 'dist/src/engine/cli.js', 'dist/src/engine/kernel-worker.js', 'dist/src/sdk/index.js', 'dist/src/sdk/index.d.ts', 'dist/src/sdk/testing.d.ts', 'schemas/pipeline.schema.json', 'templates/init/pipeline.yaml']) {
      expect(packed).toContain(file);
    }
    // The one dataset shipped is the web UI's offline basemap (the engine's own asset); no flagship data.
    expect(packed).toContain('datasets/basemap/land.geojson');
    expect(packed.filter((f) => (/^(steps|lib|datasets|test|src)\//.test(f) && !f.startsWith('datasets/basemap/')) || f.startsWith('dist/steps') || f.startsWith('dist/lib'))).toEqual([]);
  });

  it('installs into a fresh project where `npx dagrun init` scaffolds a pipeline that builds, tests green, and rebuilds from cache', () => {
    const project = join(scratch, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'someone-else', private: true, type: 'module', scripts: { test: 'node --import tsx --test test/*.test.ts' } }, null, 2)}\n`);
    ok(run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], project));

    const init = ok(run('npx', ['dagrun', 'init'], project));
    expect(init).toContain('pipeline.yaml');
    expect(init).toContain('kept your package.json');
    const pipeline = readFileSync(join(project, 'pipeline.yaml'), 'utf8');
    expect(pipeline.split('\n')[0]).toBe('# yaml-language-server: $schema=node_modules/dagrun/schemas/pipeline.schema.json');
    expect(readFileSync(join(project, 'steps/score/kernel.ts'), 'utf8')).toContain("from 'dagrun/sdk'");

    const first = JSON.parse(ok(run('npx', ['dagrun', 'build', '--json'], project))) as { status: string; steps: { step: string; kind: string; status: string }[] };
    expect(first.status).toBe('ok');
    expect(first.steps.map((s) => [s.step, s.kind, s.status])).toEqual([['clean', 'sql', 'built'], ['score', 'kernel', 'built']]);
    expect(readFileSync(join(project, 'out/scores.csv'), 'utf8')).toBe('station,readings,mean,above\neast,1,21.0,true\nnorth,2,13.25,true\nsouth,2,5.25,false\n');

    const again = JSON.parse(ok(run('npx', ['dagrun', 'build', '--json'], project))) as { steps: { status: string }[] };
    expect(again.steps.map((s) => s.status)).toEqual(['cached', 'cached']);

    // Library versions in the key are the installed versions of what the steps import (issue 11), not
    // the lock file's bytes: `npm install` rewriting the lock reruns nothing; an upgraded DuckDB reruns both.
    const lock = join(project, 'package-lock.json');
    writeFileSync(lock, `${readFileSync(lock, 'utf8')}\n`);
    const unchanged = JSON.parse(ok(run('npx', ['dagrun', 'plan', '--json'], project))) as { action: string }[];
    expect(unchanged.map((p) => p.action)).toEqual(['cached', 'cached']);
    const duckdb = join(project, 'node_modules', '@duckdb', 'node-api', 'package.json');
    const original = readFileSync(duckdb, 'utf8');
    writeFileSync(duckdb, JSON.stringify({ ...JSON.parse(original), version: '99.0.0' }));
    const plan = JSON.parse(ok(run('npx', ['dagrun', 'plan', '--json'], project))) as { action: string; reasons: { kind: string }[] }[];
    writeFileSync(duckdb, original);
    expect(plan.map((p) => [p.action, p.reasons.map((r) => r.kind)])).toEqual([['build', ['packages-changed']], ['build', ['upstream-would-build']]]);

    // The scaffolded test imports dagrun/sdk and dagrun/testing and runs the step through the engine.
    const tests = run('npm', ['test'], project);
    expect(tests.status, `${tests.stdout}\n${tests.stderr}`).toBe(0);
    expect(tests.stdout).toMatch(/# pass 2/);

    // init refuses to overwrite a scaffold that is already there.
    const twice = run('npx', ['dagrun', 'init'], project);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/already has .*pipeline\.yaml/);
  }, INSTALL_TIMEOUT_MS);

  it('installs globally into a prefix: `dagrun --version`, and `dagrun init` + `build` with no local install', () => {
    const prefix = join(scratch, 'prefix');
    ok(run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], scratch));
    const bin = join(prefix, 'bin', 'dagrun');
    expect(existsSync(bin)).toBe(true);
    const version = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(ok(run(bin, ['--version'], scratch)).trim()).toBe(`dagrun ${version.version}`);

    // A kernel in a folder with no node_modules still imports dagrun/sdk: the engine lends its own.
    const bare = join(scratch, 'bare');
    ok(run(bin, ['init', bare], scratch));
    const built = JSON.parse(ok(run(bin, ['build', '--json'], bare))) as { status: string };
    expect(built.status).toBe('ok');
  }, INSTALL_TIMEOUT_MS);
});
