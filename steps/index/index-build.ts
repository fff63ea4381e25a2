// The dataset indexes (seed 001 §1, §8, §10), as pure functions: which chips are listed (gate-accepted
// and not pruned by AIS), their tiles rows, the daily GeoJSON FeatureCollections and the STAC catalog.
import { posix } from 'node:path';
import proj4 from 'proj4';
import { haversineKm } from '../../lib/geo/sphere.js';
import { compareText } from '../../lib/geo/stac.js';
import type { ChipRow } from '../chip/chip.js';

/** A chips-table row joined with its gate row and the recorded AIS fix nearest the scene time. */
export interface IndexInput extends Omit<ChipRow, 'split' | 'status' | 'reason'> {
  split: string;
  status: string | null;
  decision: string | null;
  gate_reason: string | null;
  qa_cloud_frac: number | null;
  qa_water_frac: number | null;
  qa_land_frac: number | null;
  /** The recorded AIS fix of this MMSI nearest in time to scene_datetime (null: none recorded). */
  fix_time: string | null;
  fix_lat: number | null;
  fix_lon: number | null;
  /** The MMSI's latest reported AIS vessel type (ITU ship type code); null when never reported. */
  vessel_type?: number | null;
}

export interface PruneTolerances {
  timeMinutes: number;
  distanceM: number;
}

export type Ring = [number, number][];

/** The ring of a `POLYGON ((x y, …))` WKT (outer ring only: chip footprints have no holes). */
export function parseWktPolygon(wkt: string): Ring {
  const match = /^\s*POLYGON\s*\(\s*\((.*?)\)/i.exec(wkt);
  if (!match) throw new Error(`not a WKT polygon: ${wkt.slice(0, 60)}`);
  const ring = match[1].split(',').map((pair) => pair.trim().split(/\s+/).map(Number) as [number, number]);
  if (ring.length < 4 || ring.some((p) => p.length !== 2 || !p.every(Number.isFinite))) throw new Error(`bad WKT polygon coordinates: ${wkt.slice(0, 60)}`);
  return ring;
}

/**
 * The chip centre in lon/lat: the mean of the footprint's four corners. The corners are the projected
 * square's, so this is within millimetres of the projected centre for a 2.56 km chip.
 */
export function ringCentre(ring: Ring): { lon: number; lat: number } {
  const corners = ring.slice(0, 4);
  return { lon: corners.reduce((s, p) => s + p[0], 0) / corners.length, lat: corners.reduce((s, p) => s + p[1], 0) / corners.length };
}

export interface PruneCheck {
  /** Seconds between the scene and the nearest recorded AIS fix. */
  dtSeconds: number | null;
  /** Metres from the chip centre to that fix. */
  distanceM: number | null;
  /** Null when the chip is kept. */
  reason: string | null;
}

/**
 * Seed 001 §8 prune-by-AIS: keep a chip only if the recorded AIS of its ship has a fix within
 * `timeMinutes` of the scene time, and that fix is within `distanceM` of the chip centre.
 */
export function pruneCheck(chip: Pick<IndexInput, 'scene_datetime' | 'fix_time' | 'fix_lat' | 'fix_lon'>, centre: { lon: number; lat: number }, tol: PruneTolerances): PruneCheck {
  if (chip.fix_time === null || chip.fix_lat === null || chip.fix_lon === null) return { dtSeconds: null, distanceM: null, reason: 'no recorded AIS for this MMSI' };
  const dtSeconds = Math.abs(Date.parse(chip.fix_time) - Date.parse(chip.scene_datetime)) / 1000;
  const distanceM = haversineKm(centre.lat, centre.lon, chip.fix_lat, chip.fix_lon) * 1000;
  const reasons: string[] = [];
  if (dtSeconds > tol.timeMinutes * 60) reasons.push(`nearest AIS fix ${Math.round(dtSeconds)} s from scene time > ${tol.timeMinutes} min`);
  if (distanceM > tol.distanceM) reasons.push(`AIS fix ${distanceM.toFixed(1)} m from chip centre > ${tol.distanceM} m`);
  return { dtSeconds, distanceM, reason: reasons.length ? reasons.join('; ') : null };
}

export interface Listed {
  chip: IndexInput;
  ring: Ring;
}
export interface Pruned {
  chip: IndexInput;
  check: PruneCheck;
}

/** Per-chip outcomes (the kernel's itemDone/itemFailed): with them a malformed chip row is a failed item, not the step's failure. */
export interface ChipItems {
  done(): void;
  failed(item: string, reason: string): void;
}

/**
 * Split chips into those the indexes list (chip ok, gate accepted, AIS within tolerance) and those
 * pruned by AIS. Gate-rejected and failed chips are in neither: the gate table already records them.
 */
export function selectChips(chips: readonly IndexInput[], tol: PruneTolerances, items?: ChipItems): { listed: Listed[]; pruned: Pruned[] } {
  const listed: Listed[] = [];
  const pruned: Pruned[] = [];
  for (const chip of [...chips].sort((a, b) => compareText(a.chip_id, b.chip_id))) {
    if (chip.status !== 'ok' || chip.decision !== 'accept' || !chip.path || !chip.footprint_wkt) continue;
    let ring: Ring;
    try {
      ring = parseWktPolygon(chip.footprint_wkt);
    } catch (error) {
      if (!items) throw new Error(`chip ${chip.chip_id} field footprint_wkt: ${(error as Error).message}`);
      items.failed(`chip ${chip.chip_id}`, `field footprint_wkt: ${(error as Error).message}; not indexed`);
      continue;
    }
    items?.done();
    const check = pruneCheck(chip, ringCentre(ring), tol);
    if (check.reason === null) listed.push({ chip, ring });
    else pruned.push({ chip, check });
  }
  return { listed, pruned };
}

/** Files beside a chip's GeoTIFF, per the chip step's layout ({stem}.tif, .geojson, .json, _quicklook.jpg). */
export function chipFiles(path: string): { tif: string; geojson: string; json: string; quicklook: string } {
  const stem = path.replace(/\.tif$/i, '');
  return { tif: path, geojson: `${stem}.geojson`, json: `${stem}.json`, quicklook: `${stem}_quicklook.jpg` };
}

/**
 * The tiles.parquet row for a listed chip, in the declared column types' text forms: the footprint as
 * WKT (the writer stores it as WKB) and its bbox as a DuckDB struct literal (exact: shortest round-trip
 * numbers).
 */
export function tilesRow({ chip, ring }: Listed): Record<string, unknown> {
  const [xmin, ymin, xmax, ymax] = bboxOf(ring);
  return {
    chip_id: chip.chip_id, path: chip.path, mmsi: chip.mmsi, lat: chip.lat, lon: chip.lon, overpass_time: chip.overpass_time,
    scene_id: chip.scene_id, scene_datetime: chip.scene_datetime, cloud_cover: chip.cloud_cover, split: chip.split, bands: chip.bands,
    has_swir: chip.has_swir, qa_cloud_frac: chip.qa_cloud_frac, qa_water_frac: chip.qa_water_frac, qa_land_frac: chip.qa_land_frac,
    epsg: chip.epsg, scene_href: chip.scene_href ?? null, footprint: chip.footprint_wkt,
    bbox: `{xmin: ${xmin}, ymin: ${ymin}, xmax: ${xmax}, ymax: ${ymax}}`,
  };
}

/**
 * GeoParquet 1.1 `geo` metadata for tiles.parquet: WKB footprints in OGC:CRS84 (the default CRS, so
 * no `crs` key), the file's bbox, and the `bbox` covering column readers use to prune row groups.
 */
export function tilesGeoMetadata(listed: readonly Listed[]): string {
  const boxes = listed.map(({ ring }) => bboxOf(ring));
  const bbox = boxes.length
    ? [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))]
    : undefined;
  return JSON.stringify({
    version: '1.1.0',
    primary_column: 'footprint',
    columns: {
      footprint: {
        encoding: 'WKB',
        geometry_types: ['Polygon'],
        ...(bbox ? { bbox } : {}),
        covering: { bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } },
      },
    },
  });
}

export function prunedRow({ chip, check }: Pruned): Record<string, unknown> {
  return { chip_id: chip.chip_id, path: chip.path, mmsi: chip.mmsi, scene_datetime: chip.scene_datetime, ais_dt_s: check.dtSeconds, ais_distance_m: check.distanceM, reason: check.reason };
}

/** YYYYMMDD of the AIS time (the capture day, which is the pipeline's date partition). */
export function dayOf(chip: Pick<IndexInput, 'overpass_time'>): string {
  return new Date(chip.overpass_time).toISOString().slice(0, 10).replaceAll('-', '');
}

function featureProperties(chip: IndexInput): Record<string, unknown> {
  return {
    chip_id: chip.chip_id, path: chip.path, mmsi: chip.mmsi, lat: chip.lat, lon: chip.lon, overpass_time: chip.overpass_time,
    scene_id: chip.scene_id, scene_datetime: chip.scene_datetime, cloud_cover: chip.cloud_cover, split: chip.split, bands: chip.bands,
    has_swir: chip.has_swir, epsg: chip.epsg, qa_cloud_frac: chip.qa_cloud_frac, qa_water_frac: chip.qa_water_frac, qa_land_frac: chip.qa_land_frac,
  };
}

/** One FeatureCollection per day: file name tiles_YYYYMMDD.geojson → collection. */
export function dailyCollections(listed: readonly Listed[]): Map<string, unknown> {
  const byDay = new Map<string, Listed[]>();
  for (const entry of listed) {
    const day = dayOf(entry.chip);
    byDay.set(day, [...(byDay.get(day) ?? []), entry]);
  }
  const out = new Map<string, unknown>();
  for (const day of [...byDay.keys()].sort()) {
    out.set(`tiles_${day}.geojson`, {
      type: 'FeatureCollection',
      features: (byDay.get(day) as Listed[]).map(({ chip, ring }) => ({ type: 'Feature', id: chip.chip_id, geometry: { type: 'Polygon', coordinates: [ring] }, properties: featureProperties(chip) })),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// STAC catalog of the chips

export const STAC_VERSION = '1.0.0';
export const STAC_EXTENSIONS = [
  'https://stac-extensions.github.io/projection/v1.1.0/schema.json',
  'https://stac-extensions.github.io/eo/v1.1.0/schema.json',
  'https://stac-extensions.github.io/raster/v1.1.0/schema.json',
  'https://stac-extensions.github.io/ml-aoi/v0.1.0/schema.json',
  'https://stac-extensions.github.io/label/v1.0.0/schema.json',
];

/** ml-aoi names the validation split `validate`; the chip step calls it `val` (seed 001). */
export function mlAoiSplit(split: string): 'train' | 'validate' | 'test' {
  if (split === 'train' || split === 'test') return split;
  if (split === 'val') return 'validate';
  throw new Error(`unknown split ${JSON.stringify(split)}`);
}

/** The label of a chip: the AIS-reported vessel as a point (the fix nearest the scene time, else the match point). */
export function labelCollection({ chip }: Listed): Record<string, unknown> {
  const lon = chip.fix_lon ?? chip.lon;
  const lat = chip.fix_lat ?? chip.lat;
  return {
    type: 'FeatureCollection',
    features: [{ type: 'Feature', id: String(chip.mmsi), geometry: { type: 'Point', coordinates: [lon, lat] }, properties: { mmsi: chip.mmsi, vessel_type: chip.vessel_type ?? null } }],
  };
}
export const COLLECTION_ID = 'maritime-s2-ship-chips';

const BAND_INFO: Record<string, { common_name: string; center_wavelength: number; full_width_half_max: number; description: string }> = {
  B02: { common_name: 'blue', center_wavelength: 0.49, full_width_half_max: 0.098, description: 'Blue (band 2)' },
  B03: { common_name: 'green', center_wavelength: 0.56, full_width_half_max: 0.045, description: 'Green (band 3)' },
  B04: { common_name: 'red', center_wavelength: 0.665, full_width_half_max: 0.038, description: 'Red (band 4)' },
  B08: { common_name: 'nir', center_wavelength: 0.842, full_width_half_max: 0.145, description: 'NIR 1 (band 8)' },
  B11: { common_name: 'swir16', center_wavelength: 1.61, full_width_half_max: 0.143, description: 'SWIR 1.6 (band 11), bicubic to 10 m' },
  B12: { common_name: 'swir22', center_wavelength: 2.19, full_width_half_max: 0.242, description: 'SWIR 2.2 (band 12), bicubic to 10 m' },
};

function bboxOf(ring: Ring): [number, number, number, number] {
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  return [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
}

/**
 * Where the STAC directory sits below the output root (the `stac` output's declared path). Item hrefs
 * to chip files are relative from `{this}/items/`, since chip paths are relative to the output root.
 */
export const STAC_DIR = 'indexes/stac';

export function hrefFromItem(rootRelativePath: string, stacDir = STAC_DIR): string {
  return posix.relative(posix.join(stacDir, 'items'), rootRelativePath);
}

/** proj4 definition of a WGS84 UTM zone (EPSG 326zz north, 327zz south); null for other codes. */
export function utmDefinition(epsg: number): string | null {
  const zone = epsg % 100;
  if (zone < 1 || zone > 60 || (Math.floor(epsg / 100) !== 326 && Math.floor(epsg / 100) !== 327)) return null;
  return `+proj=utm +zone=${zone}${Math.floor(epsg / 100) === 327 ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`;
}

/**
 * Chip size in pixels: the footprint's upper-left → upper-right and upper-left → lower-left corners
 * projected back into the chip's UTM CRS, over the pixel size. The ring is upper-left, lower-left,
 * lower-right, upper-right (the chip step's order).
 */
export function chipShape(ring: Ring, epsg: number, resolutionM: number): { width: number; height: number } {
  const definition = utmDefinition(epsg);
  if (definition === null) throw new Error(`EPSG:${epsg} is not a WGS84 UTM zone`);
  const [ul, ll, , ur] = ring.map((p) => proj4('EPSG:4326', definition, p) as [number, number]);
  return { width: Math.round((ur[0] - ul[0]) / resolutionM), height: Math.round((ul[1] - ll[1]) / resolutionM) };
}

/**
 * Where a pipeline-relative local path is seen from the STAC items folder: the release is the
 * pipeline's output root `out/`, so `indexes/stac/items/` is four folders below the pipeline folder.
 */
export const DEFAULT_SCENE_LINK_BASE = '../../../../';

/**
 * The `derived_from` href of a chip's item: the Sentinel-2 item's URL as is; a local item (a path
 * relative to the pipeline folder, as stac-search records it) relative from the items folder through
 * `base`; null when the chips table has no scene href.
 */
export function derivedFromHref(sceneHref: string | null | undefined, base = DEFAULT_SCENE_LINK_BASE): string | null {
  if (!sceneHref) return null;
  if (/^[a-z][a-z0-9+.-]*:/i.test(sceneHref)) return sceneHref;
  return posix.normalize(`${base}${sceneHref}`);
}

/** One STAC Item per chip, with proj/eo/raster metadata, relative asset hrefs and its source scene. */
export function stacItem({ chip, ring }: Listed, stacDir = STAC_DIR, sceneLinkBase = DEFAULT_SCENE_LINK_BASE): Record<string, unknown> {
  const derivedFrom = derivedFromHref(chip.scene_href, sceneLinkBase);
  const files = chipFiles(chip.path as string);
  const gdal = JSON.parse(chip.transform) as number[];
  const bandNames = chip.bands.split(',');
  const resolution = Math.abs(gdal[1]);
  const size = chipShape(ring, chip.epsg, resolution);
  const item: Record<string, unknown> = {
    type: 'Feature',
    stac_version: STAC_VERSION,
    stac_extensions: STAC_EXTENSIONS,
    id: chip.chip_id,
    collection: COLLECTION_ID,
    geometry: { type: 'Polygon', coordinates: [ring] },
    bbox: bboxOf(ring),
    properties: {
      datetime: new Date(chip.scene_datetime).toISOString(),
      'proj:epsg': chip.epsg,
      'proj:shape': [size.height, size.width],
      // STAC order [a, b, c, d, e, f] of x = a·col + b·row + c, y = d·col + e·row + f, from GDAL's [c, a, b, f, d, e].
      'proj:transform': [gdal[1], gdal[2], gdal[0], gdal[4], gdal[5], gdal[3]],
      'eo:cloud_cover': chip.cloud_cover,
      gsd: resolution,
      mmsi: chip.mmsi,
      ais_time: new Date(chip.overpass_time).toISOString(),
      ais_lat: chip.lat,
      ais_lon: chip.lon,
      scene_id: chip.scene_id,
      split: chip.split,
      qa_cloud_frac: chip.qa_cloud_frac,
      qa_water_frac: chip.qa_water_frac,
      qa_land_frac: chip.qa_land_frac,
      'ml-aoi:split': mlAoiSplit(chip.split),
      'label:type': 'vector',
      'label:properties': ['mmsi', 'vessel_type'],
      'label:description': 'AIS-reported vessel at the chip centre: its MMSI and AIS vessel type (ITU code), as a point at the AIS fix nearest the scene time',
      'label:tasks': ['detection', 'classification'],
      'label:methods': ['automated'],
    },
    links: [
      { rel: 'collection', href: '../collection.json', type: 'application/json' },
      { rel: 'parent', href: '../collection.json', type: 'application/json' },
      { rel: 'root', href: '../collection.json', type: 'application/json' },
      // The Sentinel-2 L2A item the chip was cut from.
      ...(derivedFrom ? [{ rel: 'derived_from', href: derivedFrom, type: 'application/geo+json', title: chip.scene_id }] : []),
    ],
    assets: {
      image: {
        href: hrefFromItem(files.tif, stacDir),
        type: 'image/tiff; application=geotiff; profile=cloud-optimized',
        title: `Reflectance ${bandNames.join(' ')}`,
        roles: ['data', 'reflectance'],
        'eo:bands': bandNames.map((name) => ({ name, ...BAND_INFO[name] })),
        'raster:bands': bandNames.map(() => ({ data_type: 'float32', nodata: 0, spatial_resolution: resolution, scale: 1, offset: 0, unit: 'reflectance' })),
      },
      ...(chip.scl_path
        ? { scl: { href: hrefFromItem(chip.scl_path, stacDir), type: 'image/tiff; application=geotiff; profile=cloud-optimized', title: 'Scene classification (SCL), nearest to 10 m', roles: ['data', 'classification'], 'raster:bands': [{ data_type: 'uint8', nodata: 0, spatial_resolution: resolution }] } }
        : {}),
      footprint: { href: hrefFromItem(files.geojson, stacDir), type: 'application/geo+json', roles: ['metadata'] },
      metadata: { href: hrefFromItem(files.json, stacDir), type: 'application/json', roles: ['metadata'] },
      thumbnail: { href: hrefFromItem(files.quicklook, stacDir), type: 'image/jpeg', roles: ['thumbnail'] },
      labels: { href: `./${chip.chip_id}.labels.geojson`, type: 'application/geo+json', title: 'AIS vessel label', roles: ['labels', 'labels-vector'] },
    },
  };
  return item;
}

/** The collection: extent over every listed chip, one `item` link each. */
export function stacCollection(listed: readonly Listed[]): Record<string, unknown> {
  const boxes = listed.map(({ ring }) => bboxOf(ring));
  const times = listed.map(({ chip }) => new Date(chip.scene_datetime).toISOString()).sort();
  const bbox = boxes.length
    ? [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))]
    : [-180, -90, 180, 90];
  return {
    type: 'Collection',
    stac_version: STAC_VERSION,
    stac_extensions: STAC_EXTENSIONS,
    id: COLLECTION_ID,
    title: 'Sentinel-2 ship chips',
    description: '256×256 Sentinel-2 L2A reflectance chips (10 m, float32 0–1) centred on AIS-reported vessels, gate-accepted and pruned by AIS.',
    license: 'proprietary',
    extent: { spatial: { bbox: [bbox] }, temporal: { interval: [[times[0] ?? null, times[times.length - 1] ?? null]] } },
    summaries: { 'proj:epsg': [...new Set(listed.map(({ chip }) => chip.epsg))].sort((a, b) => a - b), split: [...new Set(listed.map(({ chip }) => chip.split))].sort() },
    links: [
      // Self-contained catalog: relative links only, no `self` (STAC best practice).
      { rel: 'root', href: './collection.json', type: 'application/json' },
      { rel: 'license', href: 'https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice', title: 'Copernicus Sentinel data terms' },
      ...listed.map(({ chip }) => ({ rel: 'item', href: `./items/${chip.chip_id}.json`, type: 'application/geo+json' })),
    ],
  };
}
