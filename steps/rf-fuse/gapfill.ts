// Algorithm A (seed 003 §5.1): fill an AIS-silent interval with RF detections.
// Candidates get time, space and quality scores; a Viterbi pass picks the smoothest plausible
// sequence of detections between the two AIS fixes that bound the gap; a local-linear smoother
// through that path synthesises one point per time bucket; points that break speed continuity are
// rejected.
import { haversineKm } from '../../lib/geo/sphere.js';
import { localFrame, type LocalFrame } from './local-frame.js';
import { KNOT_KM_PER_H, MINUTE_MS, RADIUS95_PER_SIGMA, type FuseParams, type RfDetection } from './types.js';

/** An AIS fix bounding a gap. */
export interface GapEnd {
  ts: number;
  lat: number;
  lon: number;
  sog: number | null;
}

export interface GapCandidate {
  det: RfDetection;
  /** true when the detection is resolved to this vessel; false for an anonymous emitter nearby */
  own: boolean;
}

export interface CandidateScores {
  time: number;
  space: number;
  quality: number;
}

export interface FillPoint {
  ts: number;
  lat: number;
  lon: number;
  confidence: number;
  uncertaintyM: number;
  rfIds: string[];
  sogKn: number;
  cogDeg: number;
}

export interface GapFillResult {
  points: FillPoint[];
  /** bucket slots strictly inside the gap (the gap's minutes, in buckets) */
  slots: number;
  /** synthesised points dropped because they broke speed continuity */
  rejected: number;
  /** the detections the Viterbi path went through, in time order */
  path: RfDetection[];
}

/** AIS positions are GPS fixes: tens of metres. */
export const AIS_SIGMA_KM = 0.05;
/** Log-reward for using a detection: one whose combined score beats e^-2 ≈ 0.14 is worth a leg. */
const NODE_BONUS = 2;
/** At most this many candidates per bucket enter the Viterbi (best emission scores first). */
const MAX_CANDIDATES_PER_BUCKET = 8;
/** Kernel bandwidth of the smoother, in minutes. */
const SMOOTH_BANDWIDTH_MIN = 2;

/** Speed the vessel plausibly kept through the gap and the ceiling no leg may exceed (knots). */
export function gapSpeeds(a: GapEnd, b: GapEnd, params: FuseParams): { refKn: number; maxKn: number } {
  const hours = (b.ts - a.ts) / 3_600_000;
  const straightKn = haversineKm(a.lat, a.lon, b.lat, b.lon) / hours / KNOT_KM_PER_H;
  const sogs = [a.sog, b.sog].filter((v): v is number => v !== null && Number.isFinite(v));
  const sogKn = sogs.length > 0 ? sogs.reduce((s, v) => s + v, 0) / sogs.length : 0;
  const refKn = Math.max(straightKn, sogKn, 1);
  const maxKn = Math.min(params.max_speed_kn, 1.5 * refKn + 5);
  return { refKn, maxKn: Math.max(maxKn, straightKn * 1.05) };
}

/** Time, space and quality scores of one candidate against the straight-line prior a → b (each 0–1). */
export function scoreCandidate(a: GapEnd, b: GapEnd, candidate: GapCandidate, params: FuseParams, frame: LocalFrame = localFrame(a.lat, a.lon)): CandidateScores {
  const { det } = candidate;
  const sigmaKm = det.uncertaintyM / 1000 / RADIUS95_PER_SIGMA;
  const origin = frame.toXY(a.lat, a.lon);
  const end = frame.toXY(b.lat, b.lon);
  const point = frame.toXY(det.lat, det.lon);
  const bx = end.x - origin.x;
  const by = end.y - origin.y;
  const cx = point.x - origin.x;
  const cy = point.y - origin.y;
  const length = Math.hypot(bx, by);
  let cross: number;
  let expectedTs: number;
  if (length < 0.5) {
    // The vessel came back near where it went silent: no direction to compare with.
    cross = Math.hypot(cx, cy);
    expectedTs = det.ts;
  } else {
    const along = (cx * bx + cy * by) / length;
    cross = Math.abs(cx * by - cy * bx) / length;
    expectedTs = a.ts + Math.min(1, Math.max(0, along / length)) * (b.ts - a.ts);
  }
  // Lenient on purpose: vessels do not sail straight through long gaps.
  const crossSigma = Math.max(3, 0.35 * length) + sigmaKm;
  const space = Math.exp(-0.5 * (cross / crossSigma) ** 2);
  const timeSigma = Math.max(5 * MINUTE_MS, 0.35 * (b.ts - a.ts));
  const time = Math.exp(-0.5 * ((det.ts - expectedTs) / timeSigma) ** 2);
  const precision = 1 - 0.6 * Math.min(1, det.uncertaintyM / params.max_geo_uncertainty_m);
  const identity = candidate.own ? 1 : 0.6;
  const method = det.geolocMethod.startsWith('TDOA') || det.geolocMethod.startsWith('MLAT') ? 1 : 0.9;
  return { time, space, quality: precision * identity * method };
}

interface Node {
  ts: number;
  x: number;
  y: number;
  sigmaKm: number;
  bucket: number;
  reward: number;
  score: number;
  det: RfDetection | null;
}

/** Is a detection reachable from a and can it still reach b, at `maxKn`, allowing for its uncertainty? */
export function feasible(a: GapEnd, b: GapEnd, det: RfDetection, maxKn: number): boolean {
  if (det.ts <= a.ts || det.ts >= b.ts) return false;
  const slackKm = (2 * det.uncertaintyM) / 1000 / RADIUS95_PER_SIGMA + 2 * AIS_SIGMA_KM;
  const reachKm = (ms: number) => (maxKn * KNOT_KM_PER_H * ms) / 3_600_000;
  return (
    haversineKm(a.lat, a.lon, det.lat, det.lon) - slackKm <= reachKm(det.ts - a.ts) &&
    haversineKm(det.lat, det.lon, b.lat, b.lon) - slackKm <= reachKm(b.ts - det.ts)
  );
}

/**
 * Viterbi over the gap: the hidden state after each observation is "the last detection that belongs to
 * the vessel", so skipping a detection (a decoy, a noisy fix) is just keeping the state. This makes the
 * trellis a DAG over candidates in time order, solved exactly in O(N²). Legs inside one bucket are not
 * allowed (one position per bucket), legs faster than `maxKn` after allowing for uncertainty are
 * impossible, and leg speeds are scored against the gap's reference speed with a spread that includes
 * the positional noise.
 */
export function viterbiPath(a: GapEnd, b: GapEnd, candidates: readonly GapCandidate[], params: FuseParams): RfDetection[] {
  const bucketMs = params.bucket_min * MINUTE_MS;
  const frame = localFrame(a.lat, a.lon);
  const { refKn, maxKn } = gapSpeeds(a, b, params);
  const byBucket = new Map<number, Node[]>();
  for (const candidate of candidates) {
    if (!feasible(a, b, candidate.det, maxKn)) continue;
    const s = scoreCandidate(a, b, candidate, params, frame);
    const score = s.time * s.space * s.quality;
    const { x, y } = frame.toXY(candidate.det.lat, candidate.det.lon);
    const bucket = Math.floor((candidate.det.ts - a.ts) / bucketMs);
    const node: Node = {
      ts: candidate.det.ts,
      x,
      y,
      sigmaKm: candidate.det.uncertaintyM / 1000 / RADIUS95_PER_SIGMA,
      bucket,
      reward: Math.log(Math.max(score, 1e-9)) + NODE_BONUS,
      score,
      det: candidate.det,
    };
    const list = byBucket.get(bucket) ?? [];
    list.push(node);
    byBucket.set(bucket, list);
  }
  const nodes: Node[] = [];
  for (const list of byBucket.values()) {
    list.sort((p, q) => q.score - p.score || p.ts - q.ts || compareText(p.det!.rfId, q.det!.rfId));
    nodes.push(...list.slice(0, MAX_CANDIDATES_PER_BUCKET));
  }
  nodes.sort((p, q) => p.ts - q.ts || compareText(p.det!.rfId, q.det!.rfId));
  const start: Node = { ts: a.ts, x: 0, y: 0, sigmaKm: AIS_SIGMA_KM, bucket: -1, reward: 0, score: 1, det: null };
  const endXY = frame.toXY(b.lat, b.lon);
  const end: Node = { ts: b.ts, x: endXY.x, y: endXY.y, sigmaKm: AIS_SIGMA_KM, bucket: Number.POSITIVE_INFINITY, reward: 0, score: 1, det: null };

  const legScore = (p: Node, q: Node): number => {
    const hours = (q.ts - p.ts) / 3_600_000;
    const distKm = Math.hypot(q.x - p.x, q.y - p.y);
    const sigmaD = Math.hypot(p.sigmaKm, q.sigmaKm);
    const effectiveKn = Math.max(0, distKm - 2 * sigmaD) / hours / KNOT_KM_PER_H;
    if (effectiveKn > maxKn) return Number.NEGATIVE_INFINITY;
    const rawKn = distKm / hours / KNOT_KM_PER_H;
    const sigmaKn = Math.hypot(0.25 * refKn + 2, (1.2 * sigmaD) / hours / KNOT_KM_PER_H);
    return -0.5 * ((rawKn - refKn) / sigmaKn) ** 2;
  };

  const all = [start, ...nodes];
  const best = new Float64Array(all.length).fill(Number.NEGATIVE_INFINITY);
  const back = new Int32Array(all.length).fill(-1);
  best[0] = 0;
  for (let j = 1; j < all.length; j++) {
    for (let i = 0; i < j; i++) {
      if (best[i] === Number.NEGATIVE_INFINITY || all[i].bucket >= all[j].bucket) continue;
      const value = best[i] + legScore(all[i], all[j]);
      if (value > best[j]) {
        best[j] = value;
        back[j] = i;
      }
    }
    if (best[j] !== Number.NEGATIVE_INFINITY) best[j] += all[j].reward;
  }
  let bestFinal = Number.NEGATIVE_INFINITY;
  let last = 0;
  for (let i = 0; i < all.length; i++) {
    if (best[i] === Number.NEGATIVE_INFINITY) continue;
    const value = best[i] + legScore(all[i], end);
    if (value > bestFinal) {
      bestFinal = value;
      last = i;
    }
  }
  const path: RfDetection[] = [];
  for (let i = last; i > 0; i = back[i]) path.push(all[i].det!);
  return path.reverse();
}

interface Anchor {
  ts: number;
  x: number;
  y: number;
  sigmaKm: number;
  score: number;
  det: RfDetection | null;
}

/** Fill one gap: Viterbi path, then one smoothed point per bucket near the path, then speed checks. */
export function fillGap(a: GapEnd, b: GapEnd, candidates: readonly GapCandidate[], params: FuseParams): GapFillResult {
  const bucketMs = params.bucket_min * MINUTE_MS;
  const slots = Math.max(0, Math.ceil((b.ts - a.ts) / bucketMs) - 1);
  const path = viterbiPath(a, b, candidates, params);
  if (path.length === 0 || slots === 0) return { points: [], slots, rejected: 0, path };

  const frame = localFrame(a.lat, a.lon);
  const ownIds = new Set(candidates.filter((c) => c.own).map((c) => c.det.rfId));
  const toAnchor = (det: RfDetection): Anchor => {
    const { x, y } = frame.toXY(det.lat, det.lon);
    const s = scoreCandidate(a, b, { det, own: ownIds.has(det.rfId) }, params, frame);
    return { ts: det.ts, x, y, sigmaKm: det.uncertaintyM / 1000 / RADIUS95_PER_SIGMA, score: s.time * s.space * s.quality, det };
  };
  const endXY = frame.toXY(b.lat, b.lon);
  const anchors: Anchor[] = [
    { ts: a.ts, x: 0, y: 0, sigmaKm: AIS_SIGMA_KM, score: 1, det: null },
    ...path.map(toAnchor),
    { ts: b.ts, x: endXY.x, y: endXY.y, sigmaKm: AIS_SIGMA_KM, score: 1, det: null },
  ];
  const rfAnchors = anchors.filter((anchor) => anchor.det !== null);
  const supportMs = (params.rf_window_min / 2) * MINUTE_MS;
  const bandwidthMs = Math.max(SMOOTH_BANDWIDTH_MIN * MINUTE_MS, bucketMs);
  const straight = { vx: endXY.x / (b.ts - a.ts), vy: endXY.y / (b.ts - a.ts) };

  const points: (FillPoint & { sigmaKm: number })[] = [];
  for (let k = 1; k <= slots; k++) {
    const ts = a.ts + k * bucketMs;
    const nearestMs = Math.min(...rfAnchors.map((anchor) => Math.abs(anchor.ts - ts)));
    if (nearestMs > supportMs) continue;
    // Local-linear kernel regression: follows turns, averages the noise of neighbouring detections.
    let s0 = 0, s1 = 0, s2 = 0, tx0 = 0, tx1 = 0, ty0 = 0, ty1 = 0, kernelSum = 0, scoreSum = 0;
    const used: string[] = [];
    for (const anchor of anchors) {
      const dt = anchor.ts - ts;
      const kernel = Math.exp(-0.5 * (dt / bandwidthMs) ** 2);
      const w = kernel / anchor.sigmaKm ** 2;
      s0 += w; s1 += w * dt; s2 += w * dt * dt;
      tx0 += w * anchor.x; tx1 += w * dt * anchor.x;
      ty0 += w * anchor.y; ty1 += w * dt * anchor.y;
      if (anchor.det) {
        kernelSum += kernel;
        scoreSum += kernel * anchor.score;
        if (Math.abs(dt) <= 2 * bandwidthMs) used.push(...anchor.det.memberIds);
      }
    }
    const det = s0 * s2 - s1 * s1;
    let x: number, y: number, vx: number, vy: number;
    if (det > 1e-9 * s0 * s2) {
      x = (s2 * tx0 - s1 * tx1) / det;
      y = (s2 * ty0 - s1 * ty1) / det;
      vx = (s0 * tx1 - s1 * tx0) / det;
      vy = (s0 * ty1 - s1 * ty0) / det;
    } else {
      x = tx0 / s0;
      y = ty0 / s0;
      vx = straight.vx;
      vy = straight.vy;
    }
    const sigmaKm = 1 / Math.sqrt(s0);
    const { lat, lon } = frame.toLatLon(x, y);
    const supportDecay = Math.exp(-0.5 * (nearestMs / supportMs) ** 2);
    const confidence = Math.min(1, Math.max(0, (kernelSum > 0 ? scoreSum / kernelSum : 0) * supportDecay));
    const speedKmPerMs = Math.hypot(vx, vy);
    points.push({
      ts,
      lat,
      lon,
      confidence,
      uncertaintyM: Math.max(1, Math.min(params.max_geo_uncertainty_m, Math.round(RADIUS95_PER_SIGMA * sigmaKm * 1000))),
      rfIds: [...new Set(used)].sort(compareText),
      sogKn: Math.round(((speedKmPerMs * 3_600_000) / KNOT_KM_PER_H) * 100) / 100,
      cogDeg: speedKmPerMs > 0 ? (Math.round((((Math.atan2(vx, vy) * 180) / Math.PI + 360) % 360) * 100) / 100) % 360 : 0,
      sigmaKm,
    });
  }

  // Speed continuity: walk a → points → b and drop the least certain point of any leg that is too fast.
  const { maxKn } = gapSpeeds(a, b, params);
  const chain: { ts: number; lat: number; lon: number; sigmaKm: number; index: number }[] = [
    { ts: a.ts, lat: a.lat, lon: a.lon, sigmaKm: AIS_SIGMA_KM, index: -1 },
    ...points.map((p, index) => ({ ts: p.ts, lat: p.lat, lon: p.lon, sigmaKm: p.sigmaKm, index })),
    { ts: b.ts, lat: b.lat, lon: b.lon, sigmaKm: AIS_SIGMA_KM, index: -1 },
  ];
  const dropped = new Set<number>();
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = 0; i + 1 < chain.length; i++) {
      const p = chain[i];
      const q = chain[i + 1];
      const hours = (q.ts - p.ts) / 3_600_000;
      const kn = Math.max(0, haversineKm(p.lat, p.lon, q.lat, q.lon) - 2 * (p.sigmaKm + q.sigmaKm)) / hours / KNOT_KM_PER_H;
      if (kn <= maxKn) continue;
      const victim = p.index < 0 ? i + 1 : q.index < 0 ? i : p.sigmaKm >= q.sigmaKm ? i : i + 1;
      if (chain[victim].index < 0) continue;
      dropped.add(chain[victim].index);
      chain.splice(victim, 1);
      changed = true;
      break;
    }
  }
  const kept = points.filter((_, index) => !dropped.has(index)).map(({ sigmaKm: _sigma, ...point }) => point);
  return { points: kept, slots, rejected: dropped.size, path };
}

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
