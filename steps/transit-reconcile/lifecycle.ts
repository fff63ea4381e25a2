// The hourly cron, replayed: for each run time, the predictor (latest fix per vessel at that time) and
// then the reconciler. Positions are grouped per vessel and sorted once; each run looks up every
// vessel's latest fix at or before its time by binary search.
import type { Corridor } from './chokepoints.js';
import type { SarCluster } from './detections.js';
import { ineligibility, predictAll, type Ineligible, type LatestFix, type PredictParams } from './predict.js';
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

/** Predict then reconcile at each run time, starting from `previous` (the carried-forward state). */
export function runLifecycle(
  previous: readonly TransitRow[],
  vessels: readonly VesselTrack[],
  clusters: readonly SarCluster[],
  corridors: readonly Corridor[],
  runs: readonly number[],
  params: LifecycleParams,
  stats: CycleStats = emptyStats(),
): TransitRow[] {
  const corridorById = new Map(corridors.map((c) => [c.id, c]));
  const fixes = fixesByMmsi(vessels);
  let rows = [...previous];
  for (const runMs of runs) {
    const latest = latestFixes(vessels, runMs);
    for (const fix of latest) {
      const reason = ineligibility(fix, runMs, params.predict);
      if (reason) stats.ineligible[reason].add(fix.mmsi);
    }
    const predictions = predictAll(latest, corridors, runMs, params.predict);
    const before = rows.length;
    rows = insertPredictions(rows, predictions, runMs);
    stats.predictionsMade += rows.length - before;
    rows = reconcile(rows, fixes, clusters, corridorById, runMs, params.reconcile);
    stats.runs += 1;
  }
  return rows;
}
