// Algorithm B (seed 003 §5.2): detect AIS positions that disagree with the vessel's own RF
// geolocations, score them, and replace the position when the score clears `spoof_thr`.
import { bearingDeg, haversineKm } from '../../lib/geo/sphere.js';
import { KNOT_KM_PER_H, MINUTE_MS, RADIUS95_PER_SIGMA, type FuseParams, type RfDetection } from './types.js';

export interface FixPosition {
  ts: number;
  lat: number;
  lon: number;
  sog: number | null;
  cog: number | null;
}

export interface SpoofAssessment {
  /** composite spoof likelihood 0–1; null when no time-matched RF exists (not assessed) */
  score: number | null;
  /** inverse-variance weighted residual ε between AIS and the matched RF (km), motion allowed for */
  residualKm: number | null;
  /** ε > max_res_km and beyond the RF uncertainty */
  flagged: boolean;
  corrected: { lat: number; lon: number; uncertaintyM: number; distanceKm: number } | null;
  rfIds: string[];
}

/** Weights of the composite score: residual size, agreement between RF detections, kinematics. */
export const SPOOF_WEIGHTS = { residual: 0.5, agreement: 0.35, kinematic: 0.15 } as const;

/**
 * Score one AIS fix against the RF detections of the same vessel: `matched` (±rf_match_min) give the
 * residual and the corrected position; `context` (±rf_window_min) gives the temporal consistency.
 * - residual R: below the gate (max(max_res_km, RF 95 % radius)) it stays under 0.5; above it rises
 *   to 1 at twice the gate.
 * - agreement T (temporal consistency): the share of the detections around the fix that individually
 *   exceed the gate, discounted when there are fewer than two (one mislinked detection must not
 *   condemn a fix, while a spoof persists and every detection over several minutes disagrees).
 * - kinematic K: implied speed to the previous/next fix beyond what the reported SOG allows, and a
 *   course that disagrees with the motion (the jumps at a spoof's start and end).
 */
export function assessFix(
  fix: FixPosition,
  prev: FixPosition | null,
  next: FixPosition | null,
  matched: readonly RfDetection[],
  context: readonly RfDetection[],
  params: FuseParams,
): SpoofAssessment {
  if (matched.length === 0) return { score: null, residualKm: null, flagged: false, corrected: null, rfIds: [] };
  const motionKmPerMin = ((fix.sog ?? 0) * KNOT_KM_PER_H) / 60;
  let weightSum = 0;
  let residualSum = 0;
  let minUncertaintyKm = Number.POSITIVE_INFINITY;
  const flaggers: RfDetection[] = [];
  for (const det of matched) {
    const uncertaintyKm = det.uncertaintyM / 1000;
    const allowanceKm = motionKmPerMin * (Math.abs(det.ts - fix.ts) / MINUTE_MS);
    const residual = Math.max(0, haversineKm(fix.lat, fix.lon, det.lat, det.lon) - allowanceKm);
    const w = 1 / (uncertaintyKm * uncertaintyKm);
    weightSum += w;
    residualSum += w * residual;
    minUncertaintyKm = Math.min(minUncertaintyKm, uncertaintyKm);
    if (residual > Math.max(params.max_res_km, uncertaintyKm)) flaggers.push(det);
  }
  const residualOf = (det: RfDetection) =>
    Math.max(0, haversineKm(fix.lat, fix.lon, det.lat, det.lon) - motionKmPerMin * (Math.abs(det.ts - fix.ts) / MINUTE_MS));
  const around = context.length > 0 ? context : matched;
  const agreeing = around.filter((det) => residualOf(det) > Math.max(params.max_res_km, det.uncertaintyM / 1000)).length;
  const residualKm = residualSum / weightSum;
  const gate = Math.max(params.max_res_km, minUncertaintyKm);
  const flagged = residualKm > gate;
  const residualTerm = flagged ? 0.5 + 0.5 * Math.min(1, (residualKm - gate) / gate) : (0.5 * residualKm) / gate;
  const agreementTerm = (agreeing / around.length) * Math.min(1, around.length / 2);
  const score = clamp01(
    SPOOF_WEIGHTS.residual * residualTerm + SPOOF_WEIGHTS.agreement * agreementTerm + SPOOF_WEIGHTS.kinematic * kinematicTerm(fix, prev, next, params),
  );
  let corrected: SpoofAssessment['corrected'] = null;
  if (flagged && score >= params.spoof_thr && flaggers.length > 0) {
    // Inverse-variance mean of the detections that disagree, each widened by how far the ship moves
    // between its time and the fix's time.
    let wSum = 0, latSum = 0, lonSum = 0;
    for (const det of flaggers) {
      const sigmaKm = det.uncertaintyM / 1000 / RADIUS95_PER_SIGMA;
      const driftKm = motionKmPerMin * (Math.abs(det.ts - fix.ts) / MINUTE_MS);
      const w = 1 / (sigmaKm * sigmaKm + driftKm * driftKm);
      wSum += w;
      latSum += w * det.lat;
      lonSum += w * det.lon;
    }
    const lat = latSum / wSum;
    const lon = lonSum / wSum;
    corrected = {
      lat,
      lon,
      uncertaintyM: Math.max(1, Math.round(RADIUS95_PER_SIGMA * 1000 * Math.sqrt(1 / wSum))),
      distanceKm: haversineKm(fix.lat, fix.lon, lat, lon),
    };
  }
  const ids = (flagged ? flaggers : matched).flatMap((det) => det.memberIds);
  return { score, residualKm, flagged, corrected, rfIds: [...new Set(ids)].sort() };
}

/** Implausible motion around the fix: 0 (consistent) to 1 (a jump no ship makes). */
export function kinematicTerm(fix: FixPosition, prev: FixPosition | null, next: FixPosition | null, params: FuseParams): number {
  const reportedKn = fix.sog ?? 0;
  const plausibleKn = Math.min(params.max_speed_kn, 1.5 * reportedKn + 10);
  let speedExcess = 0;
  let courseError = 0;
  for (const other of [prev, next]) {
    if (!other || other.ts === fix.ts) continue;
    const hours = Math.abs(fix.ts - other.ts) / 3_600_000;
    const impliedKn = haversineKm(fix.lat, fix.lon, other.lat, other.lon) / hours / KNOT_KM_PER_H;
    speedExcess = Math.max(speedExcess, Math.min(1, Math.max(0, impliedKn - plausibleKn) / plausibleKn));
  }
  if (prev && fix.cog !== null && reportedKn > 3 && prev.ts !== fix.ts) {
    const moved = haversineKm(prev.lat, prev.lon, fix.lat, fix.lon);
    if (moved > 0.05) {
      const diff = Math.abs(((bearingDeg(prev.lat, prev.lon, fix.lat, fix.lon) - fix.cog + 540) % 360) - 180);
      courseError = diff / 180;
    }
  }
  return Math.max(speedExcess, 0.5 * courseError);
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}
