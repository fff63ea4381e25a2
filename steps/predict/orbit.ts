// SGP4 (satellite.js) wrapped for overpass work: element sets with their epochs, propagation to
// Earth-fixed position and velocity, nearest-epoch selection, the sun's elevation.
import { gstime, sgp4, sunPos, twoline2satrec, type SatRec } from 'satellite.js';
import { parseTleEpoch } from '../../lib/maritime/tle.js';

/** Earth's rotation rate (rad/s), as used with SGP4's TEME frame (WGS-72/IERS value). */
export const EARTH_ROTATION_RAD_S = 7.292115146706979e-5;
const WGS84_A_KM = 6378.137;
const WGS84_E2 = 6.69437999014e-3;
const MS_PER_DAY = 86_400_000;
const JD_UNIX_EPOCH = 2440587.5;

export type Vec3 = [number, number, number];

export interface ElementSet {
  satellite: string;
  noradId: number;
  epochMs: number;
  line1: string;
  line2: string;
  satrec: SatRec;
}

export interface StateVector {
  /** Position (km) and velocity (km/s) in TEME. */
  rTeme: Vec3;
  vTeme: Vec3;
  /** Position (km) and Earth-relative velocity (km/s) in the Earth-fixed frame. */
  r: Vec3;
  v: Vec3;
  gmst: number;
}

export function julianDate(ms: number): number {
  return ms / MS_PER_DAY + JD_UNIX_EPOCH;
}

/** Build an element set (satrec initialised once and reused for every propagation). */
export function makeElementSet(satellite: string, noradId: number, line1: string, line2: string): ElementSet {
  const satrec = twoline2satrec(line1, line2);
  if (satrec.error) throw new Error(`SGP4 cannot initialise the element set for ${satellite} (error ${satrec.error})`);
  return { satellite, noradId, epochMs: parseTleEpoch(line1).epochMs, line1, line2, satrec };
}

/** TEME position/velocity at minutes since the element set's epoch, or undefined if SGP4 fails. */
export function propagateMinutes(satrec: SatRec, minutes: number): { r: Vec3; v: Vec3 } | undefined {
  const result = sgp4(satrec, minutes);
  if (!result || typeof result.position !== 'object') return undefined;
  const { position: p, velocity: v } = result;
  return { r: [p.x, p.y, p.z], v: [v.x, v.y, v.z] };
}

/** State at an instant (ms since 1970, UTC ≈ UT1), with Earth-fixed position and ground-relative velocity. */
export function stateAt(set: ElementSet, timeMs: number): StateVector | undefined {
  const teme = propagateMinutes(set.satrec, (timeMs - set.epochMs) / 60_000);
  if (!teme) return undefined;
  const gmst = gstime(julianDate(timeMs));
  const c = Math.cos(gmst);
  const s = Math.sin(gmst);
  const [x, y, z] = teme.r;
  const [vx, vy, vz] = teme.v;
  const r: Vec3 = [c * x + s * y, -s * x + c * y, z];
  // Rotate the velocity, then remove the frame's rotation: v_ecef = R·v_teme − ω × r_ecef.
  const v: Vec3 = [c * vx + s * vy + EARTH_ROTATION_RAD_S * r[1], -s * vx + c * vy - EARTH_ROTATION_RAD_S * r[0], vz];
  return { rTeme: teme.r, vTeme: teme.v, r, v, gmst };
}

/** Element sets of one satellite sorted by epoch; picks the one whose epoch is nearest a time. */
export class ElementSetSeries {
  readonly sets: readonly ElementSet[];
  constructor(sets: readonly ElementSet[]) {
    this.sets = [...sets].sort((a, b) => a.epochMs - b.epochMs || a.line1.localeCompare(b.line1));
  }

  /** Index of the element set whose epoch is nearest `timeMs` (ties go to the earlier one). */
  nearestIndex(timeMs: number): number {
    const sets = this.sets;
    let lo = 0;
    let hi = sets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sets[mid].epochMs < timeMs) lo = mid + 1;
      else hi = mid;
    }
    // lo is the first epoch ≥ time (or the last); compare with its predecessor.
    if (lo > 0 && timeMs - sets[lo - 1].epochMs <= Math.abs(sets[lo].epochMs - timeMs)) return lo - 1;
    return lo;
  }

  nearest(timeMs: number): ElementSet {
    return this.sets[this.nearestIndex(timeMs)];
  }
}

/** Geodetic (WGS84) latitude/longitude in degrees and height in km → Earth-fixed km. */
export function geodeticToEcef(latDeg: number, lonDeg: number, heightKm = 0): Vec3 {
  const lat = (latDeg * Math.PI) / 180;
  const lon = (lonDeg * Math.PI) / 180;
  const sinLat = Math.sin(lat);
  const n = WGS84_A_KM / Math.sqrt(1 - WGS84_E2 * sinLat * sinLat);
  return [
    (n + heightKm) * Math.cos(lat) * Math.cos(lon),
    (n + heightKm) * Math.cos(lat) * Math.sin(lon),
    (n * (1 - WGS84_E2) + heightKm) * sinLat,
  ];
}

/** Unit vector of the local vertical (ellipsoid normal) at a geodetic point. */
export function localUp(latDeg: number, lonDeg: number): Vec3 {
  const lat = (latDeg * Math.PI) / 180;
  const lon = (lonDeg * Math.PI) / 180;
  return [Math.cos(lat) * Math.cos(lon), Math.cos(lat) * Math.sin(lon), Math.sin(lat)];
}

/** Earth-fixed position → geodetic latitude/longitude in degrees (Bowring's method, sub-mm here). */
export function ecefToGeodetic([x, y, z]: Vec3): { lat: number; lon: number } {
  const b = WGS84_A_KM * Math.sqrt(1 - WGS84_E2);
  const ep2 = (WGS84_A_KM * WGS84_A_KM - b * b) / (b * b);
  const p = Math.hypot(x, y);
  const theta = Math.atan2(z * WGS84_A_KM, p * b);
  const lat = Math.atan2(z + ep2 * b * Math.sin(theta) ** 3, p - WGS84_E2 * WGS84_A_KM * Math.cos(theta) ** 3);
  return { lat: (lat * 180) / Math.PI, lon: (Math.atan2(y, x) * 180) / Math.PI };
}

/** The sun's elevation (degrees) at a geodetic point and instant (Vallado's low-precision sun, ~0.01°). */
export function sunElevationDeg(latDeg: number, lonDeg: number, timeMs: number): number {
  const jd = julianDate(timeMs);
  const { rsun } = sunPos(jd);
  const gmst = gstime(jd);
  const c = Math.cos(gmst);
  const s = Math.sin(gmst);
  const sun: Vec3 = [c * rsun.x + s * rsun.y, -s * rsun.x + c * rsun.y, rsun.z];
  const norm = Math.hypot(...sun);
  const up = localUp(latDeg, lonDeg);
  return (Math.asin((up[0] * sun[0] + up[1] * sun[1] + up[2] * sun[2]) / norm) * 180) / Math.PI;
}

export const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
export const norm = (a: Vec3): number => Math.hypot(a[0], a[1], a[2]);
export const unit = (a: Vec3): Vec3 => {
  const n = norm(a);
  return [a[0] / n, a[1] / n, a[2] / n];
};

/** Greenwich mean sidereal time (rad) at an instant (ms since 1970, UTC taken as UT1). */
export function gstimeAt(timeMs: number): number {
  return gstime(julianDate(timeMs));
}
