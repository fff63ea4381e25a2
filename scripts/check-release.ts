// Checks a chip release the way a model user would before training: every row of
// indexes/tiles.parquet has a readable tiled GeoTIFF whose size, CRS and transform agree with the row,
// the JSON sidecar, the GeoJSON footprint and the STAC item; every STAC item has its row; every asset
// href of every item resolves to a file inside the release; each chip's file name carries its scene
// time as TorchGeo's RasterDataset reads it (TORCHGEO_FILENAME_REGEX); each item's `derived_from` link
// names the Sentinel-2 item it was cut from (checked when that item is a local file).
//
// Usage: npm run check-release -- [OUT_DIR] [--json]     (OUT_DIR defaults to ./out)
// Exit: 0 consistent, 1 problems found (each printed with its file), 2 not a release folder.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fromFile } from 'geotiff';
import { readTable } from '../src/sdk/table-io.js';
import { sceneDatetimeText } from '../steps/chip/geometry.js';

/**
 * The chip GeoTIFF names, as a TorchGeo RasterDataset subclass declares them (Python syntax:
 * `filename_regex = r'^(?P<chip_id>[0-9a-f]{16})_(?P<date>\d{8}T\d{6})\.tif$'`, `date_format = '%Y%m%dT%H%M%S'`).
 * It matches the reflectance chip only (not `_scl.tif`).
 */
export const TORCHGEO_FILENAME_REGEX = /^(?<chip_id>[0-9a-f]{16})_(?<date>\d{8}T\d{6})\.tif$/;

/** YYYYMMDDTHHMMSS (UTC) of a scene time, as the chip file name carries it. */
export function compactTime(sceneDatetime: unknown): string {
  const text = sceneDatetime instanceof Date ? sceneDatetime.toISOString() : String(sceneDatetime);
  return sceneDatetimeText(text).replace(/[-:]/g, '').slice(0, 15);
}

export interface ReleaseProblem {
  /** File the problem is in, relative to the release folder. */
  file: string;
  message: string;
}

export interface ReleaseReport {
  chips: number;
  items: number;
  problems: ReleaseProblem[];
}

type Ring = [number, number][];

const close = (a: number, b: number, tolerance = 1e-9): boolean => Math.abs(a - b) <= tolerance;

function parseWktRing(wkt: string): Ring | null {
  const match = /^\s*POLYGON\s*\(\s*\((.*?)\)/i.exec(wkt);
  return match ? match[1].split(',').map((pair) => pair.trim().split(/\s+/).map(Number) as [number, number]) : null;
}

function sameRing(a: Ring, b: Ring): boolean {
  return a.length === b.length && a.every((p, i) => close(p[0], b[i][0]) && close(p[1], b[i][1]));
}

function readJson(path: string): Record<string, unknown> | Error {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    return error as Error;
  }
}

/** Check the release under `root` (the pipeline's out/ folder, or a published copy of it). */
export async function checkRelease(root: string): Promise<ReleaseReport> {
  const problems: ReleaseProblem[] = [];
  const problem = (path: string, message: string): void => {
    problems.push({ file: relative(root, path).split(sep).join('/') || '.', message });
  };
  const tilesPath = join(root, 'indexes', 'tiles.parquet');
  const stacDir = join(root, 'indexes', 'stac');
  if (!existsSync(tilesPath)) throw new Error(`${relative(process.cwd(), root) || '.'}: no indexes/tiles.parquet — not a dagrun chip release`);
  // footprint comes back as GEOMETRY; the WKT is what the chips table wrote
  const rows = await readTable(tilesPath);
  const itemFiles = existsSync(join(stacDir, 'items')) ? readdirSync(join(stacDir, 'items')).filter((f) => f.endsWith('.json')) : [];
  const itemIds = new Set(itemFiles.map((f) => f.replace(/\.json$/, '')));
  const rowIds = new Set(rows.map((r) => String(r.chip_id)));
  for (const id of itemIds) if (!rowIds.has(id)) problem(join(stacDir, 'items', `${id}.json`), `STAC item ${id} has no row in indexes/tiles.parquet`);

  for (const row of rows) {
    const id = String(row.chip_id);
    const tif = join(root, String(row.path));
    const where = (suffix: string): string => tif.replace(/\.tif$/, suffix);
    if (!resolve(tif).startsWith(resolve(root) + sep)) {
      problem(tilesPath, `row ${id}: path ${String(row.path)} leaves the release folder`);
      continue;
    }
    if (!existsSync(tif)) {
      problem(tilesPath, `row ${id}: ${String(row.path)} does not exist`);
      continue;
    }
    // The name: TorchGeo finds the chip and its time from the file name alone.
    const name = /[^/]+$/.exec(String(row.path))?.[0] ?? '';
    const named = TORCHGEO_FILENAME_REGEX.exec(name);
    if (!named) problem(tif, `file name ${name} does not match ${TORCHGEO_FILENAME_REGEX.source} (TorchGeo cannot index it)`);
    else if (named.groups?.chip_id !== id) problem(tif, `file name carries chip id ${named.groups?.chip_id}, the index row says ${id}`);
    else if (named.groups?.date !== compactTime(row.scene_datetime)) problem(tif, `file name carries time ${named.groups?.date}, the scene time is ${compactTime(row.scene_datetime)}`);
    // The GeoTIFF: tiled, its CRS and transform as the row says.
    let transform: number[] | null = null;
    try {
      const image = await (await fromFile(tif)).getImage();
      if (!image.isTiled) problem(tif, 'not tiled (a COG is tiled)');
      const keys = image.getGeoKeys() as Record<string, number> | null;
      const epsg = keys?.ProjectedCSTypeGeoKey ?? keys?.GeographicTypeGeoKey;
      if (epsg !== Number(row.epsg)) problem(tif, `EPSG:${epsg} but the index row says EPSG:${String(row.epsg)}`);
      const [originX, originY] = image.getOrigin();
      const [resX, resY] = image.getResolution();
      transform = [originX, resX, 0, originY, 0, resY];
      if (image.getWidth() !== image.getHeight()) problem(tif, `${image.getWidth()}×${image.getHeight()} is not square`);
      const bands = String(row.bands).split(',');
      if (image.getSamplesPerPixel() !== bands.length) problem(tif, `${image.getSamplesPerPixel()} bands but the index lists ${bands.length} (${String(row.bands)})`);
    } catch (error) {
      problem(tif, `unreadable GeoTIFF: ${(error as Error).message}`);
    }
    // The sidecar: same chip, same transform.
    const sidecar = readJson(where('.json'));
    if (sidecar instanceof Error) problem(where('.json'), `sidecar unreadable: ${sidecar.message}`);
    else {
      for (const field of ['chip_id', 'mmsi', 'split', 'epsg'] as const) {
        if (String(sidecar[field]) !== String(row[field])) problem(where('.json'), `${field} ${String(sidecar[field])} but the index row says ${String(row[field])}`);
      }
      const gdal = sidecar.transform as number[] | undefined;
      if (transform && (!Array.isArray(gdal) || !gdal.every((v, i) => close(v, transform![i], 1e-6)))) problem(where('.json'), `transform ${JSON.stringify(gdal)} differs from the GeoTIFF's ${JSON.stringify(transform)}`);
    }
    // The footprint: the same ring as the STAC item and the sidecar's footprint_wkt.
    const feature = readJson(where('.geojson'));
    const ring = feature instanceof Error ? null : ((feature.geometry as { coordinates?: Ring[] } | undefined)?.coordinates?.[0] ?? null);
    if (feature instanceof Error || !ring) problem(where('.geojson'), `footprint unreadable${feature instanceof Error ? `: ${feature.message}` : ''}`);
    const wktRing = sidecar instanceof Error ? null : parseWktRing(String(sidecar.footprint_wkt ?? ''));
    if (ring && wktRing && !sameRing(ring, wktRing)) problem(where('.geojson'), 'footprint differs from the sidecar footprint_wkt');
    // The STAC item: same chip, split, footprint; every asset resolves to a file in the release.
    const itemPath = join(stacDir, 'items', `${id}.json`);
    if (!itemIds.has(id)) {
      problem(tilesPath, `row ${id} has no STAC item`);
      continue;
    }
    const item = readJson(itemPath);
    if (item instanceof Error) {
      problem(itemPath, `unreadable: ${item.message}`);
      continue;
    }
    const properties = (item.properties ?? {}) as Record<string, unknown>;
    if (String(properties.split) !== String(row.split)) problem(itemPath, `split ${String(properties.split)} but the index row says ${String(row.split)}`);
    if (String(properties.mmsi) !== String(row.mmsi)) problem(itemPath, `mmsi ${String(properties.mmsi)} but the index row says ${String(row.mmsi)}`);
    const itemRing = (item.geometry as { coordinates?: Ring[] } | undefined)?.coordinates?.[0];
    if (ring && (!itemRing || !sameRing(ring, itemRing))) problem(itemPath, 'geometry differs from the chip footprint');
    checkDerivedFrom(item, row, itemPath, root, problem);
    for (const [name, asset] of Object.entries((item.assets ?? {}) as Record<string, { href?: string }>)) {
      const target = resolve(dirname(itemPath), String(asset.href));
      if (!target.startsWith(resolve(root) + sep)) problem(itemPath, `asset ${name} href ${String(asset.href)} leaves the release folder`);
      else if (!existsSync(target)) problem(itemPath, `asset ${name} href ${String(asset.href)} does not resolve to a file`);
    }
  }
  return { chips: rows.length, items: itemIds.size, problems };
}

/**
 * The item's `derived_from` link: one, when the row records the scene's href; a URL, or a relative
 * href (never an absolute path). A relative one that resolves to a file must be the scene's STAC item
 * (its id the row's scene_id); one that does not resolve is reported only inside the release, since
 * the source catalog of a copied release stays behind.
 */
function checkDerivedFrom(item: Record<string, unknown>, row: Record<string, unknown>, itemPath: string, root: string, problem: (path: string, message: string) => void): void {
  const links = ((item.links ?? []) as { rel?: string; href?: string }[]).filter((link) => link?.rel === 'derived_from');
  if (row.scene_href === null || row.scene_href === undefined) {
    if (links.length > 0) problem(itemPath, 'derived_from link but the index row has no scene_href');
    return;
  }
  if (links.length !== 1) {
    problem(itemPath, `${links.length} derived_from links (one expected: the Sentinel-2 item ${String(row.scene_id)})`);
    return;
  }
  const href = String(links[0].href ?? '');
  if (/^[a-z][a-z0-9+.-]*:/i.test(href)) {
    if (!/^https?:\/\//i.test(href)) problem(itemPath, `derived_from href ${href} is neither http(s) nor relative`);
    return;
  }
  if (href === '' || href.startsWith('/')) {
    problem(itemPath, `derived_from href ${JSON.stringify(href)} is not a relative href`);
    return;
  }
  const target = resolve(dirname(itemPath), href);
  if (!existsSync(target)) {
    if (target.startsWith(resolve(root) + sep)) problem(itemPath, `derived_from href ${href} does not resolve to a file`);
    return;
  }
  const source = readJson(target);
  if (source instanceof Error || source.id !== row.scene_id) problem(itemPath, `derived_from href ${href} is not the STAC item ${String(row.scene_id)}${source instanceof Error ? `: ${source.message}` : ` (id ${String(source.id)})`}`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-release.ts')) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const root = resolve(args.find((a) => !a.startsWith('--')) ?? 'out');
  try {
    const report = await checkRelease(root);
    if (json) console.log(JSON.stringify(report));
    else {
      for (const p of report.problems) console.log(`${p.file}: ${p.message}`);
      console.log(`${report.chips} chips, ${report.items} STAC items: ${report.problems.length === 0 ? 'consistent' : `${report.problems.length} problem(s)`}`);
    }
    process.exitCode = report.problems.length === 0 ? 0 : 1;
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 2;
  }
}
