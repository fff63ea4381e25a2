// The day streamed through the fusion: DuckDB sorts the cleaned tables, TypeScript reads them back one
// Arrow chunk at a time and fuses one vessel at a time (its fixes, its own RF, its last fix of the day
// before), so memory holds one vessel plus two day-wide indexes: the anonymous RF (H3 cells) and every
// fix by minute and latitude as typed arrays (AisClock). Rows the fusion leaves as they were (fixes
// without time-matched RF) are not sent back through JavaScript: the N6 table takes them from
// `ais_clean` in SQL (run.ts).
import type { DuckDBValue } from '@duckdb/node-api';
import { quoteLiteral, type Db } from '../../src/sdk/table-io.js';
import { AisClock, AnonymousIndex, byTimeThenId, DayFuser, type FuseSink, type FuseStats, type GapJob } from './fuse.js';
import { MINUTE_MS, type AisFix, type FuseParams, type RfDetection } from './types.js';
import { inputColumns } from './rf-fuse.dagrun.js';

/** Rows of a query, one DuckDB chunk (≤ 2048 rows) at a time, as columns. */
export async function* chunksOf(db: Db, sql: string): AsyncGenerator<{ length: number; column: (name: string) => DuckDBValue[] }> {
  const result = await db.connection.stream(sql);
  const names = result.columnNames();
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) return;
    const columns = chunk.getColumns();
    yield {
      length: chunk.rowCount,
      column: (name) => {
        const index = names.indexOf(name);
        if (index < 0) throw new Error(`chunksOf: no column ${name} in ${names.join(', ')}`);
        return columns[index];
      },
    };
  }
}

const num = (value: DuckDBValue): number => Number(value);
const numOrNull = (value: DuckDBValue): number | null => (value === null ? null : Number(value));
const strings = (value: DuckDBValue): string[] => ((value as { items: DuckDBValue[] } | null)?.items ?? []).map(String);

/**
 * The fusion of the day in three passes. (1) Algorithm B vessel by vessel over one ordered stream of
 * fixes and own RF; the corrected positions go back to DuckDB (`ais_corrected`). (2) Gap detection in
 * SQL (gaps.sql below): consecutive fixes of one track, at their final positions, LAG over mmsi
 * ORDER BY ts, plus the previous day's last fix before this day's first. (3) The gaps streamed one at a
 * time with their candidates, for minor-gap interpolation and Algorithm A.
 * Views `rf_day` (this day's usable RF plus the previous day's tail RF) and `ais_prior` (the tail's fixes) must exist.
 */
export async function fuseStreaming(db: Db, params: FuseParams, sink: FuseSink): Promise<FuseStats> {
  const fuser = new DayFuser(params, sink);
  await spoofPass(db, fuser);
  await detectGaps(db, params);

  // Every fix (the previous day's tail included) by minute, then latitude.
  const [{ n }] = await db.all(`SELECT (SELECT count(*) FROM ais_clean) + (SELECT count(*) FROM ais_prior) AS n`);
  const clock = new AisClock(Number(n));
  for await (const chunk of chunksOf(
    db,
    `SELECT ts_ms, lat, lon, coalesce(sog, 0) AS sog, mmsi FROM (SELECT ts_ms, lat, lon, sog, mmsi FROM ais_clean UNION ALL SELECT ts_ms, orig_lat, orig_lon, sog, mmsi FROM ais_prior) ORDER BY floor(ts_ms / 60000.0), lat`,
  )) {
    const [ts, lat, lon, sog, mmsi] = ['ts_ms', 'lat', 'lon', 'sog', 'mmsi'].map(chunk.column);
    for (let i = 0; i < chunk.length; i++) clock.add(num(ts[i]), lat[i] as number, lon[i] as number, sog[i] as number, num(mmsi[i]));
  }
  const anonymous: RfDetection[] = [];
  for await (const chunk of chunksOf(db, `SELECT rf_id, ts_ms, lat, lon, uncertainty_m, geoloc_method, member_ids FROM rf_day WHERE resolved_mmsi IS NULL ORDER BY ts_ms, rf_id`)) {
    for (let i = 0; i < chunk.length; i++) anonymous.push(detection(chunk.column, i, null));
  }
  const anonymousIndex = new AnonymousIndex(anonymous, params.h3_res);
  anonymous.length = 0;

  // One ordered stream: per gap its ends (kind 0), then the vessel's own RF strictly inside it (kind 1).
  let job: GapJob | null = null;
  let own: RfDetection[] = [];
  const flush = (): void => {
    if (job === null) return;
    const { a, b, mmsi } = job;
    const near = fuser.isRfGap(b.ts - a.ts) ? anonymousIndex.near(a, b, a.ts, b.ts) : [];
    fuser.gap(job, own, near, (det) => clock.explains(det, mmsi));
    job = null;
    own = [];
  };
  for await (const chunk of chunksOf(
    db,
    `SELECT * FROM (
      SELECT gap_id, 0 AS kind, mmsi, a_ts, a_lat, a_lon, a_sog, a_cog, b_ts, b_lat, b_lon, b_sog,
        NULL::VARCHAR AS rf_id, NULL::BIGINT AS ts_ms, NULL::DOUBLE AS lat, NULL::DOUBLE AS lon, NULL::DOUBLE AS uncertainty_m, NULL::VARCHAR AS geoloc_method, NULL::VARCHAR[] AS member_ids
      FROM gaps
      UNION ALL
      SELECT g.gap_id, 1, g.mmsi, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, r.rf_id, r.ts_ms, r.lat, r.lon, r.uncertainty_m, r.geoloc_method, r.member_ids
      FROM gaps g JOIN rf_day r ON r.resolved_mmsi = g.mmsi AND r.ts_ms > g.a_ts AND r.ts_ms < g.b_ts
      WHERE g.rf_gap)
    ORDER BY gap_id, kind, ts_ms, rf_id`,
  )) {
    const kind = chunk.column('kind');
    const mmsiColumn = chunk.column('mmsi');
    const [aTs, aLat, aLon, aSog, aCog, bTs, bLat, bLon, bSog] = ['a_ts', 'a_lat', 'a_lon', 'a_sog', 'a_cog', 'b_ts', 'b_lat', 'b_lon', 'b_sog'].map(chunk.column);
    for (let i = 0; i < chunk.length; i++) {
      if (kind[i] === 0) {
        flush();
        job = {
          mmsi: num(mmsiColumn[i]),
          cogA: numOrNull(aCog[i]),
          a: { ts: num(aTs[i]), lat: aLat[i] as number, lon: aLon[i] as number, sog: numOrNull(aSog[i]) },
          b: { ts: num(bTs[i]), lat: bLat[i] as number, lon: bLon[i] as number, sog: numOrNull(bSog[i]) },
        };
      } else own.push(detection(chunk.column, i, num(mmsiColumn[i])));
    }
  }
  flush();
  await db.run('DROP TABLE gaps');
  return fuser.stats;
}

/** Algorithm B vessel by vessel: per vessel its fixes (kind 1), then its own RF (kind 2). Leaves `ais_corrected`. */
async function spoofPass(db: Db, fuser: DayFuser): Promise<void> {
  const corrected: { mmsi: number; ts_ms: number; lat: number; lon: number }[] = [];
  let current: number | null = null;
  let fixes: AisFix[] = [];
  let own: RfDetection[] = [];
  const flush = (): void => {
    if (current !== null && fixes.length > 0) {
      const finalPos = fuser.spoofVessel(fixes, own.sort(byTimeThenId));
      for (let i = 0; i < fixes.length; i++) if (finalPos[i].corrected) corrected.push({ mmsi: fixes[i].mmsi, ts_ms: fixes[i].ts, lat: finalPos[i].lat, lon: finalPos[i].lon });
    }
    fixes = [];
    own = [];
  };
  for await (const chunk of chunksOf(
    db,
    `SELECT * FROM (
      SELECT mmsi, 1 AS kind, ts_ms, lat, lon, sog, cog, track_no, NULL::VARCHAR AS rf_id, NULL::DOUBLE AS uncertainty_m, NULL::VARCHAR AS geoloc_method, NULL::VARCHAR[] AS member_ids FROM ais_clean
      UNION ALL
      SELECT resolved_mmsi, 2, ts_ms, lat, lon, NULL, NULL, NULL, rf_id, uncertainty_m, geoloc_method, member_ids FROM rf_day WHERE resolved_mmsi IS NOT NULL)
    ORDER BY mmsi, kind, ts_ms, rf_id`,
  )) {
    const mmsiColumn = chunk.column('mmsi');
    const kind = chunk.column('kind');
    const [ts, lat, lon, sog, cog, track] = ['ts_ms', 'lat', 'lon', 'sog', 'cog', 'track_no'].map(chunk.column);
    for (let i = 0; i < chunk.length; i++) {
      const mmsi = num(mmsiColumn[i]);
      if (mmsi !== current) {
        flush();
        current = mmsi;
      }
      if (kind[i] === 1) {
        fixes.push({
          mmsi,
          ts: num(ts[i]),
          lat: lat[i] as number,
          lon: lon[i] as number,
          sog: numOrNull(sog[i]),
          cog: numOrNull(cog[i]),
          trackId: String(track[i]),
          deltaT: null,
          deltaDistKm: null,
          speedCalcKn: null,
        });
      } else own.push(detection(chunk.column, i, mmsi));
    }
  }
  flush();
  await db.createTable('ais_corrected', { mmsi: 'BIGINT', ts_ms: 'BIGINT', lat: 'DOUBLE', lon: 'DOUBLE' }, corrected);
}

/**
 * Table `gaps`: every pair of consecutive fixes of one track at their final (spoof-corrected)
 * positions whose silence is an RF gap (> gap_thr_min) or a minor gap to interpolate, plus the previous
 * day's last fix (its final position) before this day's first fix when at most track_break_min apart.
 */
async function detectGaps(db: Db, params: FuseParams): Promise<void> {
  const gapMs = params.gap_thr_min * MINUTE_MS;
  const dt = 'b_ts - a_ts';
  await db.run(`
    CREATE TEMP TABLE gaps AS
    WITH fixes AS (
      SELECT a.mmsi, a.ts_ms, coalesce(c.lat, a.lat) AS lat, coalesce(c.lon, a.lon) AS lon, a.sog, a.cog, a.track_no
      FROM ais_clean a LEFT JOIN ais_corrected c ON c.mmsi = a.mmsi AND c.ts_ms = a.ts_ms),
    pairs AS (
      SELECT mmsi, lag(ts_ms) OVER w AS a_ts, lag(lat) OVER w AS a_lat, lag(lon) OVER w AS a_lon, lag(sog) OVER w AS a_sog, lag(cog) OVER w AS a_cog,
        lag(track_no) OVER w AS a_track, ts_ms AS b_ts, lat AS b_lat, lon AS b_lon, sog AS b_sog, track_no, row_number() OVER w AS n
      FROM fixes WINDOW w AS (PARTITION BY mmsi ORDER BY ts_ms)),
    prior AS (SELECT mmsi, ts_ms, lat, lon, sog, cog FROM ais_prior QUALIFY row_number() OVER (PARTITION BY mmsi ORDER BY ts_ms DESC) = 1),
    ends AS (
      SELECT mmsi, a_ts, a_lat, a_lon, a_sog, a_cog, b_ts, b_lat, b_lon, b_sog FROM pairs WHERE a_track = track_no
      UNION ALL
      SELECT p.mmsi, pr.ts_ms, pr.lat, pr.lon, pr.sog, pr.cog, p.b_ts, p.b_lat, p.b_lon, p.b_sog
      FROM pairs p JOIN prior pr ON pr.mmsi = p.mmsi
      WHERE p.n = 1 AND pr.ts_ms < p.b_ts AND p.b_ts - pr.ts_ms <= ${params.track_break_min * MINUTE_MS})
    SELECT row_number() OVER (ORDER BY mmsi, a_ts) AS gap_id, *, ${dt} > ${gapMs} AS rf_gap
    FROM ends
    WHERE ${dt} > ${gapMs} OR (${dt} >= ${2 * params.bucket_min * MINUTE_MS} AND ${dt} <= ${params.minor_gap_max_min * MINUTE_MS})`);
  await db.run('DROP TABLE ais_corrected');
}

function detection(column: (name: string) => DuckDBValue[], i: number, mmsi: number | null): RfDetection {
  return {
    rfId: column('rf_id')[i] as string,
    ts: num(column('ts_ms')[i]),
    lat: column('lat')[i] as number,
    lon: column('lon')[i] as number,
    uncertaintyM: column('uncertainty_m')[i] as number,
    geolocMethod: column('geoloc_method')[i] as string,
    mmsi,
    memberIds: strings(column('member_ids')[i]),
  };
}

/**
 * The previous day's tail as `ais_prior` and `rf_prior`: only what can reach into this day, i.e. fixes
 * and detections at most track_break_min (plus the RF window) before midnight. A tail from an older
 * partition (a day missing in between) therefore contributes nothing.
 */
export async function loadPrior(db: Db, files: readonly string[], dayStart: number, params: FuseParams, what: (file: string) => string): Promise<void> {
  const since = dayStart - priorReachMs(params);
  if (files.length === 0) {
    await db.run(`CREATE TEMP TABLE tail_in AS SELECT ${Object.entries(inputColumns.previous).map(([n, t]) => `NULL::${t} AS ${n}`).join(', ')} LIMIT 0`);
  } else {
    for (const file of files) {
      const columns = await db.describe(`read_parquet(${quoteLiteral(file)})`);
      for (const [name, type] of Object.entries(inputColumns.previous)) {
        if (columns[name] !== type) throw new Error(`${what(file)}: the previous day's tail needs column ${name} ${type} (found ${columns[name] ?? 'none'})`);
      }
    }
    await db.run(`CREATE TEMP TABLE tail_in AS SELECT * FROM read_parquet([${files.map(quoteLiteral).join(', ')}]) WHERE ts_utc >= ${since} AND ts_utc < ${dayStart}`);
  }
  await db.run(`CREATE TEMP VIEW ais_prior AS SELECT mmsi, ts_utc AS ts_ms, lat, lon, orig_lat, orig_lon, sog, cog FROM tail_in WHERE kind = 'ais'`);
  await db.run(`CREATE TEMP VIEW rf_prior AS SELECT mmsi AS resolved_mmsi, ts_utc AS ts_ms, lat, lon, rf_id, uncertainty_m, geoloc_method, member_ids FROM tail_in WHERE kind = 'rf'`);
  await db.run(`
    CREATE TEMP VIEW rf_day AS
    SELECT resolved_mmsi, ts_ms, lat, lon, rf_id, uncertainty_m, geoloc_method, member_ids FROM rf_resolved WHERE NOT unknown_entity
    UNION ALL SELECT * FROM rf_prior`);
}

/** How far before midnight the next day can still use a fix or a detection: a gap is at most track_break_min. */
export function priorReachMs(params: FuseParams): number {
  return (params.track_break_min + Math.max(params.rf_window_min, 1)) * 60_000;
}

/** The tail of this day for the next: fixes (final and original positions) and usable RF of the last hours. */
export async function writeTail(db: Db, path: string, dayEnd: number, params: FuseParams): Promise<void> {
  const since = dayEnd - priorReachMs(params);
  await db.run(`
    CREATE TEMP VIEW tail_out AS
    SELECT 'ais' AS kind, a.mmsi, a.ts_ms AS ts_utc, coalesce(c.lat, a.lat) AS lat, coalesce(c.lon, a.lon) AS lon, a.lat AS orig_lat, a.lon AS orig_lon,
      a.sog, a.cog, NULL::VARCHAR AS rf_id, NULL::DOUBLE AS uncertainty_m, NULL::VARCHAR AS geoloc_method, NULL::VARCHAR[] AS member_ids
    FROM ais_clean a LEFT JOIN (SELECT CAST(mmsi AS BIGINT) AS mmsi, ts_utc, lat, lon FROM n6_ts WHERE position_label = 'RF_CORRECTED') c ON c.mmsi = a.mmsi AND c.ts_utc = a.ts_ms
    WHERE a.ts_ms >= ${since}
    UNION ALL
    SELECT 'rf', resolved_mmsi, ts_ms, lat, lon, NULL, NULL, NULL, NULL, rf_id, uncertainty_m, geoloc_method, member_ids
    FROM rf_resolved WHERE NOT unknown_entity AND ts_ms >= ${since}`);
  await db.copyToFile('tail_out', path, 'parquet', ['kind', 'mmsi', 'ts_utc', 'rf_id', 'lat', 'lon']);
}
