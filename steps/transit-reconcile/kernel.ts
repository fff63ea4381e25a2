// transit-reconcile: wires the context to the reconciler (lifecycle.ts; the predictions come from transit-predict) and the DuckDB
// tables (tables.ts). State comes from the previous partition's vessel_transits, so each partition's
// output is the whole lifecycle table as of its run time.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StepError } from '../../src/sdk/errors.js';
import type { Kernel } from '../../src/sdk/kernel-api.js';
import { readTable, withDb } from '../../src/sdk/table-io.js';
import { parseChokepoints } from './chokepoints.js';
import { clusterDetections, parseDetections, type SarDetection } from './detections.js';
import { KM_PER_NM } from './geometry.js';
import { emptyStats, reconcileRuns, type PredictionRun } from './lifecycle.js';
import type { Prediction } from './predict.js';
import type { ReconcileParams } from './reconcile.js';
import { createWeekly, formatOf, loadTransits, queryDocument, queryTransits, readDetectionRows, readVesselTracks } from './tables.js';
import { STATUSES, assertTransitConstraints, fromTableRow, isoTime, parseTime, type TransitRow } from './transits.js';

const DAY = 86_400_000;

/** transit-predict's runs and predictions as the reconciler takes them; each cell checked. */
export function parsePredictionRuns(runRows: readonly Record<string, unknown>[], predictionRows: readonly Record<string, unknown>[], label: { runs: string; predictions: string }): Pick<PredictionRun, 'runMs' | 'predictions'>[] {
  const runs = new Map<number, Prediction[]>();
  runRows.forEach((row, index) => {
    const runMs = parseTime(row.run_at);
    if (runMs === null) throw new StepError(`run_at ${String(row.run_at)} is not a timestamp`, `${label.runs} row ${index + 1} field run_at`);
    runs.set(runMs, []);
  });
  predictionRows.forEach((row, index) => {
    const where = (field: string) => `${label.predictions} row ${index + 1} field ${field}`;
    const time = (field: string): number => {
      const ms = parseTime(row[field]);
      if (ms === null) throw new StepError(`${field} ${String(row[field])} is not a timestamp`, where(field));
      return ms;
    };
    const number = (field: string, nullable: boolean): number | null => {
      const value = row[field];
      if (value === null || value === undefined) {
        if (nullable) return null;
        throw new StepError(`${field} is empty`, where(field));
      }
      const n = Number(value);
      if (!Number.isFinite(n)) throw new StepError(`${field} ${String(value)} is not a number`, where(field));
      return n;
    };
    const runMs = time('predicted_at');
    const list = runs.get(runMs);
    if (!list) throw new StepError(`predicted_at ${isoTime(runMs)} is not one of the runs`, where('predicted_at'));
    if (typeof row.predicted_imo !== 'string' || row.predicted_imo === '') throw new StepError('predicted_imo is empty', where('predicted_imo'));
    if (typeof row.chokepoint_id !== 'string') throw new StepError('chokepoint_id is empty', where('chokepoint_id'));
    if (row.direction !== 'entry_to_exit' && row.direction !== 'exit_to_entry') throw new StepError(`direction ${String(row.direction)} is not entry_to_exit or exit_to_entry`, where('direction'));
    const mmsi = number('vessel_mmsi', false) as number;
    const uncertaintyHours = number('eta_uncertainty_hours', false) as number;
    if (uncertaintyHours < 1) throw new StepError(`eta_uncertainty_hours ${uncertaintyHours} is below the 1 h floor`, where('eta_uncertainty_hours'));
    list.push({
      vesselKey: row.predicted_imo,
      mmsi,
      chokepointId: row.chokepoint_id,
      direction: row.direction,
      etaMs: time('predicted_eta'),
      uncertaintyHours,
      fix: { mmsi, vesselKey: row.predicted_imo, tsMs: time('last_known_at'), lat: number('last_known_lat', false), lon: number('last_known_lon', false), sog: number('last_known_speed', false), cog: number('last_known_course', false) },
    });
  });
  return [...runs.entries()].sort((a, b) => a[0] - b[0]).map(([runMs, predictions]) => ({ runMs, predictions }));
}

const kernel: Kernel = async (ctx) => {
  const p = ctx.params;
  const reconcileParams: ReconcileParams = {
    missedAfterHours: Number(p.missed_after_hours),
    approachHalfwidthKm: Number(p.approach_halfwidth_nm) * KM_PER_NM,
    interpolateExitCrossing: p.interpolate_exit_crossing === true,
  };
  const runs = parsePredictionRuns(await readTable(ctx.inputs.runs), await readTable(ctx.inputs.predictions), { runs: 'runs', predictions: 'predictions' });
  if (runs.length === 0) throw new StepError("transit-predict's runs table is empty: no run time to reconcile at", 'runs');
  // T: the last run (transit-predict's run_time, else the end of the date partition).
  const runMs = runs[runs.length - 1].runMs;

  const chokepointsPath = ctx.inputs.chokepoints;
  const corridors = parseChokepoints(await readFile(chokepointsPath, 'utf8'), chokepointsPath);
  const corridorIds = new Set(corridors.map((c) => c.id));

  const previousFiles = ctx.inputFiles.previous ?? [];
  const previous: TransitRow[] = [];
  for (const file of previousFiles) {
    const rows = (await readTable(file, formatOf(file))).map(fromTableRow);
    assertTransitConstraints(rows, file, corridorIds);
    previous.push(...rows);
  }

  const filesOf = (name: string): readonly string[] => (ctx.inputFiles[name]?.length ? ctx.inputFiles[name] : ctx.inputs[name] ? [ctx.inputs[name]] : []);
  const { vessels, detections } = await withDb(async (db) => {
    const detections: SarDetection[] = [];
    for (const file of filesOf('detections')) detections.push(...parseDetections(await readDetectionRows(db, file), file));
    return { vessels: await readVesselTracks(db, filesOf('positions'), runMs), detections };
  });
  const clusters = clusterDetections(detections, Number(p.sar_cluster_radius_m) / 1000, corridors);

  const stats = emptyStats();
  const rows = reconcileRuns(previous, vessels, runs, clusters, corridors, reconcileParams, stats);
  assertTransitConstraints(rows, 'vessel_transits', corridorIds);

  const days = Number(p.query_days);
  const query = {
    chokepoint: typeof p.query_chokepoint === 'string' && p.query_chokepoint !== '' ? p.query_chokepoint : null,
    fromMs: runMs - days * DAY,
    toMs: runMs,
  };
  if (query.chokepoint !== null && !corridorIds.has(query.chokepoint))
    throw new StepError(`unknown chokepoint "${query.chokepoint}" (known: ${[...corridorIds].join(', ')})`, 'param query_chokepoint');

  const transits = await withDb(async (db) => {
    await loadTransits(db, rows);
    await db.copyToFile('transits', ctx.outputs.vessel_transits, 'parquet', ['id']);
    await createWeekly(db, Number(p.weekly_sample_ids));
    await db.copyToFile('weekly', ctx.outputs.weekly, 'parquet', ['chokepoint_id', 'week_start', 'status']);
    return queryTransits(db, query);
  });
  await mkdir(dirname(ctx.outputs.query), { recursive: true });
  await writeFile(ctx.outputs.query, `${JSON.stringify(queryDocument(query, transits), null, 2)}\n`);

  ctx.metric('run_time', isoTime(runMs));
  ctx.metric('predictions', runs.reduce((n, run) => n + run.predictions.length, 0));
  ctx.metric('runs', stats.runs);
  ctx.metric('vessels', vessels.length);
  ctx.metric('sar_clusters', clusters.length);
  ctx.metric('carried_rows', previous.length);
  ctx.metric('new_predictions', stats.predictionsMade);
  for (const status of STATUSES) ctx.metric(`rows_${status}`, rows.filter((r) => r.status === status).length);
  ctx.metric('query_rows', transits.length);
};

export default kernel;
