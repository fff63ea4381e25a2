// The step's DuckDB side: reading positions (vessel keys from IMO or MMSI, the run-time cut, ordering),
// and the rejection of inputs the step cannot use.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isUserError } from '../../src/sdk/errors.js';
import { withDb, writeTable } from '../../src/sdk/table-io.js';
import { parseDetections } from '../../steps/transit-reconcile/detections.js';
import { readVesselTracks } from '../../steps/transit-reconcile/tables.js';
import { t } from './transit-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'transit-tables-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const COLUMNS = { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE', sog: 'DOUBLE', cog: 'DOUBLE', imo: 'VARCHAR' };

describe('readVesselTracks', () => {
  it('keys a vessel by its most frequent valid IMO, else MMSI; cuts at the run time; sorts by time', async () => {
    const file = join(dir, 'positions.parquet');
    const fix = (mmsi: number, iso: string, imo: string | null, lat = 12) => ({ mmsi, ts_utc: iso, lat, lon: 43, sog: 10, cog: 90, imo });
    await writeTable(file, COLUMNS, [
      fix(111, '2026-05-25T03:00:00Z', 'IMO9700001'),
      fix(111, '2026-05-25T01:00:00Z', '9700001'),
      fix(111, '2026-05-25T02:00:00Z', '9700002'),
      fix(111, '2026-05-25T05:00:00Z', null), // after the run time
      fix(222, '2026-05-25T01:00:00Z', 'IMO0000000'),
      fix(222, '2026-05-25T02:00:00Z', '0'),
      fix(333, '2026-05-25T01:00:00Z', null, NaN),
    ]);
    const tracks = await withDb((db) => readVesselTracks(db, file, t('2026-05-25T04:00:00Z')));
    expect(tracks.map((v) => [v.mmsi, v.vesselKey, v.fixes.length])).toEqual([
      [111, '9700001', 3],
      [222, 'MMSI:222', 2],
      [333, 'MMSI:333', 1],
    ]);
    expect(tracks[0].fixes.map((f) => new Date(f.tsMs).toISOString())).toEqual(['2026-05-25T01:00:00.000Z', '2026-05-25T02:00:00.000Z', '2026-05-25T03:00:00.000Z']);
    expect(tracks[2].fixes[0].lat).toBeNull(); // NaN is no position
  });

  it('a positions table without the columns the predictor needs is rejected, naming the columns', async () => {
    const file = join(dir, 'thin.parquet');
    await writeTable(file, { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE' }, [{ mmsi: 1, ts_utc: '2026-05-25T00:00:00Z', lat: 1, lon: 2 }]);
    const error = await withDb((db) => readVesselTracks(db, file, t('2026-05-26T00:00:00Z'))).catch((e: unknown) => e);
    expect(isUserError(error)).toBe(true);
    expect((error as Error).message).toBe('positions table lacks column(s) sog, cog, imo');
  });
});

describe('parseDetections', () => {
  const row = (over: Record<string, string>) => ({ scene_id: 'S1A_X', acquired_at: '2026-05-25T10:00:00Z', lat: '29.87', lon: '32.56', pixel_detection_count: '3', confidence: '0.8', ...over });
  it.each([
    [{ scene_id: '' }, 'f.csv:3 field scene_id'],
    [{ acquired_at: 'yesterday' }, 'f.csv:3 field acquired_at'],
    [{ lat: '91' }, 'f.csv:3 field lat'],
    [{ lon: 'x' }, 'f.csv:3 field lon'],
    [{ pixel_detection_count: '0' }, 'f.csv:3 field pixel_detection_count'],
    [{ confidence: '1.2' }, 'f.csv:3 field confidence'],
  ])('%j → %s', (bad, where) => {
    try {
      parseDetections([row({}), row(bad)], 'f.csv');
      expect.unreachable();
    } catch (error) {
      expect(isUserError(error)).toBe(true);
      expect((error as { where: string }).where).toBe(where);
    }
  });
  it('keeps every valid row', () => {
    expect(parseDetections([row({}), row({ pixel_detection_count: '' })], 'f.csv').map((d) => d.pixelCount)).toEqual([3, 1]);
  });
});
