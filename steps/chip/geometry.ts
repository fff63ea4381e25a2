// Chip geometry: where a chip sits in the scene's UTM grid, its transform and WGS84 footprint, its id
// and its split. Pure functions; the kernel and the tests call them.
import { createHash } from 'node:crypto';
import proj4 from 'proj4';

/** proj4 definition of a WGS84 UTM zone EPSG code (326zz north, 327zz south). Other CRSs are refused. */
export function utmDefinition(epsg: number): string {
  const north = epsg >= 32601 && epsg <= 32660;
  const south = epsg >= 32701 && epsg <= 32760;
  if (!north && !south) throw new Error(`EPSG:${epsg} is not a WGS84 UTM zone (326xx/327xx)`);
  const zone = epsg % 100;
  return `+proj=utm +zone=${zone}${south ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`;
}

const converters = new Map<number, proj4.Converter>();
function converter(epsg: number): proj4.Converter {
  let found = converters.get(epsg);
  if (!found) {
    found = proj4('EPSG:4326', utmDefinition(epsg));
    converters.set(epsg, found);
  }
  return found;
}

/** WGS84 lon/lat → easting/northing in the given UTM EPSG. */
export function toUtm(epsg: number, lon: number, lat: number): [number, number] {
  const [x, y] = converter(epsg).forward([lon, lat]);
  return [x, y];
}

/** Easting/northing in the given UTM EPSG → WGS84 lon/lat. */
export function toLonLat(epsg: number, x: number, y: number): [number, number] {
  const [lon, lat] = converter(epsg).inverse([x, y]);
  return [lon, lat];
}

/** A chip's place: top-left corner, pixel size, size in pixels, CRS. */
export interface ChipGrid {
  epsg: number;
  originX: number;
  originY: number;
  resolution: number;
  size: number;
}

/**
 * The chip window around a point, on the reference grid (origin `gridX`, `gridY`, pixel `resolution`):
 * the pixel containing the point is pixel (size/2, size/2) of the chip, so the chip centre pixel's
 * centre is within resolution·√2/2 of the point, and the chip shares the scene's pixel grid (the
 * 10 m bands are copied, not resampled).
 */
export function chipGrid(epsg: number, lon: number, lat: number, gridX: number, gridY: number, resolution: number, size: number): ChipGrid & { col: number; row: number } {
  const [x, y] = toUtm(epsg, lon, lat);
  const pointCol = Math.floor((x - gridX) / resolution);
  const pointRow = Math.floor((gridY - y) / resolution);
  const col = pointCol - Math.floor(size / 2);
  const row = pointRow - Math.floor(size / 2);
  return { epsg, originX: gridX + col * resolution, originY: gridY - row * resolution, resolution, size, col, row };
}

/** GDAL-style geotransform [originX, pixelWidth, 0, originY, 0, -pixelHeight]. */
export function geoTransform(grid: ChipGrid): [number, number, number, number, number, number] {
  return [grid.originX, grid.resolution, 0, grid.originY, 0, -grid.resolution];
}

/** WGS84 polygon ring of the chip's four outer corners, counter-clockwise (RFC 7946), closed. */
export function footprintRing(grid: ChipGrid): [number, number][] {
  const extent = grid.size * grid.resolution;
  const corners: [number, number][] = [
    [grid.originX, grid.originY], // upper left
    [grid.originX, grid.originY - extent], // lower left
    [grid.originX + extent, grid.originY - extent], // lower right
    [grid.originX + extent, grid.originY], // upper right
  ];
  const ring = corners.map(([x, y]) => toLonLat(grid.epsg, x, y).map(roundCoordinate) as [number, number]);
  ring.push(ring[0]);
  return ring;
}

/** 1e-9 degrees (~0.1 mm): keeps the JSON short and the text stable across platforms. */
function roundCoordinate(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}

export function footprintWkt(ring: readonly [number, number][]): string {
  return `POLYGON ((${ring.map(([lon, lat]) => `${lon} ${lat}`).join(', ')}))`;
}

/** WGS84 lon/lat of the centre of chip pixel (col, row). */
export function pixelCentre(grid: ChipGrid, col: number, row: number): [number, number] {
  return toLonLat(grid.epsg, grid.originX + (col + 0.5) * grid.resolution, grid.originY - (row + 0.5) * grid.resolution);
}

/**
 * Seed 001's Python `round(x, 5)` printed by `f"{...}"`: rounded to 5 decimals and printed in the
 * shortest form that round-trips (50.8, not 50.80000). JS `String()` and Python `repr` agree on that.
 */
export function round5Text(value: number): string {
  const rounded = Number(value.toFixed(5));
  const text = String(Object.is(rounded, -0) ? 0 : rounded);
  // Python prints integral floats with ".0" (round(50.0, 5) → 50.0)
  return Number.isInteger(rounded) ? `${text}.0` : text;
}

/** The scene datetime as it enters the chip id: ISO 8601 UTC with milliseconds, e.g. 2026-05-25T11:06:21.024Z. */
export function sceneDatetimeText(sceneDatetime: string | Date): string {
  const date = sceneDatetime instanceof Date ? sceneDatetime : new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(sceneDatetime) ? sceneDatetime : `${sceneDatetime.replace(' ', 'T')}Z`);
  if (Number.isNaN(date.getTime())) throw new Error(`invalid scene datetime ${String(sceneDatetime)}`);
  return date.toISOString();
}

/** chip_id = sha1("{mmsi}|{scene_datetime}|{round(lat,5)}|{round(lon,5)}")[:16]. */
export function chipId(mmsi: number | bigint, sceneDatetime: string | Date, lat: number, lon: number): string {
  const key = `${mmsi}|${sceneDatetimeText(sceneDatetime)}|${round5Text(lat)}|${round5Text(lon)}`;
  return createHash('sha1').update(key).digest('hex').slice(0, 16);
}

export type Split = 'train' | 'val' | 'test';

/**
 * Deterministic split from the chip id: the first 8 hex digits as a fraction u in [0, 1) against
 * the cumulative fractions (normalised to sum 1), in the order train, val, test.
 */
export function splitFor(chip: string, fractions: { train: number; val: number; test: number }): Split {
  const total = fractions.train + fractions.val + fractions.test;
  if (!(total > 0)) throw new Error('split fractions must sum to a positive number');
  const u = parseInt(chip.slice(0, 8), 16) / 0x100000000;
  if (u < fractions.train / total) return 'train';
  if (u < (fractions.train + fractions.val) / total) return 'val';
  return 'test';
}
