// Geometry the transit predictor and reconciler need beyond lib/geo/sphere.ts: dead-reckoned great-circle
// tracks, the first entry of a track into a polygon, and distance from a point to a great-circle
// segment. Polygons are GeoJSON Polygon coordinates ([lon, lat] rings); edges are treated as planar
// in lon/lat, which is accurate for corridor-sized polygons away from the poles and the antimeridian.
import { EARTH_RADIUS_KM, bearingDeg, destinationPoint, haversineKm, pointInPolygon } from '../../lib/geo/sphere.js';

export type PolygonCoords = readonly (readonly (readonly number[])[])[];
export interface LatLon {
  lat: number;
  lon: number;
}

export const KM_PER_NM = 1.852;

export interface BBox {
  west: number;
  south: number;
  east: number;
  north: number;
}

export function polygonBBox(polygon: PolygonCoords): BBox {
  let west = Infinity;
  let south = Infinity;
  let east = -Infinity;
  let north = -Infinity;
  for (const [lon, lat] of polygon[0]) {
    west = Math.min(west, lon);
    east = Math.max(east, lon);
    south = Math.min(south, lat);
    north = Math.max(north, lat);
  }
  return { west, south, east, north };
}

/** Vertex mean of the outer ring (closing vertex excluded): a cheap, stable reference point. */
export function polygonCentre(polygon: PolygonCoords): LatLon {
  const ring = polygon[0];
  const n = ring.length - 1;
  let lat = 0;
  let lon = 0;
  for (let i = 0; i < n; i++) {
    lon += ring[i][0];
    lat += ring[i][1];
  }
  return { lat: lat / n, lon: lon / n };
}

/** Radius (km) of a circle around `centre` holding every vertex of the outer ring. */
export function boundingRadiusKm(polygon: PolygonCoords, centre: LatLon): number {
  let radius = 0;
  for (const [lon, lat] of polygon[0]) radius = Math.max(radius, haversineKm(centre.lat, centre.lon, lat, lon));
  return radius;
}

export function inPolygon(point: LatLon, polygon: PolygonCoords): boolean {
  return pointInPolygon(point.lon, point.lat, polygon);
}

/**
 * Points along the great circle from `start` on `bearing`, from `fromKm` to `toKm` along it, equally
 * spaced so no segment is longer than `maxSegmentKm`. Point i sits at fromKm + (toKm − fromKm)·i/(n − 1).
 */
export function greatCircleTrack(start: LatLon, bearing: number, fromKm: number, toKm: number, maxSegmentKm: number): LatLon[] {
  const lengthKm = toKm - fromKm;
  const segments = Math.max(1, Math.ceil(lengthKm / maxSegmentKm));
  const points: LatLon[] = [];
  for (let i = 0; i <= segments; i++) {
    const km = fromKm + (lengthKm * i) / segments;
    points.push(km === 0 ? { lat: start.lat, lon: start.lon } : destinationPoint(start.lat, start.lon, bearing, km));
  }
  return points;
}

/**
 * Parameter t in [0, 1] along segment A→B where it crosses segment C→D (planar), or null when the
 * segments do not cross (parallel segments count as not crossing).
 */
export function segmentCrossing(
  ax: number, ay: number, bx: number, by: number,
  cx: number, cy: number, dx: number, dy: number,
): number | null {
  const rx = bx - ax;
  const ry = by - ay;
  const sx = dx - cx;
  const sy = dy - cy;
  const denom = rx * sy - ry * sx;
  if (denom === 0) return null;
  const qx = cx - ax;
  const qy = cy - ay;
  const t = (qx * sy - qy * sx) / denom;
  const u = (qx * ry - qy * rx) / denom;
  return t >= 0 && t <= 1 && u >= 0 && u <= 1 ? t : null;
}

/**
 * Fraction (0…1) of the track's length at which it first enters the polygon: 0 when it starts inside,
 * null when it never touches it. Segments outside the polygon's bbox are skipped.
 */
export function firstEntryFraction(track: readonly LatLon[], polygon: PolygonCoords, bbox: BBox = polygonBBox(polygon)): number | null {
  if (track.length === 0) return null;
  if (inPolygon(track[0], polygon)) return 0;
  const segments = track.length - 1;
  for (let i = 0; i < segments; i++) {
    const a = track[i];
    const b = track[i + 1];
    if (Math.max(a.lon, b.lon) < bbox.west || Math.min(a.lon, b.lon) > bbox.east) continue;
    if (Math.max(a.lat, b.lat) < bbox.south || Math.min(a.lat, b.lat) > bbox.north) continue;
    let best: number | null = null;
    for (const ring of polygon) {
      for (let k = 0; k + 1 < ring.length; k++) {
        const t = segmentCrossing(a.lon, a.lat, b.lon, b.lat, ring[k][0], ring[k][1], ring[k + 1][0], ring[k + 1][1]);
        if (t !== null && (best === null || t < best)) best = t;
      }
    }
    if (best !== null) return (i + best) / segments;
  }
  return null;
}

/**
 * Shortest distance (km) from `point` to the great-circle segment start→end: the cross-track distance
 * when the foot of the perpendicular falls on the segment, else the distance to the nearer end.
 */
export function distanceToSegmentKm(point: LatLon, start: LatLon, end: LatLon): number {
  const d13 = haversineKm(start.lat, start.lon, point.lat, point.lon);
  const d12 = haversineKm(start.lat, start.lon, end.lat, end.lon);
  if (d12 === 0) return d13;
  const θ13 = (bearingDeg(start.lat, start.lon, point.lat, point.lon) * Math.PI) / 180;
  const θ12 = (bearingDeg(start.lat, start.lon, end.lat, end.lon) * Math.PI) / 180;
  const δ13 = d13 / EARTH_RADIUS_KM;
  const crossTrack = Math.asin(Math.max(-1, Math.min(1, Math.sin(δ13) * Math.sin(θ13 - θ12))));
  const alongSign = Math.cos(θ13 - θ12) >= 0 ? 1 : -1;
  const alongTrack = alongSign * Math.acos(Math.max(-1, Math.min(1, Math.cos(δ13) / Math.cos(crossTrack)))) * EARTH_RADIUS_KM;
  if (alongTrack <= 0) return d13;
  if (alongTrack >= d12) return haversineKm(end.lat, end.lon, point.lat, point.lon);
  return Math.abs(crossTrack) * EARTH_RADIUS_KM;
}

/** True when two polygons share any area or boundary: an edge crossing or a vertex of one inside the other. */
export function polygonsTouch(a: PolygonCoords, b: PolygonCoords): boolean {
  for (const ringA of a)
    for (let i = 0; i + 1 < ringA.length; i++)
      for (const ringB of b)
        for (let k = 0; k + 1 < ringB.length; k++)
          if (segmentCrossing(ringA[i][0], ringA[i][1], ringA[i + 1][0], ringA[i + 1][1], ringB[k][0], ringB[k][1], ringB[k + 1][0], ringB[k + 1][1]) !== null)
            return true;
  return pointInPolygon(a[0][0][0], a[0][0][1], b) || pointInPolygon(b[0][0][0], b[0][0][1], a);
}
