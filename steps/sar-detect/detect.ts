// One scene window → ship clusters: read the VV (or VH) window around a corridor through the COG
// reader, calibrate to σ⁰, mask land (Natural Earth polygons, buffered), two-parameter CFAR, cluster,
// and place each cluster in WGS84 with its size.
import proj4 from 'proj4';
import { CogReader } from '../../lib/geo/cog-reader.js';
import { cfarParallel, shareScene } from '../../lib/geo/sar-parallel.js';
import { calibrate, clusterDetections, dilate, rasterizeLand, scoreConfidence, type CalibrationLut, type CfarParams, type Grid, type Polygon } from '../../lib/geo/sar.js';
import { M_PER_DEG_LAT, mPerDegLon } from '../../lib/geo/sar-synthetic.js';
import { StepError } from '../../src/sdk/errors.js';

export const DETECTION_METHOD = 'sentinel-1-cfar-v1';

export interface DetectParams extends CfarParams {
  minPixels: number;
  landBufferPx: number;
  maxWindowPx: number;
  /** Worker threads for the CFAR (row strips); the result does not depend on it. */
  jobs: number;
}

export interface Detection {
  lat: number;
  lon: number;
  col: number;
  row: number;
  pixels: number;
  cfarScore: number;
  meanConfidence: number;
  maxConfidence: number;
  peakSigma0Db: number;
  meanSigma0Db: number;
  lengthM: number;
  widthM: number;
  orientationDeg: number;
  metersPerPixel: number;
}

/** Scene CRS ↔ WGS84 for the grids GRD COGs come in here: EPSG:4326, or UTM (326xx / 327xx). */
export function crsTransform(epsg: number | undefined, href: string): { toLonLat(x: number, y: number): [number, number]; fromLonLat(lon: number, lat: number): [number, number]; geographic: boolean } {
  if (epsg === 4326) return { toLonLat: (x, y) => [x, y], fromLonLat: (lon, lat) => [lon, lat], geographic: true };
  const utm = epsg !== undefined && ((epsg > 32600 && epsg <= 32660) || (epsg > 32700 && epsg <= 32760));
  if (!utm) throw new StepError(`raster CRS ${epsg === undefined ? 'unknown (a GRD in radar geometry with GCPs? terrain-correct it first)' : `EPSG:${epsg}`} is not supported: EPSG:4326 or UTM`, href);
  const def = `+proj=utm +zone=${(epsg as number) % 100}${(epsg as number) > 32700 ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`;
  const converter = proj4('EPSG:4326', def);
  return { toLonLat: (x, y) => converter.inverse([x, y]) as [number, number], fromLonLat: (lon, lat) => converter.forward([lon, lat]) as [number, number], geographic: false };
}

/**
 * Detect ships in the part of the raster at `href` that covers `bbox` (lon/lat [w, s, e, n]).
 * `calibration`: the sigmaNought LUT of this polarisation, or the item's scale.
 */
export async function detectInWindow(reader: CogReader, bbox: readonly [number, number, number, number], land: readonly Polygon[], calibration: { lut?: CalibrationLut; scale?: number }, params: DetectParams): Promise<{ detections: Detection[]; windowPixels: number; seaPixels: number }> {
  const geo = reader.geo;
  const crs = crsTransform(geo.epsg, reader.href);
  const corners = [
    crs.fromLonLat(bbox[0], bbox[1]),
    crs.fromLonLat(bbox[0], bbox[3]),
    crs.fromLonLat(bbox[2], bbox[1]),
    crs.fromLonLat(bbox[2], bbox[3]),
  ];
  const cols = corners.map(([x]) => (x - geo.originX) / geo.pixelWidth);
  const rows = corners.map(([, y]) => (geo.originY - y) / geo.pixelHeight);
  const x0 = Math.max(0, Math.floor(Math.min(...cols)));
  const y0 = Math.max(0, Math.floor(Math.min(...rows)));
  const x1 = Math.min(geo.width, Math.ceil(Math.max(...cols)));
  const y1 = Math.min(geo.height, Math.ceil(Math.max(...rows)));
  const width = x1 - x0;
  const height = y1 - y0;
  if (width <= 0 || height <= 0) return { detections: [], windowPixels: 0, seaPixels: 0 };
  if (width * height > params.maxWindowPx) throw new StepError(`window ${width}×${height} px exceeds max_window_px ${params.maxWindowPx}`, reader.href);
  const [dn] = await reader.readWindow(x0, y0, width, height);
  const sigma = calibrate(dn, width, height, x0, y0, calibration);
  const grid: Grid = { width, height, originX: geo.originX + x0 * geo.pixelWidth, originY: geo.originY - y0 * geo.pixelHeight, pixelWidth: geo.pixelWidth, pixelHeight: geo.pixelHeight };
  const landMask = rasterizeLand(grid, land, 0, (p) => crs.fromLonLat(p[0], p[1]));
  const buffered = params.landBufferPx > 0 ? dilate(landMask, width, height, params.landBufferPx) : landMask;
  const valid = new Uint8Array(new SharedArrayBuffer(width * height));
  let sea = 0;
  for (let i = 0; i < valid.length; i++) if (!buffered[i] && sigma[i] > 0) (valid[i] = 1), sea++;
  const score = await cfarParallel(shareScene(sigma, valid), width, height, params, params.jobs);
  const clusters = clusterDetections(score, sigma, width, height, params.minPixels);
  const detections = clusters.map((c) => {
    const x = grid.originX + c.col * grid.pixelWidth;
    const y = grid.originY - c.row * grid.pixelHeight;
    const [lon, lat] = crs.toLonLat(x, y);
    const mx = crs.geographic ? mPerDegLon(lat) * grid.pixelWidth : grid.pixelWidth;
    const my = crs.geographic ? M_PER_DEG_LAT * grid.pixelHeight : grid.pixelHeight;
    const metersPerPixel = Math.sqrt(mx * my);
    const db = (v: number) => 10 * Math.log10(v);
    return {
      lat,
      lon,
      col: x0 + c.col,
      row: y0 + c.row,
      pixels: c.pixels,
      cfarScore: c.peakScore,
      meanConfidence: scoreConfidence(c.meanScore, params.pfa),
      maxConfidence: scoreConfidence(c.peakScore, params.pfa),
      peakSigma0Db: db(c.peakSigma0),
      meanSigma0Db: db(c.meanSigma0),
      lengthM: c.lengthPx * metersPerPixel,
      widthM: c.widthPx * metersPerPixel,
      orientationDeg: c.orientationDeg,
      metersPerPixel,
    };
  });
  return { detections, windowPixels: width * height, seaPixels: sea };
}
