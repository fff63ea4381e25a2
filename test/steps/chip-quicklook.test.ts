// The quicklook stretch: set by the chip's valid water, with a floor on its span, so calm water stays a
// flat tone instead of amplified noise and the ship stays the brightest thing in the picture.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { seededRandom, gaussian } from '../../src/sdk/random.js';
import { SCL_WATER, quantileOfValid, stretchRgb, waterStretchMask } from '../../steps/chip/raster.js';

const SIZE = 64;

/** Calm water (0.04 ± 1e-4), a 4×4 ship (0.2) in the middle, a land strip (0.3) on the left, one nodata column. */
function calmChip(withLand: boolean, seed = 3): { bands: Float32Array[]; scl: Uint8Array } {
  const random = seededRandom(seed);
  const bands = [0, 1, 2].map(() => new Float32Array(SIZE * SIZE));
  const scl = new Uint8Array(SIZE * SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const col = i % SIZE;
    const row = Math.floor(i / SIZE);
    const noise = gaussian(random) * 1e-4;
    const land = withLand && col < 8;
    const ship = Math.abs(col - 32) < 2 && Math.abs(row - 32) < 2;
    for (const band of bands) band[i] = col === SIZE - 1 ? 0 : land ? 0.3 : ship ? 0.2 : 0.04 + noise;
    scl[i] = col === SIZE - 1 ? 0 : land ? 4 : SCL_WATER;
  }
  return { bands, scl };
}

const stdOf = (values: number[]): number => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
};
const waterBytes = (rgb: Uint8Array, scl: Uint8Array): number[] => Array.from(scl).flatMap((c, i) => (c === SCL_WATER && !(Math.abs((i % SIZE) - 32) < 2 && Math.abs(Math.floor(i / SIZE) - 32) < 2) ? [rgb[i * 3]] : []));

describe('quicklook stretch', () => {
  it('calm water is a flat tone, not amplified noise; the ship is brighter than all water; nodata stays black', () => {
    const { bands, scl } = calmChip(false);
    const mask = waterStretchMask(scl, bands, 100);
    expect(mask).toBeDefined();
    const before = stretchRgb(bands[0], bands[1], bands[2], { minSpan: 0 }); // round 1: plain 2–98 % of everything
    const after = stretchRgb(bands[0], bands[1], bands[2], { mask });
    expect(stdOf(waterBytes(before, scl))).toBeGreaterThan(20);
    expect(stdOf(waterBytes(after, scl))).toBeLessThan(2);
    const shipByte = after[(32 * SIZE + 32) * 3];
    expect(shipByte).toBe(255);
    expect(Math.max(...waterBytes(after, scl))).toBeLessThan(200);
    expect(after[(5 * SIZE + SIZE - 1) * 3]).toBe(0);
  });

  it('with land in the chip the stretch still comes from the water: land saturates, water stays flat', () => {
    const { bands, scl } = calmChip(true);
    const rgb = stretchRgb(bands[0], bands[1], bands[2], { mask: waterStretchMask(scl, bands, 100) });
    expect(stdOf(waterBytes(rgb, scl))).toBeLessThan(2);
    expect(rgb[(5 * SIZE + 2) * 3]).toBe(255);
    expect(rgb[(32 * SIZE + 32) * 3]).toBe(255);
  });

  it('without enough water the stretch uses every valid pixel; the span never falls below the floor', () => {
    const { bands } = calmChip(true);
    expect(waterStretchMask(new Uint8Array(SIZE * SIZE).fill(4), bands, 100)).toBeUndefined();
    fc.assert(fc.property(fc.float({ min: Math.fround(0.001), max: Math.fround(0.9), noNaN: true }), fc.float({ min: 0, max: Math.fround(0.004), noNaN: true }), (level, jitter) => {
      const band = Float32Array.from({ length: 400 }, (_, i) => level + (i % 7) * (jitter / 7));
      const rgb = stretchRgb(band, band, band, { minSpan: 0.05 });
      // a span of ≥ 0.05 maps a spread of ≤ 0.004 onto at most ~21 grey levels
      const values = Array.from({ length: 400 }, (_, i) => rgb[i * 3]);
      expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(Math.ceil((jitter / 0.05) * 255) + 1);
    }));
  });

  it('quantiles count only masked pixels', () => {
    const values = Float32Array.of(0.1, 0.2, 0.3, 0.9, 0);
    expect(quantileOfValid(values, 1)).toBe(0.9);
    expect(quantileOfValid(values, 1, Uint8Array.of(1, 1, 1, 0, 1))).toBe(0.3);
  });
});
