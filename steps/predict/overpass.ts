// Sentinel-2 overpass prediction: for each target (MGRS tile or point), each satellite and each
// day of a window, the daylight descending passes whose 290 km MSI swath covers the target.
//
// Search: each satellite's Earth-fixed trajectory is sampled once (60 s steps, nearest-epoch TLE
// per sample) and shared by every target. For a target P the along-track function
// f(t) = (r(t) − P)·w(t) — w the ground-track direction (velocity with its component along the
// local vertical removed) — changes sign from − to + when the sub-satellite point passes P's
// along-track position. A bracketed root finder on fresh SGP4 states refines that moment to
// < 1 ms; this is the scene datetime Earth Search v1 records for a granule.
import { StepError } from '../../src/sdk/errors.js';
import { tileFootprint, type TileFootprint } from './mgrs.js';
import {
  ElementSetSeries,
  cross,
  dot,
  ecefToGeodetic,
  geodeticToEcef,
  gstimeAt,
  localUp,
  makeElementSet,
  norm,
  stateAt,
  sunElevationDeg,
  unit,
  type ElementSet,
  type StateVector,
  type Vec3,
} from './orbit.js';

export { tileFootprint, type TileFootprint } from './mgrs.js';

const MS_PER_DAY = 86_400_000;
const SAMPLE_STEP_MS = 60_000;
const RAD = Math.PI / 180;

/** A TLE as tle-fetch writes it (or as parsed by the caller). */
export interface TleRecord {
  satellite: string;
  norad_id: number;
  line1: string;
  line2: string;
}

export type TargetSpec = { tile: string } | { name: string; lat: number; lon: number; radius_km?: number };

export interface Target {
  /** Tile id (normalised, e.g. 30UXB) or the point's name. */
  id: string;
  kind: 'tile' | 'point';
  center: { lat: number; lon: number };
  bbox: { minLat: number; minLon: number; maxLat: number; maxLon: number };
  epsg: number | null;
  /** Earth-fixed km: the centre and points along the footprint boundary. */
  centerEcef: Vec3;
  boundaryEcef: Vec3[];
  /** Largest distance (km) from the centre to the footprint boundary. */
  radiusKm: number;
}

export interface Overpass {
  targetId: string;
  targetKind: 'tile' | 'point';
  satellite: string;
  noradId: number;
  /** When the sub-satellite point passes the target centre along-track (ms since 1970, UTC). */
  centerTimeMs: number;
  /** First and last instant the swath's scan line touches the footprint (the centre time lies
   * outside this window when the target centre itself is beyond the swath edge). */
  startTimeMs: number;
  endTimeMs: number;
  /** Ground distance from the track to the target centre; positive when the target lies east of the track. */
  crossTrackKm: number;
  /** Share of the footprint's cross-track extent inside the swath (1 = the whole width is imaged). */
  coverageFraction: number;
  relativeOrbit: number;
  sunElevationDeg: number;
  /** Epoch of the element set used. */
  tleEpochMs: number;
  target: Target;
}

export interface PredictOptions {
  /** Window start (ms since 1970, UTC) and its length in days. */
  startMs: number;
  days: number;
  swathKm?: number;
  /** Element sets further than this from a time are not used for it (days). */
  maxTleAgeDays?: number;
  /** Passes with the sun lower than this at the target centre are not daylight passes. */
  minSunElevationDeg?: number;
}

export interface PredictResult {
  overpasses: Overpass[];
  warnings: string[];
}

/** Resolve a tile id or a point into a target with its footprint. */
export function resolveTarget(spec: TargetSpec): Target {
  if ('tile' in spec) return tileTarget(tileFootprint(spec.tile));
  const radiusKm = spec.radius_km ?? 5;
  const dLat = radiusKm / 111.2;
  const dLon = radiusKm / (111.2 * Math.max(Math.cos(spec.lat * RAD), 1e-6));
  const west = spec.lon - dLon;
  const east = spec.lon + dLon;
  // Across the antimeridian the bbox has minLon > maxLon (RFC 7946 §5.2), as for tiles.
  const wrap = (lon: number): number => (lon < -180 ? lon + 360 : lon > 180 ? lon - 360 : lon);
  const bbox = { minLat: Math.max(-90, spec.lat - dLat), minLon: wrap(west), maxLat: Math.min(90, spec.lat + dLat), maxLon: wrap(east) };
  const ring: [number, number][] = [
    [west, bbox.minLat],
    [east, bbox.minLat],
    [east, bbox.maxLat],
    [west, bbox.maxLat],
  ];
  const boundary: [number, number][] = [];
  for (let edge = 0; edge < 4; edge++) {
    const [x0, y0] = ring[edge];
    const [x1, y1] = ring[(edge + 1) % 4];
    for (let k = 0; k < 4; k++) boundary.push([x0 + ((x1 - x0) * k) / 4, y0 + ((y1 - y0) * k) / 4]);
  }
  return withRadius({
    id: spec.name,
    kind: 'point',
    center: { lat: spec.lat, lon: spec.lon },
    bbox,
    epsg: null,
    centerEcef: geodeticToEcef(spec.lat, spec.lon),
    boundaryEcef: boundary.map(([lon, lat]) => geodeticToEcef(lat, lon)),
  });
}

function tileTarget(footprint: TileFootprint): Target {
  return withRadius({
    id: footprint.tileId,
    kind: 'tile',
    center: footprint.center,
    bbox: footprint.bbox,
    epsg: footprint.epsg,
    centerEcef: geodeticToEcef(footprint.center.lat, footprint.center.lon),
    boundaryEcef: footprint.boundary.map(([lon, lat]) => geodeticToEcef(lat, lon)),
  });
}

function withRadius(target: Omit<Target, 'radiusKm'>): Target {
  const c = target.centerEcef;
  const radiusKm = Math.max(...target.boundaryEcef.map((q) => Math.hypot(q[0] - c[0], q[1] - c[1], q[2] - c[2])));
  return { ...target, radiusKm };
}

/** A satellite's Earth-fixed trajectory sampled over the window, shared by every target. */
interface SampledTrack {
  satellite: string;
  series: ElementSetSeries;
  t0: number;
  count: number;
  /** x, y, z per sample: position (km) and ground-track direction × ground-relative speed. */
  r: Float64Array;
  rUnit: Float64Array;
  w: Float64Array;
  /** Index into series.sets of the element set used per sample; −1 when none is close enough. */
  setIndex: Int32Array;
}

/**
 * The along-track direction at a state: the Earth-relative velocity with its component along the
 * geodetic vertical of the sub-satellite point removed. A nadir-pointing push-broom images the
 * plane through the satellite perpendicular to this direction.
 */
function alongTrack(state: StateVector): { w: Vec3; up: Vec3; subPoint: { lat: number; lon: number } } {
  const subPoint = ecefToGeodetic(state.r);
  const up = localUp(subPoint.lat, subPoint.lon);
  const vUp = dot(state.v, up);
  return { w: [state.v[0] - vUp * up[0], state.v[1] - vUp * up[1], state.v[2] - vUp * up[2]], up, subPoint };
}

function sampleTrack(series: ElementSetSeries, startMs: number, endMs: number, maxAgeMs: number): SampledTrack {
  const t0 = startMs - 2 * SAMPLE_STEP_MS;
  const count = Math.ceil((endMs + 2 * SAMPLE_STEP_MS - t0) / SAMPLE_STEP_MS) + 1;
  const r = new Float64Array(count * 3);
  const rUnit = new Float64Array(count * 3);
  const w = new Float64Array(count * 3);
  const setIndex = new Int32Array(count).fill(-1);
  for (let i = 0; i < count; i++) {
    const t = t0 + i * SAMPLE_STEP_MS;
    const index = series.nearestIndex(t);
    const set = series.sets[index];
    if (Math.abs(set.epochMs - t) > maxAgeMs) continue;
    const state = stateAt(set, t);
    if (!state) continue;
    const { w: direction } = alongTrack(state);
    r.set(state.r, i * 3);
    rUnit.set(unit(state.r), i * 3);
    w.set(direction, i * 3);
    setIndex[i] = index;
  }
  return { satellite: series.sets[0].satellite, series, t0, count, r, rUnit, w, setIndex };
}

/** Along-track offset function at a time, with one element set held fixed. */
function alongTrackOffset(set: ElementSet, timeMs: number, p: Vec3): number | undefined {
  const state = stateAt(set, timeMs);
  if (!state) return undefined;
  const { w } = alongTrack(state);
  return (state.r[0] - p[0]) * w[0] + (state.r[1] - p[1]) * w[1] + (state.r[2] - p[2]) * w[2];
}

/** Illinois regula falsi on a bracket [a, b] with f(a) < 0 ≤ f(b); returns the root time (ms). */
function refineRoot(set: ElementSet, p: Vec3, a: number, fa: number, b: number, fb: number): number | undefined {
  let side = 0;
  let t = b;
  for (let iteration = 0; iteration < 40; iteration++) {
    t = (a * fb - b * fa) / (fb - fa);
    if (b - a < 0.05) break;
    const ft = alongTrackOffset(set, t, p);
    if (ft === undefined) return undefined;
    if (ft === 0) break;
    if (ft < 0) {
      a = t;
      fa = ft;
      if (side === -1) fb /= 2;
      side = -1;
    } else {
      b = t;
      fb = ft;
      if (side === 1) fa /= 2;
      side = 1;
    }
    if (Math.abs(ft) < 1e-7) break;
  }
  return t;
}

/** Relative orbit (1–143) from the Earth-fixed longitude of the orbit's ascending node. */
export function relativeOrbitFromNode(nodeLongitudeDeg: number): number {
  const spacing = 360 / 143;
  // Westward count of ground tracks from the reference node; consecutive orbits are 10 tracks apart
  // (143 orbits in 10 days), and 43 is the inverse of 10 modulo 143.
  const tracksWest = ((Math.round((RELATIVE_ORBIT_1_NODE_LON_DEG - nodeLongitudeDeg) / spacing) % 143) + 143) % 143;
  return ((43 * tracksWest) % 143) + 1;
}

/**
 * Earth-fixed longitude of the ascending node of relative orbit 1 (Sentinel-2 keeps its ground
 * track within a few km, so this is fixed). Derived once from one real scene: S2C over 36SXJ on
 * 2026-05-27 is relative orbit 21 and its orbit's node, propagated from the same-period TLE, is at
 * −142.46°; orbit 1 is 20 orbits earlier, 20 × 3600/143 = 503.50° further east → 1.04°. The tests
 * check it against the other real scenes (39QTA R106, 28QCH R123, 35MNM R078, 06VVN R043).
 */
export const RELATIVE_ORBIT_1_NODE_LON_DEG = 1.04;

/** Longitude (deg, −180..180) of the ascending node of the orbit a state belongs to. */
export function ascendingNodeLongitude(state: StateVector, timeMs: number): number {
  const h = cross(state.rTeme, state.vTeme);
  const raan = Math.atan2(h[0], -h[1]);
  const node: Vec3 = [Math.cos(raan), Math.sin(raan), 0];
  const inPlane = cross(unit(h), node);
  let u = Math.atan2(dot(state.rTeme, inPlane), dot(state.rTeme, node));
  if (u < 0) u += 2 * Math.PI;
  const rate = norm(h) / dot(state.rTeme, state.rTeme); // rad/s
  const nodeTimeMs = timeMs - (u / rate) * 1000;
  let lon = (raan - gstimeAt(nodeTimeMs)) / RAD;
  lon = ((((lon + 180) % 360) + 360) % 360) - 180;
  return lon;
}

/** Group TLE records into per-satellite series (satrec built once per element set). */
export function buildSeries(records: readonly TleRecord[]): Map<string, ElementSetSeries> {
  const bySatellite = new Map<string, ElementSet[]>();
  for (const record of records) {
    const set = makeElementSet(record.satellite, record.norad_id, record.line1, record.line2);
    const list = bySatellite.get(record.satellite) ?? [];
    list.push(set);
    bySatellite.set(record.satellite, list);
  }
  const series = new Map<string, ElementSetSeries>();
  for (const satellite of [...bySatellite.keys()].sort()) series.set(satellite, new ElementSetSeries(bySatellite.get(satellite)!));
  return series;
}

/**
 * Overpasses of every target by every satellite with centre time in [startMs, startMs + days).
 * Deterministic: sorted by target, centre time, satellite.
 */
export function predictOverpasses(
  tles: readonly TleRecord[] | Map<string, ElementSetSeries>,
  targets: readonly (TargetSpec | Target)[],
  options: PredictOptions,
): PredictResult {
  const swathHalfKm = (options.swathKm ?? 290) / 2;
  const maxAgeMs = (options.maxTleAgeDays ?? 30) * MS_PER_DAY;
  const minSun = options.minSunElevationDeg ?? 0;
  const startMs = options.startMs;
  const endMs = startMs + options.days * MS_PER_DAY;
  const series = tles instanceof Map ? tles : buildSeries(tles);
  const resolved = targets.map((t) => ('centerEcef' in t ? t : resolveTarget(t)));
  const warnings: string[] = [];
  if (series.size === 0) throw new StepError('no Sentinel-2 element sets to predict from');

  const tracks: SampledTrack[] = [];
  for (const [satellite, satelliteSeries] of series) {
    const track = sampleTrack(satelliteSeries, startMs, endMs, maxAgeMs);
    const uncovered = track.setIndex.reduce((n, index) => n + (index < 0 ? 1 : 0), 0);
    if (uncovered > 0) {
      const nearest = satelliteSeries.nearest(startMs);
      warnings.push(
        `${satellite}: no element set within ${options.maxTleAgeDays ?? 30} days for ` +
          `${Math.round((uncovered * SAMPLE_STEP_MS) / 3_600_000)} h of the window ${isoDay(startMs)}…${isoDay(endMs - 1)} ` +
          `(nearest epoch ${new Date(nearest.epochMs).toISOString()}); no passes predicted for that time`,
      );
    }
    if (uncovered < track.count) tracks.push(track);
  }
  if (tracks.length === 0) {
    throw new StepError(
      `no element set within ${options.maxTleAgeDays ?? 30} days of the window ${isoDay(startMs)}…${isoDay(endMs - 1)} for any satellite ` +
        `(epochs span ${epochSpan(series)})`,
    );
  }

  const overpasses: Overpass[] = [];
  for (const target of resolved) {
    for (const track of tracks) overpasses.push(...passesOverTarget(track, target, startMs, endMs, swathHalfKm, minSun));
  }
  overpasses.sort(
    (a, b) =>
      (a.targetId < b.targetId ? -1 : a.targetId > b.targetId ? 1 : 0) ||
      a.centerTimeMs - b.centerTimeMs ||
      (a.satellite < b.satellite ? -1 : a.satellite > b.satellite ? 1 : 0),
  );
  return { overpasses, warnings };
}

/** Fastest angular motion of the sub-satellite point over the ground per sample (≈3.6°/min + Earth's 0.25°/min). */
const MAX_ANGLE_PER_SAMPLE_RAD = 4.2 * RAD * (SAMPLE_STEP_MS / 60_000);

/** Distance (km) of P from the plane through the Earth's centre spanned by sample o's r and w: ≈ cross-track distance. */
function crossTrackEstimateKm(r: Float64Array, w: Float64Array, o: number, px: number, py: number, pz: number): number {
  const nx = r[o + 1] * w[o + 2] - r[o + 2] * w[o + 1];
  const ny = r[o + 2] * w[o] - r[o] * w[o + 2];
  const nz = r[o] * w[o + 1] - r[o + 1] * w[o];
  return Math.abs(px * nx + py * ny + pz * nz) / Math.hypot(nx, ny, nz);
}

function passesOverTarget(track: SampledTrack, target: Target, startMs: number, endMs: number, swathHalfKm: number, minSun: number): Overpass[] {
  const result: Overpass[] = [];
  const p = target.centerEcef;
  const pNorm = norm(p);
  const [px, py, pz] = p;
  const [ux, uy, uz] = [px / pNorm, py / pNorm, pz / pNorm];
  // A pass can only cover the target if, at the crossing, the track is within half a swath plus the
  // footprint's radius; the sample before the crossing is at most one step further away.
  const coverAngle = (swathHalfKm + target.radiusKm) / pNorm;
  // Margin for the ground track's curvature between the sample and the crossing.
  const coverKm = swathHalfKm + target.radiusKm + 25;
  const nearAngle = coverAngle + MAX_ANGLE_PER_SAMPLE_RAD;
  const { r, rUnit, w, setIndex, count } = track;
  let i = 0;
  while (i < count - 1) {
    if (setIndex[i] < 0) {
      i += 1;
      continue;
    }
    const o = i * 3;
    const angle = Math.acos(Math.min(1, rUnit[o] * ux + rUnit[o + 1] * uy + rUnit[o + 2] * uz));
    if (angle > nearAngle) {
      // The sub-satellite point cannot come near the target sooner than this: skip ahead.
      i += Math.max(1, Math.floor((angle - nearAngle) / MAX_ANGLE_PER_SAMPLE_RAD));
      continue;
    }
    if (setIndex[i + 1] >= 0 && w[o + 2] < 0) {
      // Descending (southbound in the Earth-fixed frame); does P's along-track position fall in (i, i+1]?
      const f0 = (r[o] - px) * w[o] + (r[o + 1] - py) * w[o + 1] + (r[o + 2] - pz) * w[o + 2];
      const f1 = (r[o + 3] - px) * w[o + 3] + (r[o + 4] - py) * w[o + 4] + (r[o + 5] - pz) * w[o + 5];
      if (f0 < 0 && f1 >= 0 && crossTrackEstimateKm(r, w, o, px, py, pz) <= coverKm) {
        const pass = refinePass(track, target, i, f0, i + 1, f1, swathHalfKm);
        if (pass && pass.centerTimeMs >= startMs && pass.centerTimeMs < endMs && pass.sunElevationDeg >= minSun) result.push(pass);
      }
    }
    i += 1;
  }
  return result;
}

function refinePass(track: SampledTrack, target: Target, i0: number, f0: number, i1: number, f1: number, swathHalfKm: number): Overpass | undefined {
  const a = track.t0 + i0 * SAMPLE_STEP_MS;
  const b = track.t0 + i1 * SAMPLE_STEP_MS;
  // Hold one element set through the refinement so f is continuous: the one whose epoch is
  // nearest the (linearly estimated) crossing time.
  const estimate = a + ((b - a) * -f0) / (f1 - f0);
  const setIndex = track.series.nearestIndex(estimate);
  const set = track.series.sets[setIndex];
  const p = target.centerEcef;
  // The sampled values are exact where a sample used this element set.
  const fa = track.setIndex[i0] === setIndex ? f0 : alongTrackOffset(set, a, p);
  const fb = track.setIndex[i1] === setIndex ? f1 : alongTrackOffset(set, b, p);
  if (fa === undefined || fb === undefined) return undefined;
  let root: number | undefined;
  if (fa < 0 && fb >= 0) root = refineRoot(set, p, a, fa, b, fb);
  else if (fb < 0) {
    // With this element set the crossing falls just after b (sets differ by well under a second).
    const later = alongTrackOffset(set, b + SAMPLE_STEP_MS, p);
    if (later === undefined || later < 0) return undefined;
    root = refineRoot(set, p, b, fb, b + SAMPLE_STEP_MS, later);
  } else {
    // … or just before a.
    const earlier = alongTrackOffset(set, a - SAMPLE_STEP_MS, p);
    if (earlier === undefined || earlier >= 0) return undefined;
    root = refineRoot(set, p, a - SAMPLE_STEP_MS, earlier, a, fa);
  }
  if (root === undefined) return undefined;
  const state = stateAt(set, root);
  if (!state) return undefined;
  const { w, up, subPoint } = alongTrack(state);
  const along = unit(w);
  const east = cross(up, along); // for a southbound track, up × south = east
  const ground = geodeticToEcef(subPoint.lat, subPoint.lon);
  const relative = (q: Vec3): Vec3 => [q[0] - ground[0], q[1] - ground[1], q[2] - ground[2]];
  const centerOffset = relative(target.centerEcef);
  const crossTrackKm = dot(centerOffset, east);
  // Ground speed of the sub-satellite point (km/s), to turn along-track distances into times.
  const groundSpeed = (norm(w) * norm(ground)) / norm(state.r);
  const centerAlong = dot(centerOffset, along);

  // Coverage: the part of the footprint boundary inside the swath, and where the swath edges cut it.
  let startMs = Number.POSITIVE_INFINITY;
  let endMs = Number.NEGATIVE_INFINITY;
  let minCross = Number.POSITIVE_INFINITY;
  let maxCross = Number.NEGATIVE_INFINITY;
  const boundary = target.boundaryEcef;
  const consider = (alongKm: number): void => {
    const t = root + ((alongKm - centerAlong) / groundSpeed) * 1000;
    if (t < startMs) startMs = t;
    if (t > endMs) endMs = t;
  };
  for (let k = 0; k < boundary.length; k++) {
    const q = relative(boundary[k]);
    const qNext = relative(boundary[(k + 1) % boundary.length]);
    const c = dot(q, east);
    const cNext = dot(qNext, east);
    const s = dot(q, along);
    const sNext = dot(qNext, along);
    minCross = Math.min(minCross, c);
    maxCross = Math.max(maxCross, c);
    if (Math.abs(c) <= swathHalfKm) consider(s);
    for (const edge of [-swathHalfKm, swathHalfKm]) {
      if ((c - edge) * (cNext - edge) < 0) consider(s + ((sNext - s) * (edge - c)) / (cNext - c));
    }
  }
  // The swath is wider than any footprint, so the footprint meets it iff its cross-track span does.
  if (minCross > swathHalfKm || maxCross < -swathHalfKm || !Number.isFinite(startMs)) return undefined;
  return {
    targetId: target.id,
    targetKind: target.kind,
    satellite: set.satellite,
    noradId: set.noradId,
    centerTimeMs: root,
    startTimeMs: startMs,
    endTimeMs: endMs,
    crossTrackKm,
    coverageFraction: (Math.min(maxCross, swathHalfKm) - Math.max(minCross, -swathHalfKm)) / (maxCross - minCross),
    relativeOrbit: relativeOrbitFromNode(ascendingNodeLongitude(state, root)),
    sunElevationDeg: sunElevationDeg(target.center.lat, target.center.lon, root),
    tleEpochMs: set.epochMs,
    target,
  };
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function epochSpan(series: Map<string, ElementSetSeries>): string {
  const epochs = [...series.values()].flatMap((s) => s.sets.map((set) => set.epochMs));
  return `${new Date(Math.min(...epochs)).toISOString()} … ${new Date(Math.max(...epochs)).toISOString()}`;
}
