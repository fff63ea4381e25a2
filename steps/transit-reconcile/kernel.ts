// transit-reconcile: wires the context to the predictor / reconciler (lifecycle.ts) and the DuckDB
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
import { emptyStats, runLifecycle, runTimes } from './lifecycle.js';
import type { PredictParams } from './predict.js';
import type { ReconcileParams } from './reconcile.js';
import { createWeekly, formatOf, loadTransits, queryDocument, queryTransits, readDetectionRows, readVesselTracks } from './tables.js';
import { STATUSES, assertTransitConstraints, fromTableRow, parseTime, type TransitRow } from './transits.js';

const DAY = 86_400_000;

/** Run time T: the `run_time` param, else the end of the date partition. */
export function resolveRunTime(runTime: unknown, partition: Readonly<Record<string, string>>): number {
  if (typeof runTime === 'string' && runTime !== '') {
    const ms = parseTime(runTime);
    if (ms === null) throw new StepError(`run_time "${runTime}" is not a timestamp`, 'param run_time');
    return ms;
  }
  const date = partition.date;
  if (date && /^\d{4}-\d{2}-\d{2}$/.test(date)) return Date.parse(`${date}T00:00:00Z`) + DAY;
  throw new StepError('needs a date partition or the run_time param', 'param run_time');
}

const kernel: Kernel = async (ctx) => {
  const p = ctx.params;
  const runMs = resolveRunTime(p.run_time, ctx.partition);
  const predict: PredictParams = {
    lookbackHours: Number(p.lookback_hours),
    horizonHours: Number(p.horizon_hours),
    minSpeedKn: Number(p.min_speed_kn),
    etaUncertaintyFraction: Number(p.eta_uncertainty_fraction),
    etaUncertaintyFloorHours: Number(p.eta_uncertainty_floor_hours),
    trackSegmentKm: Number(p.track_segment_km),
  };
  const reconcileParams: ReconcileParams = {
    missedAfterHours: Number(p.missed_after_hours),
    approachHalfwidthKm: Number(p.approach_halfwidth_nm) * KM_PER_NM,
    interpolateExitCrossing: p.interpolate_exit_crossing === true,
  };

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

  const runs = runTimes(runMs, Number(p.cadence_hours));
  const stats = emptyStats();
  const rows = runLifecycle(previous, vessels, clusters, corridors, runs, { predict, reconcile: reconcileParams }, stats);
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

  ctx.metric('run_time', new Date(runMs).toISOString());
  ctx.metric('runs', stats.runs);
  ctx.metric('vessels', vessels.length);
  ctx.metric('sar_clusters', clusters.length);
  ctx.metric('carried_rows', previous.length);
  ctx.metric('new_predictions', stats.predictionsMade);
  for (const [reason, vesselsSeen] of Object.entries(stats.ineligible)) ctx.metric(`ineligible_${reason}`, vesselsSeen.size);
  for (const status of STATUSES) ctx.metric(`rows_${status}`, rows.filter((r) => r.status === status).length);
  ctx.metric('query_rows', transits.length);
};

export default kernel;
