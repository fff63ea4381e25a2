// copyToFile's `constants`: run-wide columns appended after the sort (rf-fuse's run id and partition
// on a 20-million-row day) give the same file as carrying them through the sort, byte for byte.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quoteLiteral, withDb } from '../../src/sdk/table-io.js';

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('copyToFile constants', () => {
  it('appends them last, after the sort, with the bytes of a copy that sorted them along', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dagrun-constants-'));
    await withDb(async (db) => {
      // More rows than a row group (122,880), in scrambled order, with a NULL and a list.
      await db.run(`CREATE TEMP TABLE t AS SELECT CAST(hash(i) % 997 AS VARCHAR) AS k, i AS ts, CASE WHEN i % 7 = 0 THEN NULL ELSE [CAST(i AS VARCHAR)] END AS ids FROM range(300000) r(i) ORDER BY hash(i * 31)`);
      await db.run(`CREATE TEMP VIEW t_const AS SELECT *, DATE '2026-05-25' AS ingest_partition, 'run-0123456789abcdef' AS lineage_run_id FROM t`);
      const along = join(dir, 'along.parquet');
      const after = join(dir, 'after.parquet');
      await db.copyToFile('t_const', along, 'parquet', ['k', 'ts']);
      await db.copyToFile('t', after, 'parquet', ['k', 'ts'], undefined, { ingest_partition: `DATE '2026-05-25'`, lineage_run_id: quoteLiteral('run-0123456789abcdef') });
      expect(sha(after)).toBe(sha(along));
      expect(Object.keys(await db.describe(`read_parquet(${quoteLiteral(after)})`))).toEqual(['k', 'ts', 'ids', 'ingest_partition', 'lineage_run_id']);
      const [{ unordered }] = await db.all(`
        SELECT count(*) FILTER (WHERE k < pk OR (k = pk AND ts < pts)) AS unordered FROM (
          SELECT k, ts, lag(k) OVER w AS pk, lag(ts) OVER w AS pts
          FROM read_parquet(${quoteLiteral(after)}, file_row_number = true) WINDOW w AS (ORDER BY file_row_number))`);
      expect(unordered).toBe(0);
    });
  });
});
