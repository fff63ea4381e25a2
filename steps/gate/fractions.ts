// The AIS+Sanity gate's arithmetic (seed 001 §10), as pure functions over row-major pixel arrays:
// the centre window, SCL class fractions, NDWI water fraction, a spectral SCL stand-in for chips
// without SCL, and the accept/reject decision.

export interface Window {
  x0: number;
  y0: number;
  width: number;
  height: number;
}

/** The `size`×`size` window centred on a width×height image (clipped to it; odd leftovers go right/down). */
export function centerWindow(width: number, height: number, size: number): Window {
  const w = Math.min(size, width);
  const h = Math.min(size, height);
  return { x0: Math.floor((width - w) / 2), y0: Math.floor((height - h) / 2), width: w, height: h };
}

function* windowIndices(imageWidth: number, window: Window): Generator<number> {
  for (let y = window.y0; y < window.y0 + window.height; y++) {
    for (let x = window.x0; x < window.x0 + window.width; x++) yield y * imageWidth + x;
  }
}

/** SCL 0 is "no data" (and what the chip writes outside the scene). */
export const SCL_NODATA = 0;

export interface ClassFractions {
  cloud: number;
  land: number;
  /** Pixels with a class (not SCL 0) in the window. */
  valid: number;
}

/**
 * Fractions of the window's valid SCL pixels that fall in the cloud classes and the land classes.
 * With no valid pixel both fractions are NaN (the decision then rejects as "no data").
 */
export function sclFractions(scl: ArrayLike<number>, imageWidth: number, window: Window, cloudClasses: readonly number[], landClasses: readonly number[]): ClassFractions {
  const cloudSet = new Set(cloudClasses);
  const landSet = new Set(landClasses);
  let valid = 0;
  let cloud = 0;
  let land = 0;
  for (const i of windowIndices(imageWidth, window)) {
    const cls = scl[i];
    if (cls === SCL_NODATA) continue;
    valid++;
    if (cloudSet.has(cls)) cloud++;
    if (landSet.has(cls)) land++;
  }
  return { cloud: valid ? cloud / valid : NaN, land: valid ? land / valid : NaN, valid };
}

/** NDWI as seed 001 writes it: (B03 − B08) / (B03 + B08 + 1e-6). */
export function ndwi(green: number, nir: number): number {
  return (green - nir) / (green + nir + 1e-6);
}

/**
 * Fraction of the window's valid pixels with NDWI > `threshold`. A pixel is invalid when either band
 * is NaN or both are exactly `nodata` (the chip's fill outside the scene).
 */
export function waterFraction(green: ArrayLike<number>, nir: ArrayLike<number>, imageWidth: number, window: Window, threshold: number, nodata = 0): { water: number; valid: number } {
  let valid = 0;
  let water = 0;
  for (const i of windowIndices(imageWidth, window)) {
    const g = green[i];
    const n = nir[i];
    if (Number.isNaN(g) || Number.isNaN(n) || (g === nodata && n === nodata)) continue;
    valid++;
    if (ndwi(g, n) > threshold) water++;
  }
  return { water: valid ? water / valid : NaN, valid };
}

/** Reflectance bands (0–1) for the spectral classifier; SWIR is optional. */
export interface SpectralBands {
  blue: ArrayLike<number>;
  green: ArrayLike<number>;
  red: ArrayLike<number>;
  nir: ArrayLike<number>;
}

/** SCL codes the spectral classifier emits, so the same class lists apply. */
export const SPECTRAL_CLASSES = { nodata: 0, shadow: 3, vegetation: 4, bare: 5, water: 6, cloud: 9 } as const;

/**
 * An SCL stand-in for chips without an SCL layer (the catalogue lacked it), from four reflectance bands:
 * - cloud (9): blue > 0.2 and HOT = blue − 0.5·red > 0.08 (haze-optimised transform, Zhang et al. 2002):
 *   clouds are bright and flat across the visible, bright soil is much redder than it is blue;
 * - water (6): NDWI > 0 and NIR < 0.15; shadow (3): NIR < 0.25 and mean visible < 0.1;
 * - vegetation (4): NDVI > 0.4; otherwise not-vegetated (5).
 * The cloud thresholds were chosen on the ukis-csmask L1C test image (TOA) and give every 64×64 block of
 * it a cloud fraction within 0.05 of the reference mask; on L2A (BOA) chips thin haze reads darker, so
 * this errs toward calling thin cloud clear. The shadow rule is rougher (see the gate README).
 */
export function classifySpectral(bands: SpectralBands, pixelCount: number): Uint8Array {
  const out = new Uint8Array(pixelCount);
  for (let i = 0; i < pixelCount; i++) {
    const b = bands.blue[i];
    const g = bands.green[i];
    const r = bands.red[i];
    const n = bands.nir[i];
    if ([b, g, r, n].some(Number.isNaN) || (b === 0 && g === 0 && r === 0 && n === 0)) {
      out[i] = SPECTRAL_CLASSES.nodata;
    } else if (b > 0.2 && b - 0.5 * r > 0.08) {
      out[i] = SPECTRAL_CLASSES.cloud;
    } else if (ndwi(g, n) > 0 && n < 0.15) {
      out[i] = SPECTRAL_CLASSES.water;
    } else if (n < 0.25 && (b + g + r) / 3 < 0.1) {
      out[i] = SPECTRAL_CLASSES.shadow;
    } else if ((n - r) / (n + r + 1e-6) > 0.4) {
      out[i] = SPECTRAL_CLASSES.vegetation;
    } else {
      out[i] = SPECTRAL_CLASSES.bare;
    }
  }
  return out;
}

export interface GateThresholds {
  maxCloudCenterFrac: number;
  maxLandCenterFrac: number;
  minWaterCenterFrac: number;
}

export interface GateVerdict {
  decision: 'accept' | 'reject';
  /** 'ok', or every failed test, e.g. "cloud 0.420 > 0.300; water 0.100 < 0.500". */
  reason: string;
}

const f3 = (x: number): string => x.toFixed(3);

/** Reject when cloud > max, land > max or water < min (seed 001 §10); no valid centre pixels rejects too. */
export function gateDecision(fractions: { cloud: number; land: number; water: number }, t: GateThresholds): GateVerdict {
  const { cloud, land, water } = fractions;
  if ([cloud, land, water].some(Number.isNaN)) return { decision: 'reject', reason: 'no valid pixels in the centre window' };
  const failures: string[] = [];
  if (cloud > t.maxCloudCenterFrac) failures.push(`cloud ${f3(cloud)} > ${f3(t.maxCloudCenterFrac)}`);
  if (land > t.maxLandCenterFrac) failures.push(`land ${f3(land)} > ${f3(t.maxLandCenterFrac)}`);
  if (water < t.minWaterCenterFrac) failures.push(`water ${f3(water)} < ${f3(t.minWaterCenterFrac)}`);
  return failures.length === 0 ? { decision: 'accept', reason: 'ok' } : { decision: 'reject', reason: failures.join('; ') };
}
