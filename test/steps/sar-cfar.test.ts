// The SAR detector's parts: the GRD calibration LUT, land rasterisation, the two-parameter CFAR,
// clustering and sizes, and the measured detection figures of the default settings on a fixed-seed
// synthetic scene (K clutter, land, 56 ships of known size and position).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calibrate, cfar, cfarRows, clusterDetections, DEFAULT_CFAR, dilate, parseCalibrationLut, probit, rasterizeLand, scoreConfidence, type Grid } from '../../lib/geo/sar.js';
import { gammaUnitMean, lutXml, measurementSpec, scoreAgainstTruth, synthesize, syntheticLut } from '../../lib/geo/sar-synthetic.js';
import { seededRandom } from '../../src/sdk/random.js';
import { cfarParallel, shareScene } from '../../lib/geo/sar-parallel.js';

const lutOf = (l: ReturnType<typeof syntheticLut>) => ({ lines: l.lines, pixels: l.lines.map(() => l.pixels), sigma: l.lines.map(() => l.sigma) });

describe('calibration LUT', () => {
  it('parses what it writes, for any increasing LUT (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 500 }), fc.integer({ min: 2, max: 500 }), fc.integer({ min: 1, max: 60 }), (width, height, step) => {
        const lut = syntheticLut(width, height, step);
        const parsed = parseCalibrationLut(lutXml(lut, 'vv'));
        expect(parsed.lines).toEqual(lut.lines);
        expect(parsed.pixels.every((p) => JSON.stringify(p) === JSON.stringify(lut.pixels))).toBe(true);
        parsed.sigma.forEach((s) => s.forEach((v, i) => expect(v).toBeCloseTo(lut.sigma[i], 2)));
      }),
      { numRuns: 40 },
    );
  });

  it('reads the GRD annotation layout (extra elements and attributes ignored) and interpolates bilinearly', () => {
    const xml = `<calibration><calibrationVectorList count="2">
      <calibrationVector><azimuthTime>2021-08-09T17:39:53.153776</azimuthTime><line>0</line><pixel count="2">0 100</pixel><sigmaNought count="2">600 500</sigmaNought><betaNought count="2">474 474</betaNought></calibrationVector>
      <calibrationVector><azimuthTime>x</azimuthTime><line>10</line><pixel count="2">0 100</pixel><sigmaNought count="2">700 600</sigmaNought></calibrationVector>
    </calibrationVectorList></calibration>`;
    const lut = parseCalibrationLut(xml);
    // Pixel (50, 5): gains 550 (line 0) and 650 (line 10) → 600; DN 600 → σ⁰ = 1.
    const sigma = calibrate(new Uint16Array([600, 0]), 2, 1, 50, 5, { lut });
    expect(sigma[0]).toBeCloseTo(1, 6);
    expect(Number.isNaN(sigma[1])).toBe(true); // DN 0 is nodata
    expect(calibrate(new Uint16Array([300]), 1, 1, 0, 0, { scale: 0.01 })[0]).toBeCloseTo(9, 6);
  });

  it('names the broken vector', () => {
    expect(() => parseCalibrationLut('<calibration/>')).toThrow(/no <calibrationVector>/);
    expect(() => parseCalibrationLut('<calibrationVector><line>0</line><pixel>0 10</pixel><sigmaNought>5</sigmaNought></calibrationVector>')).toThrow(/calibrationVector 0: 2 pixels but 1 sigmaNought/);
    expect(() => parseCalibrationLut('<calibrationVector><line>0</line><pixel>0 10</pixel><sigmaNought>5 -1</sigmaNought></calibrationVector>')).toThrow(/positive/);
    expect(() => parseCalibrationLut('<calibrationVector><line>3</line><pixel>0</pixel><sigmaNought>5</sigmaNought></calibrationVector><calibrationVector><line>3</line><pixel>0</pixel><sigmaNought>5</sigmaNought></calibrationVector>')).toThrow(/calibrationVector 1: lines must increase/);
  });
});

describe('land mask', () => {
  const grid: Grid = { width: 10, height: 10, originX: 0, originY: 10, pixelWidth: 1, pixelHeight: 1 };
  it('fills pixel centres inside the polygon, holes excluded, and dilates by the buffer', () => {
    const square = [[[2, 8], [7, 8], [7, 3], [2, 3], [2, 8]]];
    const mask = rasterizeLand(grid, [square]);
    expect(mask.reduce((a, b) => a + b, 0)).toBe(25);
    expect(mask[3 * 10 + 2]).toBe(1);
    expect(mask[3 * 10 + 7]).toBe(0);
    const withHole = [square[0], [[4, 6], [5, 6], [5, 5], [4, 5], [4, 6]]];
    expect(rasterizeLand(grid, [withHole]).reduce((a, b) => a + b, 0)).toBe(24);
    expect(rasterizeLand(grid, [square], 1).reduce((a, b) => a + b, 0)).toBe(49);
  });
  it('dilation equals the brute-force square neighbourhood (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }), fc.integer({ min: 0, max: 3 }), (bits, radius) => {
        const mask = Uint8Array.from(bits.map(Number));
        const out = dilate(mask, 8, 8, radius);
        for (let r = 0; r < 8; r++)
          for (let c = 0; c < 8; c++) {
            let any = 0;
            for (let dr = -radius; dr <= radius; dr++) for (let dc = -radius; dc <= radius; dc++) if (r + dr >= 0 && r + dr < 8 && c + dc >= 0 && c + dc < 8 && mask[(r + dr) * 8 + c + dc]) any = 1;
            expect(out[r * 8 + c]).toBe(any);
          }
      }),
      { numRuns: 60 },
    );
  });
});

describe('two-parameter CFAR', () => {
  it('probit matches known quantiles', () => {
    expect(probit(0.975)).toBeCloseTo(1.959964, 5);
    expect(probit(1 - 1e-6)).toBeCloseTo(4.753424, 4);
    expect(probit(1 - 1e-8)).toBeCloseTo(5.612001, 4);
    expect(() => probit(1)).toThrow();
  });

  it('the running-sum CFAR equals a brute-force ring computation', () => {
    const random = seededRandom(3);
    const w = 37, h = 29;
    const sigma = Float32Array.from({ length: w * h }, () => gammaUnitMean(random, 2));
    sigma[14 * w + 18] = 40;
    const valid = Uint8Array.from({ length: w * h }, (_, i) => (i % 11 === 0 ? 0 : 1));
    const params = { guardPx: 2, backgroundPx: 5, pfa: 1e-3, minBackgroundFraction: 0.3 };
    const fast = cfar(sigma, valid, w, h, params);
    const t = probit(1 - params.pfa);
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++) {
        let n = 0, s = 0, q = 0;
        for (let dr = -5; dr <= 5; dr++)
          for (let dc = -5; dc <= 5; dc++) {
            if (Math.abs(dr) <= 2 && Math.abs(dc) <= 2) continue;
            const rr = r + dr, cc = c + dc;
            if (rr < 0 || rr >= h || cc < 0 || cc >= w || !valid[rr * w + cc]) continue;
            n++, (s += sigma[rr * w + cc]), (q += sigma[rr * w + cc] ** 2);
          }
        const mean = s / n;
        const z = (sigma[r * w + c] - mean) / Math.sqrt(q / n - mean * mean);
        const expected = valid[r * w + c] && n >= 0.3 * 96 && z > t ? z : 0;
        expect(fast[r * w + c]).toBeCloseTo(expected, 3);
      }
    expect(fast[14 * w + 18]).toBeGreaterThan(t);
    // A strip starting anywhere gives the same scores to float precision.
    const strips = new Float32Array(w * h);
    strips.set(cfarRows(sigma, valid, w, h, 0, 10, params), 0);
    strips.set(cfarRows(sigma, valid, w, h, 10, h, params), 10 * w);
    strips.forEach((v, i) => expect(v).toBeCloseTo(fast[i], 4));
  });

  it('on worker threads (row strips over shared memory) it equals one thread bit for bit, and reports a worker error', async () => {
    // Tall enough for strips to start past a column-sum rebase (REBASE_ROWS = 256), where running
    // sums from row 0 and fresh sums differ in the last bits unless strips are aligned.
    const random = seededRandom(9);
    const w = 60, h = 700;
    const sigma = Float32Array.from({ length: w * h }, () => gammaUnitMean(random, 3));
    for (let k = 0; k < 40; k++) sigma[Math.floor(random() * w * h)] = 30;
    const valid = new Uint8Array(w * h).fill(1);
    const params = { ...DEFAULT_CFAR, guardPx: 3, backgroundPx: 8, pfa: 1e-4 };
    const single = cfar(sigma, valid, w, h, params);
    const parallel = await cfarParallel(shareScene(sigma, valid), w, h, params, 3);
    expect(parallel).toEqual(single);
    expect(single.some((v) => v > 0)).toBe(true);
    await expect(cfarParallel(shareScene(sigma, valid), w, h, { ...params, guardPx: 9 }, 2)).rejects.toThrow(/background_px 8 must be a whole number larger than guard_px 9/);
  });

  it('rejects a guard window not smaller than the background window', () => {
    expect(() => cfar(new Float32Array(4), new Uint8Array(4), 2, 2, { ...DEFAULT_CFAR, guardPx: 5, backgroundPx: 5 })).toThrow(/background_px 5 must be a whole number larger than guard_px 5/);
  });

  it('clusters carry pixel count, peak/mean, centroid and the bar length/width from second moments', () => {
    const w = 40, h = 20;
    const score = new Float32Array(w * h);
    const sigma = new Float32Array(w * h).fill(0.01);
    for (let c = 5; c < 25; c++) for (let r = 8; r < 10; r++) (score[r * w + c] = 10), (sigma[r * w + c] = c === 10 ? 5 : 1);
    score[2 * w + 35] = 7; // a single pixel elsewhere
    const clusters = clusterDetections(score, sigma, w, h, 1);
    expect(clusters).toHaveLength(2);
    const bar = clusters.find((c) => c.pixels === 40)!;
    expect(bar.lengthPx).toBeCloseTo(20, 6);
    expect(bar.widthPx).toBeCloseTo(2, 6);
    expect(bar.orientationDeg).toBeCloseTo(90, 6); // along the rows: east–west
    expect(bar.peakSigma0).toBeCloseTo(5, 6);
    expect(bar.meanSigma0).toBeCloseTo((38 + 10) / 40, 6);
    expect(clusterDetections(score, sigma, w, h, 2)).toHaveLength(1);
    expect(scoreConfidence(probit(1 - 1e-8), 1e-8)).toBe(0);
    expect(scoreConfidence(2 * probit(1 - 1e-8), 1e-8)).toBeCloseTo(0.5, 9);
  });
});

describe('measured on a fixed-seed synthetic scene (1024² at 10 m, K clutter ν 4, 4.4 looks, −18 dB; 56 ships 20–300 m at −8…+12 dB)', () => {
  it('the defaults (guard 16, background 28, Pfa 1e-8, ≥ 3 pixels) find 49 of 56 ships with no false alarm on 92 km² of sea', () => {
    const spec = measurementSpec(1, 1024);
    const scene = synthesize(spec);
    const { width, height } = spec.grid;
    const sigma = calibrate(scene.dn, width, height, 0, 0, { lut: lutOf(scene.lut) });
    const buffered = dilate(scene.land, width, height, 3);
    const valid = Uint8Array.from(sigma, (v, i) => (buffered[i] || !(v > 0) ? 0 : 1));
    const clusters = clusterDetections(cfar(sigma, valid, width, height, DEFAULT_CFAR), sigma, width, height, 3);
    const score = scoreAgainstTruth(spec.grid, scene.land, spec.ships, clusters);
    expect({ ships: score.ships, detected: score.detected, falseAlarms: score.falseAlarms, clusters: score.clusters }).toEqual({ ships: 56, detected: 49, falseAlarms: 0, clusters: 49 });
    expect(score.seaKm2).toBeCloseTo(92.0, 1);
    // The misses are the small or dim ships: every ship ≥ 100 m at ≥ 0 dB is found.
    const missed = spec.ships.filter((_, i) => !score.found[i]);
    expect(missed.every((s) => s.lengthM < 100 || s.sigma0Db < 0)).toBe(true);
  });
});
