// Sample part "scene": one small Sentinel-2 L2A-like scene per sample date over the Solent (tile 30UXB,
// EPSG:32630), written as COGs with our GeoTIFF writer, plus a static STAC catalog (Earth Search v1
// style) so stac-search finds them offline. Synthetic pixels, seeded: water / coast / land, one cloud
// (SCL 8/9) with its shadow (SCL 3), and bright ships at the sample AIS positions at scene time.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import proj4 from 'proj4';
import { writeGeoTiff } from '../../lib/geo/geotiff-writer.js';
import { gaussian, seededRandom } from '../../src/sdk/random.js';
import { predictOverpasses, type TleRecord } from '../../steps/predict/overpass.js';
import { parseTleText } from '../../lib/maritime/tle.js';

const EPSG = 32630;
const UTM30N = '+proj=utm +zone=30 +datum=WGS84 +units=m +no_defs';
/** 10 m grid size of the scene (the 20 m bands are half). */
export const SCENE_PX = 1024;
/** Top-left corner, on tile 30UXB's grid (origin 600000, 5700000; 60 m aligned so every band grid agrees). */
export const SCENE_ORIGIN = { x: 614_700, y: 5_631_840 } as const;
/** BOA_ADD_OFFSET of processing baseline ≥ 04.00: DN = reflectance × 10000 + 1000. */
const BOA_ADD_OFFSET = 1000;

/**
 * The sample dates, with where each scene's cloud sits: over the first ship in the scene (lowest
 * MMSI) so the gate has a clouded ship to reject, or at fractions of the scene (x, y).
 */
type CloudPlace = 'first-ship' | readonly [number, number];
const DATES: readonly { date: string; cloudCentre: CloudPlace }[] = [
  { date: '2026-05-25', cloudCentre: 'first-ship' },
  { date: '2026-05-26', cloudCentre: [0.25, 0.7] },
];

export interface SceneSpec {
  date: string;
  datetime: string;
  /** S2A / S2B / S2C */
  satellite: string;
  relativeOrbit: number;
  cloudCentre: CloudPlace;
}

/**
 * One scene per sample date at the 30UXB overpass centre that the predict step computes from the
 * sample TLEs (datasets/sample/tle, written by 10-tle before this part), with predict's defaults
 * (290 km swath, TLEs up to 30 days old, any sun elevation, a one-day window), rounded to the
 * millisecond as predict writes it.
 */
export function sceneSpecs(root: string): SceneSpec[] {
  const tlePath = join(root, 'datasets', 'sample', 'tle', 'sentinel2.tle');
  const { elementSets } = parseTleText(readFileSync(tlePath, 'utf8'), tlePath);
  const records: TleRecord[] = elementSets.map((set) => ({ satellite: set.satellite, norad_id: set.norad_id, line1: set.line1, line2: set.line2 }));
  return DATES.map(({ date, cloudCentre }) => {
    const { overpasses } = predictOverpasses(records, [{ tile: '30UXB' }], { startMs: Date.parse(`${date}T00:00:00Z`), days: 1, swathKm: 290, maxTleAgeDays: 30, minSunElevationDeg: 0 });
    const pass = [...overpasses].sort((a, b) => a.centerTimeMs - b.centerTimeMs)[0];
    if (!pass) throw new Error(`sample scene: no predicted 30UXB overpass on ${date} from ${tlePath}`);
    return { date, datetime: new Date(Math.round(pass.centerTimeMs)).toISOString(), satellite: pass.satellite, relativeOrbit: pass.relativeOrbit, cloudCentre };
  });
}

/** Surface reflectance (before offset and scale) per band for each cover type. */
const COVER = {
  water: { B02: 0.045, B03: 0.04, B04: 0.025, B08: 0.012, B11: 0.006, B12: 0.004, B05: 0.02, B06: 0.015, B07: 0.013, B8A: 0.011 },
  land: { B02: 0.05, B03: 0.08, B04: 0.06, B08: 0.32, B11: 0.18, B12: 0.09, B05: 0.1, B06: 0.22, B07: 0.29, B8A: 0.33 },
  beach: { B02: 0.14, B03: 0.16, B04: 0.18, B08: 0.24, B11: 0.28, B12: 0.22, B05: 0.19, B06: 0.21, B07: 0.23, B8A: 0.25 },
  cloud: { B02: 0.62, B03: 0.6, B04: 0.6, B08: 0.62, B11: 0.42, B12: 0.3, B05: 0.6, B06: 0.61, B07: 0.62, B8A: 0.62 },
  ship: { B02: 0.18, B03: 0.19, B04: 0.2, B08: 0.24, B11: 0.16, B12: 0.12, B05: 0.2, B06: 0.21, B07: 0.22, B8A: 0.23 },
} as const;
type Band = keyof typeof COVER.water;
const BANDS_10M: Band[] = ['B02', 'B03', 'B04', 'B08'];
// The red-edge bands and B8A complete Clay's ten (a pixel's noise is drawn once for all bands, so
// adding bands leaves the others' values unchanged).
const BANDS_20M: Band[] = ['B11', 'B12', 'B05', 'B06', 'B07', 'B8A'];
/** Earth Search v1 asset keys. */
const ASSET_KEY: Record<Band | 'SCL', string> = { B02: 'blue', B03: 'green', B04: 'red', B08: 'nir', B11: 'swir16', B12: 'swir22', SCL: 'scl', B05: 'rededge1', B06: 'rededge2', B07: 'rededge3', B8A: 'nir08' };
const SCL = { shadow: 3, vegetation: 4, bare: 5, water: 6, cloudMedium: 8, cloudHigh: 9 } as const;

export interface Ship {
  mmsi: number;
  lat: number;
  lon: number;
  /** Degrees clockwise from north. */
  heading: number;
  /** Metres. */
  length: number;
  time: string;
}

/** aisstream time_utc ("2026-05-25 11:05:03.123456789 +0000 UTC") or ISO → epoch ms. */
function parseAisTime(text: string): number {
  const match = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?/.exec(text);
  if (!match) return NaN;
  return Date.parse(`${match[1]}T${match[2]}${(match[3] ?? '').slice(0, 4)}Z`);
}

/**
 * Ship positions at a scene time from the sample AIS stream: per MMSI the position report nearest
 * in time, when within `maxOffsetMin` of the scene.
 */
export function shipsAt(ndjson: string, sceneTime: string, maxOffsetMin = 30): Ship[] {
  const scene = Date.parse(sceneTime);
  const best = new Map<number, { ship: Ship; offset: number }>();
  for (const line of ndjson.split('\n')) {
    if (line.trim() === '') continue;
    let message: { MetaData?: Record<string, unknown>; Message?: Record<string, Record<string, unknown>>; MessageType?: string };
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    const body = message.Message?.[message.MessageType ?? ''];
    const meta = message.MetaData ?? {};
    const mmsi = Number(meta.MMSI ?? body?.UserID);
    const lat = Number(body?.Latitude ?? meta.latitude);
    const lon = Number(body?.Longitude ?? meta.longitude);
    const time = parseAisTime(String(meta.time_utc ?? ''));
    if (!body || !Number.isFinite(mmsi) || !Number.isFinite(lat) || !Number.isFinite(lon) || !Number.isFinite(time) || Math.abs(lat) > 90) continue;
    const offset = Math.abs(time - scene);
    if (offset > maxOffsetMin * 60_000) continue;
    const current = best.get(mmsi);
    if (current && (current.offset < offset || (current.offset === offset && current.ship.time <= new Date(time).toISOString()))) continue;
    const heading = Number(body.TrueHeading);
    const cog = Number(body.Cog);
    best.set(mmsi, {
      offset,
      ship: { mmsi, lat, lon, heading: heading >= 0 && heading < 360 ? heading : cog >= 0 && cog < 360 ? cog : 0, length: 40 + (mmsi % 7) * 30, time: new Date(time).toISOString() },
    });
  }
  return [...best.values()].map((b) => b.ship).sort((a, b) => a.mmsi - b.mmsi);
}

/** Fallback ships when the AIS sample is absent (a partial `npm run sample scene`): fixed positions in the Solent. */
function fallbackShips(time: string): Ship[] {
  return [
    { mmsi: 235000001, lat: 50.79, lon: -1.3, heading: 300, length: 180, time },
    { mmsi: 235000002, lat: 50.765, lon: -1.25, heading: 80, length: 60, time },
    { mmsi: 235000003, lat: 50.81, lon: -1.36, heading: 140, length: 120, time },
  ];
}

/** Smooth deterministic field in [−1, 1] (sum of sines), for coastlines and texture. */
function wobble(x: number, y: number, seed: number): number {
  return (Math.sin(x * 0.0011 + seed) + Math.sin(y * 0.0017 + 2 * seed) + Math.sin((x + y) * 0.0007 + 3 * seed)) / 3;
}

/** Cover at a UTM point: a mainland to the north, an island to the south, water between, beaches at the edges. */
function coverAt(x: number, y: number, ships: readonly { x: number; y: number }[]): 'water' | 'land' | 'beach' {
  // keep 500 m of open water around every ship, whatever the synthetic coast does
  for (const ship of ships) if ((x - ship.x) ** 2 + (y - ship.y) ** 2 < 500 ** 2) return 'water';
  const cx = SCENE_ORIGIN.x + SCENE_PX * 5;
  const mainland = SCENE_ORIGIN.y - 1800 + 900 * wobble(x, y, 1) + 0.15 * (x - cx);
  const island = SCENE_ORIGIN.y - SCENE_PX * 10 + 1900 + 700 * wobble(x, y, 2) - 0.1 * (x - cx);
  const distance = Math.min(mainland - y, y - island); // > 0 in water
  if (distance < 0) return distance > -60 ? 'beach' : 'land';
  return 'water';
}

interface SceneRaster {
  reflectance: Record<Band, Float32Array>;
  scl10: Uint8Array;
}

/** Render the 10 m reflectance of every band and a 10 m SCL (the 20 m products are averaged / sampled from it). */
function renderScene(ships: readonly Ship[], seed: number, cloudCentre: CloudPlace): SceneRaster {
  const toUtm = proj4('EPSG:4326', UTM30N);
  const placed = ships.map((ship) => {
    const [x, y] = toUtm.forward([ship.lon, ship.lat]);
    return { ...ship, x, y };
  });
  const n = SCENE_PX * SCENE_PX;
  const reflectance = Object.fromEntries(Object.keys(COVER.water).map((band) => [band, new Float32Array(n)])) as Record<Band, Float32Array>;
  const scl10 = new Uint8Array(n);
  const random = seededRandom(seed);
  const extent = SCENE_PX * 10;
  const inScene = placed.filter((ship) => ship.x > SCENE_ORIGIN.x && ship.x < SCENE_ORIGIN.x + extent && ship.y < SCENE_ORIGIN.y && ship.y > SCENE_ORIGIN.y - extent);
  const centre =
    cloudCentre === 'first-ship' && inScene.length > 0
      ? { x: inScene[0].x + 200, y: inScene[0].y - 150 }
      : cloudCentre === 'first-ship'
        ? { x: SCENE_ORIGIN.x + extent / 2, y: SCENE_ORIGIN.y - extent / 2 }
        : { x: SCENE_ORIGIN.x + cloudCentre[0] * extent, y: SCENE_ORIGIN.y - cloudCentre[1] * extent };
  const cloud = { ...centre, rx: 900, ry: 650 };
  // Sun from the south-east at ~11 UTC: the shadow falls to the north-west of the cloud.
  const shadow = { x: cloud.x - 700, y: cloud.y + 500 };
  for (let row = 0; row < SCENE_PX; row++) {
    const y = SCENE_ORIGIN.y - (row + 0.5) * 10;
    for (let col = 0; col < SCENE_PX; col++) {
      const x = SCENE_ORIGIN.x + (col + 0.5) * 10;
      const i = row * SCENE_PX + col;
      const cover = coverAt(x, y, placed);
      const texture = cover === 'land' ? 0.15 * wobble(x * 7, y * 7, 5) : 0;
      const d2 = ((x - cloud.x) / cloud.rx) ** 2 + ((y - cloud.y) / cloud.ry) ** 2 + 0.2 * wobble(x * 3, y * 3, 4);
      const s2 = ((x - shadow.x) / cloud.rx) ** 2 + ((y - shadow.y) / cloud.ry) ** 2 + 0.2 * wobble(x * 3, y * 3, 4);
      const opacity = d2 < 1 ? 1 : d2 < 1.6 ? (1.6 - d2) / 0.6 : 0;
      const shade = opacity === 0 && s2 < 1 ? 0.45 : 1;
      const noise = gaussian(random) * (cover === 'water' ? 0.00004 : 0.0001);
      for (const band of Object.keys(COVER.water) as Band[]) {
        const ground = COVER[cover][band] * (1 + texture) * shade + noise;
        reflectance[band][i] = ground * (1 - opacity) + COVER.cloud[band] * opacity;
      }
      scl10[i] = opacity >= 0.5 ? (d2 < 0.6 ? SCL.cloudHigh : SCL.cloudMedium) : shade < 1 ? SCL.shadow : cover === 'water' ? SCL.water : cover === 'beach' ? SCL.bare : SCL.vegetation;
    }
  }
  // Ships: bright hulls along their heading, ~1/8 as wide as long.
  for (const ship of placed) {
    const along = [Math.sin((ship.heading * Math.PI) / 180), Math.cos((ship.heading * Math.PI) / 180)];
    const half = ship.length / 2;
    const beam = Math.max(8, ship.length / 8) / 2;
    const reach = Math.ceil(half / 10) + 1;
    const centreCol = Math.floor((ship.x - SCENE_ORIGIN.x) / 10);
    const centreRow = Math.floor((SCENE_ORIGIN.y - ship.y) / 10);
    for (let row = centreRow - reach; row <= centreRow + reach; row++) {
      for (let col = centreCol - reach; col <= centreCol + reach; col++) {
        if (row < 0 || col < 0 || row >= SCENE_PX || col >= SCENE_PX) continue;
        const dx = SCENE_ORIGIN.x + (col + 0.5) * 10 - ship.x;
        const dy = SCENE_ORIGIN.y - (row + 0.5) * 10 - ship.y;
        const a = dx * along[0] + dy * along[1];
        const c = -dx * along[1] + dy * along[0];
        if (Math.abs(a) > half || Math.abs(c) > beam) continue;
        const i = row * SCENE_PX + col;
        if (scl10[i] === SCL.cloudHigh) continue; // hidden under the cloud
        for (const band of Object.keys(COVER.water) as Band[]) reflectance[band][i] = COVER.ship[band];
      }
    }
  }
  return { reflectance, scl10 };
}

/** Reflectance → L2A DN (×10000 + BOA_ADD_OFFSET), never 0 (0 is nodata). */
function toDn(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.min(65535, Math.max(1, Math.round(values[i] * 10000 + BOA_ADD_OFFSET)));
  return out;
}

/** 20 m band: mean of each 2×2 block of the 10 m rendering. */
function aggregate20m(values: Float32Array): Float32Array {
  const half = SCENE_PX / 2;
  const out = new Float32Array(half * half);
  for (let row = 0; row < half; row++) {
    for (let col = 0; col < half; col++) {
      const i = 2 * row * SCENE_PX + 2 * col;
      out[row * half + col] = (values[i] + values[i + 1] + values[i + SCENE_PX] + values[i + SCENE_PX + 1]) / 4;
    }
  }
  return out;
}

/** 20 m SCL: the class of each 2×2 block's top-left 10 m pixel. */
function sample20m(classes: Uint8Array): Uint8Array {
  const half = SCENE_PX / 2;
  const out = new Uint8Array(half * half);
  for (let row = 0; row < half; row++) for (let col = 0; col < half; col++) out[row * half + col] = classes[2 * row * SCENE_PX + 2 * col];
  return out;
}

function footprint(): number[][] {
  const toLonLat = proj4(UTM30N, 'EPSG:4326');
  const extent = SCENE_PX * 10;
  const corners = [
    [SCENE_ORIGIN.x, SCENE_ORIGIN.y],
    [SCENE_ORIGIN.x, SCENE_ORIGIN.y - extent],
    [SCENE_ORIGIN.x + extent, SCENE_ORIGIN.y - extent],
    [SCENE_ORIGIN.x + extent, SCENE_ORIGIN.y],
  ].map(([x, y]) => toLonLat.forward([x, y]).map((v) => Math.round(v * 1e7) / 1e7));
  return [...corners, corners[0]];
}

function rasterBands(band: Band | 'SCL'): Record<string, unknown>[] {
  if (band === 'SCL') return [{ nodata: 0, data_type: 'uint8', spatial_resolution: 20, unit: 'class' }];
  return [{ nodata: 0, data_type: 'uint16', bits_per_sample: 15, spatial_resolution: BANDS_10M.includes(band) ? 10 : 20, scale: 0.0001, offset: -0.1 }];
}

export async function generate(root: string): Promise<void> {
  const dir = join(root, 'datasets', 'sample', 'scene');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const aisPath = join(root, 'datasets', 'sample', 'ais', 'stream.ndjson');
  const ais = existsSync(aisPath) ? readFileSync(aisPath, 'utf8') : undefined;
  if (!ais) console.warn(`sample scene: ${aisPath} not found, using fixed ship positions`);

  const collectionDir = join(dir, 'sentinel-2-l2a');
  const itemLinks: Record<string, unknown>[] = [];
  const ring = footprint();
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  const bbox = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
  const scenes = sceneSpecs(root);
  for (const [index, scene] of scenes.entries()) {
    const ships = ais ? shipsAt(ais, scene.datetime) : fallbackShips(scene.datetime);
    const { reflectance, scl10 } = renderScene(ships, 30_000 + index, scene.cloudCentre);
    const compact = scene.date.replaceAll('-', '');
    const id = `${scene.satellite}_30UXB_${compact}_0_L2A`;
    const itemDir = join(collectionDir, id);
    await mkdir(itemDir, { recursive: true });
    const transform10 = { originX: SCENE_ORIGIN.x, originY: SCENE_ORIGIN.y, pixelWidth: 10, pixelHeight: 10 };
    const transform20 = { ...transform10, pixelWidth: 20, pixelHeight: 20 };
    const assets: Record<string, unknown> = {};
    const write = async (band: Band | 'SCL', bytes: Buffer, shape: number, transform: typeof transform10): Promise<void> => {
      await writeFile(join(itemDir, `${band}.tif`), bytes);
      assets[ASSET_KEY[band]] = {
        href: `./${band}.tif`,
        type: 'image/tiff; application=geotiff; profile=cloud-optimized',
        title: band,
        roles: ['data'],
        'proj:shape': [shape, shape],
        'proj:transform': [transform.pixelWidth, 0, transform.originX, 0, -transform.pixelHeight, transform.originY],
        'raster:bands': rasterBands(band),
      };
    };
    let cloudy = 0;
    for (const value of scl10) if (value === SCL.cloudMedium || value === SCL.cloudHigh) cloudy++;
    for (const band of BANDS_10M) {
      await write(band, writeGeoTiff({ width: SCENE_PX, height: SCENE_PX, bands: [toDn(reflectance[band])], sampleType: 'uint16', epsg: EPSG, transform: transform10, nodata: 0, tileSize: 512, level: 9 }), SCENE_PX, transform10);
    }
    for (const band of BANDS_20M) {
      await write(band, writeGeoTiff({ width: SCENE_PX / 2, height: SCENE_PX / 2, bands: [toDn(aggregate20m(reflectance[band]))], sampleType: 'uint16', epsg: EPSG, transform: transform20, nodata: 0, tileSize: 512, level: 9 }), SCENE_PX / 2, transform20);
    }
    await write('SCL', writeGeoTiff({ width: SCENE_PX / 2, height: SCENE_PX / 2, bands: [sample20m(scl10)], sampleType: 'uint8', epsg: EPSG, transform: transform20, nodata: 0, tileSize: 512, level: 9 }), SCENE_PX / 2, transform20);
    const item = {
      type: 'Feature',
      stac_version: '1.0.0',
      stac_extensions: [
        'https://stac-extensions.github.io/eo/v1.1.0/schema.json',
        'https://stac-extensions.github.io/projection/v1.1.0/schema.json',
        'https://stac-extensions.github.io/raster/v1.1.0/schema.json',
      ],
      id,
      collection: 'sentinel-2-l2a',
      bbox,
      geometry: { type: 'Polygon', coordinates: [ring] },
      properties: {
        datetime: scene.datetime,
        platform: `sentinel-2${scene.satellite.slice(2).toLowerCase()}`,
        constellation: 'sentinel-2',
        instruments: ['msi'],
        'eo:cloud_cover': Math.round((cloudy / scl10.length) * 100 * 1e4) / 1e4,
        'proj:epsg': EPSG,
        'mgrs:utm_zone': 30,
        'mgrs:latitude_band': 'U',
        'mgrs:grid_square': 'XB',
        'grid:code': 'MGRS-30UXB',
        's2:processing_baseline': '05.11',
        's2:product_type': 'S2MSI2A',
        'sat:relative_orbit': scene.relativeOrbit,
        'dagrun:overpass': 'datetime = the 30UXB overpass centre predicted from the sample TLEs',
        'dagrun:synthetic': `sample scene (scripts/sample/30-scene.ts): ${SCENE_PX}×${SCENE_PX} px at 10 m, ${ships.length} ship(s) from the sample AIS`,
      },
      links: [
        { rel: 'collection', href: '../collection.json', type: 'application/json' },
        { rel: 'parent', href: '../collection.json', type: 'application/json' },
        { rel: 'root', href: '../../catalog.json', type: 'application/json' },
      ],
      assets,
    };
    await writeFile(join(itemDir, `${id}.json`), `${JSON.stringify(item, null, 2)}\n`);
    itemLinks.push({ rel: 'item', href: `./${id}/${id}.json`, type: 'application/geo+json' });
  }
  const collection = {
    type: 'Collection',
    stac_version: '1.0.0',
    id: 'sentinel-2-l2a',
    title: 'Sentinel-2 Level-2A (synthetic dagrun sample)',
    description: 'Synthetic Sentinel-2 L2A-like scenes over the Solent (30UXB) for the dagrun sample build. Not real imagery.',
    license: 'MIT',
    extent: { spatial: { bbox: [bbox] }, temporal: { interval: [[scenes[0].datetime, scenes[scenes.length - 1].datetime]] } },
    links: [{ rel: 'root', href: '../catalog.json', type: 'application/json' }, { rel: 'parent', href: '../catalog.json', type: 'application/json' }, ...itemLinks],
  };
  await writeFile(join(collectionDir, 'collection.json'), `${JSON.stringify(collection, null, 2)}\n`);
  const catalog = {
    type: 'Catalog',
    stac_version: '1.0.0',
    id: 'dagrun-sample',
    description: 'Static STAC catalog of the dagrun sample scenes (self-contained, relative links).',
    links: [{ rel: 'root', href: './catalog.json', type: 'application/json' }, { rel: 'child', href: './sentinel-2-l2a/collection.json', type: 'application/json' }],
  };
  await writeFile(join(dir, 'catalog.json'), `${JSON.stringify(catalog, null, 2)}\n`);
}
