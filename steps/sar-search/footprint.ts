// Does a scene footprint (GeoJSON Polygon / MultiPolygon, lon/lat) overlap a corridor polygon? Either
// contains a vertex of the other, or two edges cross. Planar in lon/lat: footprints are ~250 km.
import { pointInPolygon } from '../../lib/geo/sphere.js';
import type { Corridor } from '../transit-reconcile/chokepoints.js';

type Ring = readonly (readonly number[])[];

function segmentsCross(a: readonly number[], b: readonly number[], c: readonly number[], d: readonly number[]): boolean {
  const orient = (p: readonly number[], q: readonly number[], r: readonly number[]) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  return orient(a, b, c) * orient(a, b, d) < 0 && orient(c, d, a) * orient(c, d, b) < 0;
}

export function footprintIntersects(geometry: { type: string; coordinates: unknown } | null, corridor: Corridor): boolean {
  if (!geometry) return false;
  const polygons = (geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.type === 'MultiPolygon' ? geometry.coordinates : []) as Ring[][];
  const corridorRing = corridor.polygon[0];
  for (const polygon of polygons) {
    const outer = polygon[0];
    if (!outer) continue;
    if (corridorRing.some(([lon, lat]) => pointInPolygon(lon, lat, polygon))) return true;
    if (outer.some(([lon, lat]) => pointInPolygon(lon, lat, corridor.polygon))) return true;
    for (let i = 0; i + 1 < outer.length; i++)
      for (let j = 0; j + 1 < corridorRing.length; j++) if (segmentsCross(outer[i], outer[i + 1], corridorRing[j], corridorRing[j + 1])) return true;
  }
  return false;
}
