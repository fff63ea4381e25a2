// An independent TypeScript reading of seed 002's thinning rules, used to check thin.sql: which fixes
// must be kept, and why. Written from the seed, not from the SQL.
import { haversineKm } from '../../../lib/geo/sphere.js';
import { epochMs } from '../../../lib/maritime/time.js';
import type { AisPosition } from '../../../lib/maritime/ais.js';

export interface ThinParams {
  fast_sog_threshold_knots: number;
  anchor_sog_threshold_knots: number;
  fast_interval_min: number;
  slow_interval_min: number;
  anchor_interval_min: number;
  voyage_gap_hours: number;
  max_plausible_kn: number;
}

export type Reason = 'bucket_first' | 'bucket_last' | 'day_first' | 'day_last' | 'voyage_start' | 'voyage_end';

export interface Classified {
  p: AisPosition;
  t: number; // epoch seconds
  state: 'anchored' | 'slow' | 'fast';
  bucket: number;
  voyageStart: boolean;
}

const COLUMN_ORDER: (keyof AisPosition)[] = ['ts_utc', 'lat', 'lon', 'sog', 'cog', 'heading', 'nav_status', 'imo', 'call_sign', 'name', 'vessel_type', 'source'];

/** Time order with every other column as tie-break, nulls first (the order the seed's "first/last" needs to be well defined). */
export function compareFixes(a: AisPosition, b: AisPosition): number {
  for (const c of COLUMN_ORDER) {
    const x = a[c];
    const y = b[c];
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** Per vessel, fixes in order with state, bucket and voyage starts. */
export function classify(rows: readonly AisPosition[], params: ThinParams): Map<number, Classified[]> {
  const byVessel = new Map<number, AisPosition[]>();
  for (const p of rows) if (p.ts_utc !== null) byVessel.set(p.mmsi, [...(byVessel.get(p.mmsi) ?? []), p]);
  const out = new Map<number, Classified[]>();
  for (const [mmsi, fixes] of byVessel) {
    fixes.sort(compareFixes);
    const list: Classified[] = [];
    fixes.forEach((p, i) => {
      const t = epochMs(p.ts_utc as string) / 1000;
      let implied = 0;
      let voyageStart = i === 0;
      if (i > 0) {
        const q = fixes[i - 1];
        const gap = t - epochMs(q.ts_utc as string) / 1000;
        implied = haversineKm(q.lat, q.lon, p.lat, p.lon) / 1.852 / (Math.max(gap, 1) / 3600);
        voyageStart = gap > params.voyage_gap_hours * 3600 || implied > params.max_plausible_kn;
      }
      const speed = p.sog ?? implied;
      const state = speed < params.anchor_sog_threshold_knots ? 'anchored' : speed < params.fast_sog_threshold_knots ? 'slow' : 'fast';
      const interval = state === 'fast' ? params.fast_interval_min : state === 'slow' ? params.slow_interval_min : params.anchor_interval_min;
      list.push({ p, t, state, bucket: Math.floor(t / (interval * 60)), voyageStart });
    });
    out.set(mmsi, list);
  }
  return out;
}

/** For each vessel, the indexes (in classify order) that must be kept, with their reasons. */
export function requiredKeeps(classified: Map<number, Classified[]>): Map<number, Map<number, Reason[]>> {
  const result = new Map<number, Map<number, Reason[]>>();
  for (const [mmsi, list] of classified) {
    const keep = new Map<number, Reason[]>();
    const add = (i: number, reason: Reason): void => void keep.set(i, [...(keep.get(i) ?? []), reason]);
    const firstLast = (key: (c: Classified) => string, first: Reason, last: Reason): void => {
      const seen = new Map<string, [number, number]>();
      list.forEach((c, i) => {
        const k = key(c);
        const range = seen.get(k);
        if (!range) seen.set(k, [i, i]);
        else range[1] = i;
      });
      for (const [a, b] of seen.values()) {
        add(a, first);
        add(b, last);
      }
    };
    firstLast((c) => `${c.state}|${c.bucket}`, 'bucket_first', 'bucket_last');
    firstLast((c) => (c.p.ts_utc as string).slice(0, 10), 'day_first', 'day_last');
    list.forEach((c, i) => {
      if (c.voyageStart) {
        add(i, 'voyage_start');
        if (i > 0) add(i - 1, 'voyage_end');
      }
    });
    add(list.length - 1, 'voyage_end');
    result.set(mmsi, keep);
  }
  return result;
}
