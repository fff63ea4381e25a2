// A small synthetic L2A-like scene for the chip tests: uint16 DN COGs (10 m: 600×600, 20 m: 300×300,
// SCL) written with our writer, and stac-search `matches` rows pointing at it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGeoTiff } from '../../lib/geo/geotiff-writer.js';
import { seededRandom } from '../../src/sdk/random.js';
import { writeTable } from '../../src/sdk/table-io.js';
import { toLonLat } from '../../steps/chip/geometry.js';
import { tables } from '../../pipeline.dagrun.js';

export const EPSG = 32630;
export const ORIGIN = { x: 614_700, y: 5_631_840 };
export const SIZE_10M = 600;
export const BANDS_10M = ['B02', 'B03', 'B04', 'B08'] as const;
export const BANDS_20M = ['B11', 'B12'] as const;
export const BANDS_20M_CLAY = ['B05', 'B06', 'B07', 'B8A'] as const;
export const SCENE_DATETIME = '2026-05-25T11:17:00.538Z';
/** 20 m rows [100, 130) × cols [150, 190) are nodata in B11/B12: a hole inside the scene. */
export const SWIR_HOLE = [100, 130, 150, 190] as const;

export interface Fixture {
  dir: string;
  assets: Record<string, { href: string; scale: number; offset: number; nodata: number }>;
}

/** Write the scene below `dir`; DN are random 1..12000 with a few nodata (0) pixels; SCL random classes 1..11. */
export function writeScene(dir: string, seed = 11): Fixture {
  mkdirSync(dir, { recursive: true });
  const random = seededRandom(seed);
  const assets: Fixture['assets'] = {};
  const write = (band: string, size: number, pixel: number, data: Uint16Array | Uint8Array): void => {
    const href = join(dir, `${band}.tif`);
    const sampleType = data instanceof Uint8Array ? 'uint8' : 'uint16';
    writeFileSync(href, writeGeoTiff({ width: size, height: size, bands: [data], sampleType, epsg: EPSG, transform: { originX: ORIGIN.x, originY: ORIGIN.y, pixelWidth: pixel, pixelHeight: pixel }, nodata: 0, tileSize: 256 }));
    assets[band] = band === 'SCL' ? { href, scale: 1, offset: 0, nodata: 0 } : { href, scale: 0.0001, offset: -0.1, nodata: 0 };
  };
  for (const band of BANDS_10M) write(band, SIZE_10M, 10, Uint16Array.from({ length: SIZE_10M ** 2 }, () => (random() < 0.01 ? 0 : 1 + Math.floor(random() * 12000))));
  // 20 m bands smooth enough for a meaningful bicubic comparison
  const half = SIZE_10M / 2;
  for (const band of BANDS_20M) {
    const phase = random() * 10;
    const dn = Uint16Array.from({ length: half * half }, (_, i) => 1500 + Math.round(800 * Math.sin((i % half) / 9 + phase) * Math.cos(Math.floor(i / half) / 13)));
    // a nodata region inside the scene (20 m rows 100–129, cols 150–189), under the `inside` test chip
    for (const [r0, r1, c0, c1] of [SWIR_HOLE]) for (let r = r0; r < r1; r++) dn.fill(0, r * half + c0, r * half + c1);
    write(band, half, 20, dn);
  }
  write('SCL', half, 20, Uint8Array.from({ length: half * half }, () => 1 + Math.floor(random() * 11)));
  // the rest of Clay's ten, 20 m, drawn after everything above so the other bands keep their values
  for (const band of BANDS_20M_CLAY) {
    const phase = random() * 10;
    write(band, half, 20, Uint16Array.from({ length: half * half }, (_, i) => 1800 + Math.round(600 * Math.cos((i % half) / 11 + phase) * Math.sin(Math.floor(i / half) / 7))));
  }
  return { dir, assets };
}

/** lon/lat of the centre of 10 m scene pixel (col, row) — may lie outside the scene. */
export function pixelLonLat(col: number, row: number): { lon: number; lat: number } {
  const [lon, lat] = toLonLat(EPSG, ORIGIN.x + (col + 0.5) * 10, ORIGIN.y - (row + 0.5) * 10);
  return { lon, lat };
}

export interface MatchRow {
  mmsi: number;
  ais_time: string;
  lat: number;
  lon: number;
  scene_id: string;
  scene_datetime: string;
  cloud_cover: number;
  epsg: number;
  assets: string;
}

export function matchRow(mmsi: number, col: number, row: number, assets: Fixture['assets'], sceneId = 'S2C_30UXB_20260525_0_L2A'): MatchRow {
  return { mmsi, ais_time: '2026-05-25T11:16:30.000Z', ...pixelLonLat(col, row), scene_id: sceneId, scene_datetime: SCENE_DATETIME, cloud_cover: 12.5, epsg: EPSG, assets: JSON.stringify(assets) };
}

/** stac-search's matches table, as pipeline.yaml declares it (the chip step reads it). */
export const MATCH_COLUMNS = tables.stac_matches.columns;

export async function writeMatches(path: string, rows: MatchRow[]): Promise<void> {
  await writeTable(path, MATCH_COLUMNS, rows as unknown as Record<string, unknown>[], { orderBy: ['mmsi', 'ais_time'] });
}
