// Live capture without AISSTREAM_API_KEY is a clear error. Its own file (own process): the engine's
// pooled kernel workers copy the environment when they start.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execStep } from '../../src/engine/exec.js';
import { writeTable } from '../../src/sdk/table-io.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

delete process.env.AISSTREAM_API_KEY;

describe('ais-capture live mode', () => {
  it('refuses to run without AISSTREAM_API_KEY, saying what is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ais-nokey-'));
    const schedule = join(dir, 'schedule.parquet');
    await writeTable(
      schedule,
      { tile_id: 'VARCHAR', satellite: 'VARCHAR', center_time_utc: 'TIMESTAMP', bbox_min_lat: 'DOUBLE', bbox_min_lon: 'DOUBLE', bbox_max_lat: 'DOUBLE', bbox_max_lon: 'DOUBLE' },
      [{ tile_id: '30UXB', satellite: 'S2B', center_time_utc: '2026-05-25 11:15:45', bbox_min_lat: 50.43, bbox_min_lon: -1.59, bbox_max_lat: 51.44, bbox_max_lon: 0.02 }],
    );
    await expect(
      execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'ais-capture', inputs: { schedule: `file:${schedule}` }, partition: { date: '2026-05-25' }, outDir: join(dir, 'out'), params: { mode: 'live' } }),
    ).rejects.toThrow(/AISSTREAM_API_KEY is not set/);
  });
});
