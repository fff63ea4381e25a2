// A fan-in over many small CSV files is read as one coalesced file when that cannot change what the
// step sees: the same rows in the same order as reading each file, and errors naming the real file.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInputView, runStep, type ResolvedInput } from '../../src/engine/execute.js';
import { loadPipeline, type StepSpec } from '../../src/engine/pipeline.js';
import { build } from '../../src/engine/runner.js';
import { withDb, type Columns, type Db } from '../../src/sdk/table-io.js';
import { dailyPipeline, writeDailyProject } from '../helpers/daily-project.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

mkdirSync(join(PROJECT_ROOT, 'test', '.work'), { recursive: true });
const root = mkdtempSync(join(PROJECT_ROOT, 'test', '.work', 'csv-coalesce-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => {
  const dir = join(root, String((counter += 1)));
  mkdirSync(dir, { recursive: true });
  return dir;
};

const STEP = { name: 'fan_in' };

/** The rows of one input read both ways in one DuckDB: coalesced (into a scratch file) and file by file. */
async function bothWays(files: readonly string[], columns: Columns, maxBytes?: number): Promise<{ coalesced: boolean; joined: unknown; perFile: unknown }> {
  const scratch = freshDir();
  const input = (name: string): ResolvedInput => ({ name, files, format: 'csv', columns });
  return withDb(async (db) => {
    const coalesced = await createInputView(db, STEP, input('joined'), { into: join(scratch, 'joined.csv'), maxBytes });
    expect(await createInputView(db, STEP, input('per_file'))).toBe(false);
    return { coalesced, joined: await rowsOf(db, 'joined'), perFile: await rowsOf(db, 'per_file') };
  });
}

/** All rows in scan order, or the error's first line: a read that fails must fail both ways. */
async function rowsOf(db: Db, view: string): Promise<unknown> {
  try {
    const reader = await db.connection.runAndReadAll(`SELECT * FROM ${view}`);
    return reader.getRowsJS().map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v)));
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0].replace(/"[^"]*\.csv"/g, 'FILE') };
  }
}

function writeFiles(texts: readonly string[]): string[] {
  const dir = freshDir();
  return texts.map((text, index) => {
    const file = join(dir, `part-${String(index).padStart(3, '0')}.csv`);
    writeFileSync(file, text);
    return file;
  });
}

describe('coalescing small CSV files of one input', () => {
  it('reads the same rows in the same order as the per-file read (property)', async () => {
    // Now and then a value with a byte the sniffer reads as dialect, or a blank line: those sets are read file by file.
    const plain = fc.string({ unit: fc.constantFrom('a', 'b', 'z', ' ', '-', '.', '_', '7', 'é'), maxLength: 6 });
    const noisy = fc.string({ unit: fc.constantFrom('a', ';', '#', '|', '\t', '\\'), minLength: 1, maxLength: 3 });
    const values: Record<string, fc.Arbitrary<string>> = {
      BIGINT: fc.integer().map(String),
      DOUBLE: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      BOOLEAN: fc.constantFrom('true', 'false', 't', 'f', '1', '0', 'TRUE'),
      VARCHAR: fc.oneof({ weight: 30, arbitrary: plain }, { weight: 1, arbitrary: noisy }),
    };
    const table = fc.array(fc.constantFrom(...Object.keys(values)), { minLength: 1, maxLength: 3 }).chain((types) => {
      // An empty field is NULL in any column.
      const field = (type: string): fc.Arbitrary<string> => fc.oneof({ weight: 10, arbitrary: values[type] }, { weight: 1, arbitrary: fc.constant('') });
      const line = fc.oneof({ weight: 30, arbitrary: fc.tuple(...types.map(field)).map((fields) => fields.join(',')) }, { weight: 1, arbitrary: fc.constant('') });
      const header = types.map((_, i) => `c${i}`).join(',');
      const file = fc.record({ lines: fc.array(line, { maxLength: 6 }), trailingNewline: fc.boolean() }).map(({ lines, trailingNewline }) => `${header}\n${lines.join('\n')}${trailingNewline && lines.length > 0 ? '\n' : ''}`);
      return fc.record({ columns: fc.constant(Object.fromEntries(types.map((type, i) => [`c${i}`, type]))), texts: fc.array(file, { minLength: 2, maxLength: 6 }) });
    });
    let coalescedRuns = 0;
    await fc.assert(
      fc.asyncProperty(table, async ({ columns, texts }) => {
        const { coalesced, joined, perFile } = await bothWays(writeFiles(texts), columns);
        if (coalesced) coalescedRuns += 1;
        expect(joined).toEqual(perFile);
      }),
      { numRuns: 100 },
    );
    // Most generated sets are plain: the coalesced read was really compared.
    expect(coalescedRuns).toBeGreaterThan(25);
  });

  it('coalesces header-only files, a last line without newline, one column and duplicates in the list', async () => {
    const [a, b, c] = writeFiles(['id,v\n', 'id,v\n1,2\n3,4', 'id,v\n5,6\n']);
    expect(await bothWays([a, b, c, b], { id: 'BIGINT', v: 'BIGINT' })).toEqual({ coalesced: true, joined: [[1, 2], [3, 4], [5, 6], [1, 2], [3, 4]], perFile: [[1, 2], [3, 4], [5, 6], [1, 2], [3, 4]] });
    const single = writeFiles(['s\nx\ny', 's\nz\n']);
    expect(await bothWays(single, { s: 'VARCHAR' })).toEqual({ coalesced: true, joined: [['x'], ['y'], ['z']], perFile: [['x'], ['y'], ['z']] });
  });

  const refusals: [string, string[], Columns, unknown][] = [
    ['a quoted field (a quote could span files)', ['id,s\n1,"a\nb"\n', 'id,s\n2,c\n'], { id: 'BIGINT', s: 'VARCHAR' }, [[1, 'a\nb'], [2, 'c']]],
    ['CRLF files', ['id,v\r\n1,2\r\n', 'id,v\r\n3,4\r\n'], { id: 'BIGINT', v: 'BIGINT' }, [[1, 2], [3, 4]]],
    // Regression: the typed multi-file read took the first file's newline for all and dropped [3, 4], [5, 6].
    ['an LF file after a CRLF one', ['id,v\r\n1,2\r\n', 'id,v\n3,4\n5,6\n'], { id: 'BIGINT', v: 'BIGINT' }, [[1, 2], [3, 4], [5, 6]]],
    ['a UTF-8 BOM', ['\ufeffid,v\n1,2\n', 'id,v\n3,4\n'], { id: 'BIGINT', v: 'BIGINT' }, [[1, 2], [3, 4]]],
    ["an apostrophe (sniffed as a quote)", ["id,s\n1,'a,b'\n", 'id,s\n2,c\n'], { id: 'BIGINT', s: 'VARCHAR' }, [[1, 'a,b'], [2, 'c']]],
    ['a blank line', ['id,v\n1,2\n\n3,4\n', 'id,v\n5,6\n'], { id: 'BIGINT', v: 'BIGINT' }, [[1, 2], [3, 4], [5, 6]]],
    ['a DATE column (its format is sniffed from the rows)', ['d\n2024-01-02\n', 'd\n2024-01-03\n'], { d: 'DATE' }, [['2024-01-02'], ['2024-01-03']]],
  ];
  for (const [what, texts, columns, expected] of refusals) {
    it(`falls back to the per-file read for ${what}`, async () => {
      const read = await bothWays(writeFiles(texts), columns);
      const dates = (rows: unknown): unknown => (Array.isArray(rows) ? rows.map((row: unknown[]) => row.map((v) => (v instanceof Date ? v.toISOString().slice(0, 10) : v))) : rows);
      expect({ ...read, joined: dates(read.joined), perFile: dates(read.perFile) }).toEqual({ coalesced: false, joined: expected, perFile: expected });
    });
  }

  it('falls back for a CR inside a body: DuckDB refuses the first file, as when reading file by file', async () => {
    const files = writeFiles(['id,s\n1,a\rb\n', 'id,s\n2,c\n']);
    const input: ResolvedInput = { name: 'cr', files, format: 'csv', columns: { id: 'BIGINT', s: 'VARCHAR' } };
    await expect(withDb((db) => createInputView(db, STEP, input, { into: join(freshDir(), 'joined.csv') }))).rejects.toThrow(/Error when sniffing file ".*part-000\.csv"/);
    await expect(withDb((db) => createInputView(db, STEP, input))).rejects.toThrow(/Error when sniffing file ".*part-000\.csv"/);
  });

  it('falls back for an empty file, a NUL byte, a compressed name and files over the size limit', async () => {
    const columns = { id: 'BIGINT', v: 'BIGINT' };
    const [empty, ok] = writeFiles(['', 'id,v\n1,2\n']);
    expect((await bothWays([empty, ok], columns)).coalesced).toBe(false);
    const withNul = writeFiles(['id,v\n1,2\n', 'id,v\n3,4\0\n']);
    expect((await bothWays(withNul, columns)).coalesced).toBe(false);
    const dir = freshDir();
    writeFileSync(join(dir, 'a.csv'), 'id,v\n1,2\n');
    writeFileSync(join(dir, 'b.csv.txt'), 'id,v\n3,4\n');
    expect(await bothWays([join(dir, 'a.csv'), join(dir, 'b.csv.txt')], columns)).toEqual({ coalesced: false, joined: [[1, 2], [3, 4]], perFile: [[1, 2], [3, 4]] });
    const rows = Array.from({ length: 50 }, (_, i) => `${i},${i * 2}`).join('\n');
    const big = writeFiles([`id,v\n${rows}\n`, `id,v\n${rows}\n`]);
    const size = 2 * (6 + rows.length) - 5;
    const over = await bothWays(big, columns, size - 1);
    expect(over.coalesced).toBe(false);
    expect(over.joined).toEqual(over.perFile);
    expect((over.perFile as unknown[]).length).toBe(100);
    expect((await bothWays(big, columns, size)).coalesced).toBe(true);
  });
});

describe('a build whose fan-in reads coalesced files', () => {
  // An order-sensitive total: each doubled v weighted by its position in the scan.
  const WEIGHTED_SUM = 'CREATE TABLE total AS SELECT sum(v * n)::BIGINT AS v FROM (SELECT v, row_number() OVER () AS n FROM doubled);\n';
  const PROBE = `  probe:
    sql: steps/probe.sql
    inputs:
      doubled: double.doubled
    outputs:
      seen: { path: probe.csv, format: csv, columns: { coalesced: BIGINT } }
`;

  it('writes the same bytes as the per-file read, leaves no scratch behind, and cleans up after a failure', async () => {
    const dir = freshDir();
    const days = Array.from({ length: 30 }, (_, i) => `2025-01-${String(i + 1).padStart(2, '0')}`);
    writeDailyProject(dir, { days, double: true });
    writeFileSync(join(dir, 'steps', 'sum.sql'), WEIGHTED_SUM);
    // What the step's own DuckDB says it reads: the view over the coalesced file, or over each file.
    writeFileSync(join(dir, 'steps', 'probe.sql'), "CREATE TABLE seen AS SELECT count(*)::BIGINT AS coalesced FROM duckdb_views() WHERE database_name = current_database() AND view_name = 'doubled' AND sql LIKE '%.coalesced-inputs%';\n");
    writeFileSync(join(dir, 'pipeline.yaml'), `${dailyPipeline({ days, double: true })}${PROBE}`);
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2 });
    expect(result.ok).toBe(true);
    expect(readFileSync(join(dir, 'out', 'probe.csv'), 'utf8')).toBe('coalesced\n1\n');
    // Day i's doubled rows are 2(i+1) and 2(i+10), in date order.
    const doubled = days.flatMap((_, i) => [2 * (i + 1), 2 * (i + 10)]);
    const expected = doubled.reduce((sum, v, n) => sum + v * (n + 1), 0);
    const built = readFileSync(join(dir, 'out', 'total.csv'), 'utf8');
    expect(built).toBe(`v\n${expected}\n`);
    expect(readdirSync(join(dir, 'cache', 'tmp'))).toEqual([]);

    // The same step run on the same files without a scratch folder (as exec runs it): read file by
    // file, byte for byte the same output.
    const pipeline = loadPipeline(join(dir, 'pipeline.yaml'));
    const doubledFiles: ResolvedInput = { name: 'doubled', files: days.map((day) => join(dir, 'out', 'doubled', `${day}.csv`)), format: 'csv', columns: { id: 'BIGINT', v: 'BIGINT' } };
    const out = freshDir();
    for (const name of ['sum', 'probe']) {
      const step = pipeline.steps.get(name) as StepSpec;
      await runStep(step, [doubledFiles], {}, {}, { [step.outputs[0].name]: join(out, `${name}.csv`) }, {}, dir);
    }
    expect(readFileSync(join(out, 'sum.csv'), 'utf8')).toBe(built);
    expect(readFileSync(join(out, 'probe.csv'), 'utf8')).toBe('coalesced\n0\n');

    // A failing statement after the views were made: the build fails and leaves no scratch either.
    writeFileSync(join(dir, 'steps', 'sum.sql'), 'CREATE TABLE total AS SELECT sum(v)::BIGINT AS v FROM doubled WHERE error(\'stop\') IS NULL;\n');
    const failed = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2 });
    expect(failed.ok).toBe(false);
    expect(failed.manifest.steps.find((s) => s.instance === 'sum')?.error).toContain('stop');
    expect(readdirSync(join(dir, 'cache', 'tmp'))).toEqual([]);
  });

  it('names the real input file and line of a bad value in the 200th of 250 files', async () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'parts'));
    mkdirSync(join(dir, 'steps'));
    for (let i = 1; i <= 250; i += 1) writeFileSync(join(dir, 'parts', `${String(i).padStart(4, '0')}.csv`), `id,v\n1,${i}\n${i === 200 ? '2,x' : `2,${i}`}\n`);
    writeFileSync(join(dir, 'steps', 'sum.sql'), 'CREATE TABLE total AS SELECT sum(v)::BIGINT AS v FROM parts;\n');
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `steps:
  sum:
    sql: steps/sum.sql
    inputs:
      parts: { from: "file:parts/*.csv", columns: { id: BIGINT, v: BIGINT } }
    outputs:
      total: { path: total.csv, format: csv, columns: { v: BIGINT } }
`,
    );
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 1 });
    expect(result.ok).toBe(false);
    const error = result.manifest.steps.find((s) => s.instance === 'sum')?.error ?? '';
    expect(error).toContain('parts/0200.csv');
    expect(error).toMatch(/Line: 3\b/);
    expect(error).toContain('2,x');
    expect(error).not.toContain(dir);
    expect(error).not.toContain('coalesced');
    expect(readdirSync(join(dir, 'cache', 'tmp'))).toEqual([]);
    expect(JSON.stringify(JSON.parse(readFileSync(result.manifestPath as string, 'utf8')))).not.toContain(dir);

    // Fixed, the same files are coalesced and summed.
    writeFileSync(join(dir, 'parts', '0200.csv'), 'id,v\n1,200\n2,200\n');
    const fixed = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 1 });
    expect(fixed.ok).toBe(true);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(`v\n${250 * 251}\n`);
    expect(existsSync(join(dir, 'cache', 'tmp'))).toBe(true);
    expect(readdirSync(join(dir, 'cache', 'tmp'))).toEqual([]);
  });
});
