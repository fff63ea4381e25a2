// Corruption anywhere in the cache folder is caught and named by its file, never a crash: verify
// checks objects, action entries, manifests, the stat cache and pipeline memos; readers skip an
// unreadable manifest with one warning; gc checks everything before deleting anything.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from '../../src/engine/runner.js';
import { DIGEST_PREFIX } from '../../src/sdk/hash.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

// Four runs of the trees fixture: flat, nested, flat (cached), nested (cached).
let base: string;
let runIds: string[];
beforeAll(async () => {
  base = copyFixture('trees');
  for (const nested of [false, true, false, true]) await build({ pipelineFile: join(base, 'pipeline.yaml'), sets: { lister: { nested } } });
  runIds = readdirSync(join(base, 'cache', 'runs')).sort();
});
afterAll(() => removeFixture(base));

const copies: string[] = [];
afterEach(() => {
  for (const dir of copies.splice(0)) removeFixture(dir);
});
const copyOfBase = (): string => {
  const dir = `${base}-copy${copies.length}-${Date.now()}`;
  cpSync(base, dir, { recursive: true });
  copies.push(dir);
  return dir;
};
const runFile = (dir: string, index: number): string => join(dir, 'cache', 'runs', runIds[index]);
const manifestOf = (dir: string, index: number): Manifest => JSON.parse(readFileSync(runFile(dir, index), 'utf8')) as Manifest;
const actionFile = (dir: string, key: string): string => join(dir, 'cache', 'actions', `${key.slice(DIGEST_PREFIX.length)}.json`);
const objectRel = (digest: string): string => `objects/${digest.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 2)}/${digest.slice(DIGEST_PREFIX.length + 2)}`;
/** The store's files (the pipeline memo, written on first read of a copied pipeline file, aside). */
const allFiles = (dir: string): string[] => readdirSync(join(dir, 'cache'), { recursive: true }).map(String).filter((f) => !f.startsWith('pipelines')).sort();

describe('dagrun verify', () => {
  it('names every broken file (deleted object, edited and truncated entries, truncated and emptied manifests, stat cache), and --repair drops them', async () => {
    const dir = copyOfBase();
    const flat = manifestOf(dir, 0).steps[0];
    const nested = manifestOf(dir, 1).steps[0];
    const flatTree = JSON.parse(readFileSync(join(dir, 'cache', objectRel(flat.outputs[0].digest)), 'utf8')) as { entries: { digest: string }[] };
    const fileObject = flatTree.entries[0].digest;
    rmSync(join(dir, 'cache', objectRel(fileObject)));
    // One digest character changed in the nested entry; the flat entry truncated.
    const nestedEntry = actionFile(dir, nested.cache_key as string);
    const text = readFileSync(nestedEntry, 'utf8');
    const at = text.indexOf(nested.outputs[0].digest) + DIGEST_PREFIX.length + 5;
    writeFileSync(nestedEntry, `${text.slice(0, at)}${text[at] === '0' ? '1' : '0'}${text.slice(at + 1)}`);
    const flatEntry = actionFile(dir, flat.cache_key as string);
    writeFileSync(flatEntry, readFileSync(flatEntry, 'utf8').slice(0, 50));
    writeFileSync(runFile(dir, 0), readFileSync(runFile(dir, 0), 'utf8').slice(0, 100));
    writeFileSync(runFile(dir, 1), '{}');
    writeFileSync(join(dir, 'cache', 'stat.json'), '{"x": {"size": "big"}}');

    const verify = await runCli(['verify', '--json'], dir);
    expect(verify.code, verify.stderr).toBe(1);
    const report = JSON.parse(verify.stdout) as { problems: { file: string; problem: string }[] };
    const byFile = Object.fromEntries(report.problems.map((p) => [p.file, p.problem]));
    expect(Object.keys(byFile).sort()).toEqual([`actions/${flat.cache_key?.slice(DIGEST_PREFIX.length)}.json`, `actions/${nested.cache_key?.slice(DIGEST_PREFIX.length)}.json`, `runs/${runIds[0]}`, `runs/${runIds[1]}`, 'stat.json'].sort());
    expect(byFile[`actions/${flat.cache_key?.slice(DIGEST_PREFIX.length)}.json`]).toMatch(/^does not parse/);
    expect(byFile[`actions/${nested.cache_key?.slice(DIGEST_PREFIX.length)}.json`]).toMatch(/^output "listing" names object sha256:[0-9a-f]{64}, which is missing$/);
    expect(byFile[`runs/${runIds[0]}`]).toMatch(/^cannot be read/);
    expect(byFile[`runs/${runIds[1]}`]).toMatch(/^does not match the manifest schema/);
    expect(byFile['stat.json']).toBe('1 of 1 entries are malformed');
    const human = await runCli(['verify'], dir);
    expect(human.stdout).toContain(`runs/${runIds[1]}: does not match the manifest schema`);
    expect(human.stdout).not.toContain(dir);

    const repair = await runCli(['verify', '--repair'], dir);
    expect(repair.code, repair.stderr).toBe(0);
    expect(readdirSync(join(dir, 'cache', 'corrupt', 'runs')).sort()).toEqual([runIds[0], runIds[1]].sort());
    expect((await runCli(['verify'], dir)).stdout).toMatch(/^ok: /);
    const rebuilt = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(rebuilt.manifest.steps[0].status).toBe('built');
  });

  it('checks the sharded stat cache (cache/stat/files, cache/stat/trees): a malformed or unparsable shard is named, and --repair drops it', async () => {
    const dir = copyOfBase();
    const shards = (kind: string): string[] => readdirSync(join(dir, 'cache', 'stat', kind)).sort();
    const [malformed, truncated] = shards('files');
    expect(truncated, 'the trees fixture digests files in two folders at least').toBeDefined();
    writeFileSync(join(dir, 'cache', 'stat', 'files', malformed), JSON.stringify({ 'a.csv': [1, 'x', '2', '3', 'sha256:00'], 'b.csv': [2, '1', '2', '3', `sha256:${'0'.repeat(64)}`] }));
    writeFileSync(join(dir, 'cache', 'stat', 'files', truncated), readFileSync(join(dir, 'cache', 'stat', 'files', truncated), 'utf8').slice(0, 7));
    const trees = existsSync(join(dir, 'cache', 'stat', 'trees')) ? shards('trees') : [];
    if (trees.length > 0) writeFileSync(join(dir, 'cache', 'stat', 'trees', trees[0]), '{"fingerprint": "/home/someone"}');
    const verify = await runCli(['verify', '--json'], dir);
    expect(verify.code, verify.stderr).toBe(1);
    const byFile = Object.fromEntries((JSON.parse(verify.stdout) as { problems: { file: string; problem: string }[] }).problems.map((p) => [p.file, p.problem]));
    expect(byFile[`stat/files/${malformed}`]).toBe('1 of 2 entries are malformed');
    expect(byFile[`stat/files/${truncated}`]).toMatch(/^does not parse/);
    if (trees.length > 0) expect(byFile[`stat/trees/${trees[0]}`]).toBe('is not a tree record (fingerprint, digest, size, files)');
    expect(Object.keys(byFile)).toHaveLength(trees.length > 0 ? 3 : 2);

    expect((await runCli(['verify', '--repair'], dir)).code).toBe(0);
    expect(shards('files')).not.toContain(malformed);
    expect(shards('files')).not.toContain(truncated);
    expect((await runCli(['verify'], dir)).stdout).toMatch(/^ok: /);
    // Only a speed-up: the next build re-reads what it needs and serves everything from the cache.
    const again = await build({ pipelineFile: join(dir, 'pipeline.yaml'), sets: { lister: { nested: true } } });
    expect(again.manifest.steps.every((s) => s.status === 'cached')).toBe(true);
  });

  it('a tree entry whose file object is missing is named, with the file in the tree', async () => {
    const dir = copyOfBase();
    const flat = manifestOf(dir, 0).steps[0];
    const tree = JSON.parse(readFileSync(join(dir, 'cache', objectRel(flat.outputs[0].digest)), 'utf8')) as { entries: { path: string; digest: string }[] };
    rmSync(join(dir, 'cache', objectRel(tree.entries[0].digest)));
    const report = JSON.parse((await runCli(['verify', '--json'], dir)).stdout) as { problems: { file: string; problem: string }[] };
    expect(report.problems).toContainEqual({ file: `actions/${flat.cache_key?.slice(DIGEST_PREFIX.length)}.json`, problem: `output "listing" file ${tree.entries[0].path} names object ${tree.entries[0].digest}, which is missing` });
  });
});

describe('other cache files', () => {
  it('a pipeline memo replaced by {} is a lost speed-up, not a crash', async () => {
    const dir = copyOfBase();
    await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    const memos = readdirSync(join(dir, 'cache', 'pipelines'));
    for (const memo of memos) writeFileSync(join(dir, 'cache', 'pipelines', memo), '{}');
    const again = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(again.manifest.steps[0].status).toBe('cached');
  });
});

describe('unreadable manifests', () => {
  it('runs, show and diff skip them with one warning line each, no stack', async () => {
    const dir = copyOfBase();
    writeFileSync(runFile(dir, 3), '{}');
    writeFileSync(runFile(dir, 0), readFileSync(runFile(dir, 0), 'utf8').slice(0, 80));
    const runs = await runCli(['runs', '--json'], dir);
    expect(runs.code, runs.stderr).toBe(0);
    expect((JSON.parse(runs.stdout) as { run_id: string }[]).map((r) => `${r.run_id}.json`)).toEqual([runIds[1], runIds[2]]);
    expect(runs.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^dagrun: warning: skipping manifest runs/${runIds[0]}: it cannot be read \\(.*\\) \\(\`dagrun verify --repair\` sets it aside\\)$`)),
      expect.stringMatching(new RegExp(`^dagrun: warning: skipping manifest runs/${runIds[3]}: it does not match the manifest schema`)),
    ]);
    const diff = await runCli(['diff', 'previous', 'latest', '--json'], dir);
    expect(diff.code, diff.stderr).toBe(0);
    expect(JSON.parse(diff.stdout)).toMatchObject({ from: runIds[1].replace('.json', ''), to: runIds[2].replace('.json', '') });
    expect(diff.stderr).not.toMatch(/TypeError|at /);
    const show = await runCli(['show', runIds[3].replace('.json', '')], dir);
    expect([show.code, show.stderr.trim()]).toEqual([2, `dagrun: manifest runs/${runIds[3]} does not match the manifest schema: / must have required property 'run_id' (\`dagrun verify --repair\` sets it aside)`]);
  });

  it('gc with an unreadable manifest deletes nothing and says why', async () => {
    const dir = copyOfBase();
    writeFileSync(runFile(dir, 1), readFileSync(runFile(dir, 1), 'utf8').slice(0, 80));
    const before = allFiles(dir);
    const gc = await runCli(['gc', '--keep-runs', '1'], dir);
    expect(gc.code).toBe(2);
    expect(gc.stderr.trim()).toMatch(new RegExp(`^dagrun: gc deleted nothing: manifest runs/${runIds[1]} cannot be read \\(.*\\); run \`dagrun verify --repair\` to set it aside, then gc again$`));
    expect(allFiles(dir)).toEqual(before);
    expect((await runCli(['verify', '--repair'], dir)).code).toBe(0);
    const again = await runCli(['gc', '--keep-runs', '1', '--json'], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ kept_runs: 1, dropped_runs: 2 });
  });
});
