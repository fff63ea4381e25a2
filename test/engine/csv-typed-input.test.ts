// A single CSV input with declared columns is read with those types when its header is exactly their
// names: a bad value fails the step that reads it, naming the file and line, instead of passing
// through as text to fail the next step. And a CSV output's plain-typed column must hold that type.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInputView } from '../../src/engine/execute.js';
import { build } from '../../src/engine/runner.js';
import { quoteIdent, readerFor, withDb, type Db } from '../../src/sdk/table-io.js';
import { writeDailyProject } from '../helpers/daily-project.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

mkdirSync(join(PROJECT_ROOT, 'test', '.work'), { recursive: true });
const root = mkdtempSync(join(PROJECT_ROOT, 'test', '.work', 'csv-typed-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => {
  const dir = join(root, String((counter += 1)));
  mkdirSync(dir, { recursive: true });
  return dir;
};

const DAYS = ['2024-01-01', '2024-01-02', '2024-01-03'];

async function rows(db: Db, sql: string): Promise<unknown[][]> {
  return (await db.connection.runAndReadAll(sql)).getRowsJS();
}

describe('a single CSV input with declared columns', () => {
  it('fails the reading step on a bad value, naming the file and line; the other dates build and out/ keeps its files', async () => {
    const dir = freshDir();
    writeDailyProject(dir, { days: DAYS, sum: false });
    const good = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2 });
    expect(good.ok).toBe(true);
    const before = DAYS.map((day) => readFileSync(join(dir, 'out', 'copied', `${day}.csv`), 'utf8'));

    writeFileSync(join(dir, 'inputs', '2024-01-02.csv'), 'id,v\n1,5\n2,not a number\n');
    writeFileSync(join(dir, 'inputs', '2024-01-03.csv'), 'id,v\n1,7\n2,8\n');
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2 });
    expect(result.ok).toBe(false);
    const failed = result.manifest.steps.filter((s) => s.error);
    expect(failed.map((s) => s.instance)).toEqual(['copy[date=2024-01-02]']);
    const error = failed[0].error ?? '';
    expect(error).toContain('inputs/2024-01-02.csv');
    expect(error).toMatch(/Line: 3\b/);
    expect(error).toContain('not a number');
    expect(error).not.toContain(dir);
    expect(JSON.stringify(JSON.parse(readFileSync(result.manifestPath as string, 'utf8')))).not.toContain(dir);
    // The other dates built (2024-01-03 with its new rows); the failed date's last good output stays.
    expect(readFileSync(join(dir, 'out', 'copied', '2024-01-01.csv'), 'utf8')).toBe(before[0]);
    expect(readFileSync(join(dir, 'out', 'copied', '2024-01-02.csv'), 'utf8')).toBe(before[1]);
    expect(readFileSync(join(dir, 'out', 'copied', '2024-01-03.csv'), 'utf8')).toBe('id,v\n1,7\n2,8\n');
  });

  it('keeps the sniffed read when the header is not exactly the declared names', async () => {
    const dir = freshDir();
    const file = join(dir, 'a.csv');
    writeFileSync(file, 'v,id\n2,1\n');
    const view = await withDb(async (db) => {
      await createInputView(db, { name: 's' }, { name: 'raw', files: [file], format: 'csv', columns: { id: 'BIGINT', v: 'BIGINT' } });
      return rows(db, 'SELECT * FROM raw');
    });
    expect(view).toEqual([[2n, 1n]]);
  });

  it('reads valid BIGINT, DOUBLE and VARCHAR values the same typed as sniffed (property)', async () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'z', ' ', '-', '.', '_', '7', 'é'), maxLength: 6 }).map((s) => `x${s}`);
    const values: Record<string, fc.Arbitrary<string>> = {
      BIGINT: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
      DOUBLE: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      VARCHAR: word,
    };
    const table = fc.array(fc.constantFrom(...Object.keys(values)), { minLength: 1, maxLength: 3 }).chain((types) => {
      const field = (type: string): fc.Arbitrary<string> => fc.oneof({ weight: 10, arbitrary: values[type] }, { weight: 1, arbitrary: fc.constant('') });
      const line = fc.tuple(...types.map(field)).map((fields) => fields.join(','));
      return fc.record({ types: fc.constant(types), lines: fc.array(line, { maxLength: 8 }) });
    });
    await fc.assert(
      fc.asyncProperty(table, async ({ types, lines }) => {
        const file = join(freshDir(), 'in.csv');
        writeFileSync(file, `${types.map((_, i) => `c${i}`).join(',')}\n${lines.map((l) => `${l}\n`).join('')}`);
        const columns = Object.fromEntries(types.map((type, i) => [`c${i}`, type]));
        const cast = types.map((type, i) => `CAST(${quoteIdent(`c${i}`)} AS ${type})`).join(', ');
        const [typed, sniffed] = await withDb(async (db) => {
          await createInputView(db, { name: 's' }, { name: 'raw', files: [file], format: 'csv', columns });
          return [await rows(db, `SELECT ${cast} FROM raw`), await rows(db, `SELECT ${cast} FROM ${readerFor([file], 'csv')}`)];
        });
        expect(typed).toEqual(sniffed);
      }),
      { numRuns: 60 },
    );
  });
});

describe('a CSV output with declared columns', () => {
  it('fails the step whose BIGINT output column holds text, naming the column and value', async () => {
    const dir = freshDir();
    writeDailyProject(dir, { days: DAYS.slice(0, 1), sum: false, copyValue: "CASE WHEN id = 2 THEN 'not a number' ELSE v::VARCHAR END" });
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 1 });
    expect(result.ok).toBe(false);
    const error = result.manifest.steps.find((s) => s.instance === 'copy[date=2024-01-01]')?.error ?? '';
    expect(error).toContain('column "v" is declared BIGINT but holds "not a number"');
    expect(error).not.toContain(dir);
    expect(existsSync(join(dir, 'out', 'copied', '2024-01-01.csv'))).toBe(false);
  });
});
