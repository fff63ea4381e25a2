// Issue 10 item 3: a table with zero rows (or only NULLs) in a GEOMETRY column keeps its declared
// type when written: DuckDB writes the GeoParquet key only for columns holding a value.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { withDb, writeTable } from '../../src/sdk/table-io.js';

describe('tables with no values keep their declared types', () => {
  it('GEOMETRY reads back as GEOMETRY with zero rows, all-NULL rows and real rows, alone and together', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dagrun-geo-'));
    const columns = { id: 'INTEGER', footprint: 'GEOMETRY', centre: 'GEOMETRY', note: 'VARCHAR' };
    const files = {
      empty: join(dir, 'empty.parquet'),
      nulls: join(dir, 'nulls.parquet'),
      full: join(dir, 'full.parquet'),
    };
    await writeTable(files.empty, columns, []);
    await writeTable(files.nulls, columns, [{ id: 1, footprint: null, centre: null, note: 'x' }]);
    await writeTable(files.full, columns, [{ id: 2, footprint: 'POLYGON ((0 0, 1 0, 1 1, 0 0))', centre: 'POINT (0.5 0.5)', note: null }]);
    await withDb(async (db) => {
      const expected = { id: 'INTEGER', footprint: "GEOMETRY('OGC:CRS84')", centre: "GEOMETRY('OGC:CRS84')", note: 'VARCHAR' };
      for (const file of Object.values(files)) expect(await db.describe(`read_parquet('${file}')`), file).toEqual(expected);
      const all = `read_parquet(['${Object.values(files).join("', '")}'], union_by_name = true)`;
      expect(await db.describe(all)).toEqual(expected);
      expect(await db.all(`SELECT id, footprint::VARCHAR AS f FROM ${all} ORDER BY id`)).toEqual([
        { id: 1, f: null },
        { id: 2, f: 'POLYGON ((0 0, 1 0, 1 1, 0 0))' },
      ]);
      // A SQL step's empty result goes through the same writer.
      await db.run(`CREATE TABLE t AS SELECT * FROM read_parquet('${files.full}') WHERE false`);
      await db.copyToFile('t', join(dir, 'sql.parquet'), 'parquet');
      expect(await db.describe(`read_parquet('${join(dir, 'sql.parquet')}')`)).toEqual(expected);
    });
  });
});
