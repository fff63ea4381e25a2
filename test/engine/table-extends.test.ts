// Declared once, part two: a table (or output) `extends:` another, an input names the producer's
// columns it relies on (`columns: [names]`, types from the producer), and a directory output declares
// the table each of its files is. Each resolves to plain columns, so cache keys and outputs stay as
// they were when the same schema was spelt out.
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePipeline, type StepSpec } from '../../src/engine/pipeline.js';
import { typesModule } from '../../src/engine/types-gen.js';
import { isUserError, type UserError } from '../../src/sdk/errors.js';
import { pickColumns } from '../../src/sdk/table-io.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { pipelineProblems } from '../helpers/pipeline-problems.js';

/** A pipeline folder under test/.work (so fixture kernels' relative imports of src/ resolve) with these files. */
function project(files: Record<string, string>): string {
  const dir = copyFixture('typed');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function parse(dir: string, text: string) {
  return parsePipeline(text, join(dir, 'pipeline.yaml'));
}

/** Every problem a pipeline text has, as `line:col message`. */
const problems = (dir: string, text: string): string[] => pipelineProblems(join(dir, 'pipeline.yaml'), text);

const BASE = `tables:
  fix: { columns: { mmsi: BIGINT, ts: TIMESTAMP, lat: DOUBLE }, order_by: [mmsi, ts] }
  fix_ranked: { extends: fix, columns: { rank: INTEGER } }
steps:
  load:
    sql: steps/load.sql
    outputs:
      fixes: { path: fixes.parquet, format: parquet, table: fix }
      sample: { path: sample.parquet, format: parquet, extends: fix, columns: { rank: INTEGER }, order_by: [rank] }
  score:
    kernel: steps/score/kernel.ts
    inputs:
      fixes: { from: load.fixes, columns: [lat, mmsi] }
    outputs:
      scores: { path: scores.parquet, format: parquet, table: fix_ranked }
`;

describe('tables: extends', () => {
  it('puts the parent\'s columns first, then its own, and inherits order_by unless it gives one', () => {
    const dir = project({});
    try {
      const pipeline = parse(dir, BASE);
      expect(pipeline.tables?.fix_ranked).toEqual({ columns: { mmsi: 'BIGINT', ts: 'TIMESTAMP', lat: 'DOUBLE', rank: 'INTEGER' }, orderBy: ['mmsi', 'ts'], columnSources: { mmsi: { table: 'fix' }, ts: { table: 'fix' }, lat: { table: 'fix' } } });
      const load = pipeline.steps.get('load') as StepSpec;
      const sample = load.outputs.find((o) => o.name === 'sample');
      expect(sample?.columns).toEqual({ mmsi: 'BIGINT', ts: 'TIMESTAMP', lat: 'DOUBLE', rank: 'INTEGER' });
      expect(Object.keys(sample?.columns ?? {})).toEqual(['mmsi', 'ts', 'lat', 'rank']);
      expect(sample?.orderBy).toEqual(['rank']);
    } finally {
      removeFixture(dir);
    }
  });

  it('resolves a chain, and a cache key is the same as with the columns spelt out', () => {
    const dir = project({});
    try {
      const chained = parse(dir, BASE.replace('  fix_ranked: { extends: fix, columns: { rank: INTEGER } }', '  fix_a: { extends: fix, columns: { rank: INTEGER } }\n  fix_ranked: { extends: fix_a }'));
      expect(chained.tables?.fix_ranked?.columns).toEqual({ mmsi: 'BIGINT', ts: 'TIMESTAMP', lat: 'DOUBLE', rank: 'INTEGER' });
      const spelt = parse(dir, BASE
        .replace('extends: fix, columns: { rank: INTEGER }, order_by: [rank]', 'columns: { mmsi: BIGINT, ts: TIMESTAMP, lat: DOUBLE, rank: INTEGER }, order_by: [rank]')
        .replace('columns: [lat, mmsi]', 'columns: { lat: DOUBLE, mmsi: BIGINT }'));
      const declared = parse(dir, BASE);
      for (const name of ['load', 'score']) {
        expect(JSON.stringify(declared.steps.get(name)?.definition), name).toBe(JSON.stringify(spelt.steps.get(name)?.definition));
      }
    } finally {
      removeFixture(dir);
    }
  });

  it('reports an unknown parent, a cycle, a redeclared column and a table with neither, each where it is', () => {
    const dir = project({});
    try {
      const text = `tables:
  fix: { columns: { mmsi: BIGINT, lat: DOUBLE } }
  typo: { extends: fixx }
  loop_a: { extends: loop_b }
  loop_b: { extends: loop_a }
  again: { extends: fix, columns: { lat: VARCHAR } }
  empty: { description: nothing }
steps:
  load:
    sql: steps/load.sql
    outputs:
      fixes: { path: fixes.parquet, format: parquet, extends: fix, columns: { mmsi: INTEGER } }
`;
      const found = problems(dir, text);
      expect(found).toEqual(expect.arrayContaining([
        expect.stringMatching(/^3:\d+ no table "fixx" under `tables:` \(did you mean "fix"\?\)/),
        expect.stringMatching(/^[45]:\d+ table "loop_[ab]" extends itself: loop_[ab] → loop_[ab] → loop_[ab]/),
        expect.stringMatching(/^6:\d+ table "again" redeclares column "lat", which it inherits \(DOUBLE\) through `extends:`/),
        expect.stringMatching(/^7:\d+ table "empty" needs `columns:` or `extends:`/),
        expect.stringMatching(/^12:\d+ output "load.fixes" redeclares column "mmsi", which it inherits \(BIGINT\)/),
      ]));
      // A cycle is one problem, not one per table in it.
      expect(found.filter((p) => p.includes('extends itself'))).toHaveLength(1);
    } finally {
      removeFixture(dir);
    }
  });
});

describe('inputs: columns as names', () => {
  it('takes the producer\'s types, in the order listed; the generated module picks from the producer\'s', () => {
    const dir = project({});
    try {
      const pipeline = parse(dir, BASE);
      const score = pipeline.steps.get('score') as StepSpec;
      expect(score.inputs[0].columns).toEqual({ lat: 'DOUBLE', mmsi: 'BIGINT' });
      expect(Object.keys(score.inputs[0].columns ?? {})).toEqual(['lat', 'mmsi']);
      const module = typesModule(pipeline, score);
      expect(module).toContain('fixes: Pick<TableRows["fix"], "lat" | "mmsi">;');
      expect(module).toContain('"fixes": pickColumns(tables["fix"].columns, ["lat","mmsi"]),');
      expect(module).toMatch(/import \{ pickColumns \} from '[./]+\/src\/sdk\/table-io\.js';/);
      // An output that extends a table refers to the table's row and columns, then adds its own.
      const extended = parse(dir, `${BASE}      ranked: { path: ranked.parquet, format: parquet, extends: fix, columns: { rank: INTEGER } }\n`);
      const extendedModule = typesModule(extended, extended.steps.get('score') as StepSpec);
      expect(extendedModule).toMatch(/ranked: TableRows\["fix"\] & \{\n {4}rank: number \| null;\n {2}\};/);
      expect(extendedModule).toContain('"ranked": { ...tables["fix"].columns, ...{"rank":"INTEGER"} },');
    } finally {
      removeFixture(dir);
    }
  });

  it('pickColumns keeps the named columns in the order named', () => {
    const all = { a: 'BIGINT', b: 'DOUBLE', c: 'VARCHAR' } as const;
    expect(Object.entries(pickColumns(all, ['c', 'a']))).toEqual([['c', 'VARCHAR'], ['a', 'BIGINT']]);
    expect(pickColumns(all, [])).toEqual({});
  });

  it('reports a column the producer lacks (with the closest), a repeat, and names on a file input', () => {
    const dir = project({ 'data/in.csv': 'a,b\n1,2\n' });
    try {
      const text = BASE.replace('columns: [lat, mmsi]', 'columns: [lat, msi, lat]') + `  other:
    kernel: steps/score/kernel.ts
    inputs:
      raw: { from: file:data/in.csv, columns: [a, b] }
    outputs:
      out: { path: other.json, format: json }
`;
      const found = problems(dir, text);
      expect(found).toEqual([
        expect.stringMatching(/^13:\d+ input "score.fixes" expects column "msi", which "load.fixes" does not provide \(did you mean "mmsi"\?\)/),
        expect.stringMatching(/^13:\d+ input "score.fixes" lists column "lat" twice/),
        expect.stringMatching(/^19:\d+ input "other.raw" lists column names, which take their types from a producing step or a `table:`; a file: input declares `columns:` with types, or names a table/),
      ]);
      // The location points at the name in the list.
      const line = text.split('\n')[12];
      const col = Number(/^13:(\d+)/.exec(found[0])?.[1]);
      expect(line.slice(col - 1).startsWith('msi')).toBe(true);
    } finally {
      removeFixture(dir);
    }
  });

  it('a file input picks from a named table: the table\'s types, a Pick of its row; typed columns beside a table are refused', () => {
    const dir = project({ 'data/in.csv': 'mmsi,lat\n1,2\n' });
    try {
      const step = `  other:
    kernel: steps/score/kernel.ts
    inputs:
      raw: { from: file:data/in.csv, table: fix, columns: COLUMNS }
    outputs:
      out: { path: other.json, format: json }
`;
      const pipeline = parse(dir, BASE + step.replace('COLUMNS', '[lat, mmsi]'));
      const other = pipeline.steps.get('other') as StepSpec;
      expect(other.inputs[0].columns).toEqual({ lat: 'DOUBLE', mmsi: 'BIGINT' });
      const module = typesModule(pipeline, other);
      expect(module).toContain('raw: Pick<TableRows["fix"], "lat" | "mmsi">;');
      expect(module).toContain('"raw": pickColumns(tables["fix"].columns, ["lat","mmsi"]),');
      expect(problems(dir, BASE + step.replace('COLUMNS', '[lat, mmsii]'))).toEqual([expect.stringMatching(/^19:\d+ input "other.raw" expects column "mmsii", which table "fix" does not provide \(did you mean "mmsi"\?\)/)]);
      expect(problems(dir, BASE + step.replace('COLUMNS', '{ lat: DOUBLE }'))).toEqual([expect.stringMatching(/input "other.raw" has both `table:` and typed `columns:`; keep one/)]);
    } finally {
      removeFixture(dir);
    }
  });

  it('a producer output without columns cannot be picked from', () => {
    const dir = project({});
    try {
      const text = BASE.replace('      fixes: { from: load.fixes, columns: [lat, mmsi] }', '      fixes: { from: load.report, columns: [lat] }')
        .replace('      sample:', '      report: { path: report.json, format: json }\n      sample:');
      expect(problems(dir, text)).toEqual([expect.stringMatching(/input "score.fixes" lists columns, but "load.report" is json with no declared columns/)]);
    } finally {
      removeFixture(dir);
    }
  });
});

describe('a directory output with a table', () => {
  const kernel = (columns: string) => `import { writeTable } from '../../../../../src/sdk/table-io.js';
import { mkdirSync } from 'node:fs';
export default async (ctx: { outputs: Record<string, string> }) => {
  mkdirSync(ctx.outputs.parts, { recursive: true });
  await writeTable(ctx.outputs.parts + '/a.parquet', { mmsi: 'BIGINT', lat: 'DOUBLE' }, [{ mmsi: 1, lat: 2 }]);
  await writeTable(ctx.outputs.parts + '/nested/b.parquet', ${columns}, [{ mmsi: 3, lat: 4 }]);
  await writeTable(ctx.outputs.parts + '/notes.json', { x: 'VARCHAR' }, [], { format: 'json' });
};
`;
  const pipeline = `tables:
  fix: { columns: { mmsi: BIGINT, lat: DOUBLE } }
steps:
  split:
    kernel: steps/split/kernel.ts
    outputs:
      parts: { path: parts, format: directory, table: fix }
`;

  it('checks every parquet file in it against the table, and names the file that differs', async () => {
    const dir = project({ 'pipeline.yaml': pipeline, 'steps/split/kernel.ts': kernel(`{ mmsi: 'BIGINT', lat: 'VARCHAR' }`) });
    try {
      const bad = await runCli(['build', 'split'], dir);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr + bad.stdout).toMatch(/output "split\.parts \(nested\/b\.parquet\)" does not match its declared columns: column "lat" is VARCHAR, declared DOUBLE/);
      writeFileSync(join(dir, 'steps/split/kernel.ts'), kernel(`{ mmsi: 'BIGINT', lat: 'DOUBLE' }`));
      const good = await runCli(['build', 'split'], dir);
      expect(good.code, good.stderr).toBe(0);
      // The step's generated module carries the directory's table too.
      expect((await runCli(['types'], dir)).code).toBe(0);
      expect(readFileSync(join(dir, 'steps/split/split.dagrun.ts'), 'utf8')).toContain('"parts": tables["fix"].columns,');
    } finally {
      removeFixture(dir);
    }
  });
});

describe('schemas: JSON Schemas by name', () => {
  const text = (ref: string) => `schemas:
  report: schemas/report.schema.json
steps:
  load:
    sql: steps/load.sql
    outputs:
      fixes: { path: fixes.json, format: json, schema: ${ref} }
`;
  const files = { 'schemas/report.schema.json': '{"type": "array"}' };

  it('an output names a schema declared once under `schemas:`; the cache key is that of the path', () => {
    const dir = project(files);
    try {
      const byName = parse(dir, text('report'));
      const byPath = parse(dir, text('schemas/report.schema.json'));
      expect(byName.steps.get('load')?.outputs[0].schemaFile).toBe(join(dir, 'schemas', 'report.schema.json'));
      expect(JSON.stringify(byName.steps.get('load')?.definition)).toBe(JSON.stringify(byPath.steps.get('load')?.definition));
    } finally {
      removeFixture(dir);
    }
  });

  it('an unknown name gets the closest declared one; a declared file that is missing is reported where it is declared', () => {
    const dir = project(files);
    try {
      expect(problems(dir, text('reprot'))).toEqual([expect.stringMatching(/^7:\d+ no schema "reprot" under `schemas:` \(did you mean "report"\?\)/)]);
      expect(problems(dir, text('report').replace('schemas/report.schema.json', 'schemas/gone.json'))).toEqual([expect.stringMatching(/^2:\d+ schema "report": file schemas\/gone.json does not exist/)]);
      expect(problems(dir, text('schemas/other.json'))).toEqual([expect.stringMatching(/^7:\d+ schema file schemas\/other.json does not exist/)]);
    } finally {
      removeFixture(dir);
    }
  });

  it('validate names the pipeline file relative to where it runs, never by its absolute path', async () => {
    const dir = project(files);
    try {
      writeFileSync(join(dir, 'pipeline.yaml'), text('report'));
      mkdirSync(join(dir, 'sub'));
      const result = await runCli(['validate'], join(dir, 'sub'));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^\.\.\/pipeline\.yaml: ok — 1 steps/);
      expect(result.stdout).not.toContain(dir);
    } finally {
      removeFixture(dir);
    }
  });
});
