// transit-predict (seed 004, populate-predicted-transits): at each run of the hourly cron replayed over
// the partition's 24 h, every eligible vessel's chokepoint ETAs dead-reckoned from its latest AIS fix.
// The predictions do not depend on the lifecycle state, so they are made here, upstream of the SAR
// search they cue (`cues`: merged ETA bands per corridor) and of transit-reconcile, which turns each
// run's predictions into rows. The predictor itself is transit-reconcile/predict.ts.
import { readFile } from 'node:fs/promises';
import { StepError } from '../../src/sdk/errors.js';
import { readTable, withDb, writeTable } from '../../src/sdk/table-io.js';
import { parseChokepoints } from '../transit-reconcile/chokepoints.js';
import { emptyStats, predictRuns, runTimes } from '../transit-reconcile/lifecycle.js';
import type { PredictParams } from '../transit-reconcile/predict.js';
import { readVesselTracks } from '../transit-reconcile/tables.js';
import { isoTime, parseTime } from '../transit-reconcile/transits.js';
import { bandWindow, mergeWindows, openWindows, parseCueRows, type CueWindow } from './cues.js';
import { outputColumns, outputOrderBy, type StepKernel } from './transit-predict.dagrun.js';

const DAY = 86_400_000;
/** Carried cue windows are kept this long after they close: sar-search's `lead_hours` reaches back at most 72 h. */
export const CUE_CARRY_MS = 72 * 3_600_000;

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

const kernel: StepKernel = async (ctx) => {
  const p = ctx.params;
  const runMs = resolveRunTime(p.run_time, ctx.partition);
  const params: PredictParams = {
    lookbackHours: p.lookback_hours,
    horizonHours: p.horizon_hours,
    minSpeedKn: p.min_speed_kn,
    etaUncertaintyFraction: p.eta_uncertainty_fraction,
    etaUncertaintyFloorHours: p.eta_uncertainty_floor_hours,
    trackSegmentKm: p.track_segment_km,
  };
  const corridors = parseChokepoints(await readFile(ctx.inputs.chokepoints, 'utf8'), ctx.inputs.chokepoints);
  const positions = ctx.inputFiles.positions?.length ? ctx.inputFiles.positions : [ctx.inputs.positions];
  const vessels = await withDb((db) => readVesselTracks(db, positions, runMs));
  const stats = emptyStats();
  const runs = predictRuns(vessels, corridors, runTimes(runMs, p.cadence_hours), params, stats);

  const predictions = runs.flatMap((run) =>
    run.predictions.map((pr) => ({
      predicted_at: isoTime(run.runMs),
      predicted_imo: pr.vesselKey,
      vessel_mmsi: pr.mmsi,
      chokepoint_id: pr.chokepointId,
      direction: pr.direction,
      predicted_eta: isoTime(pr.etaMs),
      eta_uncertainty_hours: pr.uncertaintyHours,
      last_known_at: isoTime(pr.fix.tsMs),
      last_known_lat: pr.fix.lat,
      last_known_lon: pr.fix.lon,
      last_known_speed: pr.fix.sog,
      last_known_course: pr.fix.cog,
    })),
  );
  await writeTable(ctx.outputs.predictions, outputColumns.predictions, predictions, { orderBy: outputOrderBy.predictions });
  await writeTable(
    ctx.outputs.runs,
    outputColumns.runs,
    runs.map((run) => ({ run_at: isoTime(run.runMs), vessels: run.vessels, predictions: run.predictions.length, ...run.ineligible })),
    { orderBy: outputOrderBy.runs },
  );

  // The partition's scans start at its first run's day; windows closed long before that are dropped.
  const carried: CueWindow[] = [];
  for (const file of ctx.inputFiles.previous_cues ?? []) carried.push(...parseCueRows(await readTable(file), file));
  const firstRunMs = Math.min(...runs.map((run) => run.runMs));
  const keepFrom = Math.floor(firstRunMs / DAY) * DAY - CUE_CARRY_MS;
  const cues = openWindows(mergeWindows([...carried, ...runs.flatMap((run) => run.predictions.map((pr) => bandWindow(pr.chokepointId, pr.etaMs, pr.uncertaintyHours)))]), keepFrom);
  await writeTable(
    ctx.outputs.cues,
    outputColumns.cues,
    cues.map((w) => ({ chokepoint_id: w.chokepointId, window_start: isoTime(w.startMs), window_end: isoTime(w.endMs), predictions: w.predictions })),
    { orderBy: outputOrderBy.cues },
  );

  ctx.metric('run_time', isoTime(runMs));
  ctx.metric('runs', runs.length);
  ctx.metric('vessels', vessels.length);
  ctx.metric('predictions', predictions.length);
  ctx.metric('cue_windows', cues.length);
  for (const [reason, seen] of Object.entries(stats.ineligible)) ctx.metric(`ineligible_${reason}`, seen.size);
};

export default kernel;
