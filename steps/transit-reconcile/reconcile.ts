// The transit lifecycle (seed 004, "The matcher / reconciler"): new predictions become rows, open rows
// are promoted to confirmed / cancelled / missed, unmatched SAR clusters in a corridor become
// dark_transit rows. Pure: rows in, rows out; the same inputs give the same rows whatever the order.
import { destinationPoint } from '../../lib/geo/sphere.js';
import { destinationZone, type Corridor } from './chokepoints.js';
import type { SarCluster } from './detections.js';
import { KM_PER_NM, distanceToSegmentKm, firstEntryFraction, inPolygon, type LatLon } from './geometry.js';
import type { Prediction } from './predict.js';
import { darkKey, predictedKey, transitId, type TransitRow } from './transits.js';

export interface ReconcileParams {
  missedAfterHours: number;
  /** A fix farther than this from the dead-reckoned approach (before entering the corridor) cancels. */
  approachHalfwidthKm: number;
  /**
   * Also count a reappearance when the straight line between two consecutive fixes crosses the exit
   * zone (time interpolated), for sparse AIS that jumps over a small zone. Off = the seed's point rule.
   */
  interpolateExitCrossing: boolean;
}

export const DEFAULT_RECONCILE_PARAMS: ReconcileParams = { missedAfterHours: 96, approachHalfwidthKm: 10 * KM_PER_NM, interpolateExitCrossing: false };

export interface Fix {
  tsMs: number;
  lat: number;
  lon: number;
}

const HOUR = 3_600_000;

function byId(a: TransitRow, b: TransitRow): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Rows for new predictions made at `runMs`. A vessel with an open (predicted) row for a chokepoint is
 * not predicted again for it until that row is resolved, so one transit is one row; a prediction
 * whose idempotency key already exists is skipped (re-running the same hour changes nothing).
 */
export function insertPredictions(rows: readonly TransitRow[], predictions: readonly Prediction[], runMs: number): TransitRow[] {
  const open = new Set(rows.filter((r) => r.status === 'predicted').map((r) => `${r.predicted_imo}|${r.chokepoint_id}`));
  // A fix no newer than what an earlier row of the pair already used or was resolved by says nothing new.
  const seenUntil = new Map<string, number>();
  for (const r of rows) {
    if (r.predicted_imo === null) continue;
    const pair = `${r.predicted_imo}|${r.chokepoint_id}`;
    seenUntil.set(pair, Math.max(seenUntil.get(pair) ?? -Infinity, r.last_known_at ?? -Infinity, r.confirmed_at ?? -Infinity, r.resolved_at ?? -Infinity));
  }
  const ids = new Set(rows.map((r) => r.id));
  const added: TransitRow[] = [];
  for (const p of predictions) {
    const pair = `${p.vesselKey}|${p.chokepointId}`;
    const id = transitId(predictedKey(p.vesselKey, p.chokepointId, p.etaMs));
    if (open.has(pair) || ids.has(id) || p.fix.tsMs <= (seenUntil.get(pair) ?? -Infinity)) continue;
    open.add(pair);
    ids.add(id);
    added.push({
      id,
      predicted_imo: p.vesselKey,
      vessel_mmsi: p.mmsi,
      chokepoint_id: p.chokepointId,
      direction: p.direction,
      predicted_eta: p.etaMs,
      eta_uncertainty_hours: p.uncertaintyHours,
      predicted_at: runMs,
      last_known_at: p.fix.tsMs,
      last_known_lat: p.fix.lat,
      last_known_lon: p.fix.lon,
      last_known_speed: p.fix.sog,
      last_known_course: p.fix.cog,
      sar_scene_id: null,
      sar_scene_acquired_at: null,
      pixel_match_lat: null,
      pixel_match_lon: null,
      pixel_detection_count: null,
      match_confidence: null,
      status: 'predicted',
      confirmed_at: null,
      confirmed_via: null,
      resolved_at: null,
    });
  }
  return [...rows, ...added];
}

/** The dead-reckoned approach of a prediction: from the last-known fix to the predicted entry point. */
export function approachSegment(row: TransitRow): { start: LatLon; end: LatLon } {
  const start = { lat: row.last_known_lat as number, lon: row.last_known_lon as number };
  const hours = Math.max(0, ((row.predicted_eta as number) - (row.last_known_at as number)) / HOUR);
  const end = destinationPoint(start.lat, start.lon, row.last_known_course as number, (row.last_known_speed as number) * KM_PER_NM * hours);
  return { start, end };
}

/** SAR match quality: the cluster's confidence, discounted by how far from the ETA it was seen (Gaussian in σ). */
export function sarMatchConfidence(row: TransitRow, cluster: SarCluster): number {
  const sigma = (row.eta_uncertainty_hours as number) * HOUR;
  const z = (cluster.acquiredMs - (row.predicted_eta as number)) / sigma;
  return cluster.confidence * Math.exp(-0.5 * z * z);
}

function sarCandidate(row: TransitRow, cluster: SarCluster, runMs: number): boolean {
  const sigma = (row.eta_uncertainty_hours as number) * HOUR;
  return (
    cluster.chokepointId === row.chokepoint_id &&
    cluster.acquiredMs <= runMs &&
    Math.abs(cluster.acquiredMs - (row.predicted_eta as number)) <= sigma
  );
}

function sarFields(sar: { cluster: SarCluster; score: number }): Partial<TransitRow> {
  return {
    sar_scene_id: sar.cluster.sceneId,
    sar_scene_acquired_at: sar.cluster.acquiredMs,
    pixel_match_lat: sar.cluster.lat,
    pixel_match_lon: sar.cluster.lon,
    pixel_detection_count: sar.cluster.pixelCount,
    match_confidence: Math.round(sar.score * 1e6) / 1e6,
  };
}

interface Evidence {
  reappear: Fix | null;
  cancel: Fix | null;
}

/** AIS evidence for an open row from the vessel's fixes after its last-known fix, up to the run time. */
export function aisEvidence(row: TransitRow, corridor: Corridor, fixes: readonly Fix[], runMs: number, params: ReconcileParams): Evidence {
  const eta = row.predicted_eta as number;
  const sigma = (row.eta_uncertainty_hours as number) * HOUR;
  const deadline = eta + params.missedAfterHours * HOUR;
  const destination = destinationZone(corridor, row.direction ?? 'entry_to_exit');
  const { start, end } = approachSegment(row);
  let entered = false;
  let reappear: Fix | null = null;
  let cancel: Fix | null = null;
  let previous: Fix = { tsMs: row.last_known_at as number, lat: start.lat, lon: start.lon };
  for (const fix of fixes) {
    if (fix.tsMs <= (row.last_known_at as number) || fix.tsMs > runMs || fix.tsMs > deadline) continue;
    const inCorridor = inPolygon(fix, corridor.polygon);
    const inDestination = inPolygon(fix, destination.polygon);
    if (inDestination && fix.tsMs >= eta - sigma) {
      reappear = fix;
      break;
    }
    if (params.interpolateExitCrossing && !inDestination) {
      const crossing = firstEntryFraction([previous, fix], destination.polygon, destination.bbox);
      const at = crossing === null ? null : Math.round((previous.tsMs + crossing * (fix.tsMs - previous.tsMs)) / 1000) * 1000;
      if (at !== null && crossing !== null && at >= eta - sigma) {
        reappear = { tsMs: at, lat: previous.lat + crossing * (fix.lat - previous.lat), lon: previous.lon + crossing * (fix.lon - previous.lon) };
        break;
      }
      if (crossing !== null || firstEntryFraction([previous, fix], corridor.polygon, corridor.bbox) !== null) entered = true;
    }
    previous = fix;
    if (inCorridor || inDestination) entered = true;
    if (!entered && cancel === null && distanceToSegmentKm(fix, start, end) > params.approachHalfwidthKm) cancel = fix;
  }
  return { reappear, cancel };
}

/**
 * One reconciliation pass at run time `runMs`. Open rows are promoted by the earliest decisive event:
 * confirmation (exit-zone reappearance after the ETA band opens, or a SAR cluster in the corridor within
 * the ETA band; both → combined), cancellation (a fix off the approach before entering the corridor),
 * or missed (ETA + missed_after passed with neither). Evidence later than ETA + missed_after is ignored,
 * so the outcome does not depend on how often the reconciler runs. SAR clusters in a corridor that no
 * row claims become dark_transit rows, once per (scene, pixel).
 */
export function reconcile(
  rows: readonly TransitRow[],
  fixesByMmsi: ReadonlyMap<number, readonly Fix[]>,
  clusters: readonly SarCluster[],
  corridors: ReadonlyMap<string, Corridor>,
  runMs: number,
  params: ReconcileParams,
): TransitRow[] {
  const usedPixels = new Set(
    rows.filter((r) => r.sar_scene_id !== null && r.pixel_match_lat !== null && r.pixel_match_lon !== null)
      .map((r) => darkKey(r.sar_scene_id as string, r.pixel_match_lat as number, r.pixel_match_lon as number)),
  );
  const freeClusters = clusters.filter((c) => c.acquiredMs <= runMs && !usedPixels.has(darkKey(c.sceneId, c.lat, c.lon)));
  const open = rows.filter((r) => r.status === 'predicted').sort(byId);
  // Rows confirmed by one signal are upgraded to combined when the other agrees later, so the outcome
  // does not depend on which run saw which signal first.
  const aisOnly = rows.filter((r) => r.status === 'confirmed' && r.confirmed_via === 'ais_reappear').sort(byId);
  const sarOnly = rows.filter((r) => r.status === 'confirmed' && r.confirmed_via === 'sar_pixel').sort(byId);

  // Greedy one-to-one SAR assignment, best match first (ties by row id, then cluster order).
  const pairs: { row: TransitRow; cluster: SarCluster; clusterIndex: number; score: number }[] = [];
  for (const row of [...open, ...aisOnly])
    freeClusters.forEach((cluster, clusterIndex) => {
      if (sarCandidate(row, cluster, runMs)) pairs.push({ row, cluster, clusterIndex, score: sarMatchConfidence(row, cluster) });
    });
  pairs.sort((a, b) => b.score - a.score || byId(a.row, b.row) || a.clusterIndex - b.clusterIndex);
  const sarFor = new Map<string, { cluster: SarCluster; clusterIndex: number; score: number }>();
  const takenClusters = new Set<number>();
  for (const pair of pairs) {
    if (sarFor.has(pair.row.id) || takenClusters.has(pair.clusterIndex)) continue;
    sarFor.set(pair.row.id, pair);
    takenClusters.add(pair.clusterIndex);
  }

  const promoted = new Map<string, TransitRow>();
  const claimed = new Set<number>();
  for (const row of open) {
    const corridor = corridors.get(row.chokepoint_id) as Corridor;
    const evidence = aisEvidence(row, corridor, fixesByMmsi.get(row.vessel_mmsi as number) ?? [], runMs, params);
    const sar = sarFor.get(row.id) ?? null;
    const deadline = (row.predicted_eta as number) + params.missedAfterHours * HOUR;
    const confirmAt = Math.min(sar?.cluster.acquiredMs ?? Infinity, evidence.reappear?.tsMs ?? Infinity);
    const cancelAt = evidence.cancel?.tsMs ?? Infinity;
    const missedAt = runMs >= deadline ? deadline : Infinity;
    if (confirmAt !== Infinity && confirmAt <= cancelAt && confirmAt <= missedAt) {
      if (sar) claimed.add(sar.clusterIndex);
      promoted.set(row.id, {
        ...row,
        status: 'confirmed',
        confirmed_at: confirmAt,
        resolved_at: runMs,
        confirmed_via: sar && evidence.reappear ? 'combined' : sar ? 'sar_pixel' : 'ais_reappear',
        ...(sar ? sarFields(sar) : {}),
      });
    } else if (cancelAt !== Infinity && cancelAt <= missedAt) {
      promoted.set(row.id, { ...row, status: 'cancelled', confirmed_at: cancelAt, resolved_at: runMs });
    } else if (missedAt !== Infinity) {
      promoted.set(row.id, { ...row, status: 'missed', confirmed_at: missedAt, resolved_at: runMs });
    }
  }

  for (const row of aisOnly) {
    const sar = sarFor.get(row.id);
    if (!sar) continue;
    claimed.add(sar.clusterIndex);
    promoted.set(row.id, { ...row, ...sarFields(sar), confirmed_via: 'combined', confirmed_at: Math.min(row.confirmed_at as number, sar.cluster.acquiredMs) });
  }
  for (const row of sarOnly) {
    const corridor = corridors.get(row.chokepoint_id) as Corridor;
    const { reappear } = aisEvidence(row, corridor, fixesByMmsi.get(row.vessel_mmsi as number) ?? [], runMs, params);
    if (reappear) promoted.set(row.id, { ...row, confirmed_via: 'combined', confirmed_at: Math.min(row.confirmed_at as number, reappear.tsMs) });
  }

  const out = rows.map((r) => promoted.get(r.id) ?? r);
  const ids = new Set(out.map((r) => r.id));
  freeClusters.forEach((cluster, index) => {
    if (cluster.chokepointId === null || claimed.has(index)) return;
    const id = transitId(darkKey(cluster.sceneId, cluster.lat, cluster.lon));
    if (ids.has(id)) return;
    ids.add(id);
    out.push({
      id,
      predicted_imo: null,
      vessel_mmsi: null,
      chokepoint_id: cluster.chokepointId,
      direction: null,
      predicted_eta: null,
      eta_uncertainty_hours: null,
      predicted_at: null,
      last_known_at: null,
      last_known_lat: null,
      last_known_lon: null,
      last_known_speed: null,
      last_known_course: null,
      sar_scene_id: cluster.sceneId,
      sar_scene_acquired_at: cluster.acquiredMs,
      pixel_match_lat: cluster.lat,
      pixel_match_lon: cluster.lon,
      pixel_detection_count: cluster.pixelCount,
      match_confidence: cluster.confidence,
      status: 'dark_transit',
      confirmed_at: null,
      confirmed_via: null,
      resolved_at: null,
    });
  });
  return out;
}
