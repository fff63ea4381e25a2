// Per-partition file inputs (templates, date parts, globs, optional) and partitions discovered from data.
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions } from '../../src/engine/runner.js';
import { loadPipeline } from '../../src/engine/pipeline.js';
import { discoverPartitions, expandTemplate, globFiles, TemplateError } from '../../src/engine/templates.js';
import { readTable } from '../../src/sdk/table-io.js';
import { UserError } from '../../src/sdk/errors.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function workDir(): string {
  mkdirSync(join(PROJECT_ROOT, 'test', '.work'), { recursive: true });
  const dir = mkdtempSync(join(PROJECT_ROOT, 'test', '.work', 'partitions-'));
  dirs.push(dir);
  return dir;
}
const write = (path: string, text: string): void => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
};
/** The formatted `file:line:col: sentence` of the user error `fn` throws. */
async function userErrorOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof UserError) return error.format();
    throw error;
  }
  throw new Error('no error thrown');
}
const totals = async (dir: string): Promise<{ day: string; v: number }[]> =>
  (await readTable(join(dir, 'out', 'total.csv'), 'csv')).map((r) => ({ day: String(r.day instanceof Date ? r.day.toISOString() : r.day).slice(0, 10), v: Number(r.v) }));
const statuses = (steps: readonly { instance: string; status: string }[]): Record<string, string> => Object.fromEntries(steps.map((s) => [s.instance, s.status]));
const built = (steps: readonly { instance: string; status: string }[]): string[] => steps.filter((s) => s.status === 'built').map((s) => s.instance).sort();

/** The synthetic pipeline: per date a CSV, a copy, a ×2 transform, a fan-in sum. */
function datesPipeline(dir: string, partitions: string, input: string): (options?: Partial<BuildOptions>) => ReturnType<typeof build> {
  write(join(dir, 'steps', 'copy.sql'), 'CREATE TABLE copied AS SELECT $partition_date AS day, v FROM raw;\n');
  write(join(dir, 'steps', 'double.sql'), 'CREATE TABLE doubled AS SELECT day, v * 2 AS v FROM copied;\n');
  write(join(dir, 'steps', 'sum.sql'), 'CREATE TABLE total AS SELECT day, sum(v)::BIGINT AS v FROM doubled GROUP BY day;\n');
  write(
    join(dir, 'pipeline.yaml'),
    `partitions:
  date: ${partitions}
steps:
  copy:
    sql: steps/copy.sql
    partition: date
    inputs:
      raw: ${input}
    outputs:
      copied: { path: "copied/{date}.parquet", format: parquet, columns: { day: VARCHAR, v: BIGINT } }
  double:
    sql: steps/double.sql
    partition: date
    inputs:
      copied: copy.copied
    outputs:
      doubled: { path: "doubled/{date}.parquet", format: parquet, columns: { day: VARCHAR, v: BIGINT } }
  sum:
    sql: steps/sum.sql
    inputs:
      doubled: double.doubled
    outputs:
      total: { path: total.csv, format: csv, columns: { day: VARCHAR, v: BIGINT } }
`,
  );
  return (options = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2, ...options });
}

describe('templates', () => {
  it('expand {key} and the date parts of a YYYY-MM-DD value, for every real date', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1900-01-01'), max: new Date('2199-12-31'), noInvalidDate: true }), (date) => {
        const value = date.toISOString().slice(0, 10);
        expect(expandTemplate('raw/{yyyy}/{mm}/{dd}/{date}.csv', { date: value })).toBe(`raw/${value.replaceAll('-', '/')}/${value}.csv`);
      }),
    );
    expect(expandTemplate('s3://bucket/ais/raw/{yyyy}/{mm}/{dd}/*.parquet', { date: '2026-05-25' })).toBe('s3://bucket/ais/raw/2026/05/25/*.parquet');
    expect(expandTemplate('plain/path.csv', {})).toBe('plain/path.csv');
  });

  it('refuse date parts of a value that is not a date, and unknown placeholders, as data', () => {
    expect(() => expandTemplate('raw/{yyyy}/x', { region: 'north' })).toThrow(TemplateError);
    expect(() => expandTemplate('raw/{yyyy}/x', { region: 'north' })).toThrow(/needs a YYYY-MM-DD partition value \(partition: region=north\)/);
    expect(() => expandTemplate('raw/{region}/x', { date: '2026-01-01' })).toThrow(/\{region\} is not a partition/);
  });

  it('discovery is expansion run backwards: the dates laid out on disk come back, invalid ones skipped', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)), { minLength: 1, maxLength: 12 }), (dates) => {
        const dir = workDir();
        for (const date of dates) {
          mkdirSync(join(dir, expandTemplate('raw/{yyyy}/{mm}/{dd}', { date })), { recursive: true });
          write(join(dir, expandTemplate('flat/{date}.csv', { date })), 'v\n1\n');
        }
        mkdirSync(join(dir, 'raw', '2021', '02', '30'), { recursive: true }); // no such day
        mkdirSync(join(dir, 'raw', '2021', 'xx', '01'), { recursive: true });
        write(join(dir, 'flat', 'notes.txt'), 'not a partition');
        write(join(dir, 'flat', '.2020-01-01.csv.tmp'), 'half-written');
        const sorted = [...dates].sort();
        expect(discoverPartitions(dir, 'raw/{yyyy}/{mm}/{dd}/', 'date')).toEqual(sorted);
        expect(discoverPartitions(dir, 'flat/{date}.csv', 'date')).toEqual(sorted);
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 15 },
    );
  });

  it('globs match within a segment, ** at any depth, and skip hidden and temp files', () => {
    const dir = workDir();
    for (const f of ['a/1.parquet', 'a/2.parquet', 'a/2.csv', 'a/.hidden.parquet', 'a/x.parquet.tmp', 'a/deep/3.parquet', 'b/4.parquet']) write(join(dir, f), 'x');
    symlinkSync(join(dir, 'b', '4.parquet'), join(dir, 'a', 'link.parquet'));
    const rel = (files: string[]): string[] => files.map((f) => f.slice(dir.length + 1));
    expect(rel(globFiles(join(dir, 'a', '*.parquet')))).toEqual(['a/1.parquet', 'a/2.parquet', 'a/link.parquet']);
    expect(rel(globFiles(join(dir, 'a', '?.p*')))).toEqual(['a/1.parquet', 'a/2.parquet']);
    expect(rel(globFiles(join(dir, '*', '[13].parquet')))).toEqual(['a/1.parquet']);
    expect(rel(globFiles(join(dir, 'a', '**', '*.parquet')))).toEqual(['a/1.parquet', 'a/2.parquet', 'a/deep/3.parquet', 'a/link.parquet']);
    expect(globFiles(join(dir, 'nowhere', '*.parquet'))).toEqual([]);
  });
});

describe('per-partition file inputs', () => {
  it('each date depends on its own file: changing one date rebuilds that date and the fan-in only', async () => {
    const dir = workDir();
    const dates = ['2026-01-01', '2026-01-02', '2026-01-03'];
    dates.forEach((d, i) => write(join(dir, 'inputs', `${d}.csv`), `v\n${i + 1}\n${i + 10}\n`));
    const run = datesPipeline(dir, `{ from: "2026-01-01", to: "2026-01-03" }`, 'file:inputs/{date}.csv');
    const first = await run();
    expect(first.ok).toBe(true);
    expect(first.manifest.steps.find((s) => s.instance === 'copy[date=2026-01-02]')?.inputs[0].source).toBe('file:inputs/2026-01-02.csv');
    write(join(dir, 'inputs', '2026-01-02.csv'), 'v\n100\n');
    const second = await run();
    expect(built(second.manifest.steps)).toEqual(['copy[date=2026-01-02]', 'double[date=2026-01-02]', 'sum']);
    expect(second.manifest.steps.find((s) => s.instance === 'copy[date=2026-01-02]')?.reason).toBe('input raw changed');
    expect(await totals(dir)).toEqual([
      { day: '2026-01-01', v: 22 },
      { day: '2026-01-02', v: 200 },
      { day: '2026-01-03', v: 30 },
    ]);
    const third = await run();
    expect(Object.values(statuses(third.manifest.steps))).toEqual(Array(7).fill('cached'));
  });

  it('date parts and globs: raw/{yyyy}/{mm}/{dd}/*.csv reads exactly that day\'s files; a new file rebuilds that day', async () => {
    const dir = workDir();
    write(join(dir, 'raw', '2026', '03', '01', 'a.csv'), 'v\n1\n');
    write(join(dir, 'raw', '2026', '03', '01', 'b.csv'), 'v\n2\n');
    write(join(dir, 'raw', '2026', '03', '02', 'a.csv'), 'v\n5\n');
    const run = datesPipeline(dir, `{ values: ["2026-03-01", "2026-03-02"] }`, 'file:raw/{yyyy}/{mm}/{dd}/*.csv');
    const first = await run();
    expect(first.ok).toBe(true);
    expect(await totals(dir)).toEqual([
      { day: '2026-03-01', v: 6 },
      { day: '2026-03-02', v: 10 },
    ]);
    expect(first.manifest.steps[0].inputs[0]).toMatchObject({ source: 'file:raw/2026/03/01/*.csv', files: 2 });
    write(join(dir, 'raw', '2026', '03', '02', 'c.csv'), 'v\n7\n');
    const second = await run();
    expect(built(second.manifest.steps)).toEqual(['copy[date=2026-03-02]', 'double[date=2026-03-02]', 'sum']);
    // A renamed file changes the key too (the glob's digest covers paths); its output is the same
    // bytes, so nothing downstream reruns.
    rmSync(join(dir, 'raw', '2026', '03', '01', 'b.csv'));
    write(join(dir, 'raw', '2026', '03', '01', 'b2.csv'), 'v\n2\n');
    expect(built((await run()).manifest.steps)).toEqual(['copy[date=2026-03-01]']);
  });

  it('a missing partition file is a user error naming the path and the pipeline line, before anything runs', async () => {
    const dir = workDir();
    write(join(dir, 'inputs', '2026-01-01.csv'), 'v\n1\n');
    const run = datesPipeline(dir, `{ from: "2026-01-01", to: "2026-01-03" }`, 'file:inputs/{date}.csv');
    expect(await userErrorOf(run)).toMatch(/pipeline\.yaml:8:\d+: input "copy\.raw" of copy\[date=2026-01-02\]: file:inputs\/2026-01-02\.csv does not exist \(from file:inputs\/\{date\}\.csv\); add it, or mark the input `optional: true` \(and 1 more: copy\[date=2026-01-03\]\)/);
    expect(await run({ dryRun: true }).catch((e: UserError) => e.code)).toBe('BAD_INPUT');
    // A glob that matches nothing is the same error.
    const globbed = datesPipeline(dir, `{ values: ["2026-01-01"] }`, 'file:raw/{date}/*.csv');
    await expect(globbed()).rejects.toThrow(/file:raw\/2026-01-01\/\*\.csv matches no file/);
  });

  it('optional: true makes a missing partition file an empty input', async () => {
    const dir = workDir();
    write(join(dir, 'inputs', '2026-01-01.csv'), 'v\n4\n');
    const run = datesPipeline(dir, `{ from: "2026-01-01", to: "2026-01-02" }`, '{ from: "file:inputs/{date}.csv", optional: true, columns: { v: BIGINT } }');
    const result = await run();
    expect(result.ok).toBe(true);
    expect(await totals(dir)).toEqual([{ day: '2026-01-01', v: 8 }]);
    // The file landing later rebuilds that date.
    write(join(dir, 'inputs', '2026-01-02.csv'), 'v\n1\n');
    expect(built((await run()).manifest.steps)).toEqual(['copy[date=2026-01-02]', 'double[date=2026-01-02]', 'sum']);
  });

  it('validation refuses a placeholder that is not the step\'s partition, with its location', async () => {
    const dir = workDir();
    write(join(dir, 's.sql'), 'CREATE TABLE o AS SELECT 1 AS x;\n');
    const yaml = (partition: string, input: string): string =>
      `partitions:\n  date: { values: ["2026-01-01"] }\nsteps:\n  s:\n    sql: s.sql\n${partition}    inputs:\n      raw: ${input}\n    outputs:\n      o: { path: "o${partition ? '/{date}' : ''}.csv", format: csv, columns: { x: INTEGER } }\n`;
    write(join(dir, 'a.yaml'), yaml('    partition: date\n', 'file:in/{region}.csv'));
    expect(await userErrorOf(() => loadPipeline(join(dir, 'a.yaml')))).toMatch(/a\.yaml:8:\d+: .*uses \{region\}, but the step is partitioned by "date"/);
    write(join(dir, 'b.yaml'), yaml('', 'file:in/{date}.csv'));
    expect(() => loadPipeline(join(dir, 'b.yaml'))).toThrow(/uses \{date\}, but the step is not partitioned/);
  });
});

describe('partitions discovered from data', () => {
  it('from_files: a day landing adds a partition; plan names it new and build builds only it', async () => {
    const dir = workDir();
    for (const d of ['01', '02']) write(join(dir, 'raw', '2026', '04', d, 'part.csv'), `v\n${Number(d)}\n`);
    mkdirSync(join(dir, 'raw', '2026', '04', 'README'), { recursive: true });
    const run = datesPipeline(dir, `{ from_files: "raw/{yyyy}/{mm}/{dd}/" }`, 'file:raw/{yyyy}/{mm}/{dd}/*.csv');
    const first = await run();
    expect(Object.keys(statuses(first.manifest.steps))).toEqual(['copy[date=2026-04-01]', 'copy[date=2026-04-02]', 'double[date=2026-04-01]', 'double[date=2026-04-02]', 'sum']);
    write(join(dir, 'raw', '2026', '04', '03', 'part.csv'), 'v\n3\n');
    const plan = await run({ dryRun: true });
    expect(plan.manifest.steps.filter((s) => s.status === 'would-build').map((s) => [s.instance, s.reason])).toEqual([
      ['copy[date=2026-04-03]', 'new partition date=2026-04-03'],
      ['double[date=2026-04-03]', 'upstream copy[date=2026-04-03] would rebuild'],
      ['sum', 'upstream double[date=2026-04-03] would rebuild'],
    ]);
    const second = await run();
    expect(built(second.manifest.steps)).toEqual(['copy[date=2026-04-03]', 'double[date=2026-04-03]', 'sum']);
    expect((await totals(dir)).map((r) => r.day)).toEqual(['2026-04-01', '2026-04-02', '2026-04-03']);
  });

  it('from_files that matches nothing, or lacks the partition placeholder, is a located user error', async () => {
    const dir = workDir();
    datesPipeline(dir, `{ from_files: "raw/{date}/" }`, 'file:raw/{date}/*.csv');
    expect(await userErrorOf(() => loadPipeline(join(dir, 'pipeline.yaml')))).toMatch(/pipeline\.yaml:2:\d+: partition "date" from_files "raw\/\{date\}\/" matches nothing/);
    datesPipeline(dir, `{ from_files: "raw/{yyyy}/" }`, 'file:raw/{date}/*.csv');
    expect(() => loadPipeline(join(dir, 'pipeline.yaml'))).toThrow(/must contain \{date\} or all of \{yyyy\}, \{mm\}, \{dd\}/);
    datesPipeline(dir, `{ from_files: "raw/{date}/", values: ["2026-01-01"] }`, 'file:raw/{date}/*.csv');
    expect(() => loadPipeline(join(dir, 'pipeline.yaml'))).toThrow(/takes one of/);
  });
});

describe('fan-in over many CSV partitions', () => {
  it('reads by column name whatever order a producer wrote its columns in', async () => {
    const dir = workDir();
    write(join(dir, 'steps', 'make.sql'), "CREATE TABLE made AS SELECT CASE WHEN $partition_date = 'c' THEN 'x' ELSE 'y' END AS b, 1 AS a WHERE false UNION ALL SELECT 'k' || $partition_date AS b, length($partition_date)::INTEGER * 10 AS a;\n");
    // Partition "c" writes columns in the declared order (a, b) only if the SQL says so: make two layouts.
    write(join(dir, 'steps', 'swap.sql'), 'CREATE TABLE swapped AS SELECT a, b FROM made;\n');
    write(join(dir, 'steps', 'keep.sql'), 'CREATE TABLE kept AS SELECT b, a FROM made;\n');
    write(join(dir, 'steps', 'sum.sql'), 'CREATE TABLE total AS SELECT sum(a)::BIGINT AS a, string_agg(b, \',\' ORDER BY b) AS b FROM rows;\n');
    const pipeline = (producer: string): string => `partitions:\n  date: { values: ["a", "bb", "ccc"] }\nsteps:\n  make:\n    sql: steps/make.sql\n    partition: date\n    outputs:\n      made: { path: "made/{date}.csv", format: csv, columns: { a: INTEGER, b: VARCHAR } }\n  shape:\n    sql: steps/${producer}.sql\n    partition: date\n    inputs:\n      made: make.made\n    outputs:\n      out: { path: "shape/{date}.csv", format: csv, columns: { a: INTEGER, b: VARCHAR } }\n  sum:\n    sql: steps/sum.sql\n    inputs:\n      rows: shape.out\n    outputs:\n      total: { path: total.csv, format: csv, columns: { a: BIGINT, b: VARCHAR } }\n`;
    for (const producer of ['swap', 'keep']) {
      write(join(dir, 'steps', `${producer}.sql`), producer === 'swap' ? 'CREATE TABLE "out" AS SELECT a, b FROM made;\n' : 'CREATE TABLE "out" AS SELECT b, a FROM made;\n');
      write(join(dir, 'pipeline.yaml'), pipeline(producer));
      const result = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
      expect(result.manifest.steps.filter((s) => s.status === 'failed').map((s) => s.error)).toEqual([]);
      expect(await readTable(join(dir, 'out', 'total.csv'), 'csv')).toEqual([{ a: 60, b: 'ka,kbb,kccc' }]);
    }
  });
});
