// Pixel work for a chip: reading a band onto the chip grid (copy, bicubic or nearest), DN → reflectance,
// and the quicklook stretch. Pure functions over typed arrays plus one reader-driven helper.
import type { CogReader, RasterGeo, Samples } from '../../lib/geo/cog-reader.js';
import type { ChipGrid } from './geometry.js';

/** How a band's DN become reflectance: value = DN × scale + offset, `nodata` DN → 0. */
export interface Scaling {
  scale: number;
  offset: number;
  nodata: number | null;
}

/**
 * DN → reflectance float32, clamped to [0, 1]. Nodata DN (the asset's, e.g. 0 for L2A) and pixels
 * outside the raster become 0, the chip's nodata value.
 */
export function toReflectance(dn: Samples, scaling: Scaling, clamp = true): Float32Array {
  const out = new Float32Array(dn.length);
  for (let i = 0; i < dn.length; i++) {
    const value = dn[i];
    if (scaling.nodata !== null && value === scaling.nodata) continue;
    const reflectance = value * scaling.scale + scaling.offset;
    out[i] = !clamp ? reflectance : reflectance < 0 ? 0 : reflectance > 1 ? 1 : reflectance;
  }
  return out;
}

/** Keys' cubic convolution kernel with a = −0.5 (what GDAL's "cubic" uses). */
export function cubicWeight(t: number): number {
  const x = Math.abs(t);
  const a = -0.5;
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/** Where chip pixel centres fall in a source raster, in source pixel units (0.5 = centre of pixel 0). */
function sourceCoordinates(grid: ChipGrid, source: RasterGeo): { u: Float64Array; v: Float64Array } {
  const u = new Float64Array(grid.size);
  const v = new Float64Array(grid.size);
  for (let i = 0; i < grid.size; i++) {
    u[i] = (grid.originX + (i + 0.5) * grid.resolution - source.originX) / source.pixelWidth;
    v[i] = (source.originY - (grid.originY - (i + 0.5) * grid.resolution)) / source.pixelHeight;
  }
  return { u, v };
}

export type Resampling = 'bicubic' | 'nearest';

/**
 * Resample one band from a source window (`window` values, `windowWidth` wide, top-left source pixel
 * (`windowX`, `windowY`)) onto the chip grid. Nearest clamps at the window edge (the window is read
 * boundless, so outside pixels hold the fill value). Bicubic follows GDAL's warper (see
 * `resampleBicubic`); `valid` marks real, non-nodata source pixels (default: every pixel inside the raster).
 */
export function resampleToGrid(
  window: ArrayLike<number>,
  windowX: number,
  windowY: number,
  windowWidth: number,
  windowHeight: number,
  grid: ChipGrid,
  source: RasterGeo,
  method: Resampling,
  valid?: Uint8Array,
): Float32Array {
  const { u, v } = sourceCoordinates(grid, source);
  const size = grid.size;
  if (method === 'bicubic') {
    const mask = valid ?? validityMask(window, windowX, windowY, windowWidth, windowHeight, source, null);
    return resampleBicubic(window, mask, windowX, windowY, windowWidth, size, u, v, source);
  }
  const column = Int32Array.from(u, (x) => Math.min(windowWidth - 1, Math.max(0, Math.floor(x) - windowX)));
  const row = Int32Array.from(v, (y) => Math.min(windowHeight - 1, Math.max(0, Math.floor(y) - windowY)));
  const out = new Float32Array(size * size);
  for (let j = 0; j < size; j++) {
    const base = row[j] * windowWidth;
    for (let i = 0; i < size; i++) out[j * size + i] = window[base + column[i]];
  }
  return out;
}

/**
 * Bicubic with source nodata exactly as GDAL's warper does it (gdalwarp -r cubic, upsampling):
 * a chip pixel whose centre falls outside the raster or on an invalid source pixel gets no value (0);
 * where the 4×4 neighbourhood leaves the raster or holds an invalid pixel, GDAL falls back to bilinear
 * over the valid pixels of the 2×2 neighbourhood, renormalised (GWKCubicResample4Sample →
 * GWKBilinearResample4Sample, including its "column −1 becomes column 0" rule at the left/top edge).
 */
function resampleBicubic(window: ArrayLike<number>, valid: Uint8Array, windowX: number, windowY: number, windowWidth: number, size: number, u: Float64Array, v: Float64Array, source: RasterGeo): Float32Array {
  const out = new Float32Array(size * size);
  // The chip grid is axis-aligned with the source: the kernel position and weights of a column depend
  // on the column only, and those of a row on the row only. Computed once each (same expressions, so
  // the same doubles) instead of per pixel. Window index of (col, row): (row - windowY) * windowWidth
  // + col - windowX. Plain locals and no calls in the pixel loop: a worker cuts only ~100 bands, so
  // much of it runs before the JIT has optimised it.
  const columns = kernelPositions(u, source.width);
  const rows = kernelPositions(v, source.height);
  const colInside = columns.inside;
  const colFloor = columns.floor;
  const colCentre = columns.c;
  const colCubic = columns.cubic;
  const wx = columns.w;
  for (let j = 0; j < size; j++) {
    if (rows.inside[j] === 0) continue;
    const cy = rows.c[j];
    const pixelRow = (rows.floor[j] - windowY) * windowWidth - windowX;
    const kernelTop = (cy - 1 - windowY) * windowWidth - windowX;
    const cubicRow = rows.cubic[j] === 1;
    const wy0 = rows.w[j * 4];
    const wy1 = rows.w[j * 4 + 1];
    const wy2 = rows.w[j * 4 + 2];
    const wy3 = rows.w[j * 4 + 3];
    for (let i = 0; i < size; i++) {
      if (colInside[i] === 0) continue;
      if (valid[pixelRow + colFloor[i]] !== 1) continue;
      if (cubicRow && colCubic[i] === 1) {
        const b0 = kernelTop + colCentre[i] - 1;
        const b1 = b0 + windowWidth;
        const b2 = b1 + windowWidth;
        const b3 = b2 + windowWidth;
        if (
          valid[b0] && valid[b0 + 1] && valid[b0 + 2] && valid[b0 + 3] &&
          valid[b1] && valid[b1 + 1] && valid[b1 + 2] && valid[b1 + 3] &&
          valid[b2] && valid[b2 + 1] && valid[b2 + 2] && valid[b2 + 3] &&
          valid[b3] && valid[b3 + 1] && valid[b3 + 2] && valid[b3 + 3]
        ) {
          const wx0 = wx[i * 4];
          const wx1 = wx[i * 4 + 1];
          const wx2 = wx[i * 4 + 2];
          const wx3 = wx[i * 4 + 3];
          let sum = 0;
          sum += wy0 * (wx0 * window[b0] + wx1 * window[b0 + 1] + wx2 * window[b0 + 2] + wx3 * window[b0 + 3]);
          sum += wy1 * (wx0 * window[b1] + wx1 * window[b1 + 1] + wx2 * window[b1 + 2] + wx3 * window[b1 + 3]);
          sum += wy2 * (wx0 * window[b2] + wx1 * window[b2 + 1] + wx2 * window[b2 + 2] + wx3 * window[b2 + 3]);
          sum += wy3 * (wx0 * window[b3] + wx1 * window[b3 + 1] + wx2 * window[b3 + 2] + wx3 * window[b3 + 3]);
          out[j * size + i] = sum;
          continue;
        }
      }
      const value = bilinearFallback(window, valid, windowX, windowY, windowWidth, source, u[i], v[j]);
      if (value !== undefined) out[j * size + i] = value;
    }
  }
  return out;
}

/**
 * GDAL's fallback where the 4×4 neighbourhood leaves the raster or holds an invalid pixel: bilinear
 * over the valid pixels of the 2×2 neighbourhood, renormalised; undefined when none contributes.
 */
function bilinearFallback(window: ArrayLike<number>, valid: Uint8Array, windowX: number, windowY: number, windowWidth: number, source: RasterGeo, x: number, y: number): number | undefined {
  let bx = Math.floor(x - 0.5);
  let by = Math.floor(y - 0.5);
  let rx = 1.5 - (x - bx);
  let ry = 1.5 - (y - by);
  if (bx === -1) { bx = 0; rx = 1; }
  if (by === -1) { by = 0; ry = 1; }
  let sum = 0;
  let weights = 0;
  const add = (col: number, row: number, w: number): void => {
    if (w === 0 || col < 0 || col >= source.width || row < 0 || row >= source.height) return;
    const at = (row - windowY) * windowWidth + (col - windowX);
    if (valid[at] !== 1) return;
    sum += w * window[at];
    weights += w;
  };
  add(bx, by, rx * ry);
  add(bx + 1, by, (1 - rx) * ry);
  add(bx, by + 1, rx * (1 - ry));
  add(bx + 1, by + 1, (1 - rx) * (1 - ry));
  if (weights < 0.00001) return undefined;
  return weights === 1 ? sum : sum / weights;
}

/**
 * Per chip column (or row) at source coordinate t: whether it falls inside the raster, its source
 * pixel, the 4-tap kernel's centre (C's truncation, as GDAL), whether the taps stay inside the
 * raster, and the Keys weights of the four taps.
 */
function kernelPositions(t: Float64Array, extent: number): { inside: Uint8Array; floor: Int32Array; c: Int32Array; cubic: Uint8Array; w: Float64Array } {
  const n = t.length;
  const positions = { inside: new Uint8Array(n), floor: new Int32Array(n), c: new Int32Array(n), cubic: new Uint8Array(n), w: new Float64Array(n * 4) };
  for (let i = 0; i < n; i++) {
    const x = t[i];
    if (!(x >= 0 && x < extent)) continue;
    positions.inside[i] = 1;
    positions.floor[i] = Math.floor(x);
    const c = Math.trunc(x - 0.5);
    positions.c[i] = c;
    positions.cubic[i] = c - 1 >= 0 && c + 2 < extent ? 1 : 0;
    const d = x - 0.5 - c;
    for (let k = 0; k < 4; k++) positions.w[i * 4 + k] = cubicWeight(d - (k - 1));
  }
  return positions;
}

/** Which window pixels are real source pixels: inside the raster and not the nodata value. */
export function validityMask(dn: ArrayLike<number>, x: number, y: number, width: number, height: number, source: RasterGeo, nodata: number | null): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let r = 0; r < height; r++) {
    const row = y + r;
    if (row < 0 || row >= source.height) continue;
    for (let c = 0; c < width; c++) {
      const col = x + c;
      if (col < 0 || col >= source.width) continue;
      const value = dn[r * width + c];
      mask[r * width + c] = nodata !== null && value === nodata ? 0 : 1;
    }
  }
  return mask;
}

/** The source pixel window (with a margin for the kernel) that covers a chip grid. */
export function sourceWindowFor(grid: ChipGrid, source: RasterGeo, margin: number): { x: number; y: number; width: number; height: number } {
  const x0 = Math.floor((grid.originX - source.originX) / source.pixelWidth) - margin;
  const y0 = Math.floor((source.originY - grid.originY) / source.pixelHeight) - margin;
  const x1 = Math.ceil((grid.originX + grid.size * grid.resolution - source.originX) / source.pixelWidth) + margin;
  const y1 = Math.ceil((source.originY - (grid.originY - grid.size * grid.resolution)) / source.pixelHeight) + margin;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** True when the chip grid is the source grid (same pixel size, whole-pixel offset): a plain copy. */
export function sameGrid(grid: ChipGrid, source: RasterGeo): boolean {
  const colOffset = (grid.originX - source.originX) / source.pixelWidth;
  const rowOffset = (source.originY - grid.originY) / source.pixelHeight;
  return (
    Math.abs(source.pixelWidth - grid.resolution) < 1e-9 &&
    Math.abs(source.pixelHeight - grid.resolution) < 1e-9 &&
    Math.abs(colOffset - Math.round(colOffset)) < 1e-6 &&
    Math.abs(rowOffset - Math.round(rowOffset)) < 1e-6
  );
}

/**
 * A band's reflectance on the chip grid. Same grid: a boundless window copy. Otherwise bicubic on
 * unclamped reflectance over valid source pixels only (scaling is linear and the weights are
 * renormalised, so this equals resampling DN as `gdalwarp -r cubic` does with source nodata), then
 * clamped to [0, 1]; outside the scene and where no valid pixel contributes, 0 as in every band.
 */
export async function readReflectance(reader: CogReader, grid: ChipGrid, scaling: Scaling): Promise<Float32Array> {
  const geo = reader.geo;
  if (sameGrid(grid, geo)) {
    const col = Math.round((grid.originX - geo.originX) / geo.pixelWidth);
    const row = Math.round((geo.originY - grid.originY) / geo.pixelHeight);
    const [dn] = await reader.readWindow(col, row, grid.size, grid.size);
    return toReflectance(dn, scaling);
  }
  const window = sourceWindowFor(grid, geo, 2);
  const [dn] = await reader.readWindow(window.x, window.y, window.width, window.height);
  const valid = validityMask(dn, window.x, window.y, window.width, window.height, geo, scaling.nodata);
  const resampled = resampleToGrid(toReflectance(dn, scaling, false), window.x, window.y, window.width, window.height, grid, geo, 'bicubic', valid);
  for (let i = 0; i < resampled.length; i++) resampled[i] = resampled[i] < 0 ? 0 : resampled[i] > 1 ? 1 : resampled[i];
  return resampled;
}

/** A class band (SCL) on the chip grid by nearest neighbour; outside the raster → 0 (SCL "no data"). */
export async function readClasses(reader: CogReader, grid: ChipGrid): Promise<Uint8Array> {
  const geo = reader.geo;
  const window = sourceWindowFor(grid, geo, 1);
  const [classes] = await reader.readWindow(window.x, window.y, window.width, window.height);
  const resampled = resampleToGrid(classes, window.x, window.y, window.width, window.height, grid, geo, 'nearest');
  return Uint8Array.from(resampled);
}

/**
 * The value at quantile q (0..1) of the non-zero values (0 is nodata), counting only pixels where
 * `mask` is 1 when a mask is given; 0 when there are none. Reflectance lies in [0, 1], so a
 * 10 000-bin histogram (the DN quantum, 1e-4) is exact enough and avoids sorting every band of every chip.
 */
export function quantileOfValid(values: Float32Array, q: number, mask?: Uint8Array): number {
  return quantilesOfValid(values, [q], mask)[0];
}

/** `quantileOfValid` for several quantiles from one histogram. */
export function quantilesOfValid(values: Float32Array, qs: readonly number[], mask?: Uint8Array): number[] {
  const bins = 10_000;
  const histogram = new Uint32Array(bins + 1);
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!(value > 0) || (mask && mask[i] !== 1)) continue;
    histogram[Math.min(bins, Math.round(value * bins))]++;
    count++;
  }
  return qs.map((q) => {
    if (count === 0) return 0;
    const target = Math.min(count - 1, Math.max(0, Math.round(q * (count - 1))));
    let seen = 0;
    for (let bin = 0; bin <= bins; bin++) {
      seen += histogram[bin];
      if (seen > target) return bin / bins;
    }
    return 1;
  });
}

export interface StretchOptions {
  /** Pixels (1) whose values set the stretch, e.g. the chip's valid water pixels; default all valid pixels. */
  mask?: Uint8Array;
  low?: number;
  high?: number;
  /**
   * Smallest reflectance span the stretch may map onto 0–255. Calm water varies by ~1e-3, and a
   * plain 2–98 % stretch turns that into full-range noise; the floor keeps water a flat mid-tone
   * against which ships stand out. Default 0.05.
   */
  minSpan?: number;
}

/** The SCL class "water" (Sentinel-2 L2A scene classification). */
export const SCL_WATER = 6;

/**
 * Which chip pixels set the quicklook stretch: valid water (SCL 6, all three bands non-zero) when
 * there are at least `minPixels` of them, else undefined (every valid pixel).
 */
export function waterStretchMask(scl: Uint8Array, bands: readonly Float32Array[], minPixels: number): Uint8Array | undefined {
  const mask = new Uint8Array(scl.length);
  let count = 0;
  for (let i = 0; i < scl.length; i++) {
    if (scl[i] !== SCL_WATER) continue;
    let valid = true;
    for (let b = 0; b < bands.length && valid; b++) valid = bands[b][i] > 0;
    if (valid) {
      mask[i] = 1;
      count++;
    }
  }
  return count >= minPixels ? mask : undefined;
}

/** RGB bytes (pixel-interleaved) with a per-band 2–98 % stretch (see StretchOptions); nodata stays black. */
export function stretchRgb(red: Float32Array, green: Float32Array, blue: Float32Array, options: StretchOptions = {}): Uint8Array {
  const { mask, low = 0.02, high = 0.98, minSpan = 0.05 } = options;
  const out = new Uint8Array(red.length * 3);
  const bands = [red, green, blue];
  for (let channel = 0; channel < 3; channel++) {
    const band = bands[channel];
    let [lo, hi] = quantilesOfValid(band, [low, high], mask);
    if (hi - lo < minSpan) {
      const middle = (lo + hi) / 2;
      lo = Math.max(0, middle - minSpan / 2);
      hi = lo + minSpan;
    }
    const span = hi - lo;
    for (let i = 0; i < band.length; i++) {
      if (band[i] === 0) continue;
      const scaled = Math.round(((band[i] - lo) / span) * 255);
      out[i * 3 + channel] = scaled < 0 ? 0 : scaled > 255 ? 255 : scaled;
    }
  }
  return out;
}
