// vessel_transits rows: columns, deterministic ids from the idempotency keys, and the constraints every
// output row must satisfy (seed 004, "The transit lifecycle").
import { createHash } from 'node:crypto';
import { StepError } from '../../src/sdk/errors.js';
import type { Columns } from '../../src/sdk/table-io.js';
import type { Direction } from './chokepoints.js';
import { outputColumns } from './transit-reconcile.dagrun.js';

export const STATUSES = ['predicted', 'confirmed', 'dark_transit', 'missed', 'cancelled'] as const;
export type Status = (typeof STATUSES)[number];
export const CONFIRMED_VIA = ['ais_reappear', 'sar_pixel', 'combined'] as const;
export type ConfirmedVia = (typeof CONFIRMED_VIA)[number];

/** One vessel_transits row. Times are epoch milliseconds (UTC); null where the seed allows NULL. */
export interface TransitRow {
  id: string;
  predicted_imo: string | null;
  /** Not a seed field: the MMSI whose positions the reconciler follows (the vessel key may be an IMO). */
  vessel_mmsi: number | null;
  chokepoint_id: string;
  /** Not a seed field: which zone the vessel approached from (decides the exit zone to reappear in). */
  direction: Direction | null;
  predicted_eta: number | null;
  eta_uncertainty_hours: number | null;
  predicted_at: number | null;
  /** Not a seed field: the AIS fix time of the last-known snapshot (needed to rebuild the dead-reckoned approach). */
  last_known_at: number | null;
  last_known_lat: number | null;
  last_known_lon: number | null;
  last_known_speed: number | null;
  last_known_course: number | null;
  sar_scene_id: string | null;
  sar_scene_acquired_at: number | null;
  pixel_match_lat: number | null;
  pixel_match_lon: number | null;
  pixel_detection_count: number | null;
  match_confidence: number | null;
  status: Status;
  confirmed_at: number | null;
  confirmed_via: ConfirmedVia | null;
  /**
   * Not a seed field: the run time at which the row left `predicted` (confirmed_at is the time of the
   * evidence). Fixes up to it are spent, so a re-run of that hour cannot predict the transit again.
   */
  resolved_at: number | null;
}

/** The transits table's columns, as pipeline.yaml declares the step's output. */
export const TRANSIT_COLUMNS: Columns = outputColumns.vessel_transits;

/** Its TIMESTAMP columns (held as epoch ms in a TransitRow). */
export const TIME_COLUMNS = Object.entries(outputColumns.vessel_transits).filter(([, type]) => type === 'TIMESTAMP').map(([column]) => column) as readonly (keyof typeof outputColumns.vessel_transits)[];

/** ISO-8601 UTC with milliseconds, the form every key and JSON output uses. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parse a timestamp read back from DuckDB or a file: ISO with or without zone (no zone = UTC). */
export function parseTime(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (value instanceof Date) return value.getTime();
  const text = String(value).trim().replace(' ', 'T');
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** Key of the unique index vessel_transits_predicted_uniq (predicted_imo, chokepoint_id, predicted_eta). */
export function predictedKey(imo: string, chokepointId: string, etaMs: number): string {
  return `predicted|${imo}|${chokepointId}|${isoTime(etaMs)}`;
}

/** Pixel coordinates in keys are rounded to 1e-6° (~0.1 m) so float noise cannot split a key. */
export function roundCoord(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** Key of the unique index vessel_transits_dark_uniq (sar_scene_id, pixel_match_lat, pixel_match_lon). */
export function darkKey(sceneId: string, lat: number, lon: number): string {
  return `dark|${sceneId}|${roundCoord(lat).toFixed(6)}|${roundCoord(lon).toFixed(6)}`;
}

/** A fixed namespace so ids are stable across machines and runs. */
const ID_NAMESPACE = Buffer.from('6f1d3c2a9b8e4d7fa0c5e1b2d3f4a5b6', 'hex');

/** UUIDv5 (RFC 9562 §5.5: SHA-1 of namespace + name, version 5, RFC variant) of an idempotency key. */
export function transitId(key: string): string {
  const hash = createHash('sha1').update(ID_NAMESPACE).update(key, 'utf8').digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The idempotency key a row is identified by. */
export function rowKey(row: TransitRow): string {
  if (row.status === 'dark_transit') return darkKey(row.sar_scene_id ?? '', row.pixel_match_lat ?? NaN, row.pixel_match_lon ?? NaN);
  return predictedKey(row.predicted_imo ?? '', row.chokepoint_id, row.predicted_eta ?? NaN);
}

/**
 * Check every row against the lifecycle constraints and the two unique indexes; the first violation
 * throws a StepError naming the row (its index in `label` and its id) and the field.
 */
export function assertTransitConstraints(rows: readonly TransitRow[], label: string, chokepointIds: ReadonlySet<string>): void {
  const keys = new Map<string, number>();
  rows.forEach((row, index) => {
    const fail = (field: string, message: string): never => {
      throw new StepError(message, `${label} row ${index + 1} (id ${row.id}) field ${field}`);
    };
    if (!STATUSES.includes(row.status)) fail('status', `status "${row.status}" is not one of ${STATUSES.join(', ')}`);
    if (!chokepointIds.has(row.chokepoint_id)) fail('chokepoint_id', `unknown chokepoint "${row.chokepoint_id}"`);
    if (row.status === 'dark_transit') {
      if (!row.sar_scene_id) fail('sar_scene_id', 'a dark_transit row must have sar_scene_id');
      if (row.pixel_match_lat === null || row.pixel_match_lon === null) fail('pixel_match_lat', 'a dark_transit row must have pixel_match_lat and pixel_match_lon');
      if (row.predicted_imo !== null) fail('predicted_imo', 'a dark_transit row must not have predicted_imo');
    } else {
      if (!row.predicted_imo) fail('predicted_imo', `a ${row.status} row must have predicted_imo`);
      if (row.predicted_eta === null) fail('predicted_eta', `a ${row.status} row must have predicted_eta`);
      if (row.eta_uncertainty_hours === null || !(row.eta_uncertainty_hours >= 1)) fail('eta_uncertainty_hours', 'eta_uncertainty_hours must be at least 1 hour');
    }
    if (row.status === 'confirmed') {
      if (row.confirmed_via === null || !CONFIRMED_VIA.includes(row.confirmed_via)) fail('confirmed_via', 'a confirmed row must say ais_reappear, sar_pixel or combined');
      if (row.confirmed_via !== 'ais_reappear' && !row.sar_scene_id) fail('sar_scene_id', `a row confirmed via ${row.confirmed_via} must carry its SAR scene`);
    } else if (row.confirmed_via !== null) {
      fail('confirmed_via', `a ${row.status} row must not have confirmed_via`);
    }
    if ((row.status === 'predicted') !== (row.confirmed_at === null) && row.status !== 'dark_transit')
      fail('confirmed_at', row.status === 'predicted' ? 'a predicted row has not been promoted, so confirmed_at must be NULL' : `a ${row.status} row must have confirmed_at`);
    if ((row.status === 'predicted' || row.status === 'dark_transit') !== (row.resolved_at === null))
      fail('resolved_at', row.resolved_at === null ? `a ${row.status} row must have resolved_at` : `a ${row.status} row must not have resolved_at`);
    if (row.match_confidence !== null && !(row.match_confidence >= 0 && row.match_confidence <= 1)) fail('match_confidence', 'match_confidence must be within 0…1');
    const key = rowKey(row);
    if (row.id !== transitId(key)) fail('id', `id does not derive from the row's idempotency key ${key}`);
    const other = keys.get(key);
    if (other !== undefined) fail(row.status === 'dark_transit' ? 'sar_scene_id' : 'predicted_eta', `duplicates row ${other + 1} on the unique key ${key}`);
    keys.set(key, index);
  });
}

/** A row as DuckDB should receive it (times as ISO strings). */
export function toTableRow(row: TransitRow): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row };
  for (const column of TIME_COLUMNS) out[column] = row[column] === null ? null : isoTime(row[column] as number);
  return out;
}

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const str = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/** A row read back from a vessel_transits file (the previous partition's output). */
export function fromTableRow(raw: Record<string, unknown>): TransitRow {
  return {
    id: String(raw.id),
    predicted_imo: str(raw.predicted_imo),
    vessel_mmsi: num(raw.vessel_mmsi),
    chokepoint_id: String(raw.chokepoint_id),
    direction: str(raw.direction) as Direction | null,
    predicted_eta: parseTime(raw.predicted_eta),
    eta_uncertainty_hours: num(raw.eta_uncertainty_hours),
    predicted_at: parseTime(raw.predicted_at),
    last_known_at: parseTime(raw.last_known_at),
    last_known_lat: num(raw.last_known_lat),
    last_known_lon: num(raw.last_known_lon),
    last_known_speed: num(raw.last_known_speed),
    last_known_course: num(raw.last_known_course),
    sar_scene_id: str(raw.sar_scene_id),
    sar_scene_acquired_at: parseTime(raw.sar_scene_acquired_at),
    pixel_match_lat: num(raw.pixel_match_lat),
    pixel_match_lon: num(raw.pixel_match_lon),
    pixel_detection_count: num(raw.pixel_detection_count),
    match_confidence: num(raw.match_confidence),
    status: String(raw.status) as Status,
    confirmed_at: parseTime(raw.confirmed_at),
    confirmed_via: str(raw.confirmed_via) as ConfirmedVia | null,
    resolved_at: parseTime(raw.resolved_at),
  };
}
