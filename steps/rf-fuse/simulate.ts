// RF simulator for rf-fuse (there is no public RF data). Deterministic from a seed: it takes AIS tracks
// (real ones in tests, generated ones in the sample and the benchmark) and produces
//  - the AIS a receiver would have logged: silent gaps cut out, spoofed stretches displaced 20–200 km,
//    a few duplicate and out-of-range rows;
//  - RF detections of every vessel at its true position with realistic geolocation error (95 % radius
//    200 m–5 km, some above the 5 km cap), TDOA clusters, anonymous and mislinked detections, decoy
//    emitters near the gaps, emitters that name unknown vessels, duplicates and corrupt rows;
//  - an entity map for vessels whose RF carries only an IMO;
//  - the ground truth of all of it.
import { destinationPoint, haversineKm } from '../../lib/geo/sphere.js';
import { gaussian, seededRandom } from '../../src/sdk/random.js';
import type { AisPosition } from '../../lib/maritime/ais.js';
import { MINUTE_MS, RADIUS95_PER_SIGMA } from './types.js';

/** One AIS fix in the project's normalised AIS shape (ts as epoch ms). */
export interface TrackFix extends Omit<AisPosition, 'ts_utc'> {
  ts: number;
}

export interface SimRfRow {
  rf_id: string;
  ts_utc: number;
  est_lat: number;
  est_lon: number;
  freq_band: string;
  rssi: number | null;
  toa: number | null;
  tdoa_cluster_id: string | null;
  geoloc_method: string;
  geo_uncertainty_m: number;
  mmsi: number | null;
  imo: string | null;
  call_sign: string | null;
}

export type RfKind = 'vessel' | 'mislink' | 'decoy' | 'unknown_entity' | 'corrupt' | 'duplicate';

export interface RfTruth {
  rf_id: string;
  kind: RfKind;
  /** the vessel that really emitted (null for decoys and unknown emitters) */
  true_mmsi: number | null;
  true_lat: number;
  true_lon: number;
  ts_utc: number;
  geo_uncertainty_m: number;
  tdoa_cluster_id: string | null;
}

export interface GapTruth {
  mmsi: number;
  /** the last kept AIS fix before the cut and the first after it */
  start_ts: number;
  end_ts: number;
  /** a stretch inside the gap with no RF from the vessel (null if none) */
  outage_start_ts: number | null;
  outage_end_ts: number | null;
}

export interface SpoofTruth {
  mmsi: number;
  ts: number;
  true_lat: number;
  true_lon: number;
  spoof_lat: number;
  spoof_lon: number;
  displacement_km: number;
}

export interface SimResult {
  ais: TrackFix[];
  rf: SimRfRow[];
  entityMap: { key_type: string; key_value: string; mmsi: number }[];
  truth: { gaps: GapTruth[]; spoofs: SpoofTruth[]; rf: RfTruth[] };
}

export interface SimOptions {
  seed: number;
  gapVesselShare: number;
  gapMinutes: [number, number];
  /** share of gaps with an RF outage of 4–8 min inside them */
  gapOutageShare: number;
  spoofVesselShare: number;
  spoofMinutes: [number, number];
  spoofDisplacementKm: [number, number];
  /** mean minutes between a vessel's RF detections, and inside gaps and spoof windows */
  rfIntervalMin: number;
  focusRfIntervalMin: number;
  uncertaintyM: [number, number];
  overUncertaintyShare: number;
  anonymousShare: number;
  tdoaShare: number;
  mislinkShare: number;
  duplicateShare: number;
  corruptShare: number;
  decoysPerGap: number;
  unknownEmitters: number;
  /** vessels slower than this on average are never given a gap */
  gapMinSogKn: number;
  rfIdPrefix: string;
}

export const DEFAULT_SIM_OPTIONS: SimOptions = {
  seed: 1,
  gapVesselShare: 0.6,
  gapMinutes: [12, 30],
  gapOutageShare: 0.3,
  spoofVesselShare: 0.3,
  spoofMinutes: [4, 12],
  spoofDisplacementKm: [20, 200],
  rfIntervalMin: 3,
  focusRfIntervalMin: 1.2,
  uncertaintyM: [200, 5000],
  overUncertaintyShare: 0.03,
  anonymousShare: 0.3,
  tdoaShare: 0.15,
  mislinkShare: 0.02,
  duplicateShare: 0.02,
  corruptShare: 0.005,
  decoysPerGap: 3,
  unknownEmitters: 2,
  gapMinSogKn: 3,
  rfIdPrefix: 'RF',
};

type IdentityStyle = 'mmsi' | 'call_sign' | 'imo' | 'entity_map';

/** Linear interpolation of a time-ordered track at `ts` (clamped to its ends). */
export function positionAt(track: readonly { ts: number; lat: number; lon: number }[], ts: number): { lat: number; lon: number } {
  if (ts <= track[0].ts) return { lat: track[0].lat, lon: track[0].lon };
  const last = track[track.length - 1];
  if (ts >= last.ts) return { lat: last.lat, lon: last.lon };
  let lo = 0;
  let hi = track.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (track[mid].ts <= ts) lo = mid;
    else hi = mid;
  }
  const p = track[lo];
  const q = track[hi];
  const f = q.ts === p.ts ? 0 : (ts - p.ts) / (q.ts - p.ts);
  return { lat: p.lat + f * (q.lat - p.lat), lon: p.lon + f * (q.lon - p.lon) };
}

export function groupTracks(fixes: readonly TrackFix[]): Map<number, TrackFix[]> {
  const byMmsi = new Map<number, TrackFix[]>();
  for (const fix of fixes) {
    const list = byMmsi.get(fix.mmsi);
    if (list) list.push(fix);
    else byMmsi.set(fix.mmsi, [fix]);
  }
  for (const list of byMmsi.values()) list.sort((a, b) => a.ts - b.ts);
  return new Map([...byMmsi.entries()].sort((a, b) => a[0] - b[0]));
}

export function simulate(tracksIn: readonly TrackFix[], overrides: Partial<SimOptions> = {}): SimResult {
  const o: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...overrides };
  const random = seededRandom(o.seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * random();
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const tracks = groupTracks(tracksIn);
  const mmsis = [...tracks.keys()];
  const ais: TrackFix[] = [];
  const rf: SimRfRow[] = [];
  const rfTruth: RfTruth[] = [];
  const gaps: GapTruth[] = [];
  const spoofs: SpoofTruth[] = [];
  const entityMap: SimResult['entityMap'] = [];
  let rfCounter = 0;
  let clusterCounter = 0;
  const nextRfId = () => `${o.rfIdPrefix}-${String(++rfCounter).padStart(7, '0')}`;

  const drawUncertainty = () =>
    random() < o.overUncertaintyShare ? Math.round(uniform(5500, 15000)) : Math.round(Math.exp(uniform(Math.log(o.uncertaintyM[0]), Math.log(o.uncertaintyM[1]))));
  const noisy = (lat: number, lon: number, uncertaintyM: number) => {
    const sigmaKm = uncertaintyM / 1000 / RADIUS95_PER_SIGMA;
    const east = gaussian(random) * sigmaKm;
    const north = gaussian(random) * sigmaKm;
    const p = destinationPoint(lat, lon, 90, east);
    return destinationPoint(p.lat, p.lon, 0, north);
  };
  /** Emit one detection event (one row, or a TDOA cluster of 2–4 rows) at a true position. */
  const emit = (
    ts: number,
    truePos: { lat: number; lon: number },
    identity: { mmsi: number | null; imo: string | null; call_sign: string | null },
    kind: RfKind,
    trueMmsi: number | null,
  ) => {
    const cluster = random() < o.tdoaShare;
    const clusterId = cluster ? `C${o.seed}-${++clusterCounter}` : null;
    const members = cluster ? 2 + Math.floor(random() * 3) : 1;
    const bandDraw = random();
    const freqBand = bandDraw < 0.6 ? 'VHF' : bandDraw < 0.85 ? 'X' : 'S';
    const method = cluster ? 'TDOA' : random() < 0.7 ? 'AOA' : 'RSSI';
    for (let m = 0; m < members; m++) {
      const uncertainty = drawUncertainty();
      const pos = noisy(truePos.lat, truePos.lon, uncertainty);
      const rowTs = ts + (cluster ? Math.round(uniform(-1000, 1000)) : 0);
      const row: SimRfRow = {
        rf_id: nextRfId(),
        ts_utc: rowTs,
        est_lat: pos.lat,
        est_lon: pos.lon,
        freq_band: freqBand,
        rssi: Math.round(uniform(-110, -60) * 10) / 10,
        toa: cluster ? rowTs : null,
        tdoa_cluster_id: clusterId,
        geoloc_method: method,
        geo_uncertainty_m: uncertainty,
        ...identity,
      };
      rf.push(row);
      rfTruth.push({ rf_id: row.rf_id, kind, true_mmsi: trueMmsi, true_lat: truePos.lat, true_lon: truePos.lon, ts_utc: rowTs, geo_uncertainty_m: uncertainty, tdoa_cluster_id: clusterId });
    }
  };

  // How each vessel's RF names it when it does.
  const styles = new Map<number, IdentityStyle>();
  for (const mmsi of mmsis) {
    const draw = random();
    styles.set(mmsi, draw < 0.6 ? 'mmsi' : draw < 0.75 ? 'call_sign' : draw < 0.85 ? 'imo' : 'entity_map');
  }
  const callSign = (mmsi: number) => `SIM${(mmsi % 100000).toString(36).toUpperCase()}`;
  const imoOf = (mmsi: number) => String(9_000_000 + (mmsi % 999_983));
  const identityOf = (mmsi: number) => {
    switch (styles.get(mmsi)) {
      case 'call_sign':
        return { mmsi: null, imo: null, call_sign: callSign(mmsi) };
      case 'imo':
      case 'entity_map':
        return { mmsi: null, imo: `IMO${imoOf(mmsi)}`, call_sign: null };
      default:
        return { mmsi, imo: null, call_sign: null };
    }
  };

  for (const [mmsi, original] of tracks) {
    const style = styles.get(mmsi)!;
    if (style === 'entity_map') entityMap.push({ key_type: 'imo', key_value: imoOf(mmsi), mmsi });
    const t0 = original[0].ts;
    const t1 = original[original.length - 1].ts;
    const durationMin = (t1 - t0) / MINUTE_MS;
    const meanSog = original.reduce((s, f) => s + (f.sog ?? 0), 0) / original.length;
    const travelledKm = haversineKm(original[0].lat, original[0].lon, original[original.length - 1].lat, original[original.length - 1].lon);

    // A silent gap?
    let gap: { g0: number; g1: number } | null = null;
    let outage: { start: number; end: number } | null = null;
    const gapDraw = random();
    if (meanSog >= o.gapMinSogKn && travelledKm >= 1 && durationMin >= o.gapMinutes[0] + 8 && gapDraw < o.gapVesselShare) {
      const length = uniform(o.gapMinutes[0], Math.min(o.gapMinutes[1], durationMin - 8)) * MINUTE_MS;
      const g0 = t0 + 3 * MINUTE_MS + random() * (t1 - t0 - length - 6 * MINUTE_MS);
      gap = { g0, g1: g0 + length };
      if (random() < o.gapOutageShare) {
        const outageLength = uniform(4, 8) * MINUTE_MS;
        const start = g0 + random() * Math.max(0, length - outageLength);
        outage = { start, end: start + outageLength };
      }
    }
    // A spoofed stretch? (not on gap vessels, so each truth is clean)
    let spoof: { s0: number; s1: number; bearing: number; km: number } | null = null;
    const spoofDraw = random();
    if (!gap && durationMin >= o.spoofMinutes[1] + 4 && original.length >= 4 && spoofDraw < o.spoofVesselShare) {
      const length = uniform(o.spoofMinutes[0], o.spoofMinutes[1]) * MINUTE_MS;
      const s0 = t0 + 2 * MINUTE_MS + random() * (t1 - t0 - length - 4 * MINUTE_MS);
      spoof = { s0, s1: s0 + length, bearing: uniform(0, 360), km: uniform(o.spoofDisplacementKm[0], o.spoofDisplacementKm[1]) };
    }

    const kept = original.filter((f) => !gap || f.ts <= gap.g0 || f.ts >= gap.g1);
    if (gap) {
      const before = kept.filter((f) => f.ts <= gap!.g0);
      const after = kept.filter((f) => f.ts >= gap!.g1);
      if (before.length > 0 && after.length > 0) {
        gaps.push({
          mmsi,
          start_ts: before[before.length - 1].ts,
          end_ts: after[0].ts,
          outage_start_ts: outage ? Math.round(outage.start) : null,
          outage_end_ts: outage ? Math.round(outage.end) : null,
        });
      }
    }
    const withCallSign = style === 'call_sign';
    const withImo = style === 'imo';
    for (const fix of kept) {
      const out: TrackFix = { ...fix, call_sign: withCallSign ? callSign(mmsi) : fix.call_sign, imo: withImo ? `IMO${imoOf(mmsi)}` : fix.imo };
      if (spoof && fix.ts >= spoof.s0 && fix.ts <= spoof.s1) {
        const moved = destinationPoint(fix.lat, fix.lon, spoof.bearing, spoof.km);
        out.lat = moved.lat;
        out.lon = moved.lon;
        spoofs.push({ mmsi, ts: fix.ts, true_lat: fix.lat, true_lon: fix.lon, spoof_lat: moved.lat, spoof_lon: moved.lon, displacement_km: spoof.km });
      }
      ais.push(out);
      if (random() < o.duplicateShare) ais.push({ ...out });
    }

    // The vessel's own RF, denser where it matters (gaps, spoofs).
    const inFocus = (ts: number) => (gap !== null && ts > gap.g0 - 6 * MINUTE_MS && ts < gap.g1 + 6 * MINUTE_MS) || (spoof !== null && ts >= spoof.s0 - MINUTE_MS && ts <= spoof.s1 + MINUTE_MS);
    const focusStarts = [gap ? gap.g0 - 6 * MINUTE_MS : null, spoof ? spoof.s0 - MINUTE_MS : null].filter((v): v is number => v !== null);
    for (let ts = t0 + random() * o.rfIntervalMin * MINUTE_MS; ts <= t1; ) {
      const rounded = Math.round(ts);
      if (!(outage && rounded >= outage.start && rounded <= outage.end)) {
        const truePos = positionAt(original, rounded);
        const inSpoof = spoof !== null && rounded >= spoof.s0 - MINUTE_MS && rounded <= spoof.s1 + MINUTE_MS;
        const anonymous = random() < (inSpoof ? 0.1 : o.anonymousShare);
        if (anonymous) emit(rounded, truePos, { mmsi: null, imo: null, call_sign: null }, 'vessel', mmsi);
        else if (random() < o.mislinkShare && mmsis.length > 1) {
          let other = pick(mmsis);
          if (other === mmsi) other = mmsis[(mmsis.indexOf(mmsi) + 1) % mmsis.length];
          emit(rounded, truePos, { mmsi: other, imo: null, call_sign: null }, 'mislink', mmsi);
        } else emit(rounded, truePos, identityOf(mmsi), 'vessel', mmsi);
      }
      const mean = inFocus(ts) ? o.focusRfIntervalMin : o.rfIntervalMin;
      let next = ts + Math.max(0.25, -Math.log(Math.max(random(), 1e-9)) * mean) * MINUTE_MS;
      // Do not sail past the start of a dense stretch with a long sparse interval.
      for (const focusStart of focusStarts) if (ts < focusStart && next > focusStart) next = focusStart + random() * o.focusRfIntervalMin * MINUTE_MS;
      ts = next;
    }

    // Decoy emitters around the gap: other, unidentified emitters a few km from the silent vessel.
    if (gap) {
      for (let d = 0; d < o.decoysPerGap; d++) {
        const startPos = destinationPoint(positionAt(original, gap.g0).lat, positionAt(original, gap.g0).lon, uniform(0, 360), uniform(1, 6));
        const speedKn = random() < 0.3 ? 0 : uniform(2, 14);
        const course = uniform(0, 360);
        for (let ts = gap.g0 - 6 * MINUTE_MS + random() * MINUTE_MS; ts < gap.g1 + 6 * MINUTE_MS; ts += uniform(0.8, 2.2) * MINUTE_MS) {
          const km = (speedKn * 1.852 * (ts - gap.g0)) / 3_600_000;
          emit(Math.round(ts), destinationPoint(startPos.lat, startPos.lon, course, km), { mmsi: null, imo: null, call_sign: null }, 'decoy', null);
        }
      }
    }
  }

  // Emitters that claim vessels the day's AIS has never seen.
  if (mmsis.length > 0) {
    for (let e = 0; e < o.unknownEmitters; e++) {
      const host = tracks.get(pick(mmsis))!;
      const fakeMmsi = 999_000_000 + e;
      for (let k = 0; k < 5; k++) {
        const fix = pick(host);
        emit(fix.ts, destinationPoint(fix.lat, fix.lon, uniform(0, 360), uniform(0.5, 3)), { mmsi: fakeMmsi, imo: null, call_sign: null }, 'unknown_entity', null);
      }
    }
  }

  // Duplicates (re-delivered rows) and corrupt coordinates, for the cleaning counters.
  const base = rf.length;
  for (let i = 0; i < base; i++) {
    if (random() < o.duplicateShare) {
      rf.push({ ...rf[i] });
      rfTruth.push({ ...rfTruth[i], kind: 'duplicate' });
    }
    if (random() < o.corruptShare) {
      const row = { ...rf[i], rf_id: nextRfId(), tdoa_cluster_id: null, est_lat: random() < 0.5 ? 91.5 : rf[i].est_lat, est_lon: random() < 0.5 ? rf[i].est_lon : 190 };
      if (row.est_lat === rf[i].est_lat && row.est_lon === rf[i].est_lon) row.est_lat = -95;
      rf.push(row);
      rfTruth.push({ ...rfTruth[i], rf_id: row.rf_id, kind: 'corrupt', tdoa_cluster_id: null });
    }
  }
  for (let i = 0, n = Math.max(1, Math.round(ais.length * o.corruptShare)); i < n && ais.length > 0; i++) {
    const fix = ais[Math.floor(random() * ais.length)];
    ais.push({ ...fix, ts: fix.ts + 1, lat: 91 });
  }

  ais.sort((a, b) => a.mmsi - b.mmsi || a.ts - b.ts || a.lat - b.lat);
  rf.sort((a, b) => a.ts_utc - b.ts_utc || (a.rf_id < b.rf_id ? -1 : a.rf_id > b.rf_id ? 1 : 0));
  return { ais, rf, entityMap, truth: { gaps, spoofs, rf: rfTruth } };
}

export interface SyntheticTrackOptions {
  seed: number;
  /** the UTC day, YYYY-MM-DD */
  date: string;
  vessels: number;
  /** hours each vessel is tracked (starting at a random time of the day) */
  hours: number;
  /** seconds between AIS reports (jittered ±30 %) */
  intervalSec: number;
  /** bounding box [minLon, minLat, maxLon, maxLat]; default the Solent and the English Channel south of it */
  bbox?: [number, number, number, number];
  mmsiBase?: number;
}

/**
 * Generated vessel tracks: wandering courses at steady speeds inside a box (turning back at its
 * edges), about a fifth of them moored. For the sample and the benchmark, where no real data may go.
 */
export function syntheticTracks(options: SyntheticTrackOptions): TrackFix[] {
  const random = seededRandom(options.seed);
  const [minLon, minLat, maxLon, maxLat] = options.bbox ?? [-2.0, 50.0, -0.8, 50.85];
  const dayStart = Date.parse(`${options.date}T00:00:00Z`);
  const out: TrackFix[] = [];
  const spanMs = options.hours * 3_600_000;
  for (let v = 0; v < options.vessels; v++) {
    const mmsi = (options.mmsiBase ?? 235_000_000) + v * 37 + 11;
    const moored = random() < 0.2;
    const speedKn = moored ? 0 : 5 + random() * 17;
    let course = random() * 360;
    let lat = minLat + random() * (maxLat - minLat);
    let lon = minLon + random() * (maxLon - minLon);
    const start = dayStart + Math.floor(random() * Math.max(1, 86_400_000 - spanMs));
    for (let ts = start; ts < start + spanMs; ) {
      out.push({
        mmsi,
        ts,
        lat,
        lon,
        sog: Math.max(0, Math.round((speedKn + gaussian(random) * 0.2) * 10) / 10),
        cog: moored ? null : Math.round(((course + gaussian(random)) % 360 + 360) % 360 * 10) / 10,
        heading: moored ? null : Math.round(course) % 360,
        nav_status: moored ? 5 : 0,
        imo: null,
        call_sign: null,
        name: `SIM VESSEL ${v}`,
        vessel_type: 70,
        source: 'sim',
      });
      const step = options.intervalSec * 1000 * (0.7 + 0.6 * random());
      const km = (speedKn * 1.852 * step) / 3_600_000;
      const next = destinationPoint(lat, lon, course, km);
      if (next.lat < minLat || next.lat > maxLat || next.lon < minLon || next.lon > maxLon) course = (course + 180) % 360;
      else {
        lat = next.lat;
        lon = next.lon;
      }
      course = (course + gaussian(random) * 1.5 * (step / 60_000) + 360) % 360;
      ts += Math.round(step);
    }
  }
  return out;
}
