// Sentinel-2 tile ids (MGRS 100 km squares) → the tile's UTM square and its WGS84 footprint.
// A Sentinel-2 tile is a 109,800 m square in its UTM zone. Its upper-left corner is the
// north-west corner of the MGRS 100 km square, snapped outward to the 60 m grid (ESA's tiling
// grid: x rounded down, y rounded up — away from the equator in the north, towards it in the south —
// to a multiple of 60 m); it extends 109,800 m east and south,
// so it overlaps its neighbours by 9,800 m.
import proj4 from 'proj4';
import { StepError } from '../../src/sdk/errors.js';

export const TILE_SIZE_M = 109_800;
const SQUARE_M = 100_000;
const GRID_M = 60;
/** Latitude bands C..X (I and O skipped), 8° each from 80°S; X is 12° (72–84°N). */
const BANDS = 'CDEFGHJKLMNPQRSTUVWX';
/** MGRS 100 km column letters, in three sets by zone; and the 20 row letters. */
const COLUMN_SETS = ['ABCDEFGH', 'JKLMNPQR', 'STUVWXYZ'];
const ROWS = 'ABCDEFGHJKLMNPQRSTUV';

export interface TileFootprint {
  tileId: string;
  zone: number;
  band: string;
  south: boolean;
  epsg: number;
  /** The tile square in UTM metres. */
  utm: { minX: number; minY: number; maxX: number; maxY: number };
  /** Closed ring of [lon, lat]: the four UTM corners (SW, SE, NE, NW, SW). */
  polygon: [number, number][];
  /** Bounding box of the footprint (edges densified, so it contains the curved lat/lon edges);
   * minLon > maxLon when the tile crosses the antimeridian. */
  bbox: { minLat: number; minLon: number; maxLat: number; maxLon: number };
  /** The UTM centre of the square, in WGS84. */
  center: { lat: number; lon: number };
  /** Points along the footprint boundary ([lon, lat]), for coverage-window computations. */
  boundary: [number, number][];
}

const projections = new Map<string, proj4.Converter>();

/** WGS84 ↔ UTM converter for a zone (cached). */
export function utmProjection(zone: number, south: boolean): proj4.Converter {
  const key = `${zone}${south ? 'S' : 'N'}`;
  let converter = projections.get(key);
  if (!converter) {
    converter = proj4('EPSG:4326', `+proj=utm +zone=${zone}${south ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`);
    projections.set(key, converter);
  }
  return converter;
}

/** Normalise a tile id: optional leading 'T', zone without leading zero ambiguity → e.g. '06VVN'. */
export function normaliseTileId(input: string): string {
  const match = /^T?(\d{1,2})([A-Z])([A-Z])([A-Z])$/.exec(input.trim().toUpperCase());
  if (!match) throw new StepError(`"${input}" is not a Sentinel-2 tile id (expected e.g. 30UXB or T30UXB)`);
  return `${match[1].padStart(2, '0')}${match[2]}${match[3]}${match[4]}`;
}

/**
 * The footprint of a Sentinel-2 tile. Throws a StepError for ids that are not tiles: bad zone or
 * band letter, a column letter outside the zone's set, or a 100 km row that does not intersect the
 * latitude band (e.g. T31SDF: row F in zone 31 lies at 40.6–41.5°N, wholly north of band S).
 */
export function tileFootprint(input: string): TileFootprint {
  const tileId = normaliseTileId(input);
  const zone = Number(tileId.slice(0, 2));
  const band = tileId[2];
  const column = tileId[3];
  const row = tileId[4];
  if (zone < 1 || zone > 60) throw new StepError(`tile ${tileId}: UTM zone ${zone} is not in 1–60`);
  const bandIndex = BANDS.indexOf(band);
  if (bandIndex < 0) throw new StepError(`tile ${tileId}: "${band}" is not a latitude band (C–X without I and O)`);
  const columnSet = COLUMN_SETS[(zone - 1) % 3];
  const columnIndex = columnSet.indexOf(column);
  if (columnIndex < 0) throw new StepError(`tile ${tileId}: column letter ${column} is not used in zone ${zone} (its columns are ${columnSet})`);
  let rowIndex = ROWS.indexOf(row);
  if (rowIndex < 0) throw new StepError(`tile ${tileId}: "${row}" is not an MGRS row letter`);
  // Even zones start their row lettering at F (a 500 km offset).
  if (zone % 2 === 0) rowIndex = (rowIndex - 5 + 20) % 20;

  const south = bandIndex < BANDS.indexOf('N');
  const bandMinLat = -80 + 8 * bandIndex;
  const bandMaxLat = band === 'X' ? 84 : bandMinLat + 8;
  const easting = (columnIndex + 1) * SQUARE_M;
  const projection = utmProjection(zone, south);
  const toLonLat = (x: number, y: number): [number, number] => projection.inverse([x, y]) as [number, number];

  // The row letter fixes the northing modulo 2,000 km; pick the cycle whose square meets the band.
  let bestNorthing: number | undefined;
  let bestOverlap = 0;
  for (let cycle = 0; cycle < 5; cycle++) {
    const northing = rowIndex * SQUARE_M + cycle * 2_000_000;
    if (northing >= 10_000_000) continue;
    // ~110.6 km per degree of latitude: skip cycles that are nowhere near the band.
    const roughLat = (northing - (south ? 10_000_000 : 0)) / 110_600;
    if (roughLat > bandMaxLat + 3 || roughLat + 1 < bandMinLat - 3) continue;
    const lats: number[] = [];
    for (const x of [easting, easting + SQUARE_M / 2, easting + SQUARE_M]) {
      for (const y of [northing, northing + SQUARE_M]) lats.push(toLonLat(x, y)[1]);
    }
    const overlap = Math.min(Math.max(...lats), bandMaxLat) - Math.max(Math.min(...lats), bandMinLat);
    if (overlap > bestOverlap) {
      bestOverlap = overlap;
      bestNorthing = northing;
    }
  }
  if (bestNorthing === undefined) {
    throw new StepError(
      `tile ${tileId} is not a Sentinel-2 tile: its 100 km row ${row} in zone ${zone} does not intersect latitude band ${band} (${bandMinLat}° to ${bandMaxLat}°)`,
    );
  }

  const minX = Math.floor(easting / GRID_M) * GRID_M;
  // The 60 m snapping is done on the signed distance from the equator (southern false northing removed).
  const falseNorthing = south ? 10_000_000 : 0;
  const maxY = Math.ceil((bestNorthing + SQUARE_M - falseNorthing) / GRID_M) * GRID_M + falseNorthing;
  const utm = { minX, minY: maxY - TILE_SIZE_M, maxX: minX + TILE_SIZE_M, maxY };
  const corners: [number, number][] = [
    [utm.minX, utm.minY],
    [utm.maxX, utm.minY],
    [utm.maxX, utm.maxY],
    [utm.minX, utm.maxY],
  ];
  const polygon = [...corners, corners[0]].map(([x, y]) => toLonLat(x, y));
  const boundary: [number, number][] = [];
  const perEdge = 8;
  for (let edge = 0; edge < 4; edge++) {
    const [x0, y0] = corners[edge];
    const [x1, y1] = corners[(edge + 1) % 4];
    for (let k = 0; k < perEdge; k++) boundary.push(toLonLat(x0 + ((x1 - x0) * k) / perEdge, y0 + ((y1 - y0) * k) / perEdge));
  }
  const lats = boundary.map((p) => p[1]);
  // A tile crossing the antimeridian gets a bbox with minLon > maxLon (RFC 7946 §5.2 convention).
  const rawLons = boundary.map((p) => p[0]);
  const crosses = Math.max(...rawLons) - Math.min(...rawLons) > 180;
  const lons = crosses ? rawLons.map((lon) => (lon < 0 ? lon + 360 : lon)) : rawLons;
  const wrap = (lon: number): number => (lon > 180 ? lon - 360 : lon);
  const [centerLon, centerLat] = toLonLat((utm.minX + utm.maxX) / 2, (utm.minY + utm.maxY) / 2);
  return {
    tileId,
    zone,
    band,
    south,
    epsg: (south ? 32700 : 32600) + zone,
    utm,
    polygon,
    bbox: { minLat: Math.min(...lats), minLon: wrap(Math.min(...lons)), maxLat: Math.max(...lats), maxLon: wrap(Math.max(...lons)) },
    center: { lat: centerLat, lon: centerLon },
    boundary,
  };
}

/**
 * The Sentinel-2 tile id whose 100 km MGRS square contains a point (standard UTM zones; the
 * Norway/Svalbard zone exceptions are not applied). Inverse of the lettering in `tileFootprint`.
 */
export function tileIdAt(lat: number, lon: number): string {
  if (!(lat >= -80 && lat < 84) || !(lon >= -180 && lon <= 180)) throw new StepError(`(${lat}, ${lon}) is outside the UTM/MGRS latitude range 80°S–84°N`);
  const zone = Math.min(60, Math.floor((lon + 180) / 6) + 1);
  const bandIndex = Math.min(BANDS.length - 1, Math.floor((lat + 80) / 8));
  const band = BANDS[bandIndex];
  // The hemisphere follows the band (C–M south), not the sign of lat: −5e-324 is in band N. A point a
  // hair off the equator projects onto the false northing (10,000 km south, 0 north) or just past it:
  // keep it in the square of its band that it lies on the edge of.
  const south = bandIndex < BANDS.indexOf('N');
  const [easting, projected] = utmProjection(zone, south).forward([lon, lat]) as [number, number];
  const northing = south ? Math.min(projected, 10_000_000 - 1e-3) : Math.max(projected, 0);
  const column = COLUMN_SETS[(zone - 1) % 3][Math.floor(easting / SQUARE_M) - 1];
  const row = ROWS[(Math.floor(northing / SQUARE_M) + (zone % 2 === 0 ? 5 : 0)) % 20];
  if (!column) throw new StepError(`(${lat}, ${lon}) falls outside the MGRS columns of zone ${zone}`);
  return `${String(zone).padStart(2, '0')}${band}${column}${row}`;
}
