// The compact forms of pipeline.yaml: `defaults:` (a kernel per step by name, a partition key), an
// output given by its path (format from the extension, a folder ends with /), and `columns:` as a
// list whose bare names are typed elsewhere (the `extends:` table, `include: TABLE`, or the step's
// inputs). Each resolves to what the long form says, so cache keys and outputs do not change.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import fc from 'fast-check';
import { parsePipeline, type Pipeline } from '../../src/engine/pipeline.js';
import { tablesModule, typesModule } from '../../src/engine/types-gen.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { pipelineProblems } from '../helpers/pipeline-problems.js';

const LONG = `partitions: { day: { values: ["2024-01-01", "2024-01-02"] } }
tables:
  fix: { columns: { mmsi: BIGINT, ts: TIMESTAMP, lat: DOUBLE }, order_by: [mmsi, ts] }
  snap: { columns: { tile: VARCHAR, mmsi: BIGINT, dt: DOUBLE, ts: TIMESTAMP, lat: DOUBLE, n: INTEGER }, order_by: [tile] }
  wrapped: { columns: { id: BIGINT, mmsi: BIGINT, ts: TIMESTAMP, lat: DOUBLE, note: VARCHAR } }
steps:
  load:
    sql: steps/load.sql
    partition: day
    outputs:
      fixes: { path: "f/{day}/fixes.parquet", format: parquet, table: fix }
      raw: { path: "f/{day}/raw", format: directory }
      report: { path: "f/{day}/r.json", format: json }
  score:
    kernel: steps/score/kernel.ts
    inputs:
      fixes: { from: load.fixes, columns: [lat, mmsi] }
    outputs:
      scores: { path: scores.parquet, format: parquet, columns: { mmsi: BIGINT, score: DOUBLE, lat: DOUBLE }, order_by: [mmsi] }
      snaps: { path: snaps.csv, format: csv, table: snap }
`;

const COMPACT = `partitions: { day: { values: ["2024-01-01", "2024-01-02"] } }
tables:
  fix: { columns: { mmsi: BIGINT, ts: TIMESTAMP, lat: DOUBLE }, order_by: [mmsi, ts] }
  snap: { extends: fix, columns: [tile: VARCHAR, mmsi, dt: DOUBLE, ts, lat, n: INTEGER], order_by: [tile] }
  wrapped: { columns: [id: BIGINT, include: fix, note: VARCHAR] }
defaults: { kernel: "steps/{step}/kernel.ts", partition: day }
steps:
  load:
    sql: steps/load.sql
    outputs:
      fixes: { path: "f/{day}/fixes.parquet", table: fix }
      raw: f/{day}/raw/
      report: f/{day}/r.json
  score:
    partition: null
    inputs:
      fixes: { from: load.fixes, columns: [lat, mmsi] }
    outputs:
      scores: { path: scores.parquet, columns: [mmsi, score: DOUBLE, lat], order_by: [mmsi] }
      snaps: { path: snaps.csv, table: snap }
`;

function withProject<T>(use: (dir: string) => T): T {
  const dir = copyFixture('typed');
  try {
    return use(dir);
  } finally {
    removeFixture(dir);
  }
}

const parse = (dir: string, text: string): Pipeline => parsePipeline(text, join(dir, 'pipeline.yaml'));

/** What enters cache keys and generated code: every step's definition, the order, the named tables' columns in order. */
function meaning(pipeline: Pipeline): unknown {
  return {
    order: pipeline.order,
    steps: pipeline.order.map((name) => pipeline.steps.get(name)?.definition),
    tables: Object.entries(pipeline.tables ?? {}).map(([name, table]) => [name, Object.entries(table.columns), table.orderBy]),
  };
}

const problems = (dir: string, text: string): string[] => pipelineProblems(join(dir, 'pipeline.yaml'), text);

describe('compact pipeline forms', () => {
  it('mean exactly what the long form says: the same definitions (cache keys), order and tables', () => {
    withProject((dir) => {
      const long = parse(dir, LONG);
      const compact = parse(dir, COMPACT);
      expect(meaning(compact)).toEqual(meaning(long));
      const load = compact.steps.get('load');
      expect(load?.partition).toBe('day');
      expect(load?.outputs.map((o) => [o.name, o.format, o.path])).toEqual([['fixes', 'parquet', 'f/{day}/fixes.parquet'], ['raw', 'directory', 'f/{day}/raw'], ['report', 'json', 'f/{day}/r.json']]);
      expect(compact.steps.get('score')?.partition).toBeUndefined();
      expect(compact.steps.get('score')?.code).toBe(join(dir, 'steps', 'score', 'kernel.ts'));
    });
  });

  it('generated types refer to where a column was typed instead of spelling it again', () => {
    withProject((dir) => {
      const compact = parse(dir, COMPACT);
      const tables = tablesModule(compact);
      expect(tables).toContain('snap: TableRows["fix"] & {\n    tile: string | null;\n    dt: number | null;\n    n: number | null;\n  };');
      expect(tables).toContain('wrapped: TableRows["fix"] & {\n    id: number | bigint | null;\n    note: string | null;\n  };');
      // The columns object keeps the written order (writeTable writes them so).
      expect(tables).toContain('"snap": { columns: {"tile":"VARCHAR","mmsi":"BIGINT","dt":"DOUBLE","ts":"TIMESTAMP","lat":"DOUBLE","n":"INTEGER"}');
      const score = typesModule(compact, compact.steps.get('score') as never);
      // All of the input's columns: its row; some of them: a Pick of it.
      expect(score).toContain('scores: InputRows["fixes"] & {\n    score: number | null;\n  };');
      const some = parse(dir, COMPACT.replace('columns: [mmsi, score: DOUBLE, lat]', 'columns: [mmsi, score: DOUBLE]'));
      expect(typesModule(some, some.steps.get('score') as never)).toContain('scores: Pick<InputRows["fixes"], "mmsi"> & {\n    score: number | null;\n  };');
      expect(score).toContain('"scores": {"mmsi":"BIGINT","score":"DOUBLE","lat":"DOUBLE"},');
    });
  });

  it('a bare name in an output takes the type its inputs agree on; the first input that has it is where it comes from', () => {
    withProject((dir) => {
      const text = COMPACT.replace('fixes: { from: load.fixes, columns: [lat, mmsi] }', 'fixes: { from: load.fixes, columns: [lat, mmsi] }\n      more: { from: load.fixes, columns: [mmsi, ts] }')
        .replace('columns: [mmsi, score: DOUBLE, lat]', 'columns: [mmsi, score: DOUBLE, lat, ts]');
      const output = parse(dir, text).steps.get('score')?.outputs.find((o) => o.name === 'scores');
      expect(output?.columns).toEqual({ mmsi: 'BIGINT', score: 'DOUBLE', lat: 'DOUBLE', ts: 'TIMESTAMP' });
      expect(output?.columnSources).toEqual({ mmsi: { input: 'fixes' }, lat: { input: 'fixes' }, ts: { input: 'more' } });
    });
  });

  it('validate and build run on the compact form (a folder output written with its slash, a default kernel)', async () => {
    const dir = copyFixture('typed');
    try {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(dir, 'pipeline.yaml'), `tables:
  readings: { columns: { station: VARCHAR, value: DOUBLE }, order_by: [station] }
defaults: { kernel: "steps/{step}/kernel.ts" }
steps:
  load:
    sql: steps/load.sql
    outputs:
      readings: { path: readings.parquet, table: readings }
  score:
    inputs:
      readings: load.readings
    params:
      threshold: { type: number, default: 10 }
      mode: { type: string, enum: [mean, max], default: mean }
    outputs:
      scores: { path: scores.parquet, columns: [station, high: BOOLEAN] }
`);
      const result = await runCli(['build', '--json'], dir);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const { readFileSync } = await import('node:fs');
      expect(readFileSync(join(dir, 'out', 'scores.parquet')).subarray(0, 4).toString()).toBe('PAR1');
    } finally {
      removeFixture(dir);
    }
  });

  it('any interleaving of own columns and an extended table\'s names resolves to the long form in that order; leaving one out is an error at `extends:`', () => {
    withProject((dir) => {
      const types = ['BIGINT', 'DOUBLE', 'VARCHAR', 'TIMESTAMP', 'INTEGER', 'BOOLEAN'];
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 0, max: 5 }),
          fc.array(fc.constantFrom(...types), { minLength: 12, maxLength: 12 }),
          fc.func(fc.integer()),
          fc.option(fc.nat(), { nil: undefined }),
          (parentCount, ownCount, typePool, rank, dropAt) => {
            const parent = Array.from({ length: parentCount }, (_, i) => [`p${i}`, typePool[i]] as const);
            const own = Array.from({ length: ownCount }, (_, i) => [`o${i}`, typePool[6 + i]] as const);
            const all = [...parent, ...own].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
            // Dropping the only column would leave an empty list (a schema error of its own).
            const dropped = dropAt === undefined || parentCount + ownCount === 1 ? undefined : parent[dropAt % parentCount][0];
            const written = all.filter(([name]) => name !== dropped);
            const items = written.map(([name, type]) => (name.startsWith('p') ? name : `${name}: ${type}`));
            const tables = (child: string) => `tables:\n  parent: { columns: { ${parent.map(([n, t]) => `${n}: ${t}`).join(', ')} } }\n  child: ${child}\nsteps:\n  s:\n    sql: steps/load.sql\n    outputs:\n      t: { path: t.parquet, table: child }\n`;
            const compact = tables(`{ extends: parent, columns: [${items.join(', ')}] }`);
            if (dropped) {
              const found = problems(dir, compact);
              expect(found).toHaveLength(1);
              expect(found[0]).toMatch(new RegExp(`^3:21 table "child" extends "parent" but its \`columns:\` list does not place "${dropped}"`));
              return;
            }
            const long = tables(`{ columns: { ${all.map(([n, t]) => `${n}: ${t}`).join(', ')} } }`);
            expect(meaning(parse(dir, compact))).toEqual(meaning(parse(dir, long)));
          },
        ),
        { numRuns: 80 },
      );
    });
  });
});
