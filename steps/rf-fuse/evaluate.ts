// Scoring a fusion against the simulator's ground truth (tests and the benchmark; not used by the step).
import { haversineKm } from '../../lib/geo/sphere.js';
import { groupTracks, positionAt, type SimResult, type TrackFix } from './simulate.js';
import { MINUTE_MS, type FuseParams, type N6Row } from './types.js';

export interface Evaluation {
  /** gap minutes (1-min steps inside simulated gaps) that have a valid RF detection of the vessel within ±rf_window_min/2 */
  gapMinutesWithRf: number;
  gapMinutesWithRfFilled: number;
  gapCoverage: number;
  /** gap minutes inside RF outages (no detection of the vessel) that still got a fill point */
  outageMinutes: number;
  outageMinutesFilled: number;
  fillPoints: number;
  fillErrorMedianKm: number;
  fillErrorP90Km: number;
  spoofedRows: number;
  correctedRows: number;
  truePositives: number;
  precision: number;
  recall: number;
  correctionErrorMedianKm: number;
}

export function evaluate(rows: readonly Pick<N6Row, 'mmsi' | 'ts_utc' | 'lat' | 'lon' | 'source_tag'>[], sim: SimResult, original: readonly TrackFix[], params: Pick<FuseParams, 'rf_window_min' | 'bucket_min' | 'max_geo_uncertainty_m'>): Evaluation {
  const tracks = groupTracks(original);
  const fillsByMmsi = new Map<number, number[]>();
  const fillRowsByMmsi = new Map<number, (typeof rows)[number][]>();
  const corrected = new Map<string, { lat: number; lon: number }>();
  const fillErrors: number[] = [];
  for (const row of rows) {
    const mmsi = Number(row.mmsi);
    if (row.source_tag === 'RF_FILL') {
      const list = fillsByMmsi.get(mmsi) ?? [];
      list.push(row.ts_utc);
      fillsByMmsi.set(mmsi, list);
      const rowList = fillRowsByMmsi.get(mmsi) ?? [];
      rowList.push(row);
      fillRowsByMmsi.set(mmsi, rowList);
    } else if (row.source_tag === 'AIS_CORRECTED') corrected.set(`${mmsi}/${row.ts_utc}`, { lat: row.lat, lon: row.lon });
  }
  const ownRf = new Map<number, number[]>();
  for (const t of sim.truth.rf) {
    if (t.kind !== 'vessel' || t.true_mmsi === null || t.geo_uncertainty_m > params.max_geo_uncertainty_m) continue;
    const list = ownRf.get(t.true_mmsi) ?? [];
    list.push(t.ts_utc);
    ownRf.set(t.true_mmsi, list);
  }
  const near = (list: readonly number[] | undefined, ts: number, tolMs: number) => (list ?? []).some((v) => Math.abs(v - ts) <= tolMs);
  let withRf = 0, withRfFilled = 0, outage = 0, outageFilled = 0;
  const halfWindow = (params.rf_window_min / 2) * MINUTE_MS;
  const halfBucket = (params.bucket_min * MINUTE_MS) / 2 + 1;
  for (const gap of sim.truth.gaps) {
    const fills = fillsByMmsi.get(gap.mmsi);
    for (let ts = gap.start_ts + MINUTE_MS; ts < gap.end_ts; ts += MINUTE_MS) {
      const filled = near(fills, ts, halfBucket);
      if (near(ownRf.get(gap.mmsi), ts, halfWindow)) {
        withRf++;
        if (filled) withRfFilled++;
      } else if (gap.outage_start_ts !== null && ts >= gap.outage_start_ts && ts <= gap.outage_end_ts!) {
        outage++;
        if (filled) outageFilled++;
      }
    }
    const track = tracks.get(gap.mmsi);
    if (!track) continue;
    for (const row of fillRowsByMmsi.get(gap.mmsi) ?? []) {
      if (row.ts_utc <= gap.start_ts || row.ts_utc >= gap.end_ts) continue;
      const truth = positionAt(track, row.ts_utc);
      fillErrors.push(haversineKm(truth.lat, truth.lon, row.lat, row.lon));
    }
  }
  const spoofed = new Map(sim.truth.spoofs.map((s) => [`${s.mmsi}/${s.ts}`, s]));
  let tp = 0;
  const correctionErrors: number[] = [];
  for (const [key, pos] of corrected) {
    const truth = spoofed.get(key);
    if (!truth) continue;
    tp++;
    correctionErrors.push(haversineKm(truth.true_lat, truth.true_lon, pos.lat, pos.lon));
  }
  return {
    gapMinutesWithRf: withRf,
    gapMinutesWithRfFilled: withRfFilled,
    gapCoverage: withRf > 0 ? withRfFilled / withRf : Number.NaN,
    outageMinutes: outage,
    outageMinutesFilled: outageFilled,
    fillPoints: fillErrors.length,
    fillErrorMedianKm: quantile(fillErrors, 0.5),
    fillErrorP90Km: quantile(fillErrors, 0.9),
    spoofedRows: spoofed.size,
    correctedRows: corrected.size,
    truePositives: tp,
    precision: corrected.size > 0 ? tp / corrected.size : Number.NaN,
    recall: spoofed.size > 0 ? tp / spoofed.size : Number.NaN,
    correctionErrorMedianKm: quantile(correctionErrors, 0.5),
  };
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
