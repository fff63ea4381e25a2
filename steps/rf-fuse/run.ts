// One partition of rf-fuse end to end: find the day's files, clean and resolve in SQL, fuse in TS,
// write the N6 parquet, the spoof audit table and the KPI report.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StepError } from '../../src/sdk/errors.js';
import { writeFileAtomic } from '../../src/sdk/atomic-write.js';
import { quoteIdent, quoteLiteral, withDb, type Db } from '../../src/sdk/table-io.js';
import { cleanTables, loadFiles, type CleanCounts } from './clean.js';
import type { FuseStats } from './fuse.js';
import { fuseStreaming, loadPrior, writeTail } from './stream.js';
import { DEFAULT_PARAMS, MINUTE_MS, type FuseParams } from './types.js';
import { outputColumns } from './rf-fuse.dagrun.js';

export interface RfFuseInputs {
  /** AIS: a directory laid out YYYY/MM/DD/*.parquet|csv, or one file */
  ais: string;
  /** RF: same layout; a missing day folder means no RF that day */
  rf?: string;
  /** the vessel-ID mapping table: a file, or a directory of files */
  entityMap?: string;
  /** analyst spoof labels (mmsi, ts_utc, spoofed): same layout as AIS; used only for KPI precision */
  labels?: string;
  /** the previous partition's `tail` output (its last hours of fixes and RF): gaps across midnight */
  previous?: readonly string[];
}

export interface RfFuseOutputs {
  fused: string;
  kpi: string;
  audit?: string;
  /** this day's tail, the next day's `previous` input */
  tail?: string;
}

export interface RfFuseKpi {
  step: 'rf-fuse';
  partition: string;
  lineage_run_id: string;
  params: FuseParams;
  cleaning: CleanCounts;
  gap_fill: {
    gaps: number;
    total_gap_minutes: number;
    gap_minutes_filled: number;
    gap_coverage_pct: number | null;
    fill_points_rejected: number;
    candidates_own: number;
    candidates_anonymous: number;
    candidates_explained_by_ais: number;
    minor_gaps_interpolated: number;
    interpolated_points: number;
  };
  spoof: {
    assessed: number;
    flagged: number;
    corrected: number;
    labelled_rows: number;
    labelled_spoofed: number;
    precision: number | null;
    recall: number | null;
  };
  output: { rows: number; ais: number; rf_fill: number; ais_corrected: number };
}

export interface RfFuseResult {
  kpi: RfFuseKpi;
  warnings: string[];
}

/** The files of one partition day below an input directory (or the input itself when it is a file). */
export function dayFiles(input: string, date: string, required: boolean, what: string): string[] {
  if (!existsSync(input)) {
    if (required) throw new StepError(`${what} input does not exist`, input);
    return [];
  }
  if (statSync(input).isFile()) return [input];
  const folder = join(input, ...date.split('-'));
  if (!existsSync(folder)) {
    if (required) throw new StepError(`${what} input has no folder for ${date} (expected ${folder}/*.parquet)`, input);
    return [];
  }
  const files = readdirSync(folder).filter((f) => /\.(parquet|csv)$/i.test(f)).sort().map((f) => join(folder, f));
  if (files.length === 0 && required) throw new StepError(`${what} input has no .parquet or .csv files for ${date}`, folder);
  return files;
}

/** Every table file below a path (the mapping table is not partitioned). */
export function allTableFiles(input: string): string[] {
  if (!existsSync(input)) throw new StepError('entity_map input does not exist', input);
  if (statSync(input).isFile()) return [input];
  const out: string[] = [];
  for (const entry of readdirSync(input, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(input, entry.name);
    if (entry.isDirectory()) out.push(...allTableFiles(path));
    else if (/\.(parquet|csv)$/i.test(entry.name)) out.push(path);
  }
  return out;
}

/**
 * Deterministic run identifier: a digest of the step, the partition, the params and the bytes of
 * every input file. Reruns on the same data and params get the same id (byte-identical outputs);
 * any change of data or params gives a new one. Not the clock: that would break idempotency.
 */
export function lineageRunId(date: string, params: FuseParams, inputFiles: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update(`rf-fuse\n${date}\n${canonicalJson(params)}\n`);
  for (const file of inputFiles) hash.update(createHash('sha256').update(readFileSync(file)).digest('hex') + '\n');
  return `rf-fuse-${date}-${hash.digest('hex').slice(0, 16)}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Params from the pipeline (already validated by the engine) over the defaults. */
export function resolveParams(raw: Readonly<Record<string, unknown>>): FuseParams {
  const params: FuseParams = { ...DEFAULT_PARAMS };
  for (const key of Object.keys(DEFAULT_PARAMS) as (keyof FuseParams)[]) {
    if (raw[key] === undefined) continue;
    const value = Number(raw[key]);
    if (!Number.isFinite(value)) throw new StepError(`param ${key} must be a number (got ${JSON.stringify(raw[key])})`);
    params[key] = value;
  }
  if (params.bucket_min < 1 || params.bucket_min > 5) throw new StepError(`param bucket_min must be 1–5 minutes (got ${params.bucket_min})`);
  if (params.spoof_thr < 0 || params.spoof_thr > 1) throw new StepError(`param spoof_thr must be in [0, 1] (got ${params.spoof_thr})`);
  return params;
}

/** How much of the machine one partition may use (the kernel takes the defaults; the bench can shrink them). */
export interface RfFuseResources {
  /** DuckDB's buffer cap; past it sorts, joins and temp tables spill to the run's staging folder */
  memoryLimit?: string;
  threads?: number;
}

export async function runRfFuse(inputs: RfFuseInputs, outputs: RfFuseOutputs, date: string, params: FuseParams, resources: RfFuseResources = {}): Promise<RfFuseResult> {
  const aisFiles = dayFiles(inputs.ais, date, true, 'ais');
  const rfFiles = inputs.rf ? dayFiles(inputs.rf, date, false, 'rf') : [];
  const entityMapFiles = inputs.entityMap ? allTableFiles(inputs.entityMap) : [];
  const labelFiles = inputs.labels ? dayFiles(inputs.labels, date, false, 'labels') : [];
  const warnings: string[] = [];
  if (rfFiles.length === 0) warnings.push(`no RF files for ${date}: AIS passes through without gap fill or spoof checks`);
  const previousFiles = [...(inputs.previous ?? [])].sort();
  const runId = lineageRunId(date, params, [...aisFiles, ...rfFiles, ...entityMapFiles, ...labelFiles, ...previousFiles]);
  const dayStart = Date.parse(`${date}T00:00:00Z`);

  // Scratch beside the N6 output (the run's own output folder): DuckDB spills there, never outside it.
  mkdirSync(dirname(outputs.fused), { recursive: true });
  const staging = mkdtempSync(join(dirname(outputs.fused), '.rf-fuse-staging-'));
  try {
    return await withDb(async (db) => {
      const cleaned = await cleanTables(db, { aisFiles, rfFiles, entityMapFiles, date }, params);
      warnings.push(...cleaned.examples);
      await loadPrior(db, previousFiles, dayStart, params, (file) => `previous input ${file}`);
      // The fusion's rows stream to newline-delimited JSON (DuckDB reads it in parallel), not into an array.
      const rowsOut = new NdjsonWriter(join(staging, 'n6.ndjson'));
      const auditOut = new NdjsonWriter(join(staging, 'audit.ndjson'));
      let stats: FuseStats;
      try {
        stats = await fuseStreaming(db, params, {
          // A fix without time-matched RF leaves the fusion as it came in: SQL copies it from ais_clean.
          row: (row) => {
            if (row.spoof_score !== null || row.position_label !== 'AIS_REPORTED') rowsOut.write(row);
          },
          audit: (row) => auditOut.write(row),
        });
      } finally {
        rowsOut.close();
        auditOut.close();
      }
      const n6Fields = without(outputColumns.fused, ['ingest_partition', 'lineage_run_id']);
      await stageNdjson(db, 'n6_ts', n6Fields, rowsOut.path);
      // Materialised before the sort: DuckDB ran out of its memory cap sorting straight out of the
      // anti join on a 20-million-row day, while this table spills like any other. The run's constant
      // columns are added after the sort (copyToFile's `constants`), so they do not travel through it.
      await db.run(`
        CREATE TEMP TABLE n6_rows AS
        SELECT * FROM n6_ts
        UNION ALL
        SELECT CAST(a.mmsi AS VARCHAR), a.ts_ms, a.lat, a.lon, 'AIS', NULL::FLOAT, NULL::FLOAT, []::VARCHAR[], NULL::INTEGER,
          CAST(a.sog AS FLOAT), CAST(a.cog AS FLOAT), NULL::FLOAT, 'AIS_REPORTED'
        FROM ais_clean a ANTI JOIN (SELECT CAST(mmsi AS BIGINT) AS mmsi, ts_utc FROM n6_ts WHERE position_label IN ('AIS_REPORTED', 'RF_CORRECTED')) t
          ON t.mmsi = a.mmsi AND t.ts_utc = a.ts_ms`);
      const runColumns = { ingest_partition: `CAST(${quoteLiteral(date)} AS DATE)`, lineage_run_id: quoteLiteral(runId) };
      await db.copyToFile('n6_rows', outputs.fused, 'parquet', ['mmsi', 'ts_utc', 'source_tag', 'position_label'], undefined, runColumns);
      if (outputs.audit) {
        await stageNdjson(db, 'audit_ts', without(outputColumns.audit, ['ingest_partition', 'lineage_run_id']), auditOut.path);
        await db.copyToFile('audit_ts', outputs.audit, 'parquet', ['mmsi', 'ts_utc'], undefined, runColumns);
      }
      if (outputs.tail) await writeTail(db, outputs.tail, dayStart + 24 * 60 * MINUTE_MS, params);
      const labels = labelFiles.length > 0 ? await spoofLabelKpis(db, labelFiles) : null;
      const [tags] = await db.all(`SELECT count(*) AS rows, count(*) FILTER (WHERE source_tag = 'AIS') AS ais, count(*) FILTER (WHERE source_tag = 'RF_FILL') AS rf_fill, count(*) FILTER (WHERE source_tag = 'AIS_CORRECTED') AS ais_corrected FROM n6_rows`);
      const output = { rows: Number(tags.rows), ais: Number(tags.ais), rf_fill: Number(tags.rf_fill), ais_corrected: Number(tags.ais_corrected) };
      const kpi = buildKpi(date, runId, params, cleaned.counts, stats, output, labels);
      await writeJsonAtomically(outputs.kpi, kpi);
      return { kpi, warnings };
    }, { memoryLimit: resources.memoryLimit ?? DUCKDB_MEMORY_LIMIT, threads: resources.threads, tempDirectory: join(staging, 'spill') });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * DuckDB's share of the step's memory. A 20-million-row day needs more than this for its sorts, which
 * then spill to the run's staging folder; the rest of the budget is the JavaScript side (the fix index,
 * the anonymous RF, one vessel at a time). Without a cap DuckDB takes up to 80 % of the machine's RAM.
 */
const DUCKDB_MEMORY_LIMIT = '4GB';

function without<T extends Record<string, string>>(columns: T, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(columns).filter(([name]) => !names.includes(name)));
}

/** Buffered, synchronous appends of one JSON object per line (the fusion's sink is synchronous). */
class NdjsonWriter {
  private readonly fd: number;
  private buffer = '';
  count = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }
  write(row: object): void {
    this.buffer += JSON.stringify(row) + '\n';
    this.count++;
    if (this.buffer.length > 1 << 20) this.flush();
  }
  private flush(): void {
    if (this.buffer.length > 0) writeSync(this.fd, this.buffer);
    this.buffer = '';
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/**
 * Rows go to DuckDB as newline-delimited JSON (read in parallel) rather than through the appender,
 * which costs a JS call per value. Numbers survive exactly (JSON.stringify writes the shortest
 * round-trip form); narrower types are cast in SQL as writeTable does.
 */
async function stageNdjson(db: Db, table: string, columns: Record<string, string>, file: string): Promise<void> {
  const names = Object.keys(columns);
  const readTypes = names.map((n) => `${quoteLiteral(n)}: ${quoteLiteral(/^(FLOAT|INTEGER)$/.test(columns[n]) ? 'DOUBLE' : columns[n])}`).join(', ');
  const casts = names.map((n) => `CAST(${quoteIdent(n)} AS ${columns[n]}) AS ${quoteIdent(n)}`).join(', ');
  const empty = statSync(file).size === 0;
  await db.run(
    empty
      ? `CREATE TEMP TABLE ${quoteIdent(table)} AS SELECT ${names.map((n) => `NULL::${columns[n]} AS ${quoteIdent(n)}`).join(', ')} LIMIT 0`
      : `CREATE TEMP TABLE ${quoteIdent(table)} AS SELECT ${casts} FROM read_json(${quoteLiteral(file)}, format = 'newline_delimited', columns = {${readTypes}})`,
  );
}

/**
 * Precision and recall of the corrections against analyst labels, in SQL (one label per AIS fix is a
 * day's worth of rows). A fix labelled twice keeps its last label in file and row order.
 */
async function spoofLabelKpis(db: Db, files: readonly string[]): Promise<{ labelled: number; spoofed: number; precision: number | null; recall: number | null }> {
  await loadFiles(db, 'labels_raw', files, 'labels');
  await db.run(`
    CREATE TEMP TABLE labels AS
    SELECT mmsi, ts, spoofed FROM (
      SELECT CAST(mmsi AS VARCHAR) AS mmsi, epoch_ms(CAST(ts_utc AS TIMESTAMPTZ)) AS ts, CAST(spoofed AS BOOLEAN) AS spoofed, src_file, src_row
      FROM labels_raw WHERE mmsi IS NOT NULL AND ts_utc IS NOT NULL AND spoofed IS NOT NULL)
    QUALIFY row_number() OVER (PARTITION BY mmsi, ts ORDER BY src_file DESC, src_row DESC) = 1`);
  const [c] = await db.all(`
    SELECT (SELECT count(*) FROM labels) AS labelled, (SELECT count(*) FILTER (WHERE spoofed) FROM labels) AS spoofed,
      count(l.mmsi) AS labelled_corrected, count(*) FILTER (WHERE l.spoofed) AS true_positive
    FROM n6_rows n6 JOIN labels l ON l.mmsi = n6.mmsi AND l.ts = n6.ts_utc WHERE n6.source_tag = 'AIS_CORRECTED'`);
  const labelledCorrected = Number(c.labelled_corrected);
  const spoofed = Number(c.spoofed);
  return {
    labelled: Number(c.labelled),
    spoofed,
    precision: labelledCorrected > 0 ? Number(c.true_positive) / labelledCorrected : null,
    recall: spoofed > 0 ? Number(c.true_positive) / spoofed : null,
  };
}

function buildKpi(
  date: string,
  runId: string,
  params: FuseParams,
  cleaning: CleanCounts,
  stats: FuseStats,
  output: RfFuseKpi['output'],
  labels: { labelled: number; spoofed: number; precision: number | null; recall: number | null } | null,
): RfFuseKpi {
  return {
    step: 'rf-fuse',
    partition: date,
    lineage_run_id: runId,
    params,
    cleaning,
    gap_fill: {
      gaps: stats.gaps,
      total_gap_minutes: stats.gap_slots * params.bucket_min,
      gap_minutes_filled: stats.gap_slots_filled * params.bucket_min,
      gap_coverage_pct: stats.gap_slots > 0 ? round((100 * stats.gap_slots_filled) / stats.gap_slots, 4) : null,
      fill_points_rejected: stats.fill_points_rejected,
      candidates_own: stats.gap_candidates_own,
      candidates_anonymous: stats.gap_candidates_anonymous,
      candidates_explained_by_ais: stats.gap_candidates_explained,
      minor_gaps_interpolated: stats.minor_gaps_interpolated,
      interpolated_points: stats.interpolated_points,
    },
    spoof: {
      assessed: stats.spoof_assessed,
      flagged: stats.spoof_flagged,
      corrected: stats.spoof_corrected,
      labelled_rows: labels?.labelled ?? 0,
      labelled_spoofed: labels?.spoofed ?? 0,
      precision: labels?.precision === null || labels === null ? null : round(labels.precision, 6),
      recall: labels?.recall === null || labels === null ? null : round(labels.recall, 6),
    },
    output,
  };
}

/** Flat name → number pairs of the KPI report, for the manifest (ctx.metric). */
export function kpiMetrics(kpi: RfFuseKpi): Record<string, number | string> {
  const out: Record<string, number | string> = { lineage_run_id: kpi.lineage_run_id };
  for (const [section, values] of Object.entries({ cleaning: kpi.cleaning, gap: kpi.gap_fill, spoof: kpi.spoof, output: kpi.output })) {
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'number') continue;
      const name = section === 'cleaning' || key.startsWith(`${section}_`) ? key : `${section}_${key}`;
      out[name] = value;
    }
  }
  return out;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
