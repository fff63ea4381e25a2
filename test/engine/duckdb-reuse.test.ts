// One DuckDB instance per thread, a fresh catalog and connection per Db: nothing one step instance
// creates (tables, views, temp tables, macros) is visible to the next, even after a failure.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Db, withDb } from '../../src/sdk/table-io.js';
import { build } from '../../src/engine/runner.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const attachedCatalogs = (): Promise<string[]> =>
  withDb(async (db) => (await db.all(`SELECT database_name FROM duckdb_databases() WHERE NOT internal AND database_name LIKE 'dagrun_%'`)).map((r) => String(r.database_name)));

describe('DuckDB reuse', () => {
  it('a temp table, table, view and macro of one Db are invisible to the next', async () => {
    await withDb(async (db) => {
      await db.run('CREATE TEMP TABLE scratch AS SELECT 1 AS x');
      await db.run('CREATE TABLE kept AS SELECT 2 AS y');
      await db.run('CREATE VIEW seen AS SELECT 3 AS z');
      await db.run('CREATE MACRO twice(a) AS a * 2');
      expect(await db.all('SELECT twice(x) AS v FROM scratch')).toEqual([{ v: 2 }]);
    });
    await withDb(async (db) => {
      for (const sql of ['SELECT * FROM scratch', 'SELECT * FROM kept', 'SELECT * FROM seen', 'SELECT twice(1)']) {
        await expect(db.all(sql)).rejects.toThrow(/does not exist|not found/i);
      }
      // The same names can be created again: nothing is left over.
      await db.run('CREATE TEMP TABLE scratch AS SELECT 1 AS x');
      await db.run('CREATE TABLE kept AS SELECT 2 AS y');
    });
    expect(await attachedCatalogs()).toHaveLength(1); // only the one listing them
  });

  it('two Dbs open at once do not see each other', async () => {
    const a = await Db.open();
    const b = await Db.open();
    try {
      await a.run('CREATE TABLE t AS SELECT 1 AS v');
      await b.run('CREATE TABLE t AS SELECT 2 AS v');
      expect(await a.all('SELECT v FROM t')).toEqual([{ v: 1 }]);
      expect(await b.all('SELECT v FROM t')).toEqual([{ v: 2 }]);
      // One instance behind both: each sees the other's catalog attached, not its content.
      expect(await a.all(`SELECT count(*)::INTEGER AS n FROM duckdb_databases() WHERE database_name LIKE 'dagrun_%'`)).toEqual([{ n: 2 }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a Db left in a failed transaction or another catalog is still dropped on close', async () => {
    await expect(
      withDb(async (db) => {
        await db.run('CREATE TABLE t AS SELECT 1 AS v');
        await db.run('BEGIN');
        await db.run('SELECT * FROM no_such_table');
      }),
    ).rejects.toThrow(/no_such_table/);
    await withDb(async (db) => {
      await db.run('USE memory');
    });
    expect(await attachedCatalogs()).toHaveLength(1);
  });

  it('partitions of one SQL step, run one after another, each start from an empty catalog', async () => {
    const dir = mkdtempSync(join(PROJECT_ROOT, 'test', '.work', 'duckdb-reuse-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'steps'));
    // Fails with "already exists" in the second partition if anything of the first one leaked.
    writeFileSync(join(dir, 'steps', 'make.sql'), 'CREATE TEMP TABLE scratch AS SELECT $partition_date AS day;\nCREATE TABLE made AS SELECT day FROM scratch;\n');
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `partitions:\n  date: { values: ["d1", "d2", "d3"] }\nsteps:\n  make:\n    sql: steps/make.sql\n    partition: date\n    outputs:\n      made: { path: "made/{date}.csv", format: csv, columns: { day: VARCHAR } }\n`,
    );
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 1 });
    expect(result.manifest.steps.map((s) => [s.instance, s.status, s.error])).toEqual([
      ['make[date=d1]', 'built', undefined],
      ['make[date=d2]', 'built', undefined],
      ['make[date=d3]', 'built', undefined],
    ]);
    expect(await attachedCatalogs()).toHaveLength(1);
  });
});
