// Pure pieces of the capture: which windows to record, how received messages become positions,
// rejects, overpass snapshots and the random daily sample.
import { StepError } from '../../src/sdk/errors.js';
import { splitExactDuplicates, type AisPosition, type NulledField, type Reject } from '../../lib/maritime/ais.js';
import { parseMessage, type StaticData } from './messages.js';
import { boxFromBounds, inBox, type BoundingBox } from './protocol.js';
import { epochMs, parseUtcTime, utcDate } from '../../lib/maritime/time.js';
import type { TableRows } from '../../pipeline.dagrun.js';

export interface Overpass {
  tile_id: string;
  satellite: string;
  /** Canonical UTC time of the pass. */
  center_time: string;
  centerMs: number;
  box: BoundingBox;
}

const SCHEDULE_FIELDS = ['tile_id', 'satellite', 'center_time_utc', 'bbox_min_lat', 'bbox_min_lon', 'bbox_max_lat', 'bbox_max_lon'] as const;

/** The schedule's overpasses on one UTC date, in time order (then tile, satellite). */
export function overpassesOn(schedule: readonly Record<string, unknown>[], date: string, where = 'schedule'): Overpass[] {
  const out: Overpass[] = [];
  schedule.forEach((row, index) => {
    for (const field of SCHEDULE_FIELDS) {
      if (row[field] === null || row[field] === undefined) throw new StepError(`missing ${field}`, `${where} row ${index + 1} field ${field}`);
    }
    const center = parseUtcTime(String(row.center_time_utc));
    if (center === undefined) throw new StepError(`unreadable time '${String(row.center_time_utc)}'`, `${where} row ${index + 1} field center_time_utc`);
    if (utcDate(center) !== date) return;
    const [minLat, minLon, maxLat, maxLon] = [row.bbox_min_lat, row.bbox_min_lon, row.bbox_max_lat, row.bbox_max_lon].map(Number);
    if (![minLat, minLon, maxLat, maxLon].every(Number.isFinite) || minLat > maxLat || minLon > maxLon) {
      throw new StepError('the bounding box is not min ≤ max', `${where} row ${index + 1} field bbox_min_lat`);
    }
    out.push({
      tile_id: String(row.tile_id),
      satellite: String(row.satellite),
      center_time: center,
      centerMs: epochMs(center),
      box: boxFromBounds(minLat, minLon, maxLat, maxLon),
    });
  });
  return out.sort((a, b) => a.centerMs - b.centerMs || cmp(a.tile_id, b.tile_id) || cmp(a.satellite, b.satellite));
}

export function windowOf(overpass: Overpass, windowMin: number): { startMs: number; endMs: number } {
  return { startMs: overpass.centerMs - windowMin * 60_000, endMs: overpass.centerMs + windowMin * 60_000 };
}

export interface ReceivedPosition {
  /** Arrival order over the day's sessions (message number, 1-based). */
  seq: number;
  messageType: string;
  position: AisPosition;
}

export interface Digest {
  positions: ReceivedPosition[];
  statics: (StaticData & { seq: number })[];
  rejects: Reject[];
  byType: Record<string, number>;
  nulled: Record<NulledField, number>;
}

/** Parse received lines (arrival order) into positions, static data and rejects; exact duplicate positions are rejects. */
export function digestMessages(lines: readonly string[], source = 'aisstream'): Digest {
  const candidates: ReceivedPosition[] = [];
  const statics: (StaticData & { seq: number })[] = [];
  const rejects: Reject[] = [];
  const byType: Record<string, number> = {};
  const nulled: Record<NulledField, number> = { sog: 0, cog: 0, heading: 0, nav_status: 0, vessel_type: 0 };
  lines.forEach((line, index) => {
    const seq = index + 1;
    const parsed = parseMessage(line, source);
    if (parsed.kind === 'reject') {
      rejects.push({ source, location: `stream message ${seq}`, line: seq, reason: parsed.reason, field: parsed.field, value: parsed.value, raw: line.slice(0, 4000) });
      return;
    }
    byType[parsed.messageType] = (byType[parsed.messageType] ?? 0) + 1;
    if (parsed.kind === 'position') {
      for (const field of parsed.nulled) nulled[field]++;
      candidates.push({ seq, messageType: parsed.messageType, position: parsed.position });
    } else if (parsed.kind === 'static') {
      statics.push({ ...parsed.data, seq });
    }
  });
  const { unique, duplicates } = splitExactDuplicates(candidates, (c) => c.position);
  for (const d of duplicates) {
    rejects.push({ source, location: `stream message ${d.seq}`, line: d.seq, reason: 'duplicate', field: null, value: null, raw: lines[d.seq - 1].slice(0, 4000) });
  }
  return { positions: unique, statics, rejects, byType, nulled };
}

/**
 * Fill each position's static fields (IMO, call sign, type, and name when the report had none) from the
 * vessel's latest ShipStaticData of the day (latest time, then latest arrival).
 */
export function latestStatics(statics: readonly (StaticData & { seq: number })[]): Map<number, StaticData> {
  const latest = new Map<number, StaticData & { seq: number }>();
  for (const s of statics) {
    const current = latest.get(s.mmsi);
    if (!current || s.ts_utc > current.ts_utc || (s.ts_utc === current.ts_utc && s.seq > current.seq)) latest.set(s.mmsi, s);
  }
  return latest;
}

export function withStatics(position: AisPosition, statics: Map<number, StaticData>): AisPosition {
  const s = statics.get(position.mmsi);
  if (!s) return position;
  return {
    ...position,
    imo: position.imo ?? s.imo,
    call_sign: position.call_sign ?? s.call_sign,
    name: position.name ?? s.name,
    vessel_type: position.vessel_type ?? s.vessel_type,
  };
}

/** One row of a tile's overpass snapshot (pipeline.yaml `tables.ais_overpass`). */
export type OverpassRow = Record<keyof TableRows['ais_overpass'], unknown>;

/**
 * Every distinct MMSI with a position inside the box within ±window of the pass, one row each: the fix
 * nearest the pass time (ties: the earlier fix, then the earlier arrival).
 */
export function overpassSnapshot(
  overpass: Overpass,
  windowMin: number,
  positions: readonly ReceivedPosition[],
  statics: Map<number, StaticData>,
): OverpassRow[] {
  const { startMs, endMs } = windowOf(overpass, windowMin);
  const best = new Map<number, { p: ReceivedPosition; dt: number; count: number }>();
  for (const p of positions) {
    const ts = p.position.ts_utc;
    if (ts === null) continue;
    const ms = epochMs(ts);
    if (ms < startMs || ms > endMs) continue;
    if (!inBox(p.position.lat, p.position.lon, overpass.box)) continue;
    const dt = ms - overpass.centerMs;
    const current = best.get(p.position.mmsi);
    if (!current) {
      best.set(p.position.mmsi, { p, dt, count: 1 });
      continue;
    }
    current.count++;
    const better = Math.abs(dt) < Math.abs(current.dt) || (Math.abs(dt) === Math.abs(current.dt) && (dt < current.dt || (dt === current.dt && p.seq < current.p.seq)));
    if (better) {
      current.p = p;
      current.dt = dt;
    }
  }
  return [...best.values()]
    .sort((a, b) => a.p.position.mmsi - b.p.position.mmsi)
    .map(({ p, dt, count }) => {
      const position = withStatics(p.position, statics);
      const s = statics.get(position.mmsi);
      return {
        tile_id: overpass.tile_id,
        satellite: overpass.satellite,
        overpass_time: overpass.center_time,
        mmsi: position.mmsi,
        ts_utc: position.ts_utc,
        dt_seconds: dt / 1000,
        lat: position.lat,
        lon: position.lon,
        sog: position.sog,
        cog: position.cog,
        heading: position.heading,
        nav_status: position.nav_status,
        imo: position.imo,
        call_sign: position.call_sign,
        name: position.name,
        vessel_type: position.vessel_type,
        length_m: s?.length_m ?? null,
        width_m: s?.width_m ?? null,
        n_positions: count,
        source: position.source,
      };
    });
}

/**
 * A reproducible rank for an MMSI under a seed (a 32-bit integer hash). Ranking by it picks a uniform
 * random subset that does not depend on the order the stream delivered the ships, and the same ship
 * keeps its rank whatever other ships were seen.
 */
export function sampleRank(seed: number, mmsi: number): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ (mmsi >>> 0));
  h = mix32(h ^ Math.floor(mmsi / 2 ** 32));
  return h;
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Pick `count` distinct MMSIs by seeded rank (ties broken by MMSI). Returns them in rank order. */
export function pickSample(mmsis: Iterable<number>, count: number, seed: number): number[] {
  return [...new Set(mmsis)]
    .map((mmsi) => ({ mmsi, rank: sampleRank(seed, mmsi) }))
    .sort((a, b) => a.rank - b.rank || a.mmsi - b.mmsi)
    .slice(0, Math.max(0, count))
    .map((x) => x.mmsi);
}

/** Combine a seed with a date so each day draws a different sample from the same seed. */
export function daySeed(seed: number, date: string): number {
  let h = seed >>> 0;
  for (const ch of date) h = mix32(h ^ ch.charCodeAt(0));
  return h;
}

/** A tile id made safe for a file name. */
export function tileFileStem(tileId: string): string {
  return tileId.replace(/[^A-Za-z0-9_-]/g, '_');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
