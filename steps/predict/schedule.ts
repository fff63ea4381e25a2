// Between the step's context and the overpass search: params → targets, the TLE table → records,
// overpasses → schedule rows (rounded so the files are byte-stable).
import { StepError, isUserError } from '../../src/sdk/errors.js';
import type { Row } from '../../src/sdk/table-io.js';
import { parseTleText } from '../../lib/maritime/tle.js';
import { normaliseTileId, tileFootprint } from './mgrs.js';
import { resolveTarget, type Overpass, type Target, type TleRecord } from './overpass.js';
import type { PlanOverpass } from './esa-plan.js';
import { outputColumns, outputOrderBy } from './predict.dagrun.js';

/** The schedule table's columns and row order, as pipeline.yaml declares them (`tables.overpass_schedule`). */
export const SCHEDULE_COLUMNS = outputColumns.schedule;

export const SCHEDULE_ORDER = [...outputOrderBy.schedule];

/** 'YYYY-MM-DD HH:MM:SS.mmm' (UTC), the text DuckDB casts to TIMESTAMP. */
export function timestampText(ms: number): string {
  const iso = new Date(Math.round(ms)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

const round = (value: number, digits: number): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor + 0; // + 0 turns −0 into 0
};

/** Schedule rows of TLE predictions (source 'tle') or plan datatakes (source 'esa_plan', no TLE epoch). */
export function buildScheduleRows(overpasses: readonly (Overpass | PlanOverpass)[], windowMinutes: number): Row[] {
  const windowMs = windowMinutes * 60_000;
  return overpasses.map((o) => ({
    tile_id: o.targetId,
    target_kind: o.targetKind,
    satellite: o.satellite,
    norad_id: o.noradId,
    center_time_utc: timestampText(o.centerTimeMs),
    start_time_utc: timestampText(o.startTimeMs),
    end_time_utc: timestampText(o.endTimeMs),
    capture_start_utc: timestampText(o.centerTimeMs - windowMs),
    capture_end_utc: timestampText(o.centerTimeMs + windowMs),
    relative_orbit: o.relativeOrbit,
    cross_track_km: round(o.crossTrackKm, 3),
    coverage_fraction: round(o.coverageFraction, 4),
    sun_elevation_deg: round(o.sunElevationDeg, 3),
    center_lat: round(o.target.center.lat, 7),
    center_lon: round(o.target.center.lon, 7),
    bbox_min_lat: round(o.target.bbox.minLat, 7),
    bbox_min_lon: round(o.target.bbox.minLon, 7),
    bbox_max_lat: round(o.target.bbox.maxLat, 7),
    bbox_max_lon: round(o.target.bbox.maxLon, 7),
    epsg: o.target.epsg,
    tle_epoch_utc: o.tleEpochMs === null ? null : timestampText(o.tleEpochMs),
    source: 'datatakeId' in o ? 'esa_plan' : 'tle',
  }));
}

/** A TLE pass and a plan datatake over the same target by the same satellite closer than this are one overpass. */
export const SAME_PASS_MS = 30 * 60_000;

/**
 * The plan checked against the TLE prediction, per target and satellite: `both` pairs a datatake with
 * the TLE pass nearest in time (within SAME_PASS_MS) and gives center_diff_s = plan − TLE; `plan_only`
 * is a datatake the TLE prediction has no pass for; `tle_only` a predicted pass inside the time a plan
 * of that satellite covers with no NOBS datatake (the satellite flies over but is not planned to image).
 */
export function planCheckRows(tle: readonly Overpass[], plan: readonly PlanOverpass[], planWindows: ReadonlyMap<string, readonly { fromMs: number; toMs: number }[]>): Row[] {
  const rows: Row[] = [];
  const paired = new Set<Overpass>();
  for (const p of plan) {
    let best: Overpass | undefined;
    for (const t of tle) {
      if (t.targetId !== p.targetId || t.satellite !== p.satellite || paired.has(t)) continue;
      const gap = Math.abs(t.centerTimeMs - p.centerTimeMs);
      if (gap <= SAME_PASS_MS && (!best || gap < Math.abs(best.centerTimeMs - p.centerTimeMs))) best = t;
    }
    if (best) paired.add(best);
    rows.push({
      tile_id: p.targetId,
      satellite: p.satellite,
      status: best ? 'both' : 'plan_only',
      datatake_id: p.datatakeId,
      plan_relative_orbit: p.relativeOrbit,
      tle_relative_orbit: best?.relativeOrbit ?? null,
      plan_center_time_utc: timestampText(p.centerTimeMs),
      tle_center_time_utc: best ? timestampText(best.centerTimeMs) : null,
      center_diff_s: best ? round((p.centerTimeMs - best.centerTimeMs) / 1000, 3) : null,
      plan_coverage_fraction: round(p.coverageFraction, 4),
      tle_coverage_fraction: best ? round(best.coverageFraction, 4) : null,
    });
  }
  for (const t of tle) {
    if (paired.has(t) || !(planWindows.get(t.satellite) ?? []).some((w) => t.centerTimeMs >= w.fromMs && t.centerTimeMs < w.toMs)) continue;
    rows.push({
      tile_id: t.targetId, satellite: t.satellite, status: 'tle_only', datatake_id: null, plan_relative_orbit: null, tle_relative_orbit: t.relativeOrbit,
      plan_center_time_utc: null, tle_center_time_utc: timestampText(t.centerTimeMs), center_diff_s: null, plan_coverage_fraction: null, tle_coverage_fraction: round(t.coverageFraction, 4),
    });
  }
  return rows;
}

/** The partition date as the window start (00:00 UTC), or a StepError. */
export function windowStart(date: string | undefined): number {
  if (!date || !/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
    throw new StepError(`partition date "${date ?? ''}" is not YYYY-MM-DD`, 'partition date');
  }
  return Date.parse(`${date}T00:00:00Z`);
}

/** Targets from the `tiles` and `points` params (tiles deduplicated after normalising ids). */
export function scheduleTargets(params: Readonly<Record<string, unknown>>): Target[] {
  // `--set predict.tiles=30SUJ,32TNS` arrives as one string, or (coerced toward the list default) as a
  // one-element list holding it: split every string entry on commas and spaces.
  const given = (typeof params.tiles === 'string' ? [params.tiles] : (params.tiles ?? [])) as unknown[];
  const tiles = Array.isArray(given) ? given.flatMap((t) => (typeof t === 'string' ? t.split(/[\s,]+/).filter((part) => part !== '') : [t])) : given;
  const points = (params.points ?? []) as unknown[];
  if (!Array.isArray(tiles) || !Array.isArray(points)) throw new StepError('params tiles and points must be lists', 'params');
  const targets: Target[] = [];
  const seen = new Set<string>();
  tiles.forEach((tile, index) => {
    const where = `param tiles[${index}]`;
    if (typeof tile !== 'string') throw new StepError(`a tile id must be a string, got ${JSON.stringify(tile)}`, where);
    try {
      const id = normaliseTileId(tile);
      if (seen.has(id)) return;
      seen.add(id);
      targets.push(resolveTarget({ tile: tileFootprint(id).tileId }));
    } catch (error) {
      if (isUserError(error)) throw new StepError(error.message, where);
      throw error;
    }
  });
  points.forEach((point, index) => {
    const where = `param points[${index}]`;
    const p = point as { lat?: unknown; lon?: unknown; name?: unknown; radius_km?: unknown };
    if (typeof p !== 'object' || p === null) throw new StepError('a point must be an object {lat, lon, name}', where);
    if (typeof p.lat !== 'number' || !(Math.abs(p.lat) <= 90)) throw new StepError(`field lat must be a number in −90…90, got ${JSON.stringify(p.lat)}`, where);
    if (typeof p.lon !== 'number' || !(Math.abs(p.lon) <= 180)) throw new StepError(`field lon must be a number in −180…180, got ${JSON.stringify(p.lon)}`, where);
    if (typeof p.name !== 'string' || p.name.trim() === '') throw new StepError('field name must be a non-empty string', where);
    if (p.radius_km !== undefined && (typeof p.radius_km !== 'number' || !(p.radius_km > 0 && p.radius_km <= 50))) {
      throw new StepError(`field radius_km must be a number in (0, 50], got ${JSON.stringify(p.radius_km)}`, where);
    }
    if (seen.has(p.name)) throw new StepError(`target name "${p.name}" is used twice`, where);
    seen.add(p.name);
    targets.push(resolveTarget({ name: p.name, lat: p.lat, lon: p.lon, radius_km: p.radius_km as number | undefined }));
  });
  if (targets.length === 0) throw new StepError('no targets: give at least one tile id (param tiles) or point (param points)', 'params');
  return targets;
}

/**
 * TLE records from tle-fetch's table. Each row's lines are re-validated (a table given to
 * `dagrun exec` may not come from tle-fetch); errors name the file and row.
 */
export function tleRecordsFromTable(rows: readonly Row[], file: string): { records: TleRecord[]; otherSatellites: number[] } {
  const records: TleRecord[] = [];
  const otherSatellites: number[] = [];
  rows.forEach((row, index) => {
    const where = `${file} row ${index + 1}`;
    for (const field of ['line1', 'line2']) {
      if (typeof row[field] !== 'string') throw new StepError(`field ${field} is missing or not text`, `${where} field ${field}`);
    }
    let parsed;
    try {
      parsed = parseTleText(`${row.line1}\n${row.line2}\n`, where);
    } catch (error) {
      if (isUserError(error)) throw new StepError(`${error.message}`, `${where} field ${/:2$/.test(error.where ?? '') ? 'line2' : 'line1'}`);
      throw error;
    }
    if (parsed.elementSets.length === 0) {
      otherSatellites.push(...parsed.otherSatellites);
      return;
    }
    const set = parsed.elementSets[0];
    if (row.satellite !== undefined && row.satellite !== set.satellite) {
      throw new StepError(`satellite "${String(row.satellite)}" does not match the element set's catalogue number ${set.norad_id} (${set.satellite})`, `${where} field satellite`);
    }
    records.push({ satellite: set.satellite, norad_id: set.norad_id, line1: set.line1, line2: set.line2 });
  });
  if (records.length === 0) throw new StepError('the TLE table holds no Sentinel-2 element sets', file);
  return { records, otherSatellites };
}
