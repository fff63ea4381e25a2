// chip: pixel conformance with GDAL (inside / across the edge / outside), geolocation, footprint,
// SWIR bicubic, ids and splits, failure of one chip on a truncated asset, determinism, jobs.
import { describe, expect, it, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { fromFile } from 'geotiff';
import { haversineKm } from '../../lib/geo/sphere.js';
import type { ChipParams, ChipRow, ChipTask } from '../../steps/chip/chip.js';
import { chipGrid, chipId, footprintRing, pixelCentre, round5Text, splitFor } from '../../steps/chip/geometry.js';
import { toReflectance } from '../../steps/chip/raster.js';
import { orderTasks, parseMatches, partitionTasks, runChips } from '../../steps/chip/run.js';
import { BANDS_10M, EPSG, ORIGIN, SWIR_HOLE, matchRow, writeScene, type Fixture, type MatchRow } from './chip-fixture.js';

const PARAMS: ChipParams = { size_px: 256, resolution_m: 10, include_swir: true, split_fractions: { train: 0.8, val: 0.1, test: 0.1 } };
const root = mkdtempSync(join(tmpdir(), 'chip-'));

function tasksOf(rows: MatchRow[]): ChipTask[] {
  const { tasks, bad } = parseMatches(rows as unknown as Record<string, unknown>[]);
  expect(bad).toEqual([]);
  return orderTasks(tasks);
}

async function chipBands(path: string): Promise<Float32Array[]> {
  const image = await (await fromFile(path)).getImage();
  return (await image.readRasters({ interleave: false })) as unknown as Float32Array[];
}

/** GDAL's read of a pixel window of one asset (boundless: GDAL zero-fills outside), as raw values. */
function gdalWindow(href: string, col: number, row: number, size: number, out: string): Uint16Array {
  execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-srcwin', String(col), String(row), String(size), String(size), href, out], { stdio: ['ignore', 'ignore', 'ignore'] });
  const bytes = readFileSync(out);
  return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}

describe('chip against GDAL', () => {
  let fixture: Fixture;
  let rows: ChipRow[];
  // scene pixels (col, row) of the AIS points: inside, across the top-left edge, across the bottom-right edge, outside
  const CASES = { inside: [300, 280], edgeTopLeft: [40, 100], edgeBottomRight: [560, 590], outside: [-400, 300] } as const;
  const MMSI = { inside: 235000001, edgeTopLeft: 235000002, edgeBottomRight: 235000003, outside: 235000004 } as const;
  const outDir = join(root, 'gdal', 'out');

  beforeAll(async () => {
    fixture = writeScene(join(root, 'gdal', 'scene'));
    const matches = (Object.keys(CASES) as (keyof typeof CASES)[]).map((key) => matchRow(MMSI[key], CASES[key][0], CASES[key][1], fixture.assets));
    ({ rows } = await runChips(tasksOf(matches), PARAMS, { outDir, outPrefix: 'chips/2026-05-25', jobs: 1 }));
  });

  it('cuts one ok chip per match', () => {
    expect(rows.map((r) => [r.mmsi, r.status])).toEqual(expect.arrayContaining(Object.values(MMSI).map((m) => [m, 'ok'])));
    expect(rows).toHaveLength(4);
  });

  it.each(Object.keys(CASES) as (keyof typeof CASES)[])('10 m bands equal GDAL -srcwin after the same scaling (%s)', async (key) => {
    const row = rows.find((r) => r.mmsi === MMSI[key])!;
    const transform = JSON.parse(row.transform) as number[];
    const col = Math.round((transform[0] - ORIGIN.x) / 10);
    const line = Math.round((ORIGIN.y - transform[3]) / 10);
    // the point's pixel is chip pixel (128, 128)
    expect([col + 128, line + 128]).toEqual([CASES[key][0], CASES[key][1]]);
    const bands = await chipBands(join(outDir, row.path!.replace('chips/2026-05-25/', '')));
    expect(bands).toHaveLength(6);
    BANDS_10M.forEach((band, b) => {
      const dn = gdalWindow(fixture.assets[band].href, col, line, 256, join(root, 'gdal', `${key}-${band}.bin`));
      const expected = toReflectance(dn, { scale: 0.0001, offset: -0.1, nodata: 0 });
      expect(Buffer.from(bands[b].buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    });
    if (key === 'outside') expect(bands.every((band) => band.every((v) => v === 0))).toBe(true);
    if (key === 'inside') expect(bands[0].filter((v) => v > 0).length).toBeGreaterThan(256 * 256 * 0.9);
  });

  // gdalwarp honours the assets' nodata (0): outside the scene and beside the nodata hole, GDAL uses
  // only valid pixels (cubic falls back to renormalised bilinear) and leaves pixels over nodata empty.
  it.each(Object.keys(CASES) as (keyof typeof CASES)[])('SWIR 20 m → 10 m equals gdalwarp -r cubic with source nodata (%s)', async (key) => {
    const row = rows.find((r) => r.mmsi === MMSI[key])!;
    const [x0, , , y0] = JSON.parse(row.transform) as number[];
    const bands = await chipBands(join(outDir, row.path!.replace('chips/2026-05-25/', '')));
    for (const [b, band] of [[4, 'B11'], [5, 'B12']] as const) {
      const warped = join(root, 'gdal', `${key}-${band}-warp.bin`);
      execFileSync('gdalwarp', ['-q', '-overwrite', '-of', 'ENVI', '-ot', 'Float32', '-r', 'cubic', '-te', String(x0), String(y0 - 2560), String(x0 + 2560), String(y0), '-tr', '10', '10', fixture.assets[band].href, warped]);
      const bytes = readFileSync(warped);
      const dn = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      let worst = 0;
      for (let i = 0; i < dn.length; i++) {
        const expected = dn[i] === 0 ? 0 : Math.min(1, Math.max(0, dn[i] * 0.0001 - 0.1));
        worst = Math.max(worst, Math.abs(bands[b][i] - expected));
      }
      // GDAL resamples DN in double, we resample reflectance: equal up to float32 rounding
      expect(worst).toBeLessThan(1e-6);
    }
    // outside the scene every band is 0, SWIR included (no SWIR bleeding past the 10 m bands' edge)
    let outsidePixels = 0;
    for (let i = 0; i < 256 * 256; i++) {
      const sceneCol = (x0 - ORIGIN.x) / 10 + (i % 256);
      const sceneRow = (ORIGIN.y - y0) / 10 + Math.floor(i / 256);
      if (sceneCol >= 0 && sceneCol < 600 && sceneRow >= 0 && sceneRow < 600) continue;
      outsidePixels++;
      expect([bands[0][i], bands[3][i], bands[4][i], bands[5][i]]).toEqual([0, 0, 0, 0]);
    }
    expect(outsidePixels > 0).toBe(key !== 'inside');
    if (key === 'inside') {
      // the hole is 0 in SWIR (and only in SWIR); pixels around it carry values
      const holeCentre = (r: number, c: number) => ((r * 20 + 10 - (ORIGIN.y - y0)) / 10) * 256 + (c * 20 + 10 - (x0 - ORIGIN.x)) / 10;
      const centre = holeCentre((SWIR_HOLE[0] + SWIR_HOLE[1]) / 2, (SWIR_HOLE[2] + SWIR_HOLE[3]) / 2);
      expect([bands[4][centre], bands[5][centre]]).toEqual([0, 0]);
      expect(bands[0][centre]).toBeGreaterThanOrEqual(0);
      expect(bands[4].filter((v) => v === 0).length).toBeGreaterThanOrEqual(60 * 80);
    }
  });

  it('geolocation: the centre pixel is within 10 m of the AIS point, and the footprint matches the transform (and gdalinfo)', async () => {
    for (const key of Object.keys(CASES) as (keyof typeof CASES)[]) {
      const row = rows.find((r) => r.mmsi === MMSI[key])!;
      const [x0, resolution, , y0] = JSON.parse(row.transform) as number[];
      const grid = { epsg: EPSG, originX: x0, originY: y0, resolution, size: 256 };
      const [lon, lat] = pixelCentre(grid, 128, 128);
      expect(haversineKm(lat, lon, row.lat, row.lon) * 1000).toBeLessThan(10);
      const ring = footprintRing(grid);
      expect(row.footprint_wkt).toBe(`POLYGON ((${ring.map(([a, b]) => `${a} ${b}`).join(', ')}))`);
      const feature = JSON.parse(readFileSync(join(outDir, row.path!.replace('chips/2026-05-25/', '').replace(/\.tif$/, '.geojson')), 'utf8'));
      expect(feature.geometry.coordinates[0]).toEqual(ring);
      if (key === 'inside') {
        const info = JSON.parse(execFileSync('gdalinfo', ['-json', join(outDir, row.path!.replace('chips/2026-05-25/', ''))], { encoding: 'utf8' }));
        const gdalCorners = info.wgs84Extent.coordinates[0] as number[][];
        // GDAL's extent ring starts upper-left and goes lower-left, lower-right, upper-right — same as ours
        gdalCorners.forEach((corner, i) => {
          expect(corner[0]).toBeCloseTo(ring[i][0], 6);
          expect(corner[1]).toBeCloseTo(ring[i][1], 6);
        });
        expect(info.geoTransform).toEqual([x0, 10, 0, y0, 0, -10]);
        // band names without the sidecar (QGIS/GDAL show them)
        expect(info.bands.map((band: { description?: string }) => band.description)).toEqual(row.bands.split(','));
      }
    }
  });

  it('writes the GeoJSON, the JSON sidecar, the quicklook and the SCL chip beside each GeoTIFF', async () => {
    const row = rows.find((r) => r.mmsi === MMSI.inside)!;
    const stem = join(outDir, row.path!.replace('chips/2026-05-25/', '').replace(/\.tif$/, ''));
    expect(row.path).toBe(`chips/2026-05-25/${row.split}/${row.mmsi}/${row.chip_id}_20260525T111700.tif`);
    const sidecar = JSON.parse(readFileSync(`${stem}.json`, 'utf8'));
    const feature = JSON.parse(readFileSync(`${stem}.geojson`, 'utf8'));
    expect(feature.properties).toEqual(sidecar);
    expect(sidecar).toMatchObject({ chip_id: row.chip_id, mmsi: row.mmsi, scene_id: row.scene_id, bands: 'B02,B03,B04,B08,B11,B12', has_swir: true, epsg: 32630, split: row.split, nodata: 0 });
    const jpeg = await sharp(`${stem}_quicklook.jpg`).metadata();
    expect([jpeg.format, jpeg.width, jpeg.height, jpeg.channels]).toEqual(['jpeg', 256, 256, 3]);
    const scl = await (await fromFile(`${stem}_scl.tif`)).getImage();
    const [classes] = (await scl.readRasters({ interleave: false })) as unknown as Uint8Array[];
    // nearest: every 2×2 block of 10 m chip pixels shares one 20 m class (the chip grid is 20 m aligned here or offset by one pixel)
    expect(new Set(classes).size).toBeGreaterThan(5);
    expect(Math.max(...classes)).toBeLessThanOrEqual(11);
    const sclDn = gdalWindowUint8(fixture.assets.SCL.href, row, join(root, 'gdal', 'scl.bin'));
    expect(classes[128 * 256 + 128]).toBe(sclDn);
  });
});

/** The SCL class GDAL reads at the 20 m pixel that contains the chip's centre pixel centre. */
function gdalWindowUint8(href: string, row: ChipRow, out: string): number {
  const [x0, , , y0] = JSON.parse(row.transform) as number[];
  const col = Math.floor((x0 + 128.5 * 10 - ORIGIN.x) / 20);
  const line = Math.floor((ORIGIN.y - (y0 - 128.5 * 10)) / 20);
  execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-srcwin', String(col), String(line), '1', '1', href, out]);
  return readFileSync(out)[0];
}

describe('chip failures and determinism', () => {
  it('a truncated asset fails only the chips that need its missing tiles, with the reason; a missing file fails its chip', async () => {
    const fixture = writeScene(join(root, 'trunc', 'scene'));
    const b08 = fixture.assets.B08.href;
    truncateSync(b08, Math.floor(statSync(b08).size * 0.5));
    const missing = { ...fixture.assets, B03: { ...fixture.assets.B03, href: join(root, 'trunc', 'scene', 'gone.tif') } };
    const matches = [matchRow(1, 100, 100, fixture.assets), matchRow(2, 520, 540, fixture.assets), matchRow(3, 300, 300, missing, 'OTHER_SCENE')];
    const outDir = join(root, 'trunc', 'out');
    const { rows } = await runChips(tasksOf(matches), PARAMS, { outDir, outPrefix: 'chips/d', jobs: 1 });
    const byMmsi = new Map(rows.map((r) => [r.mmsi, r]));
    expect(byMmsi.get(1)!.status).toBe('ok');
    expect(byMmsi.get(2)).toMatchObject({ status: 'failed', path: null });
    expect(byMmsi.get(2)!.reason).toMatch(/^B08 .*B08\.tif: truncated: tile bytes \d+-\d+ needed, the asset has \d+ bytes$/);
    expect(byMmsi.get(3)!.reason).toMatch(/^B03 .*gone\.tif: cannot open/);
    // nothing written for failed chips
    const written = listFiles(outDir);
    expect(written.some((f) => f.includes(byMmsi.get(2)!.chip_id))).toBe(false);
    expect(written.filter((f) => f.includes(byMmsi.get(1)!.chip_id))).toHaveLength(5);
  });

  it('same inputs give byte-identical files, with 1 or 2 jobs', async () => {
    const fixture = writeScene(join(root, 'det', 'scene'));
    const matches = Array.from({ length: 4 }, (_, i) => matchRow(100 + i, 60 + i * 150, 500 - i * 130, fixture.assets));
    const one = join(root, 'det', 'one');
    const two = join(root, 'det', 'two');
    const a = await runChips(tasksOf(matches), PARAMS, { outDir: one, outPrefix: 'chips/d', jobs: 1 });
    const b = await runChips(tasksOf(matches), PARAMS, { outDir: two, outPrefix: 'chips/d', jobs: 2 });
    const sort = (rows: ChipRow[]) => [...rows].sort((x, y) => (x.chip_id < y.chip_id ? -1 : 1));
    expect(sort(b.rows)).toEqual(sort(a.rows));
    const files = listFiles(one);
    expect(files).toEqual(listFiles(two));
    expect(files.length).toBe(4 * 5);
    for (const file of files) expect(readFileSync(join(two, file)).equals(readFileSync(join(one, file)))).toBe(true);
  });
});

describe('chip over HTTP range requests (127.0.0.1)', () => {
  it('cuts the same pixels from http(s) assets as from local files, reading less than the scene', async () => {
    const fixture = writeScene(join(root, 'http', 'scene'));
    let served = 0;
    const server = createServer((request, response) => {
      const file = join(fixture.dir, String(request.url).slice(1));
      if (!existsSync(file)) return void response.writeHead(404).end();
      const bytes = readFileSync(file);
      const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
      if (!match) return void response.writeHead(400).end('range requests only');
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), bytes.length - 1);
      served += end - start + 1;
      response.writeHead(206, { 'content-range': `bytes ${start}-${end}/${bytes.length}` }).end(bytes.subarray(start, end + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const remote = Object.fromEntries(Object.entries(fixture.assets).map(([band, asset]) => [band, { ...asset, href: `${base}${band}.tif` }]));
      const points: [number, number][] = [[300, 300], [20, 580]];
      const local = await runChips(tasksOf(points.map(([c, r], i) => matchRow(i + 1, c, r, fixture.assets))), PARAMS, { outDir: join(root, 'http', 'local'), outPrefix: 'chips/d', jobs: 1 });
      const http = await runChips(tasksOf(points.map(([c, r], i) => matchRow(i + 1, c, r, remote))), PARAMS, { outDir: join(root, 'http', 'remote'), outPrefix: 'chips/d', jobs: 1 });
      expect(http.rows.map((r) => r.status)).toEqual(['ok', 'ok']);
      expect(http.rows.map((r) => r.chip_id)).toEqual(local.rows.map((r) => r.chip_id));
      for (const file of listFiles(join(root, 'http', 'local')).filter((f) => f.endsWith('.tif') || f.endsWith('.jpg'))) {
        expect(readFileSync(join(root, 'http', 'remote', file)).equals(readFileSync(join(root, 'http', 'local', file)))).toBe(true);
      }
      expect(http.stats.bytesRead).toBe(served);
      const sceneBytes = Object.values(fixture.assets).reduce((n, asset) => n + statSync(asset.href).size, 0);
      expect(served).toBeLessThan(sceneBytes);
    } finally {
      server.close();
    }
  });
});

function listFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`]))
    .sort();
}

describe('chip ids, splits, task parsing', () => {
  it('chip_id is sha1("{mmsi}|{scene_datetime}|{round(lat,5)}|{round(lon,5)}")[:16] with the documented formats', () => {
    // python3 -c 'import hashlib;print(hashlib.sha1(b"235000001|2026-05-25T11:17:00.538Z|50.8|-1.3").hexdigest()[:16])'
    expect(chipId(235000001, '2026-05-25T11:17:00.538Z', 50.800001, -1.2999999)).toBe('3255dcacca9310bf');
    expect(chipId(235000001, '2026-05-25 11:17:00.538', 50.8, -1.3)).toBe('3255dcacca9310bf');
    expect(round5Text(50)).toBe('50.0');
    expect(round5Text(-1.234567)).toBe('-1.23457');
    expect(round5Text(-0.000001)).toBe('0.0');
  });

  it('splits are deterministic and follow the fractions', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{16}$/), (id) => {
        const split = splitFor(id, { train: 0.8, val: 0.1, test: 0.1 });
        expect(split).toBe(splitFor(id, { train: 8, val: 1, test: 1 }));
        expect(splitFor(id, { train: 1, val: 0, test: 0 })).toBe('train');
        expect(splitFor(id, { train: 0, val: 0, test: 1 })).toBe('test');
      }),
    );
    const counts = { train: 0, val: 0, test: 0 };
    for (let i = 0; i < 5000; i++) counts[splitFor(chipId(i, SCENE, 50, -1), { train: 0.8, val: 0.1, test: 0.1 })]++;
    expect(counts.train / 5000).toBeCloseTo(0.8, 1);
    expect(counts.val / 5000).toBeCloseTo(0.1, 1);
  });

  it('chipGrid puts the point in pixel (128, 128) on the scene grid', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 50_000, noNaN: true }), fc.double({ min: 0, max: 50_000, noNaN: true }), (dx, dy) => {
        const x = ORIGIN.x + dx;
        const y = ORIGIN.y - dy;
        const [plon, plat] = pixelCentreOf(x, y);
        const grid = chipGrid(EPSG, plon, plat, ORIGIN.x, ORIGIN.y, 10, 256);
        expect(Number.isInteger((grid.originX - ORIGIN.x) / 10)).toBe(true);
        expect(x - grid.originX).toBeGreaterThanOrEqual(1280 - 1e-6);
        expect(x - grid.originX).toBeLessThan(1290 + 1e-6);
        expect(grid.originY - y).toBeGreaterThanOrEqual(1280 - 1e-6);
        expect(grid.originY - y).toBeLessThan(1290 + 1e-6);
      }),
      { numRuns: 200 },
    );
  });

  it('parseMatches skips no-match rows and reports bad rows by row and field', () => {
    const good = matchRow(1, 10, 10, { B02: { href: '/x', scale: 1, offset: 0, nodata: 0 } } as never);
    const { tasks, bad } = parseMatches([
      good,
      { ...good, scene_id: null },
      { ...good, lat: null },
      { ...good, assets: '{not json' },
      { ...good, lon: 200 },
    ] as unknown as Record<string, unknown>[]);
    expect(tasks.map((t) => t.row)).toEqual([1]);
    expect(bad.map((b) => [b.row, b.field])).toEqual([[3, 'lat'], [4, 'assets'], [5, 'lon']]);
  });

  it('partitionTasks keeps order and covers every task once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 50 }), fc.integer({ min: 1, max: 8 }), (items, jobs) => {
        const parts = partitionTasks(items, jobs);
        expect(parts.flat()).toEqual(items);
        expect(parts.length).toBeLessThanOrEqual(Math.max(1, jobs));
      }),
    );
  });
});

const SCENE = '2026-05-25T11:17:00.538Z';
function pixelCentreOf(x: number, y: number): [number, number] {
  return pixelCentre({ epsg: EPSG, originX: x - 5, originY: y + 5, resolution: 10, size: 1 }, 0, 0);
}
