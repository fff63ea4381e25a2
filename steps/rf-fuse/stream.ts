// The day streamed through the fusion: DuckDB sorts the cleaned tables, TypeScript reads them back one
// Arrow chunk at a time and fuses one vessel at a time (its fixes, its own RF, its last fix of the day
// before), so memory holds one vessel plus two day-wide indexes: the anonymous RF (H3 cells) and every
// fix by minute and latitude as typed arrays (AisClock). Rows the fusion leaves as they were (fixes
// without time-matched RF) are not sent back through JavaScript: the N6 table takes them from
// `ais_clean` in SQL (run.ts).
import type { DuckDBValue } from '@duckdb/node-api';
import { quoteLiteral, type Db } from '../../src/sdk/table-io.js';
import { h3IndexToSplitLong } from 'h3-js';
import { HAVERSINE_KM } from './clean.js';
import { anonymousCell, byTimeThenId, corridorCells, DayFuser, withNeighbours, EXPLAIN_MARGIN_KM, EXPLAIN_WINDOW_MS, KM_PER_DEGREE_BOX, type FuseSink, type FuseStats, type GapJob } from './fuse.js';
import { AIS_SIGMA_KM, gapSpeeds } from './gapfill.js';
import { KNOT_KM_PER_H, MINUTE_MS, RADIUS95_PER_SIGMA, type AisFix, type FuseParams, type RfDetection } from './types.js';
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
  await findCandidates(db, params);

  // One ordered stream: per gap its ends (kind 0), the vessel's own RF strictly inside it (1), the
  // anonymous RF near its corridor with whether another vessel's AIS explains each (2).
  let job: GapJob | null = null;
  let own: RfDetection[] = [];
  let anonymous: RfDetection[] = [];
  let explained = new Set<RfDetection>();
  const flush = (): void => {
    if (job === null) return;
    const isExplained = explained;
    fuser.gap(job, own, anonymous, (det) => isExplained.has(det));
    job = null;
    own = [];
    anonymous = [];
    explained = new Set();
  };
  for await (const chunk of chunksOf(
    db,
    `SELECT * FROM (
      SELECT gap_id, 0 AS kind, mmsi, a_ts, a_lat, a_lon, a_sog, a_cog, b_ts, b_lat, b_lon, b_sog,
        NULL::VARCHAR AS rf_id, NULL::BIGINT AS ts_ms, NULL::DOUBLE AS lat, NULL::DOUBLE AS lon, NULL::DOUBLE AS uncertainty_m, NULL::VARCHAR AS geoloc_method, NULL::VARCHAR[] AS member_ids,
        NULL::BOOLEAN AS explained
      FROM gaps
      UNION ALL
      SELECT g.gap_id, 1, g.mmsi, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, r.rf_id, r.ts_ms, r.lat, r.lon, r.uncertainty_m, r.geoloc_method, r.member_ids, NULL
      FROM gaps g JOIN rf_day r ON r.resolved_mmsi = g.mmsi AND r.ts_ms > g.a_ts AND r.ts_ms < g.b_ts
      WHERE g.rf_gap
      UNION ALL
      SELECT c.gap_id, 2, c.silent_mmsi, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, n.rf_id, n.ts_ms, n.lat, n.lon, n.uncertainty_m, n.geoloc_method, n.member_ids,
        e.anon_id IS NOT NULL
      FROM gap_anon c JOIN anon n USING (anon_id) LEFT JOIN anon_explained e ON e.anon_id = c.anon_id AND e.silent_mmsi = c.silent_mmsi)
    ORDER BY gap_id, kind, ts_ms, rf_id`,
  )) {
    const kind = chunk.column('kind');
    const mmsiColumn = chunk.column('mmsi');
    const explainedColumn = chunk.column('explained');
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
      } else if (kind[i] === 1) own.push(detection(chunk.column, i, num(mmsiColumn[i])));
      else {
        const det = detection(chunk.column, i, null);
        anonymous.push(det);
        if (explainedColumn[i] === true) explained.add(det);
      }
    }
  }
  flush();
  for (const table of ['gaps', 'gap_anon', 'anon_explained', 'anon', 'anon_cell']) await db.run(`DROP TABLE ${table}`);
  return fuser.stats;
}

/**
 * The anonymous candidates of every RF gap, in SQL (tables `anon`, `anon_cell`, `gap_anon`,
 * `anon_explained`). H3 has no DuckDB extension offline, so TypeScript computes the cells and hands
 * them back as integers: each anonymous detection's cell (anonymousCell) and each gap's corridor
 * (corridorCells). The join on (cell, hour) with the gap's open time interval then gives exactly the
 * detections the in-memory index finds; a feasibility test with a micrometre of slack drops most of
 * the rest (gap() applies the exact one). Whether another vessel's AIS explains a detection is a join
 * of the candidates with every fix on (minute, latitude band), then AisClock's test.
 */
async function findCandidates(db: Db, params: FuseParams): Promise<void> {
  await db.run(`CREATE TEMP TABLE anon AS SELECT CAST(row_number() OVER () AS INTEGER) AS anon_id, rf_id, ts_ms, lat, lon, uncertainty_m, geoloc_method, member_ids FROM rf_day WHERE resolved_mmsi IS NULL`);
  const anonCells: number[] = [];
  for await (const chunk of chunksOf(db, 'SELECT anon_id, ts_ms, lat, lon FROM anon')) {
    const [id, ts, lat, lon] = ['anon_id', 'ts_ms', 'lat', 'lon'].map(chunk.column);
    for (let i = 0; i < chunk.length; i++) {
      const [lo, hi] = h3IndexToSplitLong(anonymousCell(lat[i] as number, lon[i] as number, params.h3_res));
      anonCells.push(id[i] as number, hi, lo, Math.floor(num(ts[i]) / HOUR_MS));
    }
  }
  await appendRows(db, 'anon_cell', { anon_id: 'INTEGER', cell_hi: 'UINTEGER', cell_lo: 'UINTEGER', hour: 'INTEGER' }, anonCells);
  anonCells.length = 0;

  const gapCells: number[] = [];
  const gapReach: number[] = [];
  for await (const chunk of chunksOf(db, 'SELECT gap_id, a_ts, a_lat, a_lon, a_sog, b_ts, b_lat, b_lon, b_sog FROM gaps WHERE rf_gap')) {
    const [id, aTs, aLat, aLon, aSog, bTs, bLat, bLon, bSog] = ['gap_id', 'a_ts', 'a_lat', 'a_lon', 'a_sog', 'b_ts', 'b_lat', 'b_lon', 'b_sog'].map(chunk.column);
    for (let i = 0; i < chunk.length; i++) {
      const a = { ts: num(aTs[i]), lat: aLat[i] as number, lon: aLon[i] as number, sog: numOrNull(aSog[i]) };
      const b = { ts: num(bTs[i]), lat: bLat[i] as number, lon: bLon[i] as number, sog: numOrNull(bSog[i]) };
      const gapId = num(id[i]);
      for (const cell of corridorCells(a, b, params.h3_res)) {
        const [lo, hi] = h3IndexToSplitLong(cell);
        gapCells.push(gapId, hi, lo);
      }
      gapReach.push(gapId, gapSpeeds(a, b, params).maxKn);
    }
  }
  await appendRows(db, 'gap_cell', { gap_id: 'INTEGER', cell_hi: 'UINTEGER', cell_lo: 'UINTEGER' }, gapCells);
  await appendRows(db, 'gap_reach', { gap_id: 'INTEGER', max_kn: 'DOUBLE' }, gapReach);

  const slackKm = (u: string) => `((2 * ${u}) / 1000.0 / ${RADIUS95_PER_SIGMA} + ${2 * AIS_SIGMA_KM})`;
  const reachKm = (ms: string) => `((r.max_kn * ${KNOT_KM_PER_H} * (${ms})) / 3600000.0)`;
  await db.run(`
    CREATE TEMP TABLE gap_anon AS
    WITH corridor AS (
      SELECT gap_id, c.cell_hi, c.cell_lo, unnest(range(CAST(floor(g.a_ts / ${HOUR_MS}) AS BIGINT), CAST(floor(g.b_ts / ${HOUR_MS}) AS BIGINT) + 1)) AS hour
      FROM gap_cell c JOIN gaps g USING (gap_id))
    SELECT g.gap_id, g.mmsi AS silent_mmsi, n.anon_id, n.ts_ms, n.lat, n.lon, n.uncertainty_m
    FROM corridor k
      JOIN anon_cell x ON x.cell_hi = k.cell_hi AND x.cell_lo = k.cell_lo AND x.hour = k.hour
      JOIN anon n ON n.anon_id = x.anon_id
      JOIN gaps g ON g.gap_id = k.gap_id
      JOIN gap_reach r ON r.gap_id = k.gap_id
    WHERE n.ts_ms > g.a_ts AND n.ts_ms < g.b_ts
      AND ${HAVERSINE_KM('g.a_lat', 'g.a_lon', 'n.lat', 'n.lon')} - ${slackKm('n.uncertainty_m')} <= ${reachKm('n.ts_ms - g.a_ts')} + ${FEASIBLE_SLACK_KM}
      AND ${HAVERSINE_KM('n.lat', 'n.lon', 'g.b_lat', 'g.b_lon')} - ${slackKm('n.uncertainty_m')} <= ${reachKm('g.b_ts - n.ts_ms')} + ${FEASIBLE_SLACK_KM}`);
  for (const table of ['gap_cell', 'gap_reach']) await db.run(`DROP TABLE ${table}`);
  await explainedSql(
    db,
    'gap_anon',
    'SELECT mmsi, ts_ms, lat, lon, sog FROM ais_clean UNION ALL SELECT mmsi, ts_ms, orig_lat, orig_lon, sog FROM ais_prior',
    'anon_explained',
  );
}

/** Slack on the SQL feasibility test, so that rounding in SQL's trigonometry never drops what TypeScript's keeps. */
const FEASIBLE_SLACK_KM = 1e-6;
const HOUR_MS = 3_600_000;
/** Latitude bands of the fix join: a candidate probes the bands within its reach. */
const BAND_DEG = 0.05;

/**
 * Table `into` (anon_id, silent_mmsi): the `candidates` (anon_id, silent_mmsi, ts_ms, lat, lon,
 * uncertainty_m) that some other vessel's fix among `fixes` (mmsi, ts_ms, lat, lon, sog) explains —
 * AisClock.explains in SQL, the same arithmetic in the same order. The step passes every fix of the day
 * and the previous day's tail at their reported positions. The join key is (minute, latitude band);
 * the bands a candidate probes cover the box test's reach at the fastest SOG, so the key only prunes.
 */
export async function explainedSql(db: Db, candidates: string, fixRelation: string, into: string): Promise<void> {
  const fixes = `SELECT mmsi, ts_ms, lat, lon, CAST(coalesce(sog, 0) AS DOUBLE) AS sog FROM (${fixRelation})`;
  const [{ max_sog }] = await db.all(`SELECT coalesce(max(sog), 0) AS max_sog FROM (${fixes})`);
  const sigma = (c: string) => `(${c}.uncertainty_m / 1000.0 / ${RADIUS95_PER_SIGMA})`;
  const latReach = `((${sigma('c')} + (${Number(max_sog)}::DOUBLE * ${KNOT_KM_PER_H} * ${EXPLAIN_WINDOW_MS}) / 3600000.0 + ${EXPLAIN_MARGIN_KM}) / ${KM_PER_DEGREE_BOX} + 1e-9)`;
  const reach = `(${sigma('p')} + (f.sog * ${KNOT_KM_PER_H} * CAST(abs(f.ts_ms - p.ts_ms) AS DOUBLE)) / 3600000.0 + ${EXPLAIN_MARGIN_KM})`;
  await db.run(`
    CREATE TEMP TABLE ${into} AS
    WITH c AS (SELECT DISTINCT anon_id, silent_mmsi, ts_ms, lat, lon, uncertainty_m FROM ${candidates}),
    minutes AS (SELECT *, unnest([-1, 0, 1]) + CAST(floor(ts_ms / ${MINUTE_MS}) AS BIGINT) AS minute FROM c),
    probes AS (
      SELECT *, unnest(range(CAST(floor((lat - ${latReach}) / ${BAND_DEG}) AS BIGINT), CAST(floor((lat + ${latReach}) / ${BAND_DEG}) AS BIGINT) + 1)) AS band
      FROM minutes c),
    f AS (SELECT *, CAST(floor(ts_ms / ${MINUTE_MS}) AS BIGINT) AS minute, CAST(floor(lat / ${BAND_DEG}) AS BIGINT) AS band FROM (${fixes}))
    SELECT DISTINCT p.anon_id, p.silent_mmsi
    FROM probes p JOIN f ON f.minute = p.minute AND f.band = p.band
    WHERE f.mmsi <> p.silent_mmsi AND abs(f.ts_ms - p.ts_ms) <= ${EXPLAIN_WINDOW_MS}
      AND abs(f.lat - p.lat) * ${KM_PER_DEGREE_BOX} <= ${reach}
      AND ${HAVERSINE_KM('f.lat', 'f.lon', 'p.lat', 'p.lon')} <= ${reach}`);
}

/** A table of flat rows (values row after row in `values`) through DuckDB's appender. */
async function appendRows(db: Db, table: string, columns: Record<string, 'INTEGER' | 'UINTEGER' | 'DOUBLE'>, values: readonly number[]): Promise<void> {
  const names = Object.keys(columns);
  await db.run(`CREATE TABLE ${table} (${names.map((n) => `${n} ${columns[n]}`).join(', ')})`);
  const appender = await db.connection.createAppender(table);
  const types = names.map((n) => columns[n]);
  for (let i = 0; i < values.length; ) {
    for (const type of types) {
      const value = values[i++];
      if (type === 'INTEGER') appender.appendInteger(value);
      else if (type === 'UINTEGER') appender.appendUInteger(value);
      else appender.appendDouble(value);
    }
    appender.endRow();
  }
  appender.closeSync();
}

/**
 * Algorithm B vessel by vessel: per vessel its fixes (kind 1), then its own RF (kind 2). Leaves
 * `ais_corrected`. (Sending only the fixes with RF within ±rf_match_min, found by an ASOF join with
 * LAG/LEAD neighbours, cost DuckDB more CPU than the JavaScript it saved: 7.4–7.8 against 5.7–6.1
 * CPU-s on the bench's 1M tile.)
 */
async function spoofPass(db: Db, fuser: DayFuser): Promise<void> {
  const corrected: { mmsi: number; ts_ms: number; lat: number; lon: number }[] = [];
  let current: number | null = null;
  let fixes: AisFix[] = [];
  let own: RfDetection[] = [];
  const flush = (): void => {
    if (current !== null && fixes.length > 0) {
      const finalPos = fuser.spoofVessel(withNeighbours(fixes), own.sort(byTimeThenId));
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
