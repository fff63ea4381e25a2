// Sentinel-1 GRD ship detection: radiometric calibration (the product's sigmaNought LUT, or a scale),
// a land mask rasterised from polygons, a two-parameter CFAR over a guard/background ring, and
// 8-connected clustering of the detections with per-cluster statistics. Pure functions on typed arrays.
import type { Grid } from './cog-reader.js';

/** One `<calibrationVector>` row set of a GRD calibration annotation (calibration-*.xml). */
export interface CalibrationLut {
  /** Image line of each vector, increasing. */
  lines: number[];
  /** Per vector: the pixel columns (increasing) and sigmaNought gains at them. */
  pixels: number[][];
  sigma: number[][];
}

const numbers = (text: string): number[] => text.trim().split(/\s+/).map(Number);

/**
 * Parse the sigmaNought LUT of a GRD calibration annotation. Errors say which vector is wrong; the
 * caller adds the file.
 */
export function parseCalibrationLut(xml: string): CalibrationLut {
  const lut: CalibrationLut = { lines: [], pixels: [], sigma: [] };
  const vectors = xml.match(/<calibrationVector>[\s\S]*?<\/calibrationVector>/g) ?? [];
  if (vectors.length === 0) throw new Error('no <calibrationVector> in the calibration annotation');
  vectors.forEach((vector, index) => {
    const field = (name: string) => {
      const match = new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`).exec(vector);
      if (!match) throw new Error(`calibrationVector ${index} has no <${name}>`);
      return match[1];
    };
    const line = Number(field('line'));
    const pixels = numbers(field('pixel'));
    const sigma = numbers(field('sigmaNought'));
    if (!Number.isInteger(line)) throw new Error(`calibrationVector ${index}: line "${field('line')}" is not an integer`);
    if (pixels.length !== sigma.length) throw new Error(`calibrationVector ${index}: ${pixels.length} pixels but ${sigma.length} sigmaNought values`);
    if (pixels.some((p, i) => !Number.isFinite(p) || (i > 0 && p <= pixels[i - 1]))) throw new Error(`calibrationVector ${index}: pixels must be increasing numbers`);
    if (sigma.some((s) => !(s > 0))) throw new Error(`calibrationVector ${index}: sigmaNought values must be positive numbers`);
    if (lut.lines.length > 0 && line <= lut.lines[lut.lines.length - 1]) throw new Error(`calibrationVector ${index}: lines must increase`);
    lut.lines.push(line);
    lut.pixels.push(pixels);
    lut.sigma.push(sigma);
  });
  return lut;
}

/** Index i with xs[i] ≤ x < xs[i+1] (clamped), and the fraction between them. */
function bracket(xs: readonly number[], x: number): [number, number] {
  if (xs.length === 1 || x <= xs[0]) return [0, 0];
  if (x >= xs[xs.length - 1]) return [xs.length - 2, 1];
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid;
    else hi = mid;
  }
  return [lo, (x - xs[lo]) / (xs[lo + 1] - xs[lo])];
}

function gainAlong(pixels: readonly number[], sigma: readonly number[], x: number): number {
  const [i, f] = bracket(pixels, x);
  return pixels.length === 1 ? sigma[0] : sigma[i] * (1 - f) + sigma[i + 1] * f;
}

/**
 * sigma0 = DN² / A² with A bilinearly interpolated from the LUT (ESA's GRD calibration), for a window
 * at (x0, y0) of the full image; without a LUT, sigma0 = (DN · scale)². DN 0 is nodata → NaN.
 */
export function calibrate(dn: ArrayLike<number>, width: number, height: number, x0: number, y0: number, calibration: { lut?: CalibrationLut; scale?: number }): Float32Array {
  const out = new Float32Array(width * height);
  const { lut } = calibration;
  const scale = calibration.scale ?? 1;
  const rowGain = new Float64Array(width);
  for (let r = 0; r < height; r++) {
    if (lut) {
      const [i, f] = bracket(lut.lines, y0 + r);
      const j = lut.lines.length === 1 ? 0 : i + 1;
      for (let c = 0; c < width; c++) {
        const a = gainAlong(lut.pixels[i], lut.sigma[i], x0 + c);
        const b = gainAlong(lut.pixels[j], lut.sigma[j], x0 + c);
        const gain = a * (1 - f) + b * f;
        rowGain[c] = 1 / (gain * gain);
      }
    } else rowGain.fill(scale * scale);
    for (let c = 0; c < width; c++) {
      const v = dn[r * width + c];
      out[r * width + c] = v > 0 ? v * v * rowGain[c] : NaN;
    }
  }
  return out;
}

/** A raster grid in some CRS (the COG reader's). */
export type { Grid };

export type Ring = readonly (readonly number[])[];
export type Polygon = readonly Ring[];

/**
 * 1 where the pixel centre lies in any polygon (even-odd over each polygon's rings), by scanline
 * crossings: O(rows × edges), whatever the coastline's detail. `toGrid` maps a vertex [x, y] into the
 * grid's CRS (identity for a lon/lat grid). `bufferPx` dilates land by that many pixels (square), so
 * the CFAR background never sees the coast.
 */
export function rasterizeLand(grid: Grid, polygons: readonly Polygon[], bufferPx = 0, toGrid: (p: readonly number[]) => [number, number] = (p) => [p[0], p[1]]): Uint8Array {
  const { width, height } = grid;
  const mask = new Uint8Array(width * height);
  const edges: [number, number, number, number][] = [];
  for (const polygon of polygons)
    for (const ring of polygon) {
      const pts = ring.map((p) => {
        const [x, y] = toGrid(p);
        return [(x - grid.originX) / grid.pixelWidth, (grid.originY - y) / grid.pixelHeight] as [number, number];
      });
      for (let i = 0; i + 1 < pts.length; i++) edges.push([pts[i][0], pts[i][1], pts[i + 1][0], pts[i + 1][1]]);
    }
  // Per polygon parity would need edges grouped by polygon; land polygons do not overlap, so global parity is the same.
  const xs: number[] = [];
  for (let r = 0; r < height; r++) {
    const y = r + 0.5;
    xs.length = 0;
    for (const [x1, y1, x2, y2] of edges) {
      if ((y1 <= y && y < y2) || (y2 <= y && y < y1)) xs.push(x1 + ((y - y1) / (y2 - y1)) * (x2 - x1));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const from = Math.max(0, Math.ceil(xs[k] - 0.5));
      const to = Math.min(width - 1, Math.floor(xs[k + 1] - 0.5));
      for (let c = from; c <= to; c++) mask[r * width + c] = 1;
    }
  }
  return bufferPx > 0 ? dilate(mask, width, height, bufferPx) : mask;
}

/** Square dilation by `radius` pixels, separable (rows then columns), O(pixels). */
export function dilate(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const tmp = new Uint8Array(mask.length);
  for (let r = 0; r < height; r++) {
    let last = -Infinity;
    for (let c = 0; c < width + radius; c++) {
      if (c < width && mask[r * width + c]) last = c;
      const target = c - radius;
      if (target >= 0 && target < width) {
        // nearest set pixel to the left within radius, or to the right within radius (last seen ≤ c)
        tmp[r * width + target] = last >= target - radius ? 1 : 0;
      }
    }
  }
  const out = new Uint8Array(mask.length);
  for (let c = 0; c < width; c++) {
    let last = -Infinity;
    for (let r = 0; r < height + radius; r++) {
      if (r < height && tmp[r * width + c]) last = r;
      const target = r - radius;
      if (target >= 0 && target < height) out[target * width + c] = last >= target - radius ? 1 : 0;
    }
  }
  return out;
}

/** Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9 after one Halley step). */
export function probit(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`probit needs 0 < p < 1, got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley refinement against erfc.
  const e = 0.5 * erfc(-x / Math.SQRT2) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

function erfc(x: number): number {
  // Numerical Recipes erfcc: fractional error < 1.2e-7 everywhere.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

export interface CfarParams {
  /** Half-width of the guard window (pixels): excluded from the background so a ship does not raise its own threshold. */
  guardPx: number;
  /** Half-width of the background window (pixels); the ring between guard and background estimates the clutter. */
  backgroundPx: number;
  /** Design probability of false alarm per pixel; threshold t = Φ⁻¹(1 − Pfa) on (x − μ) / σ. */
  pfa: number;
  /** A pixel is tested only when at least this fraction of its ring is valid sea. */
  minBackgroundFraction: number;
}

export const DEFAULT_CFAR: CfarParams = { guardPx: 16, backgroundPx: 28, pfa: 1e-8, minBackgroundFraction: 0.5 };

export function checkCfarParams(p: CfarParams): void {
  if (!Number.isInteger(p.guardPx) || p.guardPx < 0) throw new Error(`guard_px ${p.guardPx} must be a whole number ≥ 0`);
  if (!Number.isInteger(p.backgroundPx) || p.backgroundPx <= p.guardPx) throw new Error(`background_px ${p.backgroundPx} must be a whole number larger than guard_px ${p.guardPx}`);
  if (!(p.pfa > 0 && p.pfa < 0.5)) throw new Error(`pfa ${p.pfa} must be in (0, 0.5)`);
  if (!(p.minBackgroundFraction > 0 && p.minBackgroundFraction <= 1)) throw new Error(`min_background_fraction ${p.minBackgroundFraction} must be in (0, 1]`);
}

/** Column sums are recomputed from scratch every this many rows (see cfarRows). */
export const REBASE_ROWS = 256;

/**
 * Two-parameter CFAR over rows [rowStart, rowEnd) of a `width`-wide image: a pixel is a detection
 * when (x − μ)/σ > Φ⁻¹(1 − Pfa), μ and σ over the valid pixels of the background ring. Box sums of
 * x, x² and counts come from running column sums, so the cost per pixel does not depend on the
 * window size and memory is O(width); they are rebuilt every REBASE_ROWS rows, so a strip starting
 * at a multiple of REBASE_ROWS gives exactly the whole image's rows. `valid` is 1 for sea pixels with data. Returns the score
 * (x − μ)/σ where detected, else 0.
 */
export function cfarRows(sigma: Float32Array, valid: Uint8Array, width: number, height: number, rowStart: number, rowEnd: number, params: CfarParams): Float32Array {
  checkCfarParams(params);
  const B = params.backgroundPx;
  const G = params.guardPx;
  const t = probit(1 - params.pfa);
  const ringArea = (2 * B + 1) ** 2 - (2 * G + 1) ** 2;
  const minCount = params.minBackgroundFraction * ringArea;
  const out = new Float32Array((rowEnd - rowStart) * width);
  // Column sums over the outer (±B) and inner (±G) row spans: value, square, count.
  const oS = new Float64Array(width), oQ = new Float64Array(width), oN = new Float64Array(width);
  const iS = new Float64Array(width), iQ = new Float64Array(width), iN = new Float64Array(width);
  const addRow = (S: Float64Array, Q: Float64Array, N: Float64Array, row: number, sign: number) => {
    if (row < 0 || row >= height) return;
    const base = row * width;
    for (let c = 0; c < width; c++) {
      if (!valid[base + c]) continue;
      const v = sigma[base + c];
      S[c] += sign * v;
      Q[c] += sign * v * v;
      N[c] += sign;
    }
  };
  for (let row = rowStart; row < rowEnd; row++) {
    if (row === rowStart || row % REBASE_ROWS === 0) {
      // Fresh column sums: the sums at a row then depend only on the row, not on where the strip
      // began (floating-point add/subtract does not cancel exactly), so aligned strips are bit-identical.
      for (const a of [oS, oQ, oN, iS, iQ, iN]) a.fill(0);
      for (let r = row - B; r <= row + B; r++) addRow(oS, oQ, oN, r, 1);
      for (let r = row - G; r <= row + G; r++) addRow(iS, iQ, iN, r, 1);
    } else {
      addRow(oS, oQ, oN, row + B, 1);
      addRow(iS, iQ, iN, row + G, 1);
    }
    // Horizontal running sums of the column sums: the box sums centred on each column.
    let hoS = 0, hoQ = 0, hoN = 0, hiS = 0, hiQ = 0, hiN = 0;
    for (let c = 0; c < B && c < width; c++) (hoS += oS[c]), (hoQ += oQ[c]), (hoN += oN[c]);
    for (let c = 0; c < G && c < width; c++) (hiS += iS[c]), (hiQ += iQ[c]), (hiN += iN[c]);
    const base = row * width;
    const outBase = (row - rowStart) * width;
    for (let c = 0; c < width; c++) {
      const addO = c + B;
      if (addO < width) (hoS += oS[addO]), (hoQ += oQ[addO]), (hoN += oN[addO]);
      const dropO = c - B - 1;
      if (dropO >= 0) (hoS -= oS[dropO]), (hoQ -= oQ[dropO]), (hoN -= oN[dropO]);
      const addI = c + G;
      if (addI < width) (hiS += iS[addI]), (hiQ += iQ[addI]), (hiN += iN[addI]);
      const dropI = c - G - 1;
      if (dropI >= 0) (hiS -= iS[dropI]), (hiQ -= iQ[dropI]), (hiN -= iN[dropI]);
      if (!valid[base + c]) continue;
      const n = hoN - hiN;
      if (n < minCount) continue;
      const mean = (hoS - hiS) / n;
      const variance = (hoQ - hiQ) / n - mean * mean;
      if (!(variance > 0)) continue;
      const z = (sigma[base + c] - mean) / Math.sqrt(variance);
      if (z > t) out[outBase + c] = z;
    }
    addRow(oS, oQ, oN, row - B, -1);
    addRow(iS, iQ, iN, row - G, -1);
  }
  return out;
}

/** The whole image on this thread. */
export function cfar(sigma: Float32Array, valid: Uint8Array, width: number, height: number, params: CfarParams): Float32Array {
  return cfarRows(sigma, valid, width, height, 0, height, params);
}

export interface PixelCluster {
  /** Detected pixels (8-connected). */
  pixels: number;
  /** Intensity-weighted centroid, in pixel coordinates (column, row; pixel centres at +0.5). */
  col: number;
  row: number;
  peakSigma0: number;
  meanSigma0: number;
  /** Highest CFAR score (x − μ)/σ in the cluster, and the mean. */
  peakScore: number;
  meanScore: number;
  /** Extent from the second moments: a uniform bar of length L has variance L²/12 along it. */
  lengthPx: number;
  widthPx: number;
  /** Orientation of the long axis, degrees clockwise from image up (0…180). */
  orientationDeg: number;
}

/** 8-connected components of score > 0, in raster order of their first pixel. */
export function clusterDetections(score: Float32Array, sigma: Float32Array, width: number, height: number, minPixels = 1): PixelCluster[] {
  const label = new Int32Array(width * height);
  const clusters: PixelCluster[] = [];
  const stack: number[] = [];
  let next = 0;
  for (let start = 0; start < score.length; start++) {
    if (!(score[start] > 0) || label[start] !== 0) continue;
    next += 1;
    label[start] = next;
    stack.push(start);
    let n = 0, wSum = 0, wc = 0, wr = 0, cc = 0, rr = 0, cr = 0, peak = 0, sigmaSum = 0, peakScore = 0, scoreSum = 0;
    const members: number[] = [];
    while (stack.length > 0) {
      const p = stack.pop() as number;
      members.push(p);
      const r = Math.floor(p / width);
      const c = p - r * width;
      const v = sigma[p];
      n += 1;
      wSum += v;
      wc += v * (c + 0.5);
      wr += v * (r + 0.5);
      sigmaSum += v;
      if (v > peak) peak = v;
      if (score[p] > peakScore) peakScore = score[p];
      scoreSum += score[p];
      for (let dr = -1; dr <= 1; dr++)
        for (let dc = -1; dc <= 1; dc++) {
          const rr2 = r + dr;
          const cc2 = c + dc;
          if (rr2 < 0 || rr2 >= height || cc2 < 0 || cc2 >= width) continue;
          const q = rr2 * width + cc2;
          if (label[q] === 0 && score[q] > 0) {
            label[q] = next;
            stack.push(q);
          }
        }
    }
    if (n < minPixels) continue;
    // Unweighted second moments of the pixel set give the shape.
    let mc = 0, mr = 0;
    for (const p of members) (mc += (p % width) + 0.5), (mr += Math.floor(p / width) + 0.5);
    mc /= n;
    mr /= n;
    for (const p of members) {
      const dc = (p % width) + 0.5 - mc;
      const dr = Math.floor(p / width) + 0.5 - mr;
      cc += dc * dc;
      rr += dr * dr;
      cr += dc * dr;
    }
    cc = cc / n + 1 / 12; // a pixel is a unit square, not a point
    rr = rr / n + 1 / 12;
    cr /= n;
    const tr = cc + rr;
    const det = cc * rr - cr * cr;
    const disc = Math.sqrt(Math.max(0, (tr * tr) / 4 - det));
    const l1 = tr / 2 + disc;
    const l2 = Math.max(tr / 2 - disc, 0);
    const angle = (Math.atan2(2 * cr, cc - rr) / 2) * (180 / Math.PI); // from the column axis, rows down
    clusters.push({
      pixels: n,
      col: wc / wSum,
      row: wr / wSum,
      peakSigma0: peak,
      meanSigma0: sigmaSum / n,
      peakScore,
      meanScore: scoreSum / n,
      lengthPx: Math.sqrt(12 * l1),
      widthPx: Math.sqrt(12 * l2),
      orientationDeg: (((90 + angle) % 180) + 180) % 180,
    });
  }
  return clusters;
}

/** A CFAR score mapped to 0…1: 0 at the threshold t, → 1 as the score grows (1 − t/z). */
export function scoreConfidence(score: number, pfa: number): number {
  const t = probit(1 - pfa);
  return score <= t ? 0 : 1 - t / score;
}
