// Which AIS points to look up, and which Sentinel-2 scene each one gets (pure functions).
import { CHIP_BANDS, compareText, footprintContains, type Scene } from '../../lib/geo/stac.js';

export interface AisPoint {
  mmsi: number;
  /** ISO 8601 UTC. */
  aisTime: string;
  lat: number;
  lon: number;
}

export interface Overpass {
  /** ISO 8601 UTC: the predicted time the satellite passes the tile centre. */
  centerTime: string;
  /** The overpass target's lat/lon box, when the schedule gives one: only fixes inside it count. */
  bbox?: { minLat: number; minLon: number; maxLat: number; maxLon: number } | null;
}

/** Bands without which a scene cannot be chipped (SWIR and SCL are optional). */
export const REQUIRED_BANDS = ['B02', 'B03', 'B04', 'B08'] as const;

export const NO_MATCH_REASONS = {
  invalidPosition: 'invalid_position',
  noFootprint: 'no_scene_footprint',
  noTime: 'no_scene_in_time_window',
  cloud: 'cloud_cover_above_max',
  unusable: 'scene_missing_bands_or_crs',
} as const;

export interface Match {
  point: AisPoint;
  scene: Scene;
}
export interface NoMatch {
  point: AisPoint;
  reason: string;
}

const ms = (iso: string): number => Date.parse(iso);

export function validPoint(point: AisPoint): boolean {
  return (
    Number.isFinite(point.lat) && Number.isFinite(point.lon) && Math.abs(point.lat) <= 90 && Math.abs(point.lon) <= 180 &&
    Number.isFinite(ms(point.aisTime))
  );
}

/**
 * One AIS fix per MMSI per overpass: the fix closest in time to the overpass centre, if it is within
 * `maxOffsetMinutes` (and inside the overpass's box when it has one). Ties go to the earlier fix.
 * The same fix chosen for two overpasses counts once. Result ordered by mmsi, time.
 */
export function selectQueryPoints(positions: readonly AisPoint[], overpasses: readonly Overpass[], maxOffsetMinutes: number): AisPoint[] {
  const maxOffsetMs = maxOffsetMinutes * 60_000;
  const ordered = overpasses.filter((o) => Number.isFinite(ms(o.centerTime))).sort((a, b) => ms(a.centerTime) - ms(b.centerTime));
  const chosen = new Map<string, AisPoint>();
  for (const overpass of ordered) {
    const centre = ms(overpass.centerTime);
    const box = overpass.bbox;
    const best = new Map<number, { point: AisPoint; offset: number }>();
    for (const point of positions) {
      const offset = Math.abs(ms(point.aisTime) - centre);
      if (!(offset <= maxOffsetMs)) continue;
      if (box && !(point.lat >= box.minLat && point.lat <= box.maxLat && point.lon >= box.minLon && point.lon <= box.maxLon)) continue;
      const current = best.get(point.mmsi);
      if (
        !current || offset < current.offset ||
        (offset === current.offset && (ms(point.aisTime) < ms(current.point.aisTime) ||
          (point.aisTime === current.point.aisTime && (point.lat < current.point.lat || (point.lat === current.point.lat && point.lon < current.point.lon)))))
      ) {
        best.set(point.mmsi, { point, offset });
      }
    }
    for (const { point } of best.values()) chosen.set(`${point.mmsi}|${ms(point.aisTime)}|${point.lat}|${point.lon}`, point);
  }
  return [...chosen.values()].sort((a, b) => a.mmsi - b.mmsi || ms(a.aisTime) - ms(b.aisTime) || a.lat - b.lat || a.lon - b.lon);
}

export interface MatchOptions {
  searchWindowHours: number;
  cloudCoverMax: number;
}

/** Per-scene values matching needs for every point, computed once: parsed time and footprint bbox. */
const sceneFacts = new WeakMap<Scene, { timeMs: number; bbox: [number, number, number, number] }>();
function facts(scene: Scene): { timeMs: number; bbox: [number, number, number, number] } {
  let known = sceneFacts.get(scene);
  if (!known) {
    const coordinates: number[][] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value) && typeof value[0] === 'number') coordinates.push(value as number[]);
      else if (Array.isArray(value)) value.forEach(walk);
    };
    walk(scene.geometry?.coordinates);
    const lons = coordinates.map((c) => c[0]);
    const lats = coordinates.map((c) => c[1]);
    // No coordinates: an empty box, so nothing is inside.
    const bbox: [number, number, number, number] = coordinates.length ? [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)] : [1, 1, 0, 0];
    known = { timeMs: ms(scene.datetime), bbox };
    sceneFacts.set(scene, known);
  }
  return known;
}

/**
 * The scene for one point: footprint contains it, |scene time − AIS time| ≤ window, cloud cover ≤ max
 * (unknown cloud cover fails), core bands and CRS present; the closest in time wins, then the
 * least cloudy, then the smallest id. Otherwise the reason from the last filter that emptied the list.
 */
export function matchPoint(point: AisPoint, scenes: readonly Scene[], options: MatchOptions): Match | NoMatch {
  if (!validPoint(point)) return { point, reason: NO_MATCH_REASONS.invalidPosition };
  const aisMs = ms(point.aisTime);
  const windowMs = options.searchWindowHours * 3_600_000;
  const inFootprint = scenes.filter((scene) => {
    const [w, s, e, n] = facts(scene).bbox;
    return point.lon >= w && point.lon <= e && point.lat >= s && point.lat <= n && footprintContains(scene, point.lat, point.lon);
  });
  if (inFootprint.length === 0) return { point, reason: NO_MATCH_REASONS.noFootprint };
  const inTime = inFootprint.filter((scene) => Math.abs(facts(scene).timeMs - aisMs) <= windowMs);
  if (inTime.length === 0) return { point, reason: NO_MATCH_REASONS.noTime };
  const clear = inTime.filter((scene) => scene.cloudCover !== null && scene.cloudCover <= options.cloudCoverMax);
  if (clear.length === 0) return { point, reason: NO_MATCH_REASONS.cloud };
  const usable = clear.filter((scene) => scene.epsg !== null && REQUIRED_BANDS.every((band) => scene.assets[band] !== undefined));
  if (usable.length === 0) return { point, reason: NO_MATCH_REASONS.unusable };
  const best = [...usable].sort(
    (a, b) =>
      Math.abs(facts(a).timeMs - aisMs) - Math.abs(facts(b).timeMs - aisMs) ||
      (a.cloudCover as number) - (b.cloudCover as number) ||
      compareText(a.id, b.id),
  )[0];
  return { point, scene: best };
}

/**
 * Move a match to the ship's recorded fix nearest the scene time (still inside the footprint), so the
 * chip is centred where the ship was when the image was taken rather than at the overpass prediction.
 * `fixes` are that MMSI's fixes; ties keep the earlier fix; no better fix keeps the match as it is.
 */
export function alignToScene(match: Match, fixes: readonly AisPoint[]): Match {
  const sceneMs = ms(match.scene.datetime);
  let best = match.point;
  let bestOffset = Math.abs(ms(best.aisTime) - sceneMs);
  for (const fix of fixes) {
    if (fix.mmsi !== match.point.mmsi || !validPoint(fix)) continue;
    const offset = Math.abs(ms(fix.aisTime) - sceneMs);
    if (offset > bestOffset || (offset === bestOffset && ms(fix.aisTime) >= ms(best.aisTime))) continue;
    if (!footprintContains(match.scene, fix.lat, fix.lon)) continue;
    best = fix;
    bestOffset = offset;
  }
  return best === match.point ? match : { point: best, scene: match.scene };
}

/** Matches and no-matches with one row per (mmsi, time, position): alignment can make two rows the same. */
export function dedupeResults<T extends Match | NoMatch>(results: readonly T[]): T[] {
  const seen = new Set<string>();
  return results.filter((r) => {
    const key = `${isMatch(r) ? 'm' : 'n'}|${r.point.mmsi}|${ms(r.point.aisTime)}|${r.point.lat}|${r.point.lon}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function isMatch(result: Match | NoMatch): result is Match {
  return (result as Match).scene !== undefined;
}

/**
 * The `assets` column: band → {href, scale, offset, nodata}, bands in a fixed order, plus `digest` for
 * files whose content digest is known (local assets), so a changed COG changes this table and with it
 * the chip step's cache key.
 */
export function assetsJson(scene: Scene, digests: ReadonlyMap<string, string> = new Map()): string {
  const out: Record<string, unknown> = {};
  for (const band of CHIP_BANDS) {
    const asset = scene.assets[band];
    if (!asset) continue;
    const digest = digests.get(asset.href);
    out[band] = { href: asset.href, scale: asset.scale, offset: asset.offset, nodata: asset.nodata, ...(digest ? { digest } : {}) };
  }
  return JSON.stringify(out);
}

/** A small lon/lat polygon around a group of points, for one STAC API search per overpass. */
export function searchArea(points: readonly AisPoint[], padDeg = 0.01): { type: 'Polygon'; coordinates: number[][][] } {
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const [s, n] = [Math.max(-90, Math.min(...lats) - padDeg), Math.min(90, Math.max(...lats) + padDeg)];
  const [w, e] = [Math.max(-180, Math.min(...lons) - padDeg), Math.min(180, Math.max(...lons) + padDeg)];
  return { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

/** RFC 3339 interval covering every point's AIS time ± the search window. */
export function searchInterval(points: readonly AisPoint[], searchWindowHours: number): string {
  const times = points.map((p) => ms(p.aisTime));
  const pad = searchWindowHours * 3_600_000;
  return `${new Date(Math.min(...times) - pad).toISOString()}/${new Date(Math.max(...times) + pad).toISOString()}`;
}

/**
 * Groups of points searched together against an API: points whose AIS times fall in the same
 * `groupHours` bucket and the same 1° cell, so one search covers a compact area and time.
 */
export function groupForSearch(points: readonly AisPoint[], groupHours = 6): AisPoint[][] {
  const groups = new Map<string, AisPoint[]>();
  for (const point of points) {
    if (!validPoint(point)) continue;
    const key = `${Math.floor(ms(point.aisTime) / (groupHours * 3_600_000))}|${Math.floor(point.lat)}|${Math.floor(point.lon)}`;
    const list = groups.get(key) ?? [];
    list.push(point);
    groups.set(key, list);
  }
  return [...groups.entries()].sort(([a], [b]) => compareText(a, b)).map(([, list]) => list);
}
