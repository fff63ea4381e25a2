// stac-search matching and the gate, measured: points matched per second against a catalogue of
// scene footprints, and chips gated per second (centre-window reads of 256×256 float32 COG chips).
// `node --import tsx bench/stac-gate.bench.ts [--quick]` — the last line is a JSON object of figures.
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromFile } from 'geotiff';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../src/sdk/random.js';
import { writeGeoTiff } from '../lib/geo/geotiff-writer.js';
import type { Scene } from '../lib/geo/stac.js';
import { matchPoint, selectQueryPoints, type AisPoint } from '../steps/stac-search/match.js';
import { gateChip, type GateParams } from '../steps/gate/gate.js';
import { centerWindow, classifySpectral, sclFractions } from '../steps/gate/fractions.js';

const quick = process.argv.includes('--quick');
const random = seededRandom(5);

// --- matching: a 10×10 grid of 1°×1° tile footprints, 5 acquisitions each, over 10 days
const scenes: Scene[] = [];
for (let i = 0; i < 10; i++) {
  for (let j = 0; j < 10; j++) {
    for (let k = 0; k < 5; k++) {
      const [w, s] = [j - 0.05, 50 + i - 0.05];
      scenes.push({
        id: `S2X_${i}${j}_${k}`, datetime: new Date(Date.UTC(2026, 4, 20 + 2 * k, 11, 0, 0)).toISOString(), cloudCover: 50 * random(), epsg: 32631,
        processingBaseline: '05.11', href: null, geometry: { type: 'Polygon', coordinates: [[[w, s], [w + 1.1, s], [w + 1.1, s + 1.1], [w, s + 1.1], [w, s]]] },
        assets: Object.fromEntries(['B02', 'B03', 'B04', 'B08', 'SCL'].map((b) => [b, { href: `${b}.tif`, scale: 0.0001, offset: -0.1, nodata: 0 }])),
      });
    }
  }
}
const pointCount = quick ? 2_000 : 20_000;
const fixes: AisPoint[] = Array.from({ length: pointCount * 3 }, (_, n) => ({
  mmsi: 200_000_000 + (n % pointCount), aisTime: new Date(Date.UTC(2026, 4, 24, 11, 0, 0) + (random() - 0.5) * 1_200_000).toISOString(),
  lat: 50 + 10 * random(), lon: 10 * random(),
}));
let t0 = performance.now();
const points = selectQueryPoints(fixes, [{ centerTime: '2026-05-24T11:00:00.000Z' }], 10);
const selectMs = performance.now() - t0;
t0 = performance.now();
let matched = 0;
for (const point of points) if ('scene' in matchPoint(point, scenes, { searchWindowHours: 24, cloudCoverMax: 30 })) matched++;
const matchMs = performance.now() - t0;

// --- gate: chips written with the project's COG writer, gated from their files
const chipCount = quick ? 50 : 300;
const dir = mkdtempSync(join(tmpdir(), 'bench-gate-'));
const n = 256;
const grid = { epsg: 32630, transform: { originX: 600000, originY: 5600000, pixelWidth: 10, pixelHeight: 10 } };
mkdirSync(join(dir, 'c'), { recursive: true });
const chips = [];
for (let c = 0; c < chipCount; c++) {
  const bands = Array.from({ length: 6 }, () => new Float32Array(n * n));
  const scl = new Uint8Array(n * n);
  // Reflectance as the chip step writes it: DN × 0.0001 − 0.1, so values sit on the 1e-4 DN grid.
  const dn = (value: number) => Math.round(value * 10000) / 10000;
  for (let i = 0; i < n * n; i++) {
    const cloud = random() < 0.1;
    bands[0][i] = cloud ? 0.5 : dn(0.04 + 0.01 * random());
    bands[1][i] = cloud ? 0.5 : dn(0.06 + 0.01 * random());
    bands[2][i] = cloud ? 0.5 : 0.03;
    bands[3][i] = cloud ? 0.55 : 0.02;
    bands[4][i] = 0.01;
    bands[5][i] = 0.01;
    scl[i] = cloud ? 9 : 6;
  }
  writeFileSync(join(dir, 'c', `${c}.tif`), writeGeoTiff({ width: n, height: n, bands, sampleType: 'float32', nodata: 0, ...grid }));
  writeFileSync(join(dir, 'c', `${c}_scl.tif`), writeGeoTiff({ width: n, height: n, bands: [scl], sampleType: 'uint8', nodata: 0, ...grid }));
  chips.push({ chip_id: String(c), path: `c/${c}.tif`, scl_path: `c/${c}_scl.tif`, bands: 'B02,B03,B04,B08,B11,B12', status: 'ok' });
}
const params: GateParams = { centerWindowPx: 64, sclCloudClasses: [7, 8, 9, 10], sclLandClasses: [4, 5], ndwiWaterThresh: 0, maxCloudCenterFrac: 0.3, maxLandCenterFrac: 0.5, minWaterCenterFrac: 0.3 };
t0 = performance.now();
let accepted = 0;
for (const chip of chips) if ((await gateChip(chip, dir, params)).decision === 'accept') accepted++;
const gateMs = performance.now() - t0;
t0 = performance.now();
for (const chip of chips) await gateChip({ ...chip, scl_path: null }, dir, params);
const spectralMs = performance.now() - t0;
rmSync(dir, { recursive: true, force: true });

// --- spectral cloud fraction vs the ukis-csmask reference mask (real Sentinel-2 pixels), when ../shared is there
const raster = fileURLToPath(new URL('../../shared/data/raster/', import.meta.url));
let ukis: Record<string, number> | null = null;
if (existsSync(raster)) {
  const read = async (name: string) => {
    const tiff = await fromFile(join(raster, name));
    const image = await tiff.getImage();
    const bands = (await image.readRasters()) as unknown as ArrayLike<number>[];
    await tiff.close();
    return bands;
  };
  const image = await read('ukis_csmask_sentinel2_l1c_6band_512px_toa_x10000.tif');
  const mask = await read('ukis_csmask_sentinel2_l1c_512px_reference_mask.tif');
  const [blue, green, red, nir] = image.slice(0, 4).map((band) => Float32Array.from(band, (v) => v / 10000));
  const classes = classifySpectral({ blue, green, red, nir }, 512 * 512);
  const reference = Uint8Array.from(mask[0], (v) => (v === 4 ? 9 : 5));
  const error = (x0: number, y0: number) => {
    const window = { x0, y0, width: 64, height: 64 };
    return Math.abs(sclFractions(classes, 512, window, [7, 8, 9, 10], [4, 5]).cloud - sclFractions(reference, 512, window, [9], []).cloud);
  };
  const blocks: number[] = [];
  for (let y = 0; y < 512; y += 64) for (let x = 0; x < 512; x += 64) blocks.push(error(x, y));
  const centres: number[] = [];
  const c = centerWindow(256, 256, 64);
  for (let y = 0; y <= 256; y += 128) for (let x = 0; x <= 256; x += 128) centres.push(error(x + c.x0, y + c.y0));
  ukis = {
    ukis_block_windows: blocks.length,
    ukis_block_max_abs_err: Number(Math.max(...blocks).toFixed(4)),
    ukis_block_mean_abs_err: Number((blocks.reduce((a, b) => a + b, 0) / blocks.length).toFixed(4)),
    ukis_chip_centre_max_abs_err: Number(Math.max(...centres).toFixed(4)),
  };
}

console.log(JSON.stringify({
  quick,
  scenes: scenes.length,
  ais_fixes: fixes.length,
  query_points: points.length,
  matched,
  select_ms: Math.round(selectMs),
  match_points_per_s: Math.round(points.length / (matchMs / 1000)),
  chips: chipCount,
  accepted,
  gate_scl_chips_per_s: Math.round(chipCount / (gateMs / 1000)),
  gate_spectral_chips_per_s: Math.round(chipCount / (spectralMs / 1000)),
  ...(ukis ?? {}),
}));
