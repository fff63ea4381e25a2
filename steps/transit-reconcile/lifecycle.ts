// The hourly cron, replayed: for each run time, the predictor (latest fix per vessel at that time) and
// then the reconciler. Positions are grouped per vessel and sorted once; each run looks up every
// vessel's latest fix at or before its time by binary search.
import type { Corridor } from './chokepoints.js';
import type { SarCluster } from './detections.js';
import { ineligibility, predictAll, type Ineligible, type LatestFix, type PredictParams, type Prediction } from './predict.js';
import { insertPredictions, reconcile, type Fix, type ReconcileParams } from './reconcile.js';
import type { TransitRow } from './transits.js';

/** One AIS fix as the step reads it (the normalised positions table, reduced to what it needs). */
export interface PositionFix {
  tsMs: number;
  lat: number | null;
  lon: number | null;
  sog: number | null;
  cog: number | null;
}

export interface VesselTrack {
  mmsi: number;
  vesselKey: string;
  /** Sorted by time. */
  fixes: PositionFix[];
}

export interface LifecycleParams {
  predict: PredictParams;
  reconcile: ReconcileParams;
}

/** Latest fix at or before `runMs` of every vessel that has one, in vessel order. */
export function latestFixes(vessels: readonly VesselTrack[], runMs: number): LatestFix[] {
  const out: LatestFix[] = [];
  for (const v of vessels) {
    let lo = 0;
    let hi = v.fixes.length; // first index with tsMs > runMs
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v.fixes[mid].tsMs <= runMs) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) continue;
    const f = v.fixes[lo - 1];
    out.push({ mmsi: v.mmsi, vesselKey: v.vesselKey, tsMs: f.tsMs, lat: f.lat, lon: f.lon, sog: f.sog, cog: f.cog });
  }
  return out;
}

/** Fixes with a position, per MMSI, for the reconciler. */
export function fixesByMmsi(vessels: readonly VesselTrack[]): Map<number, Fix[]> {
  const map = new Map<number, Fix[]>();
  for (const v of vessels) {
    const fixes: Fix[] = [];
    for (const f of v.fixes) if (f.lat !== null && f.lon !== null) fixes.push({ tsMs: f.tsMs, lat: f.lat, lon: f.lon });
    map.set(v.mmsi, fixes);
  }
  return map;
}

/** Run times of a cron every `cadenceHours` within the 24 h ending at `endMs` (the last run is at `endMs`); 0 → just `endMs`. */
export function runTimes(endMs: number, cadenceHours: number): number[] {
  if (!(cadenceHours > 0)) return [endMs];
  const count = Math.max(1, Math.floor(24 / cadenceHours));
  return Array.from({ length: count }, (_, i) => endMs - (count - 1 - i) * cadenceHours * 3_600_000);
}

export interface CycleStats {
  runs: number;
  predictionsMade: number;
  /** Vessels whose latest fix was rejected, per reason, at one run or more. */
  ineligible: Record<Ineligible, Set<number>>;
}

export function emptyStats(): CycleStats {
  return { runs: 0, predictionsMade: 0, ineligible: { stale: new Set(), drifting: new Set(), no_course: new Set(), no_position: new Set() } };
}

/** One run's predictions (seed 004: populate-predicted-transits), with how many vessels it saw. */
export interface PredictionRun {
  runMs: number;
  /** Vessels with a fix at or before the run. */
  vessels: number;
  ineligible: Record<Ineligible, number>;
  predictions: Prediction[];
}

/**
 * The predictor at each run time: every eligible vessel's predictions from its latest fix. Independent
 * of the lifecycle state (which predictions become rows is the reconciler's business), so it is its own
 * step (transit-predict) whose output cues the SAR search and feeds transit-reconcile.
 */
export function predictRuns(vessels: readonly VesselTrack[], corridors: readonly Corridor[], runs: readonly number[], params: PredictParams, stats: CycleStats = emptyStats()): PredictionRun[] {
  return runs.map((runMs) => {
    const latest = latestFixes(vessels, runMs);
    const ineligible: Record<Ineligible, number> = { stale: 0, drifting: 0, no_course: 0, no_position: 0 };
    for (const fix of latest) {
      const reason = ineligibility(fix, runMs, params);
      if (!reason) continue;
      ineligible[reason] += 1;
      stats.ineligible[reason].add(fix.mmsi);
    }
    return { runMs, vessels: latest.length, ineligible, predictions: predictAll(latest, corridors, runMs, params) };
  });
}

/** At each run (in time order): insert that run's predictions, then reconcile; starting from `previous`. */
export function reconcileRuns(
  previous: readonly TransitRow[],
  vessels: readonly VesselTrack[],
  runs: readonly Pick<PredictionRun, 'runMs' | 'predictions'>[],
  clusters: readonly SarCluster[],
  corridors: readonly Corridor[],
  params: ReconcileParams,
  stats: CycleStats = emptyStats(),
): TransitRow[] {
  const corridorById = new Map(corridors.map((c) => [c.id, c]));
  const fixes = fixesByMmsi(vessels);
  let rows = [...previous];
  for (const run of [...runs].sort((a, b) => a.runMs - b.runMs)) {
    const before = rows.length;
    rows = insertPredictions(rows, run.predictions, run.runMs);
    stats.predictionsMade += rows.length - before;
    rows = reconcile(rows, fixes, clusters, corridorById, run.runMs, params);
    stats.runs += 1;
  }
  return rows;
}

/** Predict then reconcile at each run time, starting from `previous` (the carried-forward state): the two steps in one call. */
export function runLifecycle(
  previous: readonly TransitRow[],
  vessels: readonly VesselTrack[],
  clusters: readonly SarCluster[],
  corridors: readonly Corridor[],
  runs: readonly number[],
  params: LifecycleParams,
  stats: CycleStats = emptyStats(),
): TransitRow[] {
  return reconcileRuns(previous, vessels, predictRuns(vessels, corridors, runs, params.predict, stats), clusters, corridors, params.reconcile, stats);
}
