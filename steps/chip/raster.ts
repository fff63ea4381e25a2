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
 * (`windowX`, `windowY`)) onto the chip grid. Bicubic clamps the 4×4 neighbourhood at the window edge.
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
): Float32Array {
  const { u, v } = sourceCoordinates(grid, source);
  const size = grid.size;
  const out = new Float32Array(size * size);
  // The kernel is separable: per chip column (row), the 4 clamped window columns (rows) and weights.
  const taps = method === 'nearest' ? 1 : 4;
  const plan = (coordinates: Float64Array, origin: number, extent: number): { index: Int32Array; weight: Float64Array } => {
    const index = new Int32Array(size * taps);
    const weight = new Float64Array(size * taps);
    for (let i = 0; i < size; i++) {
      if (method === 'nearest') {
        index[i] = Math.min(extent - 1, Math.max(0, Math.floor(coordinates[i]) - origin));
        weight[i] = 1;
        continue;
      }
      const x = coordinates[i] - 0.5; // relative to pixel centres
      const x0 = Math.floor(x);
      for (let k = 0; k < 4; k++) {
        index[i * 4 + k] = Math.min(extent - 1, Math.max(0, x0 - 1 + k - origin));
        weight[i * 4 + k] = cubicWeight(x - (x0 - 1 + k));
      }
    }
    return { index, weight };
  };
  const columns = plan(u, windowX, windowWidth);
  const rows = plan(v, windowY, windowHeight);
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let sum = 0;
      for (let m = 0; m < taps; m++) {
        const wy = rows.weight[j * taps + m];
        if (wy === 0) continue;
        const rowBase = rows.index[j * taps + m] * windowWidth;
        let line = 0;
        for (let n = 0; n < taps; n++) line += columns.weight[i * taps + n] * window[rowBase + columns.index[i * taps + n]];
        sum += wy * line;
      }
      out[j * size + i] = sum;
    }
  }
  return out;
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
 * unclamped reflectance (scaling is linear, so this equals resampling DN as GDAL does; nodata → 0
 * first), then clamped to [0, 1].
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
  const resampled = resampleToGrid(toReflectance(dn, scaling, false), window.x, window.y, window.width, window.height, grid, geo, 'bicubic');
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
 * The value at quantile q (0..1) of the non-zero values (0 is nodata); 0 when there are none.
 * Reflectance lies in [0, 1], so a 10 000-bin histogram (the DN quantum, 1e-4) is exact enough and
 * avoids sorting every band of every chip.
 */
export function quantileOfValid(values: Float32Array, q: number): number {
  const bins = 10_000;
  const histogram = new Uint32Array(bins + 1);
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!(value > 0)) continue;
    histogram[Math.min(bins, Math.round(value * bins))]++;
    count++;
  }
  if (count === 0) return 0;
  const target = Math.min(count - 1, Math.max(0, Math.round(q * (count - 1))));
  let seen = 0;
  for (let bin = 0; bin <= bins; bin++) {
    seen += histogram[bin];
    if (seen > target) return bin / bins;
  }
  return 1;
}

/** RGB bytes (pixel-interleaved) with a per-band 2–98 % stretch; nodata stays black. */
export function stretchRgb(red: Float32Array, green: Float32Array, blue: Float32Array, low = 0.02, high = 0.98): Uint8Array {
  const out = new Uint8Array(red.length * 3);
  [red, green, blue].forEach((band, channel) => {
    const lo = quantileOfValid(band, low);
    const hi = quantileOfValid(band, high);
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < band.length; i++) {
      if (band[i] === 0) continue;
      const scaled = Math.round(((band[i] - lo) / span) * 255);
      out[i * 3 + channel] = scaled < 0 ? 0 : scaled > 255 ? 255 : scaled;
    }
  });
  return out;
}
