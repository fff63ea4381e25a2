// rf-fuse across midnight: a gap that starts on one day and ends on the next is filled by the later
// day from the earlier day's `tail` output (its `previous: true` input), once, and identically on
// every rebuild of either day.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { destinationPoint, haversineKm } from '../../lib/geo/sphere.js';
import { quoteLiteral, withDb, writeTable } from '../../src/sdk/table-io.js';
import { runRfFuse, type RfFuseKpi } from '../../steps/rf-fuse/run.js';
import { DEFAULT_PARAMS } from '../../steps/rf-fuse/types.js';

const MIN = 60_000;
const DAY1 = '2026-05-24';
const DAY2 = '2026-05-25';
const MIDNIGHT = Date.UTC(2026, 4, 25);
const SILENT = 235000001;
const OTHER = 235000002;
/** The silent vessel's AIS stops at 23:40 and comes back at 00:20. */
const GAP_START = MIDNIGHT - 20 * MIN;
const GAP_END = MIDNIGHT + 20 * MIN;

/** Due east at 12 kn through (50.5, -1.5) at midnight. */
function eastbound(ts: number): { lat: number; lon: number } {
  return destinationPoint(50.5, -1.5, 90, (12 * 1.852 * (ts - MIDNIGHT)) / 3_600_000);
}
/** Another vessel 20 km north, reporting all along. */
function other(ts: number): { lat: number; lon: number } {
  const p = eastbound(ts);
  return destinationPoint(p.lat, p.lon, 0, 20);
}

const dayOf = (ts: number) => new Date(ts).toISOString().slice(0, 10);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function writeDays(root: string): Promise<void> {
  for (const date of [DAY1, DAY2]) {
    const start = Date.parse(`${date}T00:00:00Z`);
    const ais = [];
    const rf = [];
    // Two hours each side of midnight are enough: the rest of each day is quiet.
    for (let ts = Math.max(start, MIDNIGHT - 120 * MIN); ts < Math.min(start + 1440 * MIN, MIDNIGHT + 120 * MIN); ts += MIN) {
      if (ts <= GAP_START || ts >= GAP_END) ais.push({ mmsi: SILENT, ts_utc: new Date(ts).toISOString(), ...eastbound(ts), sog: 12, cog: 90 });
      ais.push({ mmsi: OTHER, ts_utc: new Date(ts).toISOString(), ...other(ts), sog: 12, cog: 90 });
      // The silent vessel's own RF every 2 minutes, half a minute off the AIS clock.
      if ((ts - MIDNIGHT) % (2 * MIN) === 0) {
        const at = ts + 30_000;
        if (dayOf(at) === date) rf.push({ rf_id: `S${(at - MIDNIGHT) / 1000}`, ts_utc: at, est_lat: eastbound(at).lat, est_lon: eastbound(at).lon, geo_uncertainty_m: 400, geoloc_method: 'TDOA', mmsi: SILENT });
      }
    }
    const folder = join(...date.split('-'));
    await writeTable(join(root, 'ais', folder, 'ais.parquet'), { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE', sog: 'DOUBLE', cog: 'DOUBLE' }, ais);
    await writeTable(join(root, 'rf', folder, 'rf.parquet'), { rf_id: 'VARCHAR', ts_utc: 'BIGINT', est_lat: 'DOUBLE', est_lon: 'DOUBLE', geo_uncertainty_m: 'DOUBLE', geoloc_method: 'VARCHAR', mmsi: 'BIGINT' }, rf);
  }
}

interface Run {
  dir: string;
  kpi: RfFuseKpi;
  n6: string;
  tail: string;
}

async function run(root: string, date: string, previous: string[], name: string): Promise<Run> {
  const dir = join(root, 'out', name);
  const outputs = { fused: join(dir, 'n6.parquet'), kpi: join(dir, 'kpi.json'), audit: join(dir, 'audit.parquet'), tail: join(dir, 'tail.parquet') };
  const { kpi } = await runRfFuse({ ais: join(root, 'ais'), rf: join(root, 'rf'), previous }, outputs, date, DEFAULT_PARAMS);
  return { dir, kpi, n6: outputs.fused, tail: outputs.tail };
}

const fills = (path: string) =>
  withDb((db) => db.all(`SELECT mmsi, ts_utc, lat, lon FROM read_parquet(${quoteLiteral(path)}) WHERE source_tag = 'RF_FILL' ORDER BY ts_utc`)) as Promise<{ mmsi: string; ts_utc: number; lat: number; lon: number }[]>;

describe('rf-fuse: gaps across midnight', () => {
  let root: string;
  let day1: Run;
  let day2: Run;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'rf-midnight-'));
    await writeDays(root);
    day1 = await run(root, DAY1, [], 'day1');
    day2 = await run(root, DAY2, [day1.tail], 'day2');
  });

  it('the earlier day cannot see the gap end and fills nothing after its last fix', async () => {
    expect(await fills(day1.n6)).toEqual([]);
    expect(day1.kpi.gap_fill.gaps).toBe(0);
    const tail = await withDb((db) => db.all(`SELECT kind, mmsi, max(ts_utc) AS last FROM read_parquet(${quoteLiteral(day1.tail)}) GROUP BY ALL ORDER BY ALL`));
    expect(tail).toContainEqual({ kind: 'ais', mmsi: SILENT, last: GAP_START });
  });

  it('the later day fills the whole gap, both sides of midnight, on the vessel\'s track', async () => {
    const rows = await fills(day2.n6);
    expect(day2.kpi.gap_fill.gaps).toBe(1);
    expect(rows.every((r) => r.mmsi === String(SILENT) && r.ts_utc > GAP_START && r.ts_utc < GAP_END)).toBe(true);
    expect(rows.filter((r) => r.ts_utc < MIDNIGHT).length).toBeGreaterThanOrEqual(15);
    expect(rows.filter((r) => r.ts_utc >= MIDNIGHT).length).toBeGreaterThanOrEqual(15);
    for (const r of rows) expect(haversineKm(r.lat, r.lon, eastbound(r.ts_utc).lat, eastbound(r.ts_utc).lon)).toBeLessThan(0.5);
  });

  it('without the tail (the first partition) the later day does not invent the gap', async () => {
    const alone = await run(root, DAY2, [], 'day2-alone');
    expect(await fills(alone.n6)).toEqual([]);
    expect(alone.kpi.gap_fill.gaps).toBe(0);
    expect(alone.kpi.lineage_run_id).not.toBe(day2.kpi.lineage_run_id);
  });

  it('rebuilding either day gives byte-identical rows, and no fix or fill appears in both days', async () => {
    const again1 = await run(root, DAY1, [], 'day1-again');
    const again2 = await run(root, DAY2, [again1.tail], 'day2-again');
    expect(sha(again1.n6)).toBe(sha(day1.n6));
    expect(sha(again1.tail)).toBe(sha(day1.tail));
    expect(sha(again2.n6)).toBe(sha(day2.n6));
    const [dupes] = await withDb((db) =>
      db.all(`SELECT count(*) AS n FROM (SELECT mmsi, ts_utc FROM read_parquet([${quoteLiteral(day1.n6)}, ${quoteLiteral(day2.n6)}]) GROUP BY ALL HAVING count(*) > 1)`),
    );
    expect(dupes.n).toBe(0);
  });

  it('a tail older than the day before (a missing partition in between) reaches nothing', async () => {
    // The silent vessel reappears at 00:20 two days after it went silent: no gap, no fill.
    const day3 = Date.UTC(2026, 4, 26);
    const ais = [];
    for (let ts = day3; ts < day3 + 60 * MIN; ts += MIN) if (ts >= day3 + 20 * MIN) ais.push({ mmsi: SILENT, ts_utc: new Date(ts).toISOString(), ...eastbound(ts), sog: 12, cog: 90 });
    await writeTable(join(root, 'ais', '2026', '05', '26', 'ais.parquet'), { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE', sog: 'DOUBLE', cog: 'DOUBLE' }, ais);
    const later = await run(root, '2026-05-26', [day1.tail], 'day3');
    expect(await fills(later.n6)).toEqual([]);
    expect(later.kpi.gap_fill.gaps).toBe(0);
  });

  it('a previous file without the tail columns is an error naming it', async () => {
    await expect(run(root, DAY2, [day1.n6], 'bad')).rejects.toThrow(/previous input .*n6\.parquet.*column kind VARCHAR/);
    // The failed run's scratch (beside its outputs) is gone too.
    expect(readdirSync(join(root, 'out', 'bad'))).toEqual([]);
  });

  it('keeps its scratch (the DuckDB spill) beside its outputs and leaves only the outputs there', () => {
    expect(readdirSync(day2.dir).sort()).toEqual(['audit.parquet', 'kpi.json', 'n6.parquet', 'tail.parquet']);
  });
});
