// The normalised AIS table every AIS producer writes (capture, imports) and every consumer reads
// (thin, chip, rf-fuse), plus the rejects table and the field rules that decide between them.

// Both tables are declared once, under `tables:` in pipeline.yaml; `dagrun types` writes them to
// pipeline.dagrun.ts, which this module re-exports under the names the steps use.
import { tables, type TableRows } from '../../pipeline.dagrun.js';

/** Normalised AIS positions: exact DuckDB types, in column order (`tables.ais_positions`). */
export const AIS_COLUMNS = tables.ais_positions.columns;

/** Rows that could not become a valid position, each with why and where (`tables.ais_rejects`). */
export const REJECT_COLUMNS = tables.ais_rejects.columns;

export const REJECT_ORDER = tables.ais_rejects.orderBy;

/**
 * A valid position: a row of `ais_positions` as the field rules let it through — identity, place and
 * source always set (ts_utc is null when a user file has no time; else 'YYYY-MM-DD HH:MM:SS.ffffff' UTC).
 */
export type AisPosition = Omit<TableRows['ais_positions'], 'mmsi' | 'lat' | 'lon' | 'source'> & { mmsi: number; lat: number; lon: number; source: string };

export type RejectReason =
  | 'invalid_mmsi'
  | 'unparseable_time'
  | 'missing_time'
  | 'invalid_lat'
  | 'invalid_lon'
  | 'duplicate'
  | 'malformed_message'
  | 'malformed_row'
  | 'not_a_vessel';

export interface Reject {
  source: string;
  location: string;
  line: number;
  reason: RejectReason;
  field: string | null;
  value: string | null;
  raw: string | null;
}

/** Raw field values as read from a file or a message, before validation. */
export interface RawFix {
  mmsi: unknown;
  /** Already-parsed UTC time (string form), null = field empty, undefined = could not parse. */
  ts_utc: string | null | undefined;
  ts_text?: string | null;
  lat: unknown;
  lon: unknown;
  sog?: unknown;
  cog?: unknown;
  heading?: unknown;
  nav_status?: unknown;
  imo?: unknown;
  call_sign?: unknown;
  name?: unknown;
  vessel_type?: unknown;
}

/** Fields that were present but meant "not available" and were set to null (the row is kept). */
export type NulledField = 'sog' | 'cog' | 'heading' | 'nav_status' | 'vessel_type';

export type FixResult =
  | { ok: true; position: AisPosition; nulled: NulledField[] }
  | { ok: false; reason: RejectReason; field: string; value: string | null };

/** A number from a number or a numeric string; null for empty/absent; NaN for text that is not a number. */
export function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  const text = String(value).trim();
  if (text === '' || /^(na|nan|null|none)$/i.test(text)) return null;
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : Number.NaN;
}

/** Trimmed text, AIS '@' padding removed; null when empty or a known "unknown" marker. */
export function toText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value).replace(/@+$/, '').trim();
  if (text === '' || /^(unknown|na|nan|null|none)$/i.test(text)) return null;
  return text;
}

/** IMO as 'IMO' + 7 digits; 0, 'IMO0000000' and 'Unknown' mean not available. */
export function normaliseImo(value: unknown): string | null {
  const text = toText(value);
  if (text === null) return null;
  const digits = text.replace(/^IMO/i, '');
  if (!/^\d{1,7}$/.test(digits) || Number(digits) === 0) return null;
  return `IMO${digits.padStart(7, '0')}`;
}

const MAX_MMSI = 999_999_999;

/**
 * Apply the AIS field rules to one fix. Position, identity and time problems reject the row; fields
 * carrying the AIS "not available" code (SOG 102.3, COG 360, heading 511) or out of their range are
 * nulled and the row kept.
 */
export function validateFix(raw: RawFix, source: string): FixResult {
  const mmsi = toNumber(raw.mmsi);
  if (mmsi === null || !Number.isInteger(mmsi) || mmsi <= 0 || mmsi > MAX_MMSI) {
    return { ok: false, reason: 'invalid_mmsi', field: 'mmsi', value: show(raw.mmsi) };
  }
  if (raw.ts_utc === undefined) return { ok: false, reason: 'unparseable_time', field: 'ts_utc', value: show(raw.ts_text) };
  const lat = toNumber(raw.lat);
  // 91 is AIS "latitude not available"; anything outside [-90, 90] is not a position.
  if (lat === null || !Number.isFinite(lat) || lat < -90 || lat > 90) {
    return { ok: false, reason: 'invalid_lat', field: 'lat', value: show(raw.lat) };
  }
  const lon = toNumber(raw.lon);
  // 181 is AIS "longitude not available".
  if (lon === null || !Number.isFinite(lon) || lon < -180 || lon > 180) {
    return { ok: false, reason: 'invalid_lon', field: 'lon', value: show(raw.lon) };
  }
  const nulled: NulledField[] = [];
  const ranged = (field: NulledField, value: unknown, ok: (n: number) => boolean): number | null => {
    const n = toNumber(value);
    if (n === null) return null;
    if (!Number.isFinite(n) || !ok(n)) {
      nulled.push(field);
      return null;
    }
    return n;
  };
  const sog = ranged('sog', raw.sog, (n) => n >= 0 && n < 102.25); // 102.3 = not available
  const cog = ranged('cog', raw.cog, (n) => n >= 0 && n < 360); // 360 = not available
  const heading = ranged('heading', raw.heading, (n) => n >= 0 && n < 360); // 511 = not available
  const navStatus = ranged('nav_status', raw.nav_status, (n) => Number.isInteger(n) && n >= 0 && n <= 15);
  const vesselType = ranged('vessel_type', raw.vessel_type, (n) => Number.isInteger(n) && n >= 0 && n <= 99);
  return {
    ok: true,
    nulled,
    position: {
      mmsi,
      ts_utc: raw.ts_utc,
      lat,
      lon,
      sog,
      cog,
      heading,
      nav_status: navStatus,
      imo: normaliseImo(raw.imo),
      call_sign: toText(raw.call_sign),
      name: toText(raw.name),
      // Type 0 is "not available".
      vessel_type: vesselType === 0 ? null : vesselType,
      source,
    },
  };
}

function show(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** Identity of a normalised row: two rows with the same key are exact duplicates. */
export function positionKey(p: AisPosition): string {
  return JSON.stringify([p.mmsi, p.ts_utc, p.lat, p.lon, p.sog, p.cog, p.heading, p.nav_status, p.imo, p.call_sign, p.name, p.vessel_type, p.source]);
}

/**
 * Split rows into first occurrences and exact duplicates (later occurrences, by input order), so
 * duplicates go to rejects and every distinct row is kept.
 */
export function splitExactDuplicates<T>(items: readonly T[], position: (item: T) => AisPosition): { unique: T[]; duplicates: T[] } {
  const seen = new Set<string>();
  const unique: T[] = [];
  const duplicates: T[] = [];
  for (const item of items) {
    const key = positionKey(position(item));
    if (seen.has(key)) duplicates.push(item);
    else {
      seen.add(key);
      unique.push(item);
    }
  }
  return { unique, duplicates };
}

/** Counts of rejects by reason, as manifest metrics `rejects_<reason>`. */
export function rejectCounts(rejects: readonly Reject[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rejects) counts[`rejects_${r.reason}`] = (counts[`rejects_${r.reason}`] ?? 0) + 1;
  return counts;
}
