// Standardise, validate, de-duplicate and resolve (seed 003 §3–4), in DuckDB SQL.
// AIS: epoch-ms time, coordinate checks, one fix per vessel+timestamp, delta_t / delta_dist_km /
// speed_calc_kn / track_id. RF: the same checks, one row per rf_id+timestamp, TDOA/MLAT clusters
// reduced to an inverse-variance centroid, uncertainty cap, then entity resolution (mmsi, imo,
// call_sign, the mapping table). Invalid rows are counted and the first of each kind described,
// never thrown.
import { StepError } from '../../src/sdk/errors.js';
import { quoteIdent, quoteLiteral, type Db } from '../../src/sdk/table-io.js';
import { MINUTE_MS, RADIUS95_PER_SIGMA, type AisFix, type FuseParams, type RfDetection } from './types.js';

export interface CleanCounts {
  ais_rows_in: number;
  ais_invalid_mmsi: number;
  ais_invalid_ts: number;
  ais_invalid_coord: number;
  ais_outside_partition: number;
  ais_duplicates: number;
  ais_rows_clean: number;
  ais_vessels: number;
  rf_rows_in: number;
  rf_invalid_id: number;
  rf_invalid_ts: number;
  rf_invalid_coord: number;
  rf_invalid_uncertainty: number;
  rf_outside_partition: number;
  rf_duplicates: number;
  rf_clusters: number;
  rf_cluster_members: number;
  rf_dropped_uncertainty: number;
  rf_unknown_entity: number;
  rf_anonymous: number;
  rf_resolved_mmsi: number;
  rf_resolved_imo: number;
  rf_resolved_call_sign: number;
  rf_resolved_entity_map: number;
  rf_rows_clean: number;
}

export interface CleanResult {
  ais: AisFix[];
  rf: RfDetection[];
  counts: CleanCounts;
  /** one sentence per kind of rejected row: `file row N field F: why` */
  examples: string[];
}

export interface CleanInputs {
  aisFiles: readonly string[];
  rfFiles: readonly string[];
  entityMapFiles?: readonly string[];
  /** the partition day, YYYY-MM-DD: rows outside it are counted and dropped */
  date: string;
}

/** Great-circle km in SQL, the formula of lib/geo/sphere.ts haversineKm. */
export const HAVERSINE_KM = (lat1: string, lon1: string, lat2: string, lon2: string) =>
  `(2 * 6371.0088 * asin(least(1, sqrt(pow(sin(radians(${lat2} - ${lat1}) / 2), 2) + cos(radians(${lat1})) * cos(radians(${lat2})) * pow(sin(radians(${lon2} - ${lon1}) / 2), 2)))))`;

/**
 * Every file of an input as one relation with `src_file` and 1-based `src_row` (CSV: line number).
 * Parquet files stay views over the files (read again by each query, never copied into memory); CSV
 * is loaded once, in file order, so row_number() is the data row.
 */
export async function loadFiles(db: Db, table: string, files: readonly string[], what: string): Promise<Record<string, string>> {
  const parts: string[] = [];
  for (const [index, file] of files.entries()) {
    const part = `${table}_part${index}`;
    if (/\.csv$/i.test(file)) {
      // parallel=false keeps the file order, so row_number() is the data row (line = row + 1).
      await db.run(
        `CREATE TEMP TABLE ${part} AS SELECT *, ${quoteLiteral(file)} AS src_file, row_number() OVER () + 1 AS src_row FROM read_csv(${quoteLiteral(file)}, header = true, parallel = false)`,
      );
    } else if (/\.parquet$/i.test(file)) {
      await db.run(
        `CREATE TEMP VIEW ${part} AS SELECT * EXCLUDE (file_row_number), ${quoteLiteral(file)} AS src_file, file_row_number + 1 AS src_row FROM read_parquet(${quoteLiteral(file)}, file_row_number = true)`,
      );
    } else {
      throw new StepError(`${what} input must be .parquet or .csv files`, file);
    }
    parts.push(part);
  }
  await db.run(`CREATE TEMP VIEW ${table} AS ${parts.map((p) => `SELECT * FROM ${p}`).join(' UNION ALL BY NAME ')}`);
  return db.describe(table);
}

/** SQL turning a ts_utc column of any supported type into epoch ms (NULL when unparseable). */
function epochMsExpression(column: string, type: string): string {
  const col = quoteIdent(column);
  const t = type.toUpperCase();
  if (t.startsWith('TIMESTAMP') || t === 'DATE') return `epoch_ms(CAST(${col} AS TIMESTAMPTZ))`;
  if (/^(BIGINT|INTEGER|HUGEINT|UBIGINT|UINTEGER|SMALLINT)$/.test(t)) return `CAST(${col} AS BIGINT)`;
  if (/^(DOUBLE|FLOAT|DECIMAL)/.test(t)) return `CAST(round(${col}) AS BIGINT)`;
  return `CASE WHEN regexp_full_match(trim(CAST(${col} AS VARCHAR)), '-?[0-9]{10,}') THEN TRY_CAST(trim(CAST(${col} AS VARCHAR)) AS BIGINT) ELSE epoch_ms(TRY_CAST(${col} AS TIMESTAMPTZ)) END`;
}

function optional(columns: Record<string, string>, name: string, type: string, transform = (c: string) => c): string {
  return name in columns ? `${transform(`TRY_CAST(${quoteIdent(name)} AS ${type})`)}` : `CAST(NULL AS ${type})`;
}

function requireColumns(columns: Record<string, string>, required: readonly string[], what: string, files: readonly string[]): void {
  for (const name of required) {
    if (!(name in columns)) throw new StepError(`${what} input has no column "${name}" (needs ${required.join(', ')})`, files.join(', '));
  }
}

const normaliseImo = (c: string) => `nullif(regexp_replace(upper(trim(${c})), '^IMO', ''), '')`;
const normaliseCallSign = (c: string) => `nullif(upper(trim(${c})), '')`;

/** Count rows per rejection reason and describe the first of each. */
async function countRejects(db: Db, table: string, reasons: readonly { key: string; field: string; when: string; value: string }[], examples: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const grouped = await db.all(`SELECT reject, count(*) AS n FROM ${table} WHERE reject IS NOT NULL GROUP BY reject`);
  for (const reason of reasons) {
    const key = quoteLiteral(reason.key);
    const n = Number(grouped.find((g) => g.reject === reason.key)?.n ?? 0);
    counts[reason.key] = n;
    if (n === 0) continue;
    const [first] = await db.all(`SELECT src_file, src_row, CAST(${reason.value} AS VARCHAR) AS v FROM ${table} WHERE reject = ${key} ORDER BY src_file, src_row LIMIT 1`);
    examples.push(`${first.src_file} row ${first.src_row} field ${reason.field}: ${reason.when} (value ${first.v ?? 'NULL'}); ${n} such row(s) dropped`);
  }
  return counts;
}

/**
 * Clean and resolve the day in SQL. Leaves two tables for the fusion to stream: `ais_clean` (mmsi,
 * ts_ms, lat, lon, sog, cog, imo, call_sign, delta_t, delta_dist_km, speed_calc_kn, track_no) and
 * `rf_resolved` (one row per detection or TDOA/MLAT centroid, resolved_mmsi, unknown_entity).
 */
export async function cleanTables(db: Db, inputs: CleanInputs, params: FuseParams): Promise<{ counts: CleanCounts; examples: string[] }> {
  await db.run(`SET TimeZone = 'UTC'`);
  const examples: string[] = [];
  const dayStart = Date.parse(`${inputs.date}T00:00:00Z`);
  if (!Number.isFinite(dayStart)) throw new StepError(`partition date "${inputs.date}" is not YYYY-MM-DD`);
  const dayEnd = dayStart + 24 * 60 * MINUTE_MS;

  // ---- AIS ----
  const aisCols = await loadFiles(db, 'ais_raw', inputs.aisFiles, 'AIS');
  requireColumns(aisCols, ['mmsi', 'ts_utc', 'lat', 'lon'], 'AIS', inputs.aisFiles);
  await db.run(`
    CREATE TEMP VIEW ais_std AS
    SELECT src_file, src_row, mmsi_raw, TRY_CAST(mmsi_raw AS BIGINT) AS mmsi, ts_ms, lat, lon, sog, cog, imo, call_sign, ts_raw,
      CASE
        WHEN TRY_CAST(mmsi_raw AS BIGINT) IS NULL OR TRY_CAST(mmsi_raw AS BIGINT) <= 0 THEN 'ais_invalid_mmsi'
        WHEN ts_ms IS NULL THEN 'ais_invalid_ts'
        WHEN lat IS NULL OR lon IS NULL OR NOT isfinite(lat) OR NOT isfinite(lon) OR lat < -90 OR lat > 90 OR lon < -180 OR lon > 180 THEN 'ais_invalid_coord'
        WHEN ts_ms < ${dayStart} OR ts_ms >= ${dayEnd} THEN 'ais_outside_partition'
      END AS reject
    FROM (
      SELECT src_file, src_row, CAST(mmsi AS VARCHAR) AS mmsi_raw, CAST(ts_utc AS VARCHAR) AS ts_raw,
        ${epochMsExpression('ts_utc', aisCols.ts_utc)} AS ts_ms,
        TRY_CAST(lat AS DOUBLE) AS lat, TRY_CAST(lon AS DOUBLE) AS lon,
        ${optional(aisCols, 'sog', 'DOUBLE')} AS sog, ${optional(aisCols, 'cog', 'DOUBLE')} AS cog,
        ${optional(aisCols, 'imo', 'VARCHAR', normaliseImo)} AS imo, ${optional(aisCols, 'call_sign', 'VARCHAR', normaliseCallSign)} AS call_sign
      FROM ais_raw)`);
  const aisRejects = await countRejects(
    db,
    'ais_std',
    [
      { key: 'ais_invalid_mmsi', field: 'mmsi', when: 'not a positive integer', value: 'mmsi_raw' },
      { key: 'ais_invalid_ts', field: 'ts_utc', when: 'not a timestamp or epoch ms', value: 'ts_raw' },
      { key: 'ais_invalid_coord', field: 'lat/lon', when: 'outside [-90, 90] / [-180, 180] or missing', value: `lat || ', ' || lon` },
      { key: 'ais_outside_partition', field: 'ts_utc', when: `not on ${inputs.date}`, value: 'ts_raw' },
    ],
    examples,
  );
  // SOG 102.3 and COG 360 are AIS "not available" codes.
  await db.run(`
    CREATE TEMP TABLE ais_dedup AS
    SELECT mmsi, ts_ms, lat, lon,
      CASE WHEN sog >= 0 AND sog < 102.2 THEN sog END AS sog,
      CASE WHEN cog >= 0 AND cog < 360 THEN cog END AS cog, imo, call_sign
    FROM ais_std WHERE reject IS NULL
    QUALIFY row_number() OVER (PARTITION BY mmsi, ts_ms ORDER BY src_file, src_row) = 1`);
  const breakMs = params.track_break_min * MINUTE_MS;
  // Only what the fusion and the N6 rows read is stored per fix (a 20-million-row day is held by
  // DuckDB through the whole run); delta_t / delta_dist_km / speed_calc_kn are derived again by
  // the `ais_kinematics` view when asked for. The identities (imo, call_sign) become one row per
  // vessel and key for entity resolution.
  await db.run(`
    CREATE TEMP TABLE ais_clean AS
    SELECT mmsi, ts_ms, lat, lon, sog, cog,
      CAST(sum(CASE WHEN delta_t > ${breakMs} THEN 1 ELSE 0 END) OVER (PARTITION BY mmsi ORDER BY ts_ms) AS INTEGER) AS track_no
    FROM (SELECT mmsi, ts_ms, lat, lon, sog, cog, ts_ms - lag(ts_ms) OVER (PARTITION BY mmsi ORDER BY ts_ms) AS delta_t FROM ais_dedup)`);
  await db.run(`CREATE TEMP TABLE ais_identity AS SELECT DISTINCT mmsi, imo, call_sign FROM ais_dedup`);
  await db.run('DROP TABLE ais_dedup');
  await db.run(`
    CREATE TEMP VIEW ais_kinematics AS
    WITH d AS (
      SELECT *, ts_ms - lag(ts_ms) OVER w AS delta_t,
        ${HAVERSINE_KM('lag(lat) OVER w', 'lag(lon) OVER w', 'lat', 'lon')} AS delta_dist_km
      FROM ais_clean WINDOW w AS (PARTITION BY mmsi ORDER BY ts_ms))
    SELECT *, delta_dist_km / (delta_t / 3600000.0) / 1.852 AS speed_calc_kn FROM d`);
  const [aisCount] = await db.all(`SELECT (SELECT count(*) FROM ais_raw) AS rows_in, count(*) AS dedup, count(DISTINCT mmsi) AS vessels, (SELECT count(*) FROM ais_std WHERE reject IS NULL) AS valid FROM ais_clean`);
  // ---- RF ----
  const rfCounts = await cleanRf(db, inputs, params, dayStart, dayEnd, examples);
  const [rfClean] = await db.all(`SELECT count(*) AS n FROM rf_resolved WHERE NOT unknown_entity`);
  const counts: CleanCounts = {
    ais_rows_in: Number(aisCount.rows_in),
    ais_invalid_mmsi: aisRejects.ais_invalid_mmsi,
    ais_invalid_ts: aisRejects.ais_invalid_ts,
    ais_invalid_coord: aisRejects.ais_invalid_coord,
    ais_outside_partition: aisRejects.ais_outside_partition,
    ais_duplicates: Number(aisCount.valid) - Number(aisCount.dedup),
    ais_rows_clean: Number(aisCount.dedup),
    ais_vessels: Number(aisCount.vessels),
    ...rfCounts,
    rf_rows_clean: Number(rfClean.n),
  };
  return { counts, examples };
}

/** The cleaned day as JS objects: for tests and small days only (run.ts streams it instead). */
export async function readCleaned(db: Db): Promise<{ ais: AisFix[]; rf: RfDetection[] }> {
  const aisColumns = await columnar(db, `SELECT mmsi, ts_ms, lat, lon, sog, cog, track_no, delta_t, delta_dist_km, speed_calc_kn FROM ais_kinematics ORDER BY mmsi, ts_ms`);
  const ais: AisFix[] = new Array(aisColumns.mmsi.length);
  for (let i = 0; i < ais.length; i++) {
    ais[i] = {
      mmsi: Number(aisColumns.mmsi[i]),
      ts: Number(aisColumns.ts_ms[i]),
      lat: aisColumns.lat[i] as number,
      lon: aisColumns.lon[i] as number,
      sog: (aisColumns.sog[i] as number | null) ?? null,
      cog: (aisColumns.cog[i] as number | null) ?? null,
      trackId: `${Number(aisColumns.mmsi[i])}-${aisColumns.track_no[i]}`,
      deltaT: aisColumns.delta_t[i] === null ? null : Number(aisColumns.delta_t[i]),
      deltaDistKm: (aisColumns.delta_dist_km[i] as number | null) ?? null,
      speedCalcKn: (aisColumns.speed_calc_kn[i] as number | null) ?? null,
    };
  }
  const rfColumns = await columnar(
    db,
    `SELECT rf_id, ts_ms, lat, lon, uncertainty_m, geoloc_method, resolved_mmsi, member_ids FROM rf_resolved WHERE NOT unknown_entity ORDER BY ts_ms, rf_id`,
  );
  const rf: RfDetection[] = new Array(rfColumns.rf_id.length);
  for (let i = 0; i < rf.length; i++) {
    rf[i] = {
      rfId: rfColumns.rf_id[i] as string,
      ts: Number(rfColumns.ts_ms[i]),
      lat: rfColumns.lat[i] as number,
      lon: rfColumns.lon[i] as number,
      uncertaintyM: rfColumns.uncertainty_m[i] as number,
      geolocMethod: rfColumns.geoloc_method[i] as string,
      mmsi: rfColumns.resolved_mmsi[i] === null ? null : Number(rfColumns.resolved_mmsi[i]),
      memberIds: rfColumns.member_ids[i] as string[],
    };
  }
  return { ais, rf };
}

/** Clean and resolve, then read the day as objects (tests, small days). */
export async function loadAndClean(db: Db, inputs: CleanInputs, params: FuseParams): Promise<CleanResult> {
  const { counts, examples } = await cleanTables(db, inputs, params);
  return { ...(await readCleaned(db)), counts, examples };
}

async function cleanRf(
  db: Db,
  inputs: CleanInputs,
  params: FuseParams,
  dayStart: number,
  dayEnd: number,
  examples: string[],
): Promise<Omit<CleanCounts, `ais_${string}` | 'rf_rows_clean'>> {
  const empty = inputs.rfFiles.length === 0;
  const rfCols = empty ? {} : await loadFiles(db, 'rf_raw', inputs.rfFiles, 'RF');
  if (empty) {
    await db.run(`CREATE TEMP TABLE rf_raw (rf_id VARCHAR, ts_utc BIGINT, est_lat DOUBLE, est_lon DOUBLE, geo_uncertainty_m DOUBLE, src_file VARCHAR, src_row BIGINT)`);
    Object.assign(rfCols, await db.describe('rf_raw'));
  }
  requireColumns(rfCols, ['rf_id', 'ts_utc', 'est_lat', 'est_lon', 'geo_uncertainty_m'], 'RF', inputs.rfFiles);
  await db.run(`
    CREATE TEMP VIEW rf_std AS
    SELECT *,
      CASE
        WHEN rf_id IS NULL OR rf_id = '' THEN 'rf_invalid_id'
        WHEN ts_ms IS NULL THEN 'rf_invalid_ts'
        WHEN lat IS NULL OR lon IS NULL OR NOT isfinite(lat) OR NOT isfinite(lon) OR lat < -90 OR lat > 90 OR lon < -180 OR lon > 180 THEN 'rf_invalid_coord'
        WHEN uncertainty_m IS NULL OR NOT isfinite(uncertainty_m) OR uncertainty_m <= 0 THEN 'rf_invalid_uncertainty'
        WHEN ts_ms < ${dayStart} OR ts_ms >= ${dayEnd} THEN 'rf_outside_partition'
      END AS reject
    FROM (
      SELECT src_file, src_row, nullif(trim(CAST(rf_id AS VARCHAR)), '') AS rf_id, CAST(ts_utc AS VARCHAR) AS ts_raw,
        ${epochMsExpression('ts_utc', rfCols.ts_utc)} AS ts_ms,
        TRY_CAST(est_lat AS DOUBLE) AS lat, TRY_CAST(est_lon AS DOUBLE) AS lon,
        TRY_CAST(geo_uncertainty_m AS DOUBLE) AS uncertainty_m,
        ${optional(rfCols, 'geoloc_method', 'VARCHAR', (c) => `coalesce(nullif(upper(trim(${c})), ''), 'UNKNOWN')`)} AS geoloc_method,
        ${optional(rfCols, 'tdoa_cluster_id', 'VARCHAR', (c) => `nullif(trim(${c}), '')`)} AS cluster_id,
        ${optional(rfCols, 'mmsi', 'BIGINT')} AS mmsi,
        ${optional(rfCols, 'imo', 'VARCHAR', normaliseImo)} AS imo,
        ${optional(rfCols, 'call_sign', 'VARCHAR', normaliseCallSign)} AS call_sign
      FROM rf_raw)`);
  const rejects = await countRejects(
    db,
    'rf_std',
    [
      { key: 'rf_invalid_id', field: 'rf_id', when: 'missing', value: 'rf_id' },
      { key: 'rf_invalid_ts', field: 'ts_utc', when: 'not a timestamp or epoch ms', value: 'ts_raw' },
      { key: 'rf_invalid_coord', field: 'est_lat/est_lon', when: 'outside [-90, 90] / [-180, 180] or missing', value: `lat || ', ' || lon` },
      { key: 'rf_invalid_uncertainty', field: 'geo_uncertainty_m', when: 'missing or not positive', value: 'uncertainty_m' },
      { key: 'rf_outside_partition', field: 'ts_utc', when: `not on ${new Date(dayStart).toISOString().slice(0, 10)}`, value: 'ts_raw' },
    ],
    examples,
  );
  await db.run(`
    CREATE TEMP TABLE rf_dedup AS SELECT * EXCLUDE (reject) FROM rf_std WHERE reject IS NULL
    QUALIFY row_number() OVER (PARTITION BY rf_id, ts_ms ORDER BY src_file, src_row) = 1`);
  // TDOA/MLAT clusters: inverse-variance centroid; its 95 % radius is the combined one, inflated by
  // the Birge ratio when the members scatter more than their own uncertainties say they should.
  // Sums go through lists ordered by rf_id: a parallel sum() adds floats in any order, and the
  // output must be byte-identical on rerun.
  const k = RADIUS95_PER_SIGMA;
  await db.run(`
    CREATE TEMP TABLE rf_clustered AS
    WITH members AS (SELECT *, 1.0 / pow(uncertainty_m / ${k}, 2) AS w FROM rf_dedup WHERE cluster_id IS NOT NULL),
    centroid AS (
      SELECT cluster_id, list_sum(list(w * lat ORDER BY rf_id)) / list_sum(list(w ORDER BY rf_id)) AS c_lat,
        list_sum(list(w * lon ORDER BY rf_id)) / list_sum(list(w ORDER BY rf_id)) AS c_lon, list_sum(list(w ORDER BY rf_id)) AS w_sum, count(*) AS n
      FROM members GROUP BY cluster_id),
    spread AS (
      SELECT m.cluster_id, list_sum(list(pow(${HAVERSINE_KM('m.lat', 'm.lon', 'c.c_lat', 'c.c_lon')} * 1000, 2) * m.w ORDER BY m.rf_id)) AS chi2
      FROM members m JOIN centroid c USING (cluster_id) GROUP BY m.cluster_id)
    SELECT min(m.rf_id) AS rf_id, CAST(quantile_disc(m.ts_ms, 0.5) AS BIGINT) AS ts_ms, any_value(c.c_lat) AS lat, any_value(c.c_lon) AS lon,
      ${k} * sqrt(1.0 / any_value(c.w_sum)) * greatest(1.0, CASE WHEN any_value(c.n) > 1 THEN sqrt(any_value(s.chi2) / (any_value(c.n) - 1)) ELSE 1 END) AS uncertainty_m,
      min(m.geoloc_method) || '_CENTROID' AS geoloc_method, m.cluster_id,
      min(m.mmsi) AS mmsi, min(m.imo) AS imo, min(m.call_sign) AS call_sign,
      list(m.rf_id ORDER BY m.rf_id) AS member_ids, count(*) AS n_members
    FROM members m JOIN centroid c USING (cluster_id) JOIN spread s USING (cluster_id)
    GROUP BY m.cluster_id
    UNION ALL
    SELECT rf_id, ts_ms, lat, lon, uncertainty_m, geoloc_method, cluster_id, mmsi, imo, call_sign, [rf_id] AS member_ids, 1 AS n_members
    FROM rf_dedup WHERE cluster_id IS NULL`);
  // Counted now so each intermediate table is dropped as soon as the next one is built.
  const [reduced] = await db.all(`SELECT
      (SELECT count(*) FROM rf_std WHERE reject IS NULL) AS valid,
      (SELECT count(*) FROM rf_dedup) AS dedup,
      count(*) FILTER (WHERE cluster_id IS NOT NULL) AS clusters,
      coalesce(sum(n_members) FILTER (WHERE cluster_id IS NOT NULL), 0) AS members,
      count(*) FILTER (WHERE uncertainty_m > ${Number(params.max_geo_uncertainty_m)}) AS dropped_unc
    FROM rf_clustered`);
  await db.run('DROP TABLE rf_dedup');
  await loadEntityMap(db, inputs.entityMapFiles ?? []);
  await db.run(`
    CREATE TEMP TABLE rf_resolved AS
    WITH vessels AS (SELECT DISTINCT mmsi FROM ais_identity),
    imo_ais AS (SELECT imo AS key, min(mmsi) AS mmsi FROM ais_identity WHERE imo IS NOT NULL GROUP BY imo HAVING count(DISTINCT mmsi) = 1),
    cs_ais AS (SELECT call_sign AS key, min(mmsi) AS mmsi FROM ais_identity WHERE call_sign IS NOT NULL GROUP BY call_sign HAVING count(DISTINCT mmsi) = 1),
    kept AS (SELECT * FROM rf_clustered WHERE uncertainty_m <= ${Number(params.max_geo_uncertainty_m)}),
    joined AS (
      SELECT r.*, v.mmsi AS by_mmsi, ia.mmsi AS by_imo, ca.mmsi AS by_cs,
        coalesce(mi.mmsi, mc.mmsi) AS by_map
      FROM kept r
      LEFT JOIN vessels v ON v.mmsi = r.mmsi
      LEFT JOIN imo_ais ia ON ia.key = r.imo
      LEFT JOIN cs_ais ca ON ca.key = r.call_sign
      LEFT JOIN (SELECT * FROM entity_map WHERE mmsi IN (SELECT mmsi FROM vessels)) mi ON mi.key_type = 'imo' AND mi.key_value = r.imo
      LEFT JOIN (SELECT * FROM entity_map WHERE mmsi IN (SELECT mmsi FROM vessels)) mc ON mc.key_type = 'call_sign' AND mc.key_value = r.call_sign)
    SELECT *, coalesce(by_mmsi, by_imo, by_cs, by_map) AS resolved_mmsi,
      CASE WHEN by_mmsi IS NOT NULL THEN 'mmsi' WHEN by_imo IS NOT NULL THEN 'imo' WHEN by_cs IS NOT NULL THEN 'call_sign' WHEN by_map IS NOT NULL THEN 'entity_map' END AS resolved_by,
      (mmsi IS NOT NULL OR imo IS NOT NULL OR call_sign IS NOT NULL) AND coalesce(by_mmsi, by_imo, by_cs, by_map) IS NULL AS unknown_entity
    FROM joined`);
  await db.run('DROP TABLE rf_clustered');
  const c = (
    await db.all(`SELECT
      (SELECT count(*) FROM rf_raw) AS rows_in,
      (SELECT count(*) FILTER (WHERE unknown_entity) FROM rf_resolved) AS unknown,
      (SELECT count(*) FILTER (WHERE resolved_mmsi IS NULL AND NOT unknown_entity) FROM rf_resolved) AS anonymous,
      (SELECT count(*) FILTER (WHERE resolved_by = 'mmsi') FROM rf_resolved) AS by_mmsi,
      (SELECT count(*) FILTER (WHERE resolved_by = 'imo') FROM rf_resolved) AS by_imo,
      (SELECT count(*) FILTER (WHERE resolved_by = 'call_sign') FROM rf_resolved) AS by_cs,
      (SELECT count(*) FILTER (WHERE resolved_by = 'entity_map') FROM rf_resolved) AS by_map`)
  )[0];
  const unknown = Number(c.unknown);
  if (unknown > 0) {
    const first = await db.all(`SELECT rf_id, mmsi, imo, call_sign FROM rf_resolved WHERE unknown_entity ORDER BY ts_ms, rf_id LIMIT 1`);
    examples.push(`RF rf_id ${first[0].rf_id} field mmsi/imo/call_sign: names no vessel in the day's AIS or the entity map (mmsi ${first[0].mmsi ?? 'NULL'}, imo ${first[0].imo ?? 'NULL'}, call_sign ${first[0].call_sign ?? 'NULL'}); ${unknown} such detection(s) not used`);
  }
  return {
    rf_rows_in: Number(c.rows_in),
    rf_invalid_id: rejects.rf_invalid_id,
    rf_invalid_ts: rejects.rf_invalid_ts,
    rf_invalid_coord: rejects.rf_invalid_coord,
    rf_invalid_uncertainty: rejects.rf_invalid_uncertainty,
    rf_outside_partition: rejects.rf_outside_partition,
    rf_duplicates: Number(reduced.valid) - Number(reduced.dedup),
    rf_clusters: Number(reduced.clusters),
    rf_cluster_members: Number(reduced.members),
    rf_dropped_uncertainty: Number(reduced.dropped_unc),
    rf_unknown_entity: unknown,
    rf_anonymous: Number(c.anonymous),
    rf_resolved_mmsi: Number(c.by_mmsi),
    rf_resolved_imo: Number(c.by_imo),
    rf_resolved_call_sign: Number(c.by_cs),
    rf_resolved_entity_map: Number(c.by_map),
  };
}

/** The optional mapping table: key_type ('imo' | 'call_sign'), key_value, mmsi. It is curated, so a bad row stops the step. */
async function loadEntityMap(db: Db, files: readonly string[]): Promise<void> {
  if (files.length === 0) {
    await db.run(`CREATE TEMP TABLE entity_map (key_type VARCHAR, key_value VARCHAR, mmsi BIGINT)`);
    return;
  }
  const cols = await loadFiles(db, 'entity_map_raw', files, 'entity_map');
  requireColumns(cols, ['key_type', 'key_value', 'mmsi'], 'entity_map', files);
  const bad = await db.all(`
    SELECT src_file, src_row, CASE
      WHEN lower(trim(CAST(key_type AS VARCHAR))) NOT IN ('imo', 'call_sign') OR key_type IS NULL THEN 'key_type'
      WHEN key_value IS NULL OR trim(CAST(key_value AS VARCHAR)) = '' THEN 'key_value'
      WHEN TRY_CAST(mmsi AS BIGINT) IS NULL THEN 'mmsi' END AS field,
      CAST(key_type AS VARCHAR) AS key_type, CAST(mmsi AS VARCHAR) AS mmsi
    FROM entity_map_raw WHERE field IS NOT NULL ORDER BY src_file, src_row LIMIT 1`);
  if (bad.length > 0) {
    const row = bad[0];
    throw new StepError(
      row.field === 'key_type' ? `key_type "${row.key_type}" must be imo or call_sign` : `${row.field} is missing or not valid (mmsi "${row.mmsi}")`,
      `${row.src_file} row ${row.src_row} field ${row.field}`,
    );
  }
  await db.run(`
    CREATE TEMP TABLE entity_map AS
    SELECT DISTINCT lower(trim(CAST(key_type AS VARCHAR))) AS key_type,
      CASE WHEN lower(trim(CAST(key_type AS VARCHAR))) = 'imo' THEN ${normaliseImo('CAST(key_value AS VARCHAR)')} ELSE ${normaliseCallSign('CAST(key_value AS VARCHAR)')} END AS key_value,
      CAST(mmsi AS BIGINT) AS mmsi
    FROM entity_map_raw`);
  const conflicts = await db.all(`SELECT key_type, key_value FROM entity_map GROUP BY ALL HAVING count(DISTINCT mmsi) > 1 ORDER BY ALL LIMIT 1`);
  if (conflicts.length > 0) throw new StepError(`${conflicts[0].key_type} ${conflicts[0].key_value} maps to more than one mmsi`, files.join(', '));
}

async function columnar(db: Db, sql: string): Promise<Record<string, unknown[]>> {
  const reader = await db.connection.runAndReadAll(sql);
  return reader.getColumnsObjectJS() as Record<string, unknown[]>;
}
