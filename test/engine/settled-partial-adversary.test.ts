// The partly settled build attacked (src/engine/settled.ts + runner.ts `carry`): each test makes the
// shortcut's trust wrong in one way and checks the answer against a build from nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { build, type BuildResult } from '../../src/engine/runner.js';
import { invocationFor } from '../../src/engine/settled.js';
import { fromScratch, RACY_WAIT, settledCli, settleProject, wait } from '../helpers/settled-build.js';
import { dailyPipeline, writeDailyProject } from '../helpers/daily-project.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const root = mkdtempSync(join(tmpdir(), 'dagrun-settled-partial-adv-'));
const fixtures: string[] = [];
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  for (const dir of fixtures) removeFixture(dir);
});

const DAYS = ['2026-03-01', '2026-03-02', '2026-03-03'];
const cli = settledCli;
const settle = settleProject;

/** The CLI's build when the settled check did not answer or hand over (another build held the cache a moment): no handoff. */
async function usual(dir: string): Promise<BuildResult> {
  const argv = ['build', '--pipeline', join(dir, 'pipeline.yaml')];
  return build({ pipelineFile: join(dir, 'pipeline.yaml'), settle: invocationFor(argv) });
}

describe('partly settled build, attacked', () => {
  it('a glob input: a file added to the folder of a date that was carried is seen', async () => {
    const dir = join(root, 'glob');
    writeDailyProject(dir, { name: 'glob', days: DAYS, input: { file: 'raw/{date}/a.csv', read: 'raw/{date}/*.csv' } });
    await settle(dir);
    // One date changed: the others are carried.
    writeFileSync(join(dir, 'raw', DAYS[1], 'a.csv'), 'id,v\n1,500\n');
    const partial = await cli(dir);
    expect(partial.answered === false && partial.result.vouched).toBeGreaterThan(0);
    await wait(RACY_WAIT);
    // A file lands in a carried date's folder: what its glob matches changed.
    writeFileSync(join(dir, 'raw', DAYS[0], 'b.csv'), 'id,v\n3,1000\n');
    const after = await cli(dir);
    expect(after.answered).toBe(false);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
  });

  it('a directory input of an instance carried by a build without a handoff is still watched by its tree', async () => {
    const dir = join(root, 'tree');
    mkdirSync(join(dir, 'inputs', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'inputs', 'deep', 'part.csv'), 'id,v\n1,7\n');
    mkdirSync(join(dir, 'steps'), { recursive: true });
    writeFileSync(join(dir, 'steps', 'total.sql'), 'CREATE TABLE total AS SELECT sum(v)::BIGINT AS v FROM inputs;\n');
    writeFileSync(join(dir, 'pipeline.yaml'), `steps:\n  total:\n    sql: steps/total.sql\n    inputs:\n      inputs: { from: "file:inputs", columns: { id: BIGINT, v: BIGINT } }\n    outputs:\n      total: { path: total.csv, format: csv, columns: { v: BIGINT } }\n`);
    await settle(dir);
    // The cache was busy for a moment when the settled check ran: the usual build, no handoff, nothing changed.
    const again = await usual(dir);
    expect(again.ok).toBe(true);
    await wait(RACY_WAIT);
    // A file deep in the directory edited: the folder's own stat does not change.
    const path = join(dir, 'inputs', 'deep', 'part.csv');
    const seen = statSync(path);
    writeFileSync(path, 'id,v\n1,9\n');
    utimesSync(path, seen.atime, seen.mtime);
    expect((await cli(dir)).answered).toBe(false);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n9\n');
  });

  it('a package a step imports: its version is watched even when every instance of that step was carried', async () => {
    // The fixture's kernel step `make` (every date) imports a package of the project; `double` and `summary` are SQL.
    const dir = copyFixture('basic');
    fixtures.push(dir);
    const writePackage = (version: string, answer: number): void => {
      mkdirSync(join(dir, 'node_modules', 'fakepkg'), { recursive: true });
      writeFileSync(join(dir, 'node_modules', 'fakepkg', 'package.json'), JSON.stringify({ name: 'fakepkg', version, type: 'module', main: 'index.js' }));
      writeFileSync(join(dir, 'node_modules', 'fakepkg', 'index.js'), `export const answer = ${answer};\n`);
    };
    writePackage('1.0.0', 42);
    const kernel = join(dir, 'steps', 'make', 'kernel.ts');
    writeFileSync(kernel, `import { answer } from 'fakepkg';\n${readFileSync(kernel, 'utf8').replace("ctx.metric('rows', rows);", "ctx.metric('rows', rows);\n  ctx.metric('answer', answer);")}`);
    await settle(dir);
    // One date's SQL output deleted: that instance (and the fan-in) is looked at, every `make` is carried.
    rmSync(join(dir, 'out', 'doubled', '2024-01-02.parquet'));
    const partial = await cli(dir);
    expect(partial.answered === false && partial.result.vouched).toBe(5);
    await wait(RACY_WAIT);
    expect((await cli(dir)).answered).toBe(true);
    // npm installs another version of the package: `make`'s key changes.
    writePackage('1.0.1', 43);
    const after = await cli(dir);
    expect(after.answered).toBe(false);
    const make = after.answered ? undefined : after.result.manifest.steps.filter((s) => s.step === 'make');
    expect(make?.map((s) => [s.status, s.metrics.answer])).toEqual([['built', 43], ['built', 43], ['built', 43]]);
  });

  it('a step\'s code that another step also reads as a file input: an edit to it is everyone\'s, not that reader\'s own', async () => {
    const dir = join(root, 'code-as-input');
    const project = { name: 'code-as-input', days: DAYS, double: true };
    writeDailyProject(dir, project);
    // `doc` reads copy's SQL as a file (say, to publish it): the file is its input and copy's code.
    writeFileSync(join(dir, 'steps', 'doc.sql'), 'CREATE TABLE doc AS SELECT 1::BIGINT AS v;\n');
    writeFileSync(join(dir, 'pipeline.yaml'), `${dailyPipeline(project)}  doc:\n    sql: steps/doc.sql\n    inputs:\n      code: { from: "file:steps/copy.sql", format: text }\n    outputs:\n      doc: { path: doc.csv, format: csv, columns: { v: BIGINT } }\n`);
    await settle(dir);
    writeFileSync(join(dir, 'steps', 'copy.sql'), readFileSync(join(dir, 'steps', 'copy.sql'), 'utf8').replace('SELECT id, v', 'SELECT id, v * 5 AS v'));
    const after = await cli(dir);
    expect(after.answered).toBe(false);
    expect(after.answered === false && after.result.vouched).toBe(0);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
  });

  it('two real CLIs at once after one date changed: one takes the handoff, the other waits for the lock, both answer right and none is left', async () => {
    const dir = join(root, 'two-at-once');
    writeDailyProject(dir, { name: 'two', days: DAYS, double: true });
    await settle(dir);
    writeFileSync(join(dir, 'inputs', `${DAYS[1]}.csv`), 'id,v\n1,500\n');
    const runs = await Promise.all([runCli(['build'], dir), runCli(['build'], dir)]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    // Whichever ran second found the first one's work: nothing built twice.
    expect(runs.map((r) => /^run \S+: (\d+) built/m.exec(r.stdout)?.[1]).sort()).toEqual(['0', '3']);
    expect(existsSync(join(dir, 'cache', 'lock'))).toBe(false);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
  });

  it('a kernel\'s import: a file appearing where it resolves first (helper.js beside the helper.ts it used) is seen', async () => {
    const dir = copyFixture('basic');
    fixtures.push(dir);
    const kernel = join(dir, 'steps', 'make', 'kernel.ts');
    writeFileSync(join(dir, 'steps', 'make', 'helper.ts'), 'export const answer = 42;\n');
    writeFileSync(kernel, `import { answer } from './helper.js';\n${readFileSync(kernel, 'utf8').replace("ctx.metric('rows', rows);", "ctx.metric('rows', rows);\n  ctx.metric('answer', answer);")}`);
    await settle(dir);
    // `tsc` run without an outDir, say: the import now resolves to helper.js, and make's key changes.
    writeFileSync(join(dir, 'steps', 'make', 'helper.js'), 'export const answer = 43;\n');
    const after = await cli(dir);
    expect(after.answered).toBe(false);
    const make = after.answered ? undefined : after.result.manifest.steps.filter((s) => s.step === 'make');
    expect(make?.map((s) => s.status)).toEqual(['built', 'built', 'built']);
  });
});
