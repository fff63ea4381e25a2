// SAR detections: parsing the table input and grouping pixel detections into clusters (one cluster ≈ one
// ship). Accepts the step's own shape (scene_id, acquired_at, lat, lon, pixel_detection_count,
// confidence) and the Skylight/allenai prediction CSVs in ../shared/data/detections (lon, lat, score,
// scene_id), whose acquisition time is read from the Sentinel product name.
import { haversineKm } from '../../lib/geo/sphere.js';
import { StepError } from '../../src/sdk/errors.js';
import type { Corridor } from './chokepoints.js';
import { inPolygon } from './geometry.js';
import { parseTime, roundCoord } from './transits.js';

export interface SarDetection {
  sceneId: string;
  acquiredMs: number;
  lat: number;
  lon: number;
  pixelCount: number;
  confidence: number;
}

/** A cluster of one scene's detections; lat/lon are its representative (highest-confidence) pixel: pixel_match_lat/lon. */
export interface SarCluster extends SarDetection {
  /** The corridor the representative pixel lies in, if any. */
  chokepointId: string | null;
}

/** Sentinel product names carry the sensing start: S1B_IW_GRDH_1SDV_20211130T025211_… → 2021-11-30T02:52:11Z. */
export function acquisitionFromSceneId(sceneId: string): number | null {
  const match = /_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:_|\.|$)/.exec(sceneId);
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Parse detection rows (all values as text, as read with all_varchar). `file` and the 1-based data row
 * number (+1 for the header line) name the offending cell in errors.
 */
export function parseDetections(rows: readonly Record<string, unknown>[], file: string): SarDetection[] {
  return rows.map((row, index) => {
    const where = (field: string) => `${file}:${index + 2} field ${field}`;
    const text = (field: string): string | null => {
      const value = row[field];
      return value === null || value === undefined || String(value).trim() === '' ? null : String(value).trim();
    };
    const number = (field: string, fallback?: number): number => {
      const value = text(field);
      if (value === null) {
        if (fallback !== undefined) return fallback;
        throw new StepError(`${field} is missing`, where(field));
      }
      const parsed = Number(value);
      if (!Number.isFinite(parsed)) throw new StepError(`${field} "${value}" is not a number`, where(field));
      return parsed;
    };
    const sceneId = text('scene_id');
    if (sceneId === null) throw new StepError('scene_id is missing', where('scene_id'));
    const acquiredText = text('acquired_at');
    const acquiredMs = acquiredText !== null ? parseTime(acquiredText) : acquisitionFromSceneId(sceneId);
    if (acquiredMs === null)
      throw new StepError(acquiredText !== null ? `acquired_at "${acquiredText}" is not a timestamp` : 'acquired_at is missing and the scene id carries no sensing time', where('acquired_at'));
    const lat = number('lat');
    if (Math.abs(lat) > 90) throw new StepError(`lat ${lat} is outside -90…90`, where('lat'));
    const lon = number('lon');
    if (Math.abs(lon) > 180) throw new StepError(`lon ${lon} is outside -180…180`, where('lon'));
    const pixelCount = number('pixel_detection_count', 1);
    if (!Number.isInteger(pixelCount) || pixelCount < 1) throw new StepError(`pixel_detection_count ${pixelCount} must be a whole number ≥ 1`, where('pixel_detection_count'));
    const confidenceField = 'confidence' in row ? 'confidence' : 'score';
    const confidence = number(confidenceField);
    if (confidence < 0 || confidence > 1) throw new StepError(`${confidenceField} ${confidence} is outside 0…1`, where(confidenceField));
    return { sceneId, acquiredMs, lat, lon, pixelCount, confidence };
  });
}

/** Higher confidence first, then more pixels, then south-west first: a total order for representatives. */
function betterDetection(a: SarDetection, b: SarDetection): number {
  return b.confidence - a.confidence || b.pixelCount - a.pixelCount || a.lat - b.lat || a.lon - b.lon;
}

/**
 * Single-linkage clusters of detections of the same scene within `radiusKm` of each other. Output is
 * sorted by scene, acquisition, lat, lon, so it does not depend on input order.
 */
export function clusterDetections(detections: readonly SarDetection[], radiusKm: number, corridors: readonly Corridor[]): SarCluster[] {
  const byScene = new Map<string, SarDetection[]>();
  for (const d of detections) {
    const list = byScene.get(d.sceneId) ?? [];
    list.push(d);
    byScene.set(d.sceneId, list);
  }
  const clusters: SarCluster[] = [];
  for (const scene of [...byScene.keys()].sort()) {
    const members = (byScene.get(scene) as SarDetection[]).slice().sort(betterDetection);
    const parent = members.map((_, i) => i);
    const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
    for (let i = 0; i < members.length; i++)
      for (let j = i + 1; j < members.length; j++)
        if (haversineKm(members[i].lat, members[i].lon, members[j].lat, members[j].lon) <= radiusKm) parent[find(j)] = find(i);
    const groups = new Map<number, SarDetection[]>();
    members.forEach((m, i) => {
      const root = find(i);
      groups.set(root, [...(groups.get(root) ?? []), m]);
    });
    for (const group of groups.values()) {
      const best = group.slice().sort(betterDetection)[0];
      const lat = roundCoord(best.lat);
      const lon = roundCoord(best.lon);
      const corridor = corridors.find((c) => inPolygon({ lat, lon }, c.polygon));
      clusters.push({
        sceneId: scene,
        acquiredMs: Math.min(...group.map((g) => g.acquiredMs)),
        lat,
        lon,
        pixelCount: group.reduce((sum, g) => sum + g.pixelCount, 0),
        confidence: best.confidence,
        chokepointId: corridor?.id ?? null,
      });
    }
  }
  return clusters.sort((a, b) => (a.sceneId < b.sceneId ? -1 : a.sceneId > b.sceneId ? 1 : a.acquiredMs - b.acquiredMs || a.lat - b.lat || a.lon - b.lon));
}
