// The step's tabular work in DuckDB: reading positions (vessel keys, ordering), detections and the
// previous state, and the two derived outputs — the weekly aggregate (mv_chokepoint_transits_weekly)
// and get_chokepoint_transits(chokepoint, from, to).
import { StepError } from '../../src/sdk/errors.js';
import { quoteLiteral, readerFor, type Db, type Row, type TableFormat } from '../../src/sdk/table-io.js';
import type { VesselTrack } from './lifecycle.js';
import { vesselKey } from './predict.js';
import { TRANSIT_COLUMNS, isoTime, parseTime, toTableRow, type TransitRow } from './transits.js';
import { inputColumns } from './transit-reconcile.dagrun.js';

export function formatOf(path: string): TableFormat {
  return /\.csv(\.gz)?$/i.test(path) ? 'csv' : /\.json$/i.test(path) ? 'json' : 'parquet';
}

/** The position columns this step relies on, as its input declares them in pipeline.yaml. */
const REQUIRED_POSITION_COLUMNS = Object.keys(inputColumns.positions);

/**
 * Positions at or before `untilMs` from one or more files (fan-in from partitions), one track per MMSI
 * sorted by time. The vessel key is the MMSI's most
 * frequent valid IMO (7 digits, not all zeros; ties → smallest), else `MMSI:<mmsi>`.
 */
export async function readVesselTracks(db: Db, path: string | readonly string[], untilMs: number): Promise<VesselTrack[]> {
  const paths = typeof path === 'string' ? [path] : path;
  if (paths.length === 0) return [];
  const source = readerFor(paths, formatOf(paths[0]));
  const columns = await db.describe(`(SELECT * FROM ${source})`);
  const missing = REQUIRED_POSITION_COLUMNS.filter((c) => !(c in columns));
  if (missing.length > 0) throw new StepError(`positions table lacks column(s) ${missing.join(', ')}`, paths.join(', '));
  await db.run(
    `CREATE OR REPLACE TEMP TABLE positions AS
     SELECT CAST(mmsi AS BIGINT) AS mmsi, CAST(ts_utc AS TIMESTAMP) AS ts_utc,
            CAST(lat AS DOUBLE) AS lat, CAST(lon AS DOUBLE) AS lon, CAST(sog AS DOUBLE) AS sog, CAST(cog AS DOUBLE) AS cog,
            regexp_extract(upper(trim(CAST(imo AS VARCHAR))), '^(?:IMO\\s*)?([1-9][0-9]{6})$', 1) AS imo7
     FROM ${source}
     WHERE mmsi IS NOT NULL AND ts_utc IS NOT NULL AND CAST(ts_utc AS TIMESTAMP) <= CAST($until AS TIMESTAMP)`,
    { until: isoTime(untilMs) },
  );
  // Read column-wise (100,000 rows as row objects cost seconds); numbers only, so every column is DOUBLE.
  const reader = await db.connection.runAndReadAll(
    `WITH imo_counts AS (
       SELECT mmsi, imo7, count(*) AS n FROM positions WHERE imo7 <> '' GROUP BY mmsi, imo7
     ), vessel_imo AS (
       SELECT DISTINCT ON (mmsi) mmsi, imo7 FROM imo_counts ORDER BY mmsi, n DESC, imo7
     )
     SELECT CAST(p.mmsi AS DOUBLE) AS mmsi, CAST(coalesce(v.imo7, '0') AS DOUBLE) AS imo,
            CAST(epoch_ms(p.ts_utc) AS DOUBLE) AS ts_ms, p.lat, p.lon, p.sog, p.cog
     FROM positions p LEFT JOIN vessel_imo v USING (mmsi)
     ORDER BY p.mmsi, p.ts_utc, p.lat, p.lon, p.sog, p.cog`,
  );
  // By name: getColumnsJS() of an empty result is [] (no chunk), which left every column undefined.
  const { mmsi: mmsis, imo: imos, ts_ms: times, lat: lats, lon: lons, sog: sogs, cog: cogs } = reader.getColumnsObjectJS() as Record<string, (number | null)[]>;
  const finite = (v: number | null) => (v === null || !Number.isFinite(v) ? null : v);
  const tracks: VesselTrack[] = [];
  for (let i = 0; i < mmsis.length; i++) {
    const mmsi = mmsis[i] as number;
    let track = tracks[tracks.length - 1];
    if (!track || track.mmsi !== mmsi) {
      track = { mmsi, vesselKey: vesselKey(imos[i] ? String(imos[i]) : null, mmsi), fixes: [] };
      tracks.push(track);
    }
    track.fixes.push({ tsMs: times[i] as number, lat: finite(lats[i]), lon: finite(lons[i]), sog: finite(sogs[i]), cog: finite(cogs[i]) });
  }
  return tracks;
}

/** Detection rows as text (the parser checks every cell and names file:line and field). */
export async function readDetectionRows(db: Db, path: string): Promise<Row[]> {
  if (formatOf(path) !== 'csv') return db.all(`SELECT * FROM ${readerFor([path], formatOf(path))}`);
  return db.all(`SELECT * FROM read_csv(${quoteLiteral(path)}, header = true, all_varchar = true)`);
}

/** Load rows into a `transits` table typed like the vessel_transits output. */
export async function loadTransits(db: Db, rows: readonly TransitRow[]): Promise<void> {
  await db.createTable('transits', TRANSIT_COLUMNS, rows.map(toTableRow));
}

/** mv_chokepoint_transits_weekly as a table named `weekly`. */
export async function createWeekly(db: Db, sampleIds: number): Promise<void> {
  await db.run(
    `CREATE OR REPLACE TABLE weekly AS
     SELECT chokepoint_id,
            CAST(date_trunc('week', coalesce(predicted_eta, sar_scene_acquired_at)) AS DATE) AS week_start,
            status,
            count(*) AS n,
            median(epoch(confirmed_at - predicted_eta) / 3600.0) FILTER (WHERE status = 'confirmed') AS median_eta_delta_hours,
            list(CAST(id AS VARCHAR) ORDER BY coalesce(predicted_eta, sar_scene_acquired_at) DESC, id)[1:CAST($sample_ids AS BIGINT)] AS sample_ids
     FROM transits
     GROUP BY ALL`,
    { sample_ids: sampleIds },
  );
}


export interface TransitQuery {
  chokepoint: string | null;
  fromMs: number;
  toMs: number;
}

/**
 * get_chokepoint_transits(chokepoint, from, to): rows of one chokepoint (null = every chokepoint) whose
 * transit time — predicted_eta, or the SAR acquisition for dark transits — is in [from, to), newest
 * first. Reads the `transits` table.
 */
export async function queryTransits(db: Db, query: TransitQuery): Promise<Record<string, unknown>[]> {
  const rows = await db.all(
    `SELECT * FROM transits
     WHERE (CAST($chokepoint AS VARCHAR) IS NULL OR chokepoint_id = CAST($chokepoint AS VARCHAR))
       AND coalesce(predicted_eta, sar_scene_acquired_at) >= CAST($from AS TIMESTAMP)
       AND coalesce(predicted_eta, sar_scene_acquired_at) < CAST($to AS TIMESTAMP)
     ORDER BY coalesce(predicted_eta, sar_scene_acquired_at) DESC, id`,
    { chokepoint: query.chokepoint, from: isoTime(query.fromMs), to: isoTime(query.toMs) },
  );
  // Times as ISO strings with Z, numbers as numbers: a stable JSON shape.
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const column of Object.keys(TRANSIT_COLUMNS)) {
      const value = row[column];
      out[column] = TRANSIT_COLUMNS[column] === 'TIMESTAMP' && value !== null ? isoTime(parseTime(value) as number) : value ?? null;
    }
    return out;
  });
}

/** The query output document. */
export function queryDocument(query: TransitQuery, transits: Record<string, unknown>[]): Record<string, unknown> {
  return { chokepoint: query.chokepoint, from: isoTime(query.fromMs), to: isoTime(query.toMs), count: transits.length, transits };
}
