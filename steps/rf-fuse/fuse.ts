// The fusion of one day: spoof check of every AIS fix against its vessel's RF (Algorithm B), minor-gap
// interpolation, RF gap fill (Algorithm A), merged into N6 rows with counters for the KPI report.
import { cellToParent, gridDisk, latLngToCell } from 'h3-js';
import { haversineKm } from '../../lib/geo/sphere.js';
import { compareText, feasible, fillGap, gapSpeeds, type GapCandidate, type GapEnd } from './gapfill.js';
import { assessFix, type FixPosition } from './spoof.js';
import { KNOT_KM_PER_H, MINUTE_MS, RADIUS95_PER_SIGMA, type AisFix, type FuseParams, type N6Row, type RfDetection } from './types.js';

export interface AuditRow {
  mmsi: string;
  ts_utc: number;
  orig_lat: number;
  orig_lon: number;
  lat: number;
  lon: number;
  residual_km: number;
  spoof_score: number;
  corrected: boolean;
  correction_distance_km: number | null;
  rf_ids_used: string[];
}

export interface FuseStats {
  gaps: number;
  gap_slots: number;
  gap_slots_filled: number;
  fill_points_rejected: number;
  gap_candidates_own: number;
  gap_candidates_anonymous: number;
  /** anonymous detections near a gap left out because another vessel's AIS fix explains them */
  gap_candidates_explained: number;
  minor_gaps_interpolated: number;
  interpolated_points: number;
  spoof_assessed: number;
  spoof_flagged: number;
  spoof_corrected: number;
}

export interface FuseResult {
  rows: N6Row[];
  audit: AuditRow[];
  stats: FuseStats;
}

/** The H3 cell a detection is indexed under: its res-`h3Res` cell's parent three levels up (res 5 by default, ~8.5 km edges). */
export function anonymousCell(lat: number, lon: number, h3Res: number): string {
  return cellToParent(latLngToCell(lat, lon, h3Res), joinResolution(h3Res));
}

const joinResolution = (h3Res: number): number => Math.max(0, h3Res - 3);

/**
 * The cells a gap's candidates may sit in: the straight line a → b sampled every few km, each sample's
 * join-resolution cell and its ring of neighbours, sorted. A detection whose anonymousCell() is one of
 * them is near the corridor.
 */
export function corridorCells(a: GapEnd, b: GapEnd, h3Res: number): string[] {
  const joinRes = joinResolution(h3Res);
  const cells = new Set<string>();
  const steps = Math.max(1, Math.ceil(haversineKm(a.lat, a.lon, b.lat, b.lon) / 4));
  for (let i = 0; i <= steps; i++) {
    const f = i / steps;
    const center = latLngToCell(a.lat + f * (b.lat - a.lat), a.lon + f * (b.lon - a.lon), joinRes);
    for (const cell of gridDisk(center, 1)) cells.add(cell);
  }
  return [...cells].sort();
}

/**
 * Anonymous detections indexed by H3 (anonymousCell), for the in-memory day: the cells of a gap's
 * corridor (corridorCells) cover every detection the corridor can reach. The streamed day joins the
 * same cells in SQL instead.
 */
export class AnonymousIndex {
  private readonly byCell = new Map<string, RfDetection[]>();

  constructor(
    detections: readonly RfDetection[],
    private readonly h3Res: number,
  ) {
    for (const det of detections) {
      const cell = anonymousCell(det.lat, det.lon, h3Res);
      const list = this.byCell.get(cell);
      if (list) list.push(det);
      else this.byCell.set(cell, [det]);
    }
    for (const list of this.byCell.values()) list.sort(byTimeThenId);
  }

  /** Detections in (fromTs, toTs) near the straight line a → b. */
  near(a: GapEnd, b: GapEnd, fromTs: number, toTs: number): RfDetection[] {
    if (this.byCell.size === 0) return [];
    const found: RfDetection[] = [];
    for (const cell of corridorCells(a, b, this.h3Res)) {
      const list = this.byCell.get(cell);
      if (!list) continue;
      for (let i = lowerBound(list, fromTs); i < list.length && list[i].ts < toTs; i++) if (list[i].ts > fromTs) found.push(list[i]);
    }
    return found.sort(byTimeThenId);
  }
}

/**
 * Every AIS fix of the day, to ask "is some other vessel, reporting AIS right now, sitting on this
 * anonymous detection?" An emitter that another vessel's fix explains is that vessel's, not the silent
 * one's (crowded waters: ferries in convoy, anchorages). Columnar (typed arrays, ~40 bytes a fix) and
 * bucketed by minute, each minute sorted by latitude, so a question reads only the fixes of three
 * minutes within reach in latitude instead of every fix in ±1 min of the whole day.
 */
export class AisClock {
  private readonly ts: Float64Array;
  private readonly lat: Float64Array;
  private readonly lon: Float64Array;
  private readonly sog: Float64Array;
  private readonly mmsi: Float64Array;
  private length = 0;
  private maxSogKn = 0;
  /** minute → [first index, end index) of its fixes */
  private readonly minutes = new Map<number, [number, number]>();

  /** An empty clock for `capacity` fixes, to be filled with add() in (minute, lat) order. */
  constructor(capacity: number) {
    this.ts = new Float64Array(capacity);
    this.lat = new Float64Array(capacity);
    this.lon = new Float64Array(capacity);
    this.sog = new Float64Array(capacity);
    this.mmsi = new Float64Array(capacity);
  }

  static fromFixes(fixes: readonly { ts: number; lat: number; lon: number; sog: number | null; mmsi: number }[]): AisClock {
    const clock = new AisClock(fixes.length);
    const order = fixes.map((_, i) => i).sort((i, j) => minuteOf(fixes[i].ts) - minuteOf(fixes[j].ts) || fixes[i].lat - fixes[j].lat);
    for (const i of order) clock.add(fixes[i].ts, fixes[i].lat, fixes[i].lon, fixes[i].sog ?? 0, fixes[i].mmsi);
    return clock;
  }

  /** Append one fix; fixes must arrive ordered by minute, then latitude. */
  add(ts: number, lat: number, lon: number, sogKn: number, mmsi: number): void {
    const i = this.length++;
    if (i >= this.ts.length) throw new Error(`AisClock: more than ${this.ts.length} fixes`);
    this.ts[i] = ts;
    this.lat[i] = lat;
    this.lon[i] = lon;
    this.sog[i] = sogKn;
    this.mmsi[i] = mmsi;
    if (sogKn > this.maxSogKn) this.maxSogKn = sogKn;
    const minute = minuteOf(ts);
    const range = this.minutes.get(minute);
    if (range) {
      if (range[1] !== i || lat < this.lat[i - 1]) throw new Error('AisClock: fixes must be added ordered by minute, then latitude');
      range[1] = i + 1;
    } else this.minutes.set(minute, [i, i + 1]);
  }

  /** A fix of another vessel within ±EXPLAIN_WINDOW_MS lies within 1σ of the detection (plus its own motion). */
  explains(det: RfDetection, silentMmsi: number): boolean {
    const sigmaKm = det.uncertaintyM / 1000 / RADIUS95_PER_SIGMA;
    const from = det.ts - EXPLAIN_WINDOW_MS;
    const to = det.ts + EXPLAIN_WINDOW_MS;
    // No fix farther than this in latitude can pass the box test below (the margin absorbs rounding).
    const latReach = (sigmaKm + (this.maxSogKn * KNOT_KM_PER_H * EXPLAIN_WINDOW_MS) / 3_600_000 + EXPLAIN_MARGIN_KM) / KM_PER_DEGREE_BOX + 1e-9;
    for (let minute = minuteOf(from); minute <= minuteOf(to); minute++) {
      const range = this.minutes.get(minute);
      if (!range) continue;
      let lo = range[0];
      let hi = range[1];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.lat[mid] < det.lat - latReach) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < range[1] && this.lat[i] <= det.lat + latReach; i++) {
        if (this.ts[i] < from || this.ts[i] > to || this.mmsi[i] === silentMmsi) continue;
        const driftKm = (this.sog[i] * KNOT_KM_PER_H * Math.abs(this.ts[i] - det.ts)) / 3_600_000;
        const reachKm = sigmaKm + driftKm + EXPLAIN_MARGIN_KM;
        // Cheap box test before the haversine.
        if (Math.abs(this.lat[i] - det.lat) * KM_PER_DEGREE_BOX > reachKm) continue;
        if (haversineKm(this.lat[i], this.lon[i], det.lat, det.lon) <= reachKm) return true;
      }
    }
    return false;
  }
}

const minuteOf = (ts: number): number => Math.floor(ts / MINUTE_MS);

/** The explanation test (AisClock here, explainedSql in stream.ts): a fix within ±1 min, within 1σ + its drift + 200 m. */
export const EXPLAIN_WINDOW_MS = MINUTE_MS;
export const EXPLAIN_MARGIN_KM = 0.2;
/** The box test's km per degree of latitude (part of the test, not only a shortcut: keep both sides equal). */
export const KM_PER_DEGREE_BOX = 111.2;

export function emptyStats(): FuseStats {
  return {
    gaps: 0,
    gap_slots: 0,
    gap_slots_filled: 0,
    fill_points_rejected: 0,
    gap_candidates_own: 0,
    gap_candidates_anonymous: 0,
    gap_candidates_explained: 0,
    minor_gaps_interpolated: 0,
    interpolated_points: 0,
    spoof_assessed: 0,
    spoof_flagged: 0,
    spoof_corrected: 0,
  };
}

/** Where fused rows go: an array (fuse) or a file written as the day streams past (run.ts). */
export interface FuseSink {
  row(row: N6Row): void;
  audit(row: AuditRow): void;
}

/** A fix with the fixes before and after it in its track (null at a track's ends). */
export interface FixInTrack {
  fix: AisFix;
  prev: FixPosition | null;
  next: FixPosition | null;
}

/** Two consecutive fixes of one track (or the previous day's last fix and this day's first): a gap to fill or interpolate. */
export interface GapJob {
  mmsi: number;
  /** the course reported at `a` (minor-gap interpolation carries it) */
  cogA: number | null;
  a: GapEnd;
  b: GapEnd;
}

/**
 * The fusion's two halves, each on what its caller streams to it: Algorithm B on one vessel's fixes
 * (spoofVessel), then minor-gap interpolation or Algorithm A between two fixes whose positions are the
 * corrected ones (gap), given the gap's own RF and the anonymous RF near its corridor.
 */
export class DayFuser {
  readonly stats = emptyStats();
  private readonly matchMs: number;
  private readonly gapMs: number;
  private readonly bucketMs: number;
  private readonly minorMs: number;
  private readonly windowMs: number;

  constructor(
    private readonly params: FuseParams,
    private readonly sink: FuseSink,
  ) {
    this.matchMs = params.rf_match_min * MINUTE_MS;
    this.gapMs = params.gap_thr_min * MINUTE_MS;
    this.bucketMs = params.bucket_min * MINUTE_MS;
    this.minorMs = params.minor_gap_max_min * MINUTE_MS;
    this.windowMs = params.rf_window_min * MINUTE_MS;
  }

  /** A silence this long is a gap for Algorithm A; a shorter one of at least two buckets may be interpolated. */
  isRfGap(dtMs: number): boolean {
    return dtMs > this.gapMs;
  }
  isMinorGap(dtMs: number): boolean {
    return dtMs >= 2 * this.bucketMs && dtMs <= this.minorMs;
  }

  /**
   * Algorithm B on one vessel: fixes in time order, each with its neighbours in its track (reported
   * positions), its own RF ordered by time then id. A caller may leave out fixes without RF within
   * ±rf_match_min (they are not assessed). Every fix goes to the sink; the result is each fix's final
   * position (the corrected one where corrected).
   */
  spoofVessel(fixes: readonly FixInTrack[], own: readonly RfDetection[]): { lat: number; lon: number; corrected: boolean }[] {
    const { stats, params, sink, matchMs, windowMs } = this;
    const finalPos: { lat: number; lon: number; corrected: boolean }[] = [];
    for (const { fix, prev, next } of fixes) {
      const mmsiText = String(fix.mmsi);
      const matched: RfDetection[] = [];
      for (let j = lowerBound(own, fix.ts - matchMs); j < own.length && own[j].ts <= fix.ts + matchMs; j++) matched.push(own[j]);
      const context: RfDetection[] = [];
      if (matched.length > 0) {
        for (let j = lowerBound(own, fix.ts - windowMs); j < own.length && own[j].ts <= fix.ts + windowMs; j++) context.push(own[j]);
      }
      const verdict = assessFix(fix, prev, next, matched, context, params);
      if (verdict.score !== null) stats.spoof_assessed++;
      if (verdict.flagged) stats.spoof_flagged++;
      const corrected = verdict.corrected;
      if (corrected) stats.spoof_corrected++;
      if (verdict.flagged && verdict.score !== null && verdict.residualKm !== null) {
        sink.audit({
          mmsi: mmsiText,
          ts_utc: fix.ts,
          orig_lat: fix.lat,
          orig_lon: fix.lon,
          lat: corrected ? corrected.lat : fix.lat,
          lon: corrected ? corrected.lon : fix.lon,
          residual_km: verdict.residualKm,
          spoof_score: verdict.score,
          corrected: corrected !== null,
          correction_distance_km: corrected ? corrected.distanceKm : null,
          rf_ids_used: verdict.rfIds,
        });
      }
      finalPos.push(corrected ? { lat: corrected.lat, lon: corrected.lon, corrected: true } : { lat: fix.lat, lon: fix.lon, corrected: false });
      sink.row({
        mmsi: mmsiText,
        ts_utc: fix.ts,
        lat: corrected ? corrected.lat : fix.lat,
        lon: corrected ? corrected.lon : fix.lon,
        source_tag: corrected ? 'AIS_CORRECTED' : 'AIS',
        fill_confidence: null,
        spoof_score: verdict.score,
        rf_ids_used: verdict.rfIds,
        geo_uncertainty_m: corrected ? corrected.uncertaintyM : null,
        sog: fix.sog,
        cog: fix.cog,
        correction_distance_km: corrected ? corrected.distanceKm : null,
        position_label: corrected ? 'RF_CORRECTED' : 'AIS_REPORTED',
      });
    }
    return finalPos;
  }

  /**
   * Fill between two consecutive fixes of one track: RF gap fill above gap_thr_min, interpolation of a
   * minor gap. `own`: the vessel's detections strictly inside the gap; `anonymous`: anonymous detections
   * strictly inside it near its corridor; `explained` says whether another vessel's AIS accounts for one.
   */
  gap(job: GapJob, own: readonly RfDetection[], anonymous: readonly RfDetection[], explained: (det: RfDetection) => boolean): void {
    const { stats, params, sink } = this;
    const { mmsi, a, b } = job;
    const mmsiText = String(mmsi);
    const dt = b.ts - a.ts;
    if (this.isRfGap(dt)) {
      stats.gaps++;
      const candidates: GapCandidate[] = own.map((det) => ({ det, own: true }));
      const { maxKn } = gapSpeeds(a, b, params);
      let anonymousCount = 0;
      for (const det of anonymous) {
        if (!feasible(a, b, det, maxKn)) continue;
        if (explained(det)) {
          stats.gap_candidates_explained++;
          continue;
        }
        candidates.push({ det, own: false });
        anonymousCount++;
      }
      stats.gap_candidates_own += own.length;
      stats.gap_candidates_anonymous += anonymousCount;
      const filled = fillGap(a, b, candidates, params);
      stats.gap_slots += filled.slots;
      stats.gap_slots_filled += filled.points.length;
      stats.fill_points_rejected += filled.rejected;
      for (const point of filled.points) {
        sink.row({
          mmsi: mmsiText,
          ts_utc: point.ts,
          lat: point.lat,
          lon: point.lon,
          source_tag: 'RF_FILL',
          fill_confidence: point.confidence,
          spoof_score: null,
          rf_ids_used: point.rfIds,
          geo_uncertainty_m: point.uncertaintyM,
          sog: point.sogKn,
          cog: point.cogDeg,
          correction_distance_km: null,
          position_label: 'RF_FILL_VITERBI',
        });
      }
    } else if (this.isMinorGap(dt)) {
      const points = interpolateMinorGap(a, b, job.cogA, this.bucketMs, params);
      if (points.length === 0) return;
      stats.minor_gaps_interpolated++;
      stats.interpolated_points += points.length;
      for (const p of points) sink.row({ ...p, mmsi: mmsiText });
    }
  }
}

/** Fuse one day held in memory (tests, small days). `ais` must be ordered by mmsi then ts. */
export function fuse(ais: readonly AisFix[], rf: readonly RfDetection[], params: FuseParams): FuseResult {
  for (let i = 1; i < ais.length; i++) {
    if (ais[i].mmsi < ais[i - 1].mmsi || (ais[i].mmsi === ais[i - 1].mmsi && ais[i].ts <= ais[i - 1].ts)) {
      throw new Error(`fuse: AIS must be ordered by mmsi then ts, without duplicates (row ${i})`);
    }
  }
  const rows: N6Row[] = [];
  const audit: AuditRow[] = [];
  const ownByMmsi = new Map<number, RfDetection[]>();
  const anonymous: RfDetection[] = [];
  for (const det of rf) {
    if (det.mmsi === null) anonymous.push(det);
    else {
      const list = ownByMmsi.get(det.mmsi);
      if (list) list.push(det);
      else ownByMmsi.set(det.mmsi, [det]);
    }
  }
  for (const list of ownByMmsi.values()) list.sort(byTimeThenId);
  const anonymousIndex = new AnonymousIndex(anonymous, params.h3_res);
  const clock = AisClock.fromFixes(ais);
  const fuser = new DayFuser(params, { row: (row) => rows.push(row), audit: (row) => audit.push(row) });
  for (let start = 0; start < ais.length; ) {
    let end = start;
    while (end < ais.length && ais[end].mmsi === ais[start].mmsi) end++;
    const fixes = ais.slice(start, end);
    const mmsi = fixes[0].mmsi;
    const own = ownByMmsi.get(mmsi) ?? [];
    const finalPos = fuser.spoofVessel(withNeighbours(fixes), own);
    for (let i = 1; i < fixes.length; i++) {
      if (fixes[i - 1].trackId !== fixes[i].trackId) continue;
      const a = { ts: fixes[i - 1].ts, lat: finalPos[i - 1].lat, lon: finalPos[i - 1].lon, sog: fixes[i - 1].sog };
      const b = { ts: fixes[i].ts, lat: finalPos[i].lat, lon: finalPos[i].lon, sog: fixes[i].sog };
      const dt = b.ts - a.ts;
      if (!fuser.isRfGap(dt) && !fuser.isMinorGap(dt)) continue;
      const inside = own.filter((det) => det.ts > a.ts && det.ts < b.ts);
      const near = fuser.isRfGap(dt) ? anonymousIndex.near(a, b, a.ts, b.ts) : [];
      fuser.gap({ mmsi, cogA: fixes[i - 1].cog, a, b }, inside, near, (det) => clock.explains(det, mmsi));
    }
    start = end;
  }
  rows.sort(compareN6);
  return { rows, audit, stats: fuser.stats };
}

/** Each fix of one vessel (time order) with its neighbours in the same track. */
export function withNeighbours(fixes: readonly AisFix[]): FixInTrack[] {
  return fixes.map((fix, i) => ({
    fix,
    prev: i > 0 && fixes[i - 1].trackId === fix.trackId ? fixes[i - 1] : null,
    next: i + 1 < fixes.length && fixes[i + 1].trackId === fix.trackId ? fixes[i + 1] : null,
  }));
}

/**
 * Seed 003 §3.2: fill a gap of at most minor_gap_max_min by linear interpolation, one point per bucket,
 * but only when the two fixes are spatially consistent (the implied speed is one the reported SOG allows).
 */
export function interpolateMinorGap(a: GapEnd, b: GapEnd, cog: number | null, bucketMs: number, params: FuseParams): Omit<N6Row, 'mmsi'>[] {
  const hours = (b.ts - a.ts) / 3_600_000;
  const impliedKn = haversineKm(a.lat, a.lon, b.lat, b.lon) / hours / KNOT_KM_PER_H;
  const reported = [a.sog, b.sog].filter((v): v is number => v !== null);
  const allowedKn = Math.min(params.max_speed_kn, (reported.length ? Math.max(...reported) : impliedKn) * 1.5 + 2);
  if (impliedKn > allowedKn) return [];
  const out: Omit<N6Row, 'mmsi'>[] = [];
  for (let ts = a.ts + bucketMs; ts < b.ts; ts += bucketMs) {
    const f = (ts - a.ts) / (b.ts - a.ts);
    out.push({
      ts_utc: ts,
      lat: a.lat + f * (b.lat - a.lat),
      lon: a.lon + f * (b.lon - a.lon),
      source_tag: 'AIS',
      fill_confidence: null,
      spoof_score: null,
      rf_ids_used: [],
      geo_uncertainty_m: null,
      sog: a.sog !== null && b.sog !== null ? a.sog + f * (b.sog - a.sog) : impliedKn,
      cog,
      correction_distance_km: null,
      position_label: 'AIS_INTERPOLATED',
    });
  }
  return out;
}

/** The N6 output order: mmsi (as text), time, then tag and label for a total order. */
export function compareN6(p: N6Row, q: N6Row): number {
  return compareText(p.mmsi, q.mmsi) || p.ts_utc - q.ts_utc || compareText(p.source_tag, q.source_tag) || compareText(p.position_label, q.position_label);
}

export function byTimeThenId(p: RfDetection, q: RfDetection): number {
  return p.ts - q.ts || compareText(p.rfId, q.rfId);
}

/** First index whose ts is ≥ `ts` in a list sorted by ts. */
function lowerBound(list: readonly { ts: number }[], ts: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
