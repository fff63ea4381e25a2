import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import fc from 'fast-check';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { runCli } from '../helpers/fixture.js';
import { parsePipeline } from '../../src/engine/pipeline.js';
import { UserError } from '../../src/sdk/errors.js';

const corpus = join(PROJECT_ROOT, 'test', 'fixtures', 'malformed');

// One malformed pipeline per rule: where the error must point, and what it must say.
const cases: [file: string, where: string, message: RegExp][] = [
  ['yaml-syntax.yaml', 'yaml-syntax.yaml:5:3', /YAML syntax error/],
  ['unknown-key.yaml', 'unknown-key.yaml:4:5', /unknown key "colour" in step "a" \(allowed: description, sql, kernel, source, partition, inputs, params, outputs\)/],
  ['unknown-step.yaml', 'unknown-step.yaml:5:13', /names step "nosuch", which does not exist/],
  ['unknown-output.yaml', 'unknown-output.yaml:9:13', /step "a" has no output "missing"/],
  ['cycle.yaml', 'cycle.yaml:2:3', /cycle: a → b → a/],
  ['duplicate-path.yaml', 'duplicate-path.yaml:9:18', /"b.t" writes "same\/t.parquet", which "a.t" also writes/],
  ['escape-dotdot.yaml', 'escape-dotdot.yaml:5:18', /leaves the output root/],
  ['escape-absolute.yaml', 'escape-absolute.yaml:5:18', /leaves the output root/],
  ['param-type.yaml', 'param-type.yaml:5:39', /param "a.days" default "seven" value must be integer/],
  ['column-missing.yaml', 'column-missing.yaml:9:52', /expects column "y" VARCHAR, which "a.t" does not provide/],
  ['column-type.yaml', 'column-type.yaml:9:40', /expects column "x" as VARCHAR, but "a.t" provides INTEGER/],
  ['sql-and-kernel.yaml', 'sql-and-kernel.yaml:2:3', /exactly one of `sql:` or `kernel:`/],
  ['bad-format.yaml', 'bad-format.yaml:5:34', /format must be one of/],
  ['unknown-partition.yaml', 'unknown-partition.yaml:4:16', /partitioned by "day", which is not declared/],
  ['misspelt-key.yaml', 'misspelt-key.yaml:4:5', /unknown key "ouputs" in step "a" \(did you mean "outputs"\?\)$/],
  ['bad-column-type.yaml', 'bad-column-type.yaml:5:72', /column "y" has type "DOUBL": "DOUBL" is not a DuckDB type \(did you mean DOUBLE\?\)/],
  ['unknown-table.yaml', 'unknown-table.yaml:7:53', /no table "postions" under `tables:` \(did you mean "positions"\?\)/],
  ['table-order-by.yaml', 'table-order-by.yaml:4:22', /table "positions" orders by "lon", which is not one of its columns/],
];

describe('dagrun validate on malformed pipelines', () => {
  it.each(cases)('%s → file:line:col and a sentence, exit 2, no stack trace', async (file, where, message) => {
    const result = await runCli(['validate', '--pipeline', file], corpus);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0].startsWith(`dagrun: ${where}: `)).toBe(true);
    expect(lines[0]).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    // Then the source line, and a caret under the place, like a compiler.
    expect(lines).toHaveLength(3);
    const col = Number(where.split(':')[2]);
    expect(lines[1]).toMatch(new RegExp(`^  ${where.split(':')[1]} \\| `));
    expect(lines[2].indexOf('^') - lines[2].indexOf('|') - 2).toBe(col - 1);
  });

  it('--json reports the error as data: code, message, category and a structured location', async () => {
    const result = await runCli(['validate', '--pipeline', 'cycle.yaml', '--json'], corpus);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      ok: false,
      error: 'cycle.yaml:2:3: steps form a cycle: a → b → a',
      errors: [{ code: 'CYCLE', message: 'steps form a cycle: a → b → a', category: 'usage', location: { file: 'cycle.yaml', line: 2, col: 3, endLine: 2, endCol: 4 } }],
    });
  });

  it('a --set value of the wrong type is refused before anything runs', async () => {
    const result = await runCli(['build', '--set', 'double.factor=lots'], join(PROJECT_ROOT, 'test', 'fixtures', 'basic'));
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('dagrun: --set double.factor: param "double.factor" = "lots": value must be number');
  });
});

// Several independent mistakes per file: every one reported, each at its place, in file order.
const several: [file: string, problems: [where: string, message: RegExp][]][] = [
  ['steps-and-tables.yaml', [
    ['7:34', /column "ts" has type "TIMESTMP": .* \(did you mean TIMESTAMP\?\)/],
    ['8:22', /table "positions" orders by "lon", which is not one of its columns/],
    ['12:5', /unknown key "ouputs" in step "a" \(did you mean "outputs"\?\)/],
    ['16:16', /step "b" is partitioned by "day", which is not declared/],
    ['18:10', /input "b.x" names step "nosuch", which does not exist \(steps: b, c, a\)/],
    ['20:18', /output "b.u" path "..\/u.parquet" leaves the output root/],
    ['21:68', /column "y" has type "DOUBL": .* \(did you mean DOUBLE\?\)/],
    ['25:39', /param "c.days" default "seven" value must be integer/],
    ['27:53', /no table "postions" under `tables:` \(did you mean "positions"\?\)/],
  ]],
  ['references.yaml', [
    ['10:37', /input "b.t" expects column "x" as VARCHAR, but "a.t" provides INTEGER/],
    ['10:49', /input "b.t" expects column "z" DOUBLE, which "a.t" does not provide/],
    ['11:10', /input "b.m" names "a.missing", but step "a" has no output "missing"/],
    ['13:18', /output "b.t" writes "same.parquet", which "a.t" also writes/],
    ['15:13', /step "c": kernel file steps\/nothere.ts does not exist/],
    ['17:10', /input "c.q": file:data\/absent.csv does not exist/],
    ['24:34', /step "d" outputs.r.format must be one of: parquet, csv, json, geojson, directory/],
  ]],
  ['compact.yaml', [
    ['10:40', /table "snapshot" names column "latt" without a type, but table "fixes" \(its `extends:`\) has no such column \(did you mean "lat"\?\)/],
    ['12:27', /table "loose" names column "mmsi" without a type, but there is no `extends:` table to take it from/],
    ['12:43', /no table "fixs" under `tables:` \(did you mean "fixes"\?\)/],
    ['12:54', /column "id" has type "INTEGR": .* \(did you mean INTEGER\?\)/],
    ['13:23', /table "partial" extends "fixes" but its `columns:` list does not place "ts", "lat" \(name each where it goes, or `include: fixes`\)/],
    ['14:53', /table "twice" places column "mmsi" twice/],
    ['17:14', /`defaults.partition` is "day", which is not declared under `partitions:`/],
    ['24:10', /output "a.x" is a table: declare its `columns:` or name a `table:`/],
    ['25:10', /output "a.u" path "u\/\{date\}.txt" does not say its format: end it with .parquet, .csv, .json, .geojson or \/ \(a folder\), or give `format:`/],
    ['26:18', /output "a.v" path "v\/\{date\}\/" ends with \/ \(a folder\), but its format is parquet/],
    ['27:3', /step "b": kernel file steps\/b.ts \(from `defaults.kernel`\) does not exist/],
    ['33:45', /output "b.w" names column "lat" without a type, but inputs "t" \(DOUBLE\) and "f" \(VARCHAR\) both have it, with different types/],
    ['33:50', /output "b.w" names column "lon" without a type, but none of step "b"'s inputs has a column "lon"/],
    ['38:51', /step "c" outputs.y.columns.1 must be one `name: TYPE`, a column name, or `include: TABLE`/],
  ]],
];

describe('dagrun validate reports every problem in a file', () => {
  it.each(several)('%s: each problem at its file:line:col, with its source line and caret', async (file, problems) => {
    const result = await runCli(['validate', '--pipeline', `several/${file}`], corpus);
    expect(result.code).toBe(2);
    const heads = result.stderr.trimEnd().split('\n').filter((line) => line.startsWith('dagrun: '));
    expect(heads.map((h) => /^dagrun: several\/[\w-]+\.yaml:(\d+:\d+): /.exec(h)?.[1])).toEqual(problems.map(([where]) => where));
    problems.forEach(([, message], i) => expect(heads[i]).toMatch(message));
    // Every problem is followed by its excerpt: heads + 2 lines each.
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(problems.length * 3);
  });

  it('--json lists every problem with its code and location', async () => {
    const result = await runCli(['validate', '--pipeline', 'several/references.yaml', '--json'], corpus);
    const document = JSON.parse(result.stdout) as { errors: { code: string; location: { line: number; col: number } }[] };
    expect(document.errors.map((e) => e.code)).toEqual(['COLUMN_MISMATCH', 'COLUMN_MISMATCH', 'UNKNOWN_OUTPUT', 'DUPLICATE_OUTPUT_PATH', 'SCHEMA', 'SCHEMA', 'SCHEMA']);
    expect(document.errors.map((e) => `${e.location.line}:${e.location.col}`)).toEqual(several[1][1].map(([where]) => where));
  });

  it('N misspelt keys in N steps are N problems, each at its key', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom('ouputs', 'inptus', 'parms', 'kernal', 'partiton'), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 2 }), (typos, blank) => {
        const steps = typos.map((typo, i) => `  s${i}:\n    sql: steps/t.sql\n${'\n'.repeat(blank)}    ${typo}: {}\n    outputs:\n      t${i}: { path: t${i}.parquet, format: parquet, columns: { x: INTEGER } }\n`);
        const text = `steps:\n${steps.join('')}`;
        try {
          parsePipeline(text, join(corpus, 'p.yaml'));
          expect.unreachable();
        } catch (error) {
          const problems = (error as UserError).problems;
          expect(problems).toHaveLength(typos.length);
          const lines = text.split('\n');
          problems.forEach((problem, i) => {
            expect(problem.message).toMatch(new RegExp(`unknown key "${typos[i]}" in step "s${i}"`));
            const location = problem.location as { line: number; col: number; endCol: number };
            expect(lines[location.line - 1].slice(location.col - 1, location.endCol - 1)).toBe(typos[i]);
          });
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('pipeline parser properties', () => {
  it('never throws anything but a located UserError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parsePipeline(text, join(corpus, 'fuzz.yaml'));
        } catch (error) {
          expect(error).toBeInstanceOf(UserError);
          expect((error as UserError).where).toMatch(/fuzz\.yaml:\d+:\d+$/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an unknown key anywhere in a step is reported at that key', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{3,10}$/).filter((k) => !['sql', 'kernel', 'source', 'partition', 'inputs', 'params', 'outputs', 'description'].includes(k)), fc.integer({ min: 0, max: 3 }), (key, blankLines) => {
        const text = `${'\n'.repeat(blankLines)}steps:\n  a:\n    sql: steps/t.sql\n    ${key}: 1\n    outputs:\n      t: { path: t.parquet, format: parquet, columns: { x: INTEGER } }\n`;
        expect(() => parsePipeline(text, join(corpus, 'p.yaml'))).toThrow(`unknown key "${key}"`);
        try {
          parsePipeline(text, join(corpus, 'p.yaml'));
        } catch (error) {
          expect((error as UserError).where).toMatch(new RegExp(`p\\.yaml:${4 + blankLines}:5$`));
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('the validated-pipeline memo', () => {
  it('serves an unchanged file, and still reports a code file that disappeared, with its location', async () => {
    const { copyFixture, removeFixture } = await import('../helpers/fixture.js');
    const { loadPipeline } = await import('../../src/engine/pipeline.js');
    const { rmSync, readdirSync } = await import('node:fs');
    const dir = copyFixture('basic');
    try {
      const first = loadPipeline(join(dir, 'pipeline.yaml'));
      expect(readdirSync(join(dir, 'cache', 'pipelines'))).toHaveLength(1);
      const again = loadPipeline(join(dir, 'pipeline.yaml'));
      expect([...again.steps.keys()]).toEqual([...first.steps.keys()]);
      expect(again.steps.get('double')?.definition).toEqual(first.steps.get('double')?.definition);
      rmSync(join(dir, 'steps', 'double', 'double.sql'));
      expect(() => loadPipeline(join(dir, 'pipeline.yaml'))).toThrow(/step "double": sql file steps\/double\/double.sql does not exist/);
      try {
        loadPipeline(join(dir, 'pipeline.yaml'));
      } catch (error) {
        const { readFileSync } = await import('node:fs');
        const line = readFileSync(join(dir, 'pipeline.yaml'), 'utf8').split('\n').findIndex((l) => l.includes('sql: steps/double/double.sql')) + 1;
        expect((error as UserError).where).toMatch(new RegExp(`pipeline\\.yaml:${line}:10$`));
      }
    } finally {
      removeFixture(dir);
    }
  });
});
