// The predictor (seed 004, predict_chokepoint_eta): straight-line great-circle dead reckoning from a
// vessel's latest AIS fix toward every corridor, one prediction per corridor the track enters.
import { bearingDeg, haversineKm } from '../../lib/geo/sphere.js';
import type { Corridor, Direction } from './chokepoints.js';
import { KM_PER_NM, firstEntryFraction, greatCircleTrack, inPolygon, type LatLon } from './geometry.js';

export interface PredictParams {
  lookbackHours: number;
  horizonHours: number;
  minSpeedKn: number;
  etaUncertaintyFraction: number;
  etaUncertaintyFloorHours: number;
  /** Longest segment of the sampled track line, km (the great circle is drawn as a polyline). */
  trackSegmentKm: number;
}

export const DEFAULT_PREDICT_PARAMS: PredictParams = {
  lookbackHours: 6,
  horizonHours: 48,
  minSpeedKn: 1.0,
  etaUncertaintyFraction: 0.15,
  etaUncertaintyFloorHours: 1,
  trackSegmentKm: 5,
};

/** A vessel's latest fix at or before the run time, as the predictor sees it. */
export interface LatestFix {
  mmsi: number;
  /** The vessel key used as predicted_imo: the IMO when known, else `MMSI:<mmsi>`. */
  vesselKey: string;
  tsMs: number;
  lat: number | null;
  lon: number | null;
  sog: number | null;
  cog: number | null;
}

export type Ineligible = 'stale' | 'drifting' | 'no_course' | 'no_position';

export interface Prediction {
  vesselKey: string;
  mmsi: number;
  chokepointId: string;
  direction: Direction;
  etaMs: number;
  uncertaintyHours: number;
  fix: LatestFix;
}

/** AIS "speed not available" is 102.3 kn; anything above 102.2 is not a speed. */
const SOG_NOT_AVAILABLE = 102.2;

/** Why the seed's eligibility rules reject this fix at run time `runMs`, or null when it is eligible. */
export function ineligibility(fix: LatestFix, runMs: number, params: PredictParams): Ineligible | null {
  if (fix.lat === null || fix.lon === null || !(Math.abs(fix.lat) <= 90) || !(Math.abs(fix.lon) <= 180)) return 'no_position';
  if (!(fix.tsMs <= runMs && runMs - fix.tsMs <= params.lookbackHours * 3_600_000)) return 'stale';
  if (fix.sog === null || !(fix.sog >= params.minSpeedKn) || fix.sog > SOG_NOT_AVAILABLE) return 'drifting';
  if (fix.cog === null || !(fix.cog >= 0 && fix.cog < 360)) return 'no_course';
  return null;
}

/** One-sigma ETA band: a fraction of the dead-reckoning lead time, with a floor. */
export function etaUncertaintyHours(leadHours: number, params: PredictParams): number {
  return Math.max(params.etaUncertaintyFloorHours, params.etaUncertaintyFraction * Math.max(0, leadHours));
}

/**
 * Which way a vessel at `position` would travel through `corridor`: from the zone nearer to it (inside
 * the corridor: towards the zone its course points at). A one-way corridor approached from its exit
 * side gives null (not a valid transit).
 */
export function approachDirection(corridor: Corridor, position: LatLon, course: number): Direction | null {
  let forward: boolean;
  if (inPolygon(position, corridor.polygon)) {
    // Already inside: it is heading for the zone whose bearing is closer to its course.
    const off = (zone: Corridor['exitZone']) => Math.abs(((bearingDeg(position.lat, position.lon, zone.centre.lat, zone.centre.lon) - course + 540) % 360) - 180);
    forward = off(corridor.exitZone) <= off(corridor.entryZone);
  } else {
    const toEntry = haversineKm(position.lat, position.lon, corridor.entryZone.centre.lat, corridor.entryZone.centre.lon);
    const toExit = haversineKm(position.lat, position.lon, corridor.exitZone.centre.lat, corridor.exitZone.centre.lon);
    forward = toEntry <= toExit;
  }
  if (forward) return 'entry_to_exit';
  return corridor.bidirectional ? 'exit_to_entry' : null;
}

/**
 * Predictions for one vessel: ETA = fix time + (fraction of the track at the first corridor hit) ×
 * horizon. ETAs are whole seconds so the idempotency key is stable. Ineligible vessels give [].
 */
export function predictVessel(fix: LatestFix, corridors: readonly Corridor[], runMs: number, params: PredictParams): Prediction[] {
  if (ineligibility(fix, runMs, params) !== null) return [];
  const start = { lat: fix.lat as number, lon: fix.lon as number };
  const trackKm = (fix.sog as number) * KM_PER_NM * params.horizonHours;
  const predictions: Prediction[] = [];
  for (const corridor of corridors) {
    // Only the stretch of track within the corridor's bounding circle can hit it: a point s km along
    // the track is at least |d − s| km from the circle's centre (triangle inequality).
    const centreKm = haversineKm(start.lat, start.lon, corridor.centre.lat, corridor.centre.lon);
    if (centreKm - corridor.radiusKm > trackKm) continue;
    const fromKm = Math.max(0, centreKm - corridor.radiusKm);
    const toKm = Math.min(trackKm, centreKm + corridor.radiusKm);
    const stretch = greatCircleTrack(start, fix.cog as number, fromKm, toKm, params.trackSegmentKm);
    const stretchFraction = firstEntryFraction(stretch, corridor.polygon, corridor.bbox);
    if (stretchFraction === null) continue;
    const fraction = (fromKm + stretchFraction * (toKm - fromKm)) / trackKm;
    const direction = approachDirection(corridor, start, fix.cog as number);
    if (direction === null) continue;
    const leadHours = fraction * params.horizonHours;
    const etaMs = Math.round((fix.tsMs + leadHours * 3_600_000) / 1000) * 1000;
    predictions.push({
      vesselKey: fix.vesselKey,
      mmsi: fix.mmsi,
      chokepointId: corridor.id,
      direction,
      etaMs,
      uncertaintyHours: etaUncertaintyHours((etaMs - fix.tsMs) / 3_600_000, params),
      fix,
    });
  }
  return predictions;
}

/** Predictions for many vessels, in input order. */
export function predictAll(fixes: Iterable<LatestFix>, corridors: readonly Corridor[], runMs: number, params: PredictParams): Prediction[] {
  const out: Prediction[] = [];
  for (const fix of fixes) for (const p of predictVessel(fix, corridors, runMs, params)) out.push(p);
  return out;
}

/** `IMO1234567`, `1234567` → `1234567`; zeros, blanks and malformed values → null. */
export function normaliseImo(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const digits = String(value).trim().toUpperCase().replace(/^IMO\s*/, '');
  return /^[1-9]\d{6}$/.test(digits) ? digits : null;
}

export function vesselKey(imo: string | null, mmsi: number): string {
  return imo ?? `MMSI:${mmsi}`;
}
