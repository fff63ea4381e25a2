// Shared by the transit tests and bench/transit.bench.ts: constructed voyages, the project's corridors,
// and the Ever Given AIS file (../shared/data) turned into vessel tracks.
import { readFileSync } from 'node:fs';
import { bearingDeg, destinationPoint, haversineKm, pointInPolygon } from '../../lib/geo/sphere.js';
import { parseChokepoints, type Corridor } from '../../steps/transit-reconcile/chokepoints.js';
import type { PositionFix, VesselTrack } from '../../steps/transit-reconcile/lifecycle.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

export const HOUR = 3_600_000;
export const CHOKEPOINTS_FILE = `${PROJECT_ROOT}/datasets/chokepoints/chokepoints.geojson`;

export function loadCorridors(): Corridor[] {
  return parseChokepoints(readFileSync(CHOKEPOINTS_FILE, 'utf8'), CHOKEPOINTS_FILE);
}

export const t = (iso: string): number => Date.parse(iso);

/** Each vessel_transits row as `imo (or dark:chokepoint) → status[/confirmed_via]`. */
export function transitStatus(rows: readonly Record<string, unknown>[]): Record<string, string> {
  return Object.fromEntries(rows.map((r) => [String(r.predicted_imo ?? `dark:${String(r.chokepoint_id)}`), `${String(r.status)}${r.confirmed_via ? `/${String(r.confirmed_via)}` : ''}`]));
}

/** The sample's story after its second day (2026-05-26), whether detections come from the CSV or from sar-detect. */
export const SAMPLE_STORY_DAY2: Readonly<Record<string, string>> = {
  '9700001': 'confirmed/ais_reappear',
  '9700002': 'confirmed/sar_pixel',
  '9700003': 'confirmed/combined',
  '9700004': 'cancelled',
  '9700007': 'predicted',
  'dark:suez-s': 'dark_transit',
};

export interface VoyageSpec {
  mmsi: number;
  key?: string;
  start: string;
  speedKn: number;
  /** [lat, lon] waypoints at constant speed. */
  waypoints: [number, number][];
  everyMin?: number;
  /** No fixes after this time (the vessel goes dark). */
  darkAfter?: string;
  cog?: number | null;
  sog?: number | null;
}

/** Fixes every `everyMin` minutes along the waypoints, with true course and speed. */
export function voyage(spec: VoyageSpec): VesselTrack {
  const fixes: PositionFix[] = [];
  const kmh = spec.speedKn * 1.852;
  const every = (spec.everyMin ?? 10) * 60_000;
  const stop = spec.darkAfter ? t(spec.darkAfter) : Infinity;
  let ts = t(spec.start);
  let legStart = ts; // when the vessel is at waypoint `leg`
  for (let leg = 0; leg + 1 < spec.waypoints.length; leg++) {
    const [lat1, lon1] = spec.waypoints[leg];
    const [lat2, lon2] = spec.waypoints[leg + 1];
    const course = bearingDeg(lat1, lon1, lat2, lon2);
    if (leg > 0) legStart = legStart + (haversineKm(...spec.waypoints[leg - 1], lat1, lon1) / kmh) * HOUR;
    const legEnd = legStart + (haversineKm(lat1, lon1, lat2, lon2) / kmh) * HOUR;
    for (; ts < legEnd && ts <= stop; ts += every) {
      const at = destinationPoint(lat1, lon1, course, ((ts - legStart) / HOUR) * kmh);
      fixes.push({ tsMs: ts, lat: at.lat, lon: at.lon, sog: spec.sog === undefined ? spec.speedKn : spec.sog, cog: spec.cog === undefined ? course : spec.cog });
    }
  }
  return { mmsi: spec.mmsi, vesselKey: spec.key ?? `MMSI:${spec.mmsi}`, fixes };
}

/** Where a constant-speed voyage is at `iso`. */
export function positionAt(spec: VoyageSpec, iso: string): { lat: number; lon: number } {
  let km = ((t(iso) - t(spec.start)) / HOUR) * spec.speedKn * 1.852;
  for (let leg = 0; leg + 1 < spec.waypoints.length; leg++) {
    const [lat1, lon1] = spec.waypoints[leg];
    const [lat2, lon2] = spec.waypoints[leg + 1];
    const legKm = haversineKm(lat1, lon1, lat2, lon2);
    if (km <= legKm) return destinationPoint(lat1, lon1, bearingDeg(lat1, lon1, lat2, lon2), km);
    km -= legKm;
  }
  const [lat, lon] = spec.waypoints[spec.waypoints.length - 1];
  return { lat, lon };
}

/**
 * The Ever Given file (ID, DD/MM/YYYY HH:MM, lon, lat; anonymised ids, no IMO, no speed or course):
 * one track per ID, the ID as vessel key, SOG/COG derived from the previous fix (only when the two
 * fixes are 2 min…3 h apart; otherwise unknown, so the vessel is ineligible at that fix).
 */
export function everGivenTracks(path: string): VesselTrack[] {
  const lines = readFileSync(path, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0].split(',');
  if (header.join(',') !== 'ID,ais_pos_timestamp,longitude,latitude') throw new Error(`unexpected header ${lines[0]}`);
  const byId = new Map<number, { tsMs: number; lat: number; lon: number }[]>();
  for (const line of lines.slice(1)) {
    const [id, stamp, lon, lat] = line.split(',');
    const m = /^(\d\d)\/(\d\d)\/(\d{4}) (\d\d):(\d\d)$/.exec(stamp);
    if (!m) throw new Error(`bad timestamp ${stamp}`);
    const tsMs = Date.UTC(Number(m[3]), Number(m[2]) - 1, Number(m[1]), Number(m[4]), Number(m[5]));
    const list = byId.get(Number(id)) ?? [];
    list.push({ tsMs, lat: Number(lat), lon: Number(lon) });
    byId.set(Number(id), list);
  }
  return [...byId.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, raw]) => {
      raw.sort((a, b) => a.tsMs - b.tsMs || a.lat - b.lat || a.lon - b.lon);
      const fixes: PositionFix[] = raw.map((f, i) => {
        const prev = raw[i - 1];
        const dtH = prev ? (f.tsMs - prev.tsMs) / HOUR : 0;
        const usable = prev !== undefined && dtH >= 2 / 60 && dtH <= 3;
        return {
          tsMs: f.tsMs,
          lat: f.lat,
          lon: f.lon,
          sog: usable ? haversineKm(prev.lat, prev.lon, f.lat, f.lon) / 1.852 / dtH : null,
          cog: usable ? bearingDeg(prev.lat, prev.lon, f.lat, f.lon) : null,
        };
      });
      return { mmsi: id, vesselKey: `VV:${id}`, fixes };
    });
}

export interface ReplaySummary {
  vessels: number;
  runs: number;
  predicted: number;
  confirmed: number;
  confirmedVia: Record<string, number>;
  missed: number;
  cancelled: number;
  stillOpen: number;
  /** Median of (confirmed_at − predicted_eta) over confirmed rows, hours (the weekly view's figure). */
  medianConfirmDeltaHours: number | null;
  /**
   * Median of (first fix inside the corridor after the last-known fix − predicted_eta), hours, over
   * confirmed rows predicted from outside the corridor that have such a fix (AIS cadence limits it).
   */
  medianEntryErrorHours: number | null;
  /** Median dead-reckoning lead (predicted_eta − last_known_at) of those rows, hours. */
  medianLeadHours: number | null;
  medianAbsEntryErrorHours: number | null;
  entryErrorsMeasured: number;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Summarise a replay's rows against the tracks it ran on. */
export function summariseReplay(rows: readonly import('../../steps/transit-reconcile/transits.js').TransitRow[], vessels: readonly VesselTrack[], corridors: readonly Corridor[], runs: number): ReplaySummary {
  const predicted = rows.filter((r) => r.status !== 'dark_transit');
  const confirmed = predicted.filter((r) => r.status === 'confirmed');
  const confirmedVia: Record<string, number> = {};
  for (const r of confirmed) confirmedVia[r.confirmed_via as string] = (confirmedVia[r.confirmed_via as string] ?? 0) + 1;
  const byMmsi = new Map(vessels.map((v) => [v.mmsi, v]));
  const entryErrors: number[] = [];
  const leads: number[] = [];
  for (const r of confirmed) {
    const corridor = corridors.find((c) => c.id === r.chokepoint_id)!;
    // Only predictions made from outside the corridor have a lead time to check.
    if (pointInCorridor(r.last_known_lat as number, r.last_known_lon as number, corridor)) continue;
    const entry = byMmsi.get(r.vessel_mmsi as number)?.fixes.find((f) => f.tsMs > (r.last_known_at as number) && f.lat !== null && f.lon !== null && pointInCorridor(f.lat, f.lon, corridor));
    if (!entry) continue;
    entryErrors.push((entry.tsMs - (r.predicted_eta as number)) / HOUR);
    leads.push(((r.predicted_eta as number) - (r.last_known_at as number)) / HOUR);
  }
  return {
    vessels: vessels.length,
    runs,
    predicted: predicted.length,
    confirmed: confirmed.length,
    confirmedVia,
    missed: predicted.filter((r) => r.status === 'missed').length,
    cancelled: predicted.filter((r) => r.status === 'cancelled').length,
    stillOpen: predicted.filter((r) => r.status === 'predicted').length,
    medianConfirmDeltaHours: median(confirmed.map((r) => ((r.confirmed_at as number) - (r.predicted_eta as number)) / HOUR)),
    medianEntryErrorHours: median(entryErrors),
    medianAbsEntryErrorHours: median(entryErrors.map(Math.abs)),
    medianLeadHours: median(leads),
    entryErrorsMeasured: entryErrors.length,
  };
}

function pointInCorridor(lat: number, lon: number, corridor: Corridor): boolean {
  return pointInPolygon(lon, lat, corridor.polygon);
}

/**
 * A detections CSV as the parquet transit-reconcile's `detections` input carries in the pipeline
 * (sar-detect's format; exec refuses a CSV for a step input). Cells stay text, so the step's parser
 * still sees and names bad values.
 */
export async function detectionsParquet(csv: string, out: string): Promise<string> {
  const { withDb, quoteLiteral } = await import('../../src/sdk/table-io.js');
  await withDb((db) => db.run(`COPY (SELECT * FROM read_csv(${quoteLiteral(csv)}, header = true, all_varchar = true)) TO ${quoteLiteral(out)} (FORMAT parquet)`));
  return out;
}

export const SAMPLE_DETECTIONS_CSV = `${PROJECT_ROOT}/datasets/sample/transits/sar_detections.csv`;
