// One chip from one match: read the bands on the chip grid, write the GeoTIFF, the SCL GeoTIFF, the
// GeoJSON footprint, the JSON sidecar and the quicklook; return the chips-table row. A chip whose
// asset cannot be read fails alone with its reason.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { AssetReadError, type CogCache } from '../../lib/geo/cog-reader.js';
import { loadZstd, writeGeoTiff, type TiffCompression } from '../../lib/geo/geotiff-writer.js';
import { clayLatLon, clayPixels, clayTime, s2Band, type S2Band } from '../../lib/ml/clay.js';
import { npzBytes } from '../../lib/ml/npz.js';
import { chipGrid, chipId, footprintRing, footprintWkt, geoTransform, sceneDatetimeText, splitFor, type Split } from './geometry.js';
import { readClasses, readReflectance, stretchRgb, waterStretchMask, type Scaling } from './raster.js';
import { outputColumns } from './chip.dagrun.js';

export const CORE_BANDS = ['B02', 'B03', 'B04', 'B08'] as const;
export const SWIR_BANDS = ['B11', 'B12'] as const;
/** Reflectance written when a band has no scale in the catalogue (seed 001: DN / 10000). */
export const DEFAULT_SCALING: Scaling = { scale: 0.0001, offset: 0, nodata: 0 };

export interface Asset {
  href: string;
  scale?: number | null;
  offset?: number | null;
  nodata?: number | null;
}

/** One row of stac-search's `matches`, parsed. */
export interface ChipTask {
  /** Row number in the matches file (1-based), for messages. */
  row: number;
  mmsi: number;
  aisTime: string;
  lat: number;
  lon: number;
  sceneId: string;
  sceneDatetime: string;
  cloudCover: number | null;
  epsg: number;
  assets: Record<string, Asset>;
  /** The Sentinel-2 item's href (stac-search `scene_href`; null when unknown): the chip's `derived_from`. */
  sceneHref?: string | null;
}

export interface ChipParams {
  size_px: number;
  resolution_m: number;
  include_swir: boolean;
  split_fractions: { train: number; val: number; test: number };
  /** Explicit bands by ESA id or Clay name (e.g. Clay's ten); null: the four core bands (+ SWIR per include_swir). */
  bands?: readonly string[] | null;
  /** `npz`: also write `{chip_id}.npz`, Clay v1.5-normalised tensors (pixels, time, latlon, gsd, waves, platform). */
  tensors?: 'none' | 'npz';
  /** GeoTIFF tile compression: `deflate` (default, every reader) or `zstd` (GDAL ≥ 2.3 and rasterio read it). */
  compression?: TiffCompression;
}

export interface ChipRow {
  chip_id: string;
  path: string | null;
  scl_path: string | null;
  mmsi: number;
  lat: number;
  lon: number;
  overpass_time: string;
  scene_id: string;
  scene_datetime: string;
  cloud_cover: number | null;
  scene_href: string | null;
  split: Split;
  bands: string;
  has_swir: boolean;
  epsg: number;
  transform: string;
  footprint_wkt: string | null;
  status: 'ok' | 'failed';
  reason: string | null;
}

/** The chips table's columns, as pipeline.yaml declares the step's output. */
export const CHIP_COLUMNS = outputColumns.chips;

export function scalingOf(asset: Asset): Scaling {
  return {
    scale: asset.scale ?? DEFAULT_SCALING.scale,
    offset: asset.offset ?? DEFAULT_SCALING.offset,
    nodata: asset.nodata === undefined ? DEFAULT_SCALING.nodata : asset.nodata,
  };
}

/**
 * The `bands` param, checked: each name an ESA id or a Clay name, no band twice, the four core bands
 * (gate's NDWI and the quicklook need them) present. Returns the ESA ids and the names as given.
 */
export function requestedBands(names: readonly string[]): { ids: string[]; names: string[] } {
  const ids: string[] = [];
  for (const name of names) {
    const band = s2Band(name);
    if (!band) throw new Error(`bands: unknown band ${JSON.stringify(name)} (ESA ids B02…B12, B8A, or Clay names blue…swir22)`);
    if (ids.includes(band.id)) throw new Error(`bands: ${name} is ${band.id}, listed twice`);
    ids.push(band.id);
  }
  const lacking = CORE_BANDS.filter((id) => !ids.includes(id));
  if (lacking.length > 0) throw new Error(`bands: ${lacking.join(', ')} missing (the gate and the quicklook need B02 B03 B04 B08)`);
  return { ids, names: [...names] };
}

/**
 * The bands a chip gets, as ESA ids and the names written into the GeoTIFF: the `bands` param when
 * given; else the four core bands, then B11 B12 when asked for and the scene has both.
 */
export function bandsFor(task: ChipTask, params: Pick<ChipParams, 'include_swir' | 'bands'>): { ids: string[]; names: string[] } {
  if (params.bands) return requestedBands(params.bands);
  const swir = params.include_swir && SWIR_BANDS.every((band) => task.assets[band]);
  const ids = [...CORE_BANDS, ...(swir ? SWIR_BANDS : [])];
  return { ids, names: ids };
}

/**
 * Where a chip's files go, relative to the chips directory: {split}/{mmsi}/{chip_id}_{YYYYMMDDTHHMMSS},
 * the scene time (UTC) in the name so TorchGeo's RasterDataset (which matches `filename_regex` on the
 * file name only) can index chips in time.
 */
export function chipStem(split: Split, mmsi: number, id: string, sceneDatetime: string): string {
  return `${split}/${mmsi}/${id}_${sceneDatetimeText(sceneDatetime).replace(/[-:]/g, '').slice(0, 15)}`;
}

export interface ChipContext {
  /** The chips directory output (absolute). */
  outDir: string;
  /** That directory relative to the output root, e.g. chips/2026-05-25 (paths in the table start with it). */
  outPrefix: string;
  cache: CogCache;
}

/** Cut, write and describe one chip. Never throws for unreadable assets: the row says `failed`. */
export async function makeChip(task: ChipTask, params: ChipParams, context: ChipContext): Promise<ChipRow> {
  const id = chipId(task.mmsi, task.sceneDatetime, task.lat, task.lon);
  const split = splitFor(id, params.split_fractions);
  const { ids: bands, names: bandNames } = bandsFor(task, params);
  const stem = chipStem(split, task.mmsi, id, task.sceneDatetime);
  const base: Omit<ChipRow, 'path' | 'scl_path' | 'transform' | 'footprint_wkt' | 'status' | 'reason'> = {
    chip_id: id,
    mmsi: task.mmsi,
    lat: task.lat,
    lon: task.lon,
    overpass_time: task.aisTime,
    scene_id: task.sceneId,
    scene_datetime: sceneDatetimeText(task.sceneDatetime),
    cloud_cover: task.cloudCover,
    scene_href: task.sceneHref ?? null,
    split,
    bands: bands.join(','),
    has_swir: bands.includes('B11'),
    epsg: task.epsg,
  };
  const failed = (reason: string, transform = ''): ChipRow => ({ ...base, path: null, scl_path: null, transform, footprint_wkt: null, status: 'failed', reason });

  const missing = [...new Set([...bands, ...CORE_BANDS, 'SCL'])].filter((band) => !task.assets[band]?.href);
  if (missing.length > 0) return failed(`asset ${missing.join(', ')} missing from the scene`);

  let grid;
  try {
    const reference = await context.cache.open(task.assets.B02.href);
    grid = chipGrid(task.epsg, task.lon, task.lat, reference.geo.originX, reference.geo.originY, params.resolution_m, params.size_px);
    if (reference.geo.epsg !== undefined && reference.geo.epsg !== task.epsg) return failed(`B02 is in EPSG:${reference.geo.epsg}, the catalogue says EPSG:${task.epsg}`);
  } catch (error) {
    if (error instanceof AssetReadError) return failed(`B02 ${error.href}: ${error.detail}`);
    throw error;
  }
  const transform = JSON.stringify(geoTransform(grid));

  const absoluteStem = join(context.outDir, stem);
  try {
    const reflectance: Float32Array[] = [];
    for (const band of bands) {
      try {
        const reader = await context.cache.open(task.assets[band].href);
        reflectance.push(await readReflectance(reader, grid, scalingOf(task.assets[band])));
      } catch (error) {
        if (error instanceof AssetReadError) throw new AssetReadError(error.href, `${band} ${error.href}: ${error.detail}`);
        throw error;
      }
    }
    let scl: Uint8Array;
    try {
      scl = await readClasses(await context.cache.open(task.assets.SCL.href), grid);
    } catch (error) {
      if (error instanceof AssetReadError) throw new AssetReadError(error.href, `SCL ${error.href}: ${error.detail}`);
      throw error;
    }

    const ring = footprintRing(grid);
    const row: ChipRow = {
      ...base,
      path: `${context.outPrefix}/${stem}.tif`,
      scl_path: `${context.outPrefix}/${stem}_scl.tif`,
      transform,
      footprint_wkt: footprintWkt(ring),
      status: 'ok',
      reason: null,
    };
    // Z_RLE: half the CPU of the default strategy on these float tiles, ~1 % larger (README "Measured").
    const compression = params.compression ?? 'deflate';
    if (compression === 'zstd') await loadZstd();
    const gridSpec = { compression, strategy: 'rle' as const, epsg: grid.epsg, transform: { originX: grid.originX, originY: grid.originY, pixelWidth: grid.resolution, pixelHeight: grid.resolution } };
    const properties = {
      ...row,
      transform: geoTransform(grid),
      width: grid.size,
      height: grid.size,
      resolution_m: grid.resolution,
      dtype: 'float32',
      nodata: 0,
      reflectance: 'DN * scale + offset per asset, clamped to [0, 1]; 0 = nodata or outside the scene',
      quicklook_path: `${context.outPrefix}/${stem}_quicklook.jpg`,
      band_names: bandNames,
      ...(params.tensors === 'npz' ? { npz_path: `${context.outPrefix}/${stem}.npz` } : {}),
      scl: 'Sentinel-2 L2A scene classification, nearest-neighbour to the chip grid; 0 = no data / outside',
      assets: Object.fromEntries(bands.concat('SCL').map((band) => [band, { href: task.assets[band].href, ...scalingOf(task.assets[band]) }])),
    };
    await mkdir(dirname(absoluteStem), { recursive: true });
    await writeFile(`${absoluteStem}.tif`, writeGeoTiff({ width: grid.size, height: grid.size, bands: reflectance, sampleType: 'float32', nodata: 0, bandDescriptions: bandNames, ...gridSpec }));
    await writeFile(`${absoluteStem}_scl.tif`, writeGeoTiff({ width: grid.size, height: grid.size, bands: [scl], sampleType: 'uint8', nodata: 0, bandDescriptions: ['SCL'], ...gridSpec }));
    const feature = { type: 'Feature', id: id, geometry: { type: 'Polygon', coordinates: [ring] }, properties };
    await writeFile(`${absoluteStem}.geojson`, `${JSON.stringify(feature, null, 2)}\n`);
    await writeFile(`${absoluteStem}.json`, `${JSON.stringify(properties, null, 2)}\n`);
    if (params.tensors === 'npz') await writeFile(`${absoluteStem}.npz`, chipTensors(reflectance, bands, task, grid.resolution));
    const [red, green, blue] = ['B04', 'B03', 'B02'].map((id) => reflectance[bands.indexOf(id)]);
    // The stretch comes from the chip's water (what ships are seen against) when there is enough of it.
    const rgb = stretchRgb(red, green, blue, { mask: waterStretchMask(scl, [red, green, blue], Math.round(red.length * 0.05)) });
    const jpeg = await sharp(Buffer.from(rgb), { raw: { width: grid.size, height: grid.size, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    await writeFile(`${absoluteStem}_quicklook.jpg`, jpeg);
    return row;
  } catch (error) {
    if (!(error instanceof AssetReadError)) throw error;
    // Nothing half-written stays behind for a failed chip.
    await Promise.all(['.tif', '_scl.tif', '.geojson', '.json', '_quicklook.jpg', '.npz'].map((suffix) => rm(`${absoluteStem}${suffix}`, { force: true })));
    return failed(error.detail, transform);
  }
}

/** A chip's Clay v1.5 inputs as an .npz (see steps/chip/README.md "Tensors"). */
export function chipTensors(reflectance: readonly Float32Array[], bandIds: readonly string[], task: ChipTask, gsd: number): Buffer {
  const bands = bandIds.map((id) => s2Band(id) as S2Band);
  const size = Math.round(Math.sqrt(reflectance[0].length));
  return npzBytes({
    pixels: { dtype: 'float32', shape: [bands.length, size, size], data: clayPixels(reflectance, bands) },
    time: { dtype: 'float32', shape: [4], data: clayTime(task.sceneDatetime) },
    latlon: { dtype: 'float32', shape: [4], data: clayLatLon(task.lat, task.lon) },
    gsd: { dtype: 'float32', shape: [], data: Float32Array.of(gsd) },
    waves: { dtype: 'float32', shape: [bands.length], data: Float32Array.from(bands, (band) => band.wavelengthUm) },
    platform: { dtype: 'str', shape: [], data: 'sentinel-2-l2a' },
  });
}
