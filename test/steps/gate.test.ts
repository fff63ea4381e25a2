// The gate: fractions and decisions on hand-made arrays, on real Sentinel-2 pixels (ukis-csmask, with a
// reference cloud mask), and on chip GeoTIFFs written with the project's writer.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { fromFile } from 'geotiff';
import { sharedData } from '../helpers/paths.js';
import { writeGeoTiff } from '../../lib/geo/geotiff-writer.js';
import { centerWindow, classifySpectral, gateDecision, sclFractions, waterFraction, type Window } from '../../steps/gate/fractions.js';
import { gateChip, locateChipFile, type GateParams } from '../../steps/gate/gate.js';

const DEFAULTS: GateParams = {
  centerWindowPx: 64, sclCloudClasses: [7, 8, 9, 10], sclLandClasses: [4, 5], ndwiWaterThresh: 0,
  maxCloudCenterFrac: 0.3, maxLandCenterFrac: 0.5, minWaterCenterFrac: 0.3,
};

describe('centre window and fractions', () => {
  it('centres the window and clips it to small images', () => {
    expect(centerWindow(256, 256, 64)).toEqual({ x0: 96, y0: 96, width: 64, height: 64 });
    expect(centerWindow(255, 100, 64)).toEqual({ x0: 95, y0: 18, width: 64, height: 64 });
    expect(centerWindow(40, 30, 64)).toEqual({ x0: 0, y0: 0, width: 40, height: 30 });
  });

  it('counts SCL classes over the valid pixels of the window only', () => {
    // 4×4 image, window = the middle 2×2: classes 9 (cloud), 4 (land), 6 (water), 0 (no data)
    const scl = [1, 1, 1, 1, 1, 9, 4, 1, 1, 6, 0, 1, 1, 1, 1, 1];
    const window = centerWindow(4, 4, 2);
    expect(sclFractions(scl, 4, window, [7, 8, 9, 10], [4, 5])).toEqual({ cloud: 1 / 3, land: 1 / 3, valid: 3 });
    expect(sclFractions([0, 0, 0, 0], 2, centerWindow(2, 2, 2), [9], [4]).valid).toBe(0);
  });

  it('counts NDWI water and skips nodata pixels', () => {
    const green = [0.06, 0.06, 0.1, 0];
    const nir = [0.02, 0.3, 0.1, 0];
    const w: Window = { x0: 0, y0: 0, width: 2, height: 2 };
    expect(waterFraction(green, nir, 2, w, 0)).toEqual({ water: 1 / 3, valid: 3 });
    expect(waterFraction(green, nir, 2, w, -0.1).water).toBeCloseTo(2 / 3, 12); // NDWI(0.1, 0.1) ≈ 0 > −0.1
  });

  it('rejects with every failed test named, accepts with ok', () => {
    expect(gateDecision({ cloud: 0.1, land: 0.1, water: 0.8 }, DEFAULTS)).toEqual({ decision: 'accept', reason: 'ok' });
    expect(gateDecision({ cloud: 0.42, land: 0.1, water: 0.1 }, DEFAULTS)).toEqual({ decision: 'reject', reason: 'cloud 0.420 > 0.300; water 0.100 < 0.300' });
    expect(gateDecision({ cloud: 0, land: 0.6, water: 0.4 }, DEFAULTS).reason).toBe('land 0.600 > 0.500');
    expect(gateDecision({ cloud: NaN, land: NaN, water: NaN }, DEFAULTS)).toEqual({ decision: 'reject', reason: 'no valid pixels in the centre window' });
    // at the threshold: accept (reject only when strictly beyond)
    expect(gateDecision({ cloud: 0.3, land: 0.5, water: 0.3 }, DEFAULTS).decision).toBe('accept');
  });

  it('fractions stay in [0, 1] and agree with a direct count (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 30 }), fc.array(fc.integer({ min: 0, max: 11 }), { minLength: 400, maxLength: 400 }), (w, h, size, values) => {
        const scl = values.slice(0, w * h);
        const window = centerWindow(w, h, size);
        const f = sclFractions(scl, w, window, [8, 9, 10], [4, 5]);
        const inWindow: number[] = [];
        for (let y = window.y0; y < window.y0 + window.height; y++) for (let x = window.x0; x < window.x0 + window.width; x++) inWindow.push(scl[y * w + x]);
        const valid = inWindow.filter((c) => c !== 0);
        if (valid.length === 0) return Number.isNaN(f.cloud) && f.valid === 0;
        return f.valid === valid.length && f.cloud === valid.filter((c) => c >= 8 && c <= 10).length / valid.length && f.land + f.cloud <= 1 + 1e-12;
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});

async function readAll(file: string): Promise<{ width: number; bands: ArrayLike<number>[] }> {
  const tiff = await fromFile(file);
  const image = await tiff.getImage();
  const bands = (await image.readRasters()) as unknown as ArrayLike<number>[];
  tiff.close();
  return { width: image.getWidth(), bands: Array.from({ length: image.getSamplesPerPixel() }, (_, i) => bands[i]) };
}

describe('spectral cloud classification on real Sentinel-2 pixels (ukis-csmask)', async () => {
  const image = await readAll(sharedData('raster', 'ukis_csmask_sentinel2_l1c_6band_512px_toa_x10000.tif'));
  const mask = await readAll(sharedData('raster', 'ukis_csmask_sentinel2_l1c_512px_reference_mask.tif'));
  const size = image.width;
  const reflectance = image.bands.slice(0, 4).map((band) => Float32Array.from(band as ArrayLike<number>, (v) => v / 10000));
  const classes = classifySpectral({ blue: reflectance[0], green: reflectance[1], red: reflectance[2], nir: reflectance[3] }, size * size);
  const referenceCloud = Uint8Array.from(mask.bands[0] as ArrayLike<number>, (v) => (v === 4 ? 9 : 5)); // 4 = cloud in the reference

  const compare = (window: Window) => ({
    ours: sclFractions(classes, size, window, DEFAULTS.sclCloudClasses, DEFAULTS.sclLandClasses).cloud,
    reference: sclFractions(referenceCloud, size, window, [9], []).cloud,
  });

  it('agrees with the reference mask within 0.05 on the centre window of each 256-px chip (stride 128)', () => {
    const results = [];
    for (let y = 0; y + 256 <= size; y += 128) {
      for (let x = 0; x + 256 <= size; x += 128) {
        const centre = centerWindow(256, 256, 64);
        results.push(compare({ x0: x + centre.x0, y0: y + centre.y0, width: 64, height: 64 }));
      }
    }
    expect(results).toHaveLength(9);
    for (const r of results) expect(Math.abs(r.ours - r.reference)).toBeLessThanOrEqual(0.05);
    // The windows are not all clear or all cloudy, so agreement means something.
    const refs = results.map((r) => r.reference);
    expect(Math.max(...refs) - Math.min(...refs)).toBeGreaterThan(0.3);
  });

  it('agrees within 0.05 on every one of the 64 non-overlapping 64×64 windows', () => {
    const errors: number[] = [];
    let cloudy = 0;
    for (let y = 0; y < size; y += 64) {
      for (let x = 0; x < size; x += 64) {
        const r = compare({ x0: x, y0: y, width: 64, height: 64 });
        errors.push(Math.abs(r.ours - r.reference));
        if (r.reference > 0.2) cloudy++;
      }
    }
    expect(Math.max(...errors)).toBeLessThanOrEqual(0.05);
    expect(cloudy).toBeGreaterThan(20); // 28 of the 64 windows are over 20 % cloud
  });

  it('labels reference land pixels mostly as land, not cloud', () => {
    let land = 0;
    let landAsCloud = 0;
    for (let i = 0; i < size * size; i++) {
      if (mask.bands[0][i] !== 3) continue;
      land++;
      if (classes[i] === 9) landAsCloud++;
    }
    expect(landAsCloud / land).toBeLessThan(0.04); // measured 0.025
  });
});

describe('gating chip files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-'));
  const chipsDir = join(dir, 'chips', '2026-05-25');
  const n = 256;
  const grid = { epsg: 32630, transform: { originX: 600000, originY: 5600000, pixelWidth: 10, pixelHeight: 10 } };

  /** Open water everywhere, with a cloud square (cloudRows of the 64-row centre window) and a land strip. */
  function writeChip(name: string, options: { cloudRows: number; landCols: number; withScl: boolean }): { path: string; scl_path: string | null } {
    const bands = [new Float32Array(n * n), new Float32Array(n * n), new Float32Array(n * n), new Float32Array(n * n)];
    const scl = new Uint8Array(n * n);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const i = y * n + x;
        const cloud = y >= 96 && y < 96 + options.cloudRows && x >= 96 && x < 160;
        const land = x >= 160 - options.landCols && x < 160 && !cloud && y >= 96 && y < 160;
        const [b, g, r, nir, cls] = cloud ? [0.5, 0.5, 0.5, 0.55, 9] : land ? [0.05, 0.08, 0.09, 0.35, 4] : [0.04, 0.06, 0.03, 0.02, 6];
        bands[0][i] = b;
        bands[1][i] = g;
        bands[2][i] = r;
        bands[3][i] = nir;
        scl[i] = cls;
      }
    }
    mkdirSync(join(chipsDir, 'train', '1'), { recursive: true });
    writeFileSync(join(chipsDir, 'train', '1', `${name}.tif`), writeGeoTiff({ width: n, height: n, bands, sampleType: 'float32', nodata: 0, ...grid }));
    if (options.withScl) writeFileSync(join(chipsDir, 'train', '1', `${name}_scl.tif`), writeGeoTiff({ width: n, height: n, bands: [scl], sampleType: 'uint8', nodata: 0, ...grid }));
    return { path: `chips/2026-05-25/train/1/${name}.tif`, scl_path: options.withScl ? `chips/2026-05-25/train/1/${name}_scl.tif` : null };
  }

  it('finds table paths below the chips directory', () => {
    const { path } = writeChip('locate', { cloudRows: 0, landCols: 0, withScl: false });
    expect(locateChipFile(chipsDir, path)).toBe(join(chipsDir, 'train', '1', 'locate.tif'));
    expect(locateChipFile(chipsDir, 'chips/2026-05-25/train/1/missing.tif')).toBeNull();
    expect(locateChipFile(chipsDir, '../../etc/passwd')).toBeNull();
  });

  it('measures the centre window from SCL and NDWI and decides', async () => {
    const files = writeChip('a', { cloudRows: 16, landCols: 8, withScl: true });
    const row = await gateChip({ chip_id: 'a', ...files, bands: 'B02,B03,B04,B08', status: 'ok' }, chipsDir, DEFAULTS);
    // 16 of 64 rows cloud; land 8 columns × 48 rows; water = the rest
    expect(row.qa_cloud_frac).toBe(0.25);
    expect(row.qa_land_frac).toBe((8 * 48) / 4096);
    expect(row.qa_water_frac).toBe(1 - 0.25 - (8 * 48) / 4096);
    expect(row).toMatchObject({ qa_source: 'scl', decision: 'accept', reason: 'ok' });

    const cloudy = writeChip('b', { cloudRows: 40, landCols: 0, withScl: true });
    const rejected = await gateChip({ chip_id: 'b', ...cloudy, bands: 'B02,B03,B04,B08', status: 'ok' }, chipsDir, DEFAULTS);
    expect(rejected).toMatchObject({ decision: 'reject', reason: 'cloud 0.625 > 0.300', qa_cloud_frac: 0.625 });
  });

  it('falls back to the spectral classes when the chip has no SCL file', async () => {
    const files = writeChip('c', { cloudRows: 16, landCols: 8, withScl: false });
    const row = await gateChip({ chip_id: 'c', ...files, bands: 'B02,B03,B04,B08,B11,B12', status: 'ok' }, chipsDir, DEFAULTS);
    expect(row).toMatchObject({ qa_source: 'spectral', qa_cloud_frac: 0.25, qa_land_frac: (8 * 48) / 4096, decision: 'accept' });
  });

  it('rejects failed or missing chips with the reason, keeping a row', async () => {
    expect(await gateChip({ chip_id: 'd', path: null, bands: 'B02,B03,B04,B08', status: 'failed', reason: 'B02 truncated' }, chipsDir, DEFAULTS)).toEqual({
      chip_id: 'd', qa_cloud_frac: null, qa_water_frac: null, qa_land_frac: null, qa_source: null, decision: 'reject', reason: 'chip failed: B02 truncated',
    });
    const missing = await gateChip({ chip_id: 'e', path: 'chips/x/e.tif', bands: 'B02,B03,B04,B08', status: 'ok' }, chipsDir, DEFAULTS);
    expect(missing.reason).toBe('chip file chips/x/e.tif not found in the chips directory');
    writeFileSync(join(chipsDir, 'broken.tif'), 'not a tiff');
    const broken = await gateChip({ chip_id: 'f', path: 'broken.tif', bands: 'B02,B03,B04,B08', status: 'ok' }, chipsDir, DEFAULTS);
    expect(broken.decision).toBe('reject');
    expect(broken.reason).toMatch(/^chip file broken.tif unreadable: /);
  });
});
