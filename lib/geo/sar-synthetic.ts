// Synthetic Sentinel-1 GRD scenes with known truth, for the embedded sample and for measuring the
// CFAR: sea clutter drawn from a K distribution (gamma texture × gamma speckle) or a plain gamma
// (speckle only), land from polygons, and ships as rotated bright rectangles of known length, width,
// heading and position. DN = √σ⁰ · A with A from a calibration LUT (written in the GRD annotation
// format), so the detector's calibration path is exercised. Seeded: same spec, same bytes.
import { gaussian, seededRandom } from '../../src/sdk/random.js';
import { rasterizeLand, type Grid, type Polygon } from './sar.js';

export interface ShipTruth {
  lat: number;
  lon: number;
  lengthM: number;
  widthM: number;
  headingDeg: number;
  /** Mean σ⁰ of the ship's pixels, dB. */
  sigma0Db: number;
}

export interface ClutterSpec {
  kind: 'k' | 'gamma';
  /** Mean sea σ⁰, dB. */
  meanDb: number;
  /** Equivalent number of looks of the speckle (GRDH IW ≈ 4.4). */
  looks: number;
  /** K-distribution texture shape ν (smaller = spikier); ignored for gamma. */
  shape: number;
}

export interface SyntheticSpec {
  /** A lon/lat grid (EPSG:4326): origin = top-left corner, pixel sizes in degrees. */
  grid: Grid;
  clutter: ClutterSpec;
  land: readonly Polygon[];
  /** Mean land σ⁰, dB (land is gamma with the same looks). */
  landDb: number;
  ships: readonly ShipTruth[];
  seed: number;
}

/** Gamma(shape k, scale 1/k): mean 1 (Marsaglia–Tsang; k < 1 by the boost u^(1/k)). */
export function gammaUnitMean(random: () => number, k: number): number {
  const boost = k < 1;
  const a = boost ? k + 1 : k;
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = gaussian(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) {
      const g = d * v * (boost ? Math.pow(random(), 1 / k) : 1);
      return g / k;
    }
  }
}

/** A linear sigmaNought gain across range, like a real IW GRD LUT (≈ 660 near range → 560 far range). */
export function syntheticLut(width: number, height: number, step = 40): { lines: number[]; pixels: number[]; sigma: number[] } {
  const pixels: number[] = [];
  for (let p = 0; p < width - 1; p += step) pixels.push(p);
  pixels.push(width - 1);
  const sigma = pixels.map((p) => Math.round((660 - (100 * p) / Math.max(1, width - 1)) * 1e4) / 1e4);
  const lines: number[] = [];
  for (let l = 0; l < height - 1; l += Math.max(1, Math.floor(height / 4))) lines.push(l);
  lines.push(height - 1);
  return { lines, pixels, sigma };
}

/** The LUT as a GRD calibration annotation (the <calibrationVector> elements the detector reads). */
export function lutXml(lut: { lines: number[]; pixels: number[]; sigma: number[] }, polarisation: string): string {
  const vectors = lut.lines
    .map((line) => `    <calibrationVector>\n      <line>${line}</line>\n      <pixel count="${lut.pixels.length}">${lut.pixels.join(' ')}</pixel>\n      <sigmaNought count="${lut.sigma.length}">${lut.sigma.map((s) => s.toExponential(6)).join(' ')}</sigmaNought>\n    </calibrationVector>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<calibration>\n  <adsHeader>\n    <productType>GRD</productType>\n    <polarisation>${polarisation.toUpperCase()}</polarisation>\n    <mode>IW</mode>\n  </adsHeader>\n  <calibrationVectorList count="${lut.lines.length}">\n${vectors}\n  </calibrationVectorList>\n</calibration>\n`;
}

export const M_PER_DEG_LAT = 110_574;
export const mPerDegLon = (lat: number) => 111_320 * Math.cos((lat * Math.PI) / 180);

/** σ⁰ of every pixel, the land mask and the DN (uint16, 0 = nodata, never produced for data). */
export function synthesize(spec: SyntheticSpec): { sigma0: Float32Array; land: Uint8Array; dn: Uint16Array; lut: ReturnType<typeof syntheticLut> } {
  const { grid, clutter } = spec;
  const { width, height } = grid;
  const random = seededRandom(spec.seed);
  const land = rasterizeLand(grid, spec.land);
  const sigma0 = new Float32Array(width * height);
  const seaMean = 10 ** (clutter.meanDb / 10);
  const landMean = 10 ** (spec.landDb / 10);
  for (let i = 0; i < sigma0.length; i++) {
    const speckle = gammaUnitMean(random, clutter.looks);
    if (land[i]) sigma0[i] = landMean * speckle;
    else sigma0[i] = seaMean * speckle * (clutter.kind === 'k' ? gammaUnitMean(random, clutter.shape) : 1);
  }
  for (const ship of spec.ships) {
    const mean = 10 ** (ship.sigma0Db / 10);
    const mx = mPerDegLon(ship.lat) * grid.pixelWidth;
    const my = M_PER_DEG_LAT * grid.pixelHeight;
    const cx = (ship.lon - grid.originX) / grid.pixelWidth;
    const cy = (grid.originY - ship.lat) / grid.pixelHeight;
    const h = (ship.headingDeg * Math.PI) / 180;
    const reach = Math.ceil(ship.lengthM / Math.min(mx, my)) + 1;
    for (let r = Math.floor(cy) - reach; r <= Math.floor(cy) + reach; r++)
      for (let c = Math.floor(cx) - reach; c <= Math.floor(cx) + reach; c++) {
        if (r < 0 || r >= height || c < 0 || c >= width) continue;
        // Pixel centre in metres east/north of the ship centre, then along/across the heading.
        const east = (c + 0.5 - cx) * mx;
        const north = (cy - (r + 0.5)) * my;
        const along = east * Math.sin(h) + north * Math.cos(h);
        const across = east * Math.cos(h) - north * Math.sin(h);
        if (Math.abs(along) <= ship.lengthM / 2 && Math.abs(across) <= ship.widthM / 2) sigma0[r * width + c] = mean * gammaUnitMean(random, clutter.looks);
      }
  }
  const lut = syntheticLut(width, height);
  const dn = new Uint16Array(width * height);
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      // The LUT is constant along azimuth here: interpolate across range only.
      let k = 0;
      while (k + 1 < lut.pixels.length - 1 && lut.pixels[k + 1] <= c) k++;
      const f = (c - lut.pixels[k]) / (lut.pixels[k + 1] - lut.pixels[k]);
      const gain = lut.sigma[k] * (1 - f) + lut.sigma[k + 1] * f;
      dn[r * width + c] = Math.min(65_535, Math.max(1, Math.round(Math.sqrt(sigma0[r * width + c]) * gain)));
    }
  return { sigma0, land, dn, lut };
}

/** A grid of `width`×`height` pixels of about `pixelM` metres centred on (lat, lon). */
export function gridAround(lat: number, lon: number, width: number, height: number, pixelM: number): Grid {
  const pixelHeight = pixelM / M_PER_DEG_LAT;
  const pixelWidth = pixelM / mPerDegLon(lat);
  return { width, height, originX: lon - (width / 2) * pixelWidth, originY: lat + (height / 2) * pixelHeight, pixelWidth, pixelHeight };
}

export interface DetectionScore {
  /** Per ship (truth order): whether a cluster found it. */
  found: boolean[];
  ships: number;
  detected: number;
  clusters: number;
  falseAlarms: number;
  seaKm2: number;
  pd: number;
  falseAlarmsPerKm2: number;
}

/**
 * Score clusters (pixel centroids) against the truth: a ship is found when a cluster centroid lies
 * within half its length plus `tolerancePx` pixels of its centre; a cluster near no ship is a false alarm.
 */
export function scoreAgainstTruth(grid: Grid, land: Uint8Array, ships: readonly ShipTruth[], clusters: readonly { col: number; row: number }[], tolerancePx = 2): DetectionScore {
  const mx = (lat: number) => mPerDegLon(lat) * grid.pixelWidth;
  const my = M_PER_DEG_LAT * grid.pixelHeight;
  const near = (ship: ShipTruth, cl: { col: number; row: number }) => {
    const cx = (ship.lon - grid.originX) / grid.pixelWidth;
    const cy = (grid.originY - ship.lat) / grid.pixelHeight;
    const dist = Math.hypot((cl.col - cx) * mx(ship.lat), (cl.row - cy) * my);
    return dist <= ship.lengthM / 2 + tolerancePx * Math.max(mx(ship.lat), my);
  };
  const found = ships.map((s) => clusters.some((c) => near(s, c)));
  const detected = found.filter(Boolean).length;
  const falseAlarms = clusters.filter((c) => !ships.some((s) => near(s, c))).length;
  let sea = 0;
  for (let i = 0; i < land.length; i++) if (!land[i]) sea++;
  const midLat = grid.originY - (grid.height / 2) * grid.pixelHeight;
  const seaKm2 = (sea * mx(midLat) * my) / 1e6;
  return { found, ships: ships.length, detected, clusters: clusters.length, falseAlarms, seaKm2, pd: ships.length ? detected / ships.length : 0, falseAlarmsPerKm2: seaKm2 ? falseAlarms / seaKm2 : 0 };
}

/** A measurement scene: open sea with a coast strip, `count` ships of 20–300 m at −8…+12 dB, placed on a jittered lattice. */
export function measurementSpec(seed: number, size = 2048, clutter: ClutterSpec = { kind: 'k', meanDb: -18, looks: 4.4, shape: 4 }): SyntheticSpec {
  const grid = gridAround(12.6, 43.3, size, size, 10);
  const random = seededRandom(seed ^ 0x5eed);
  const right = grid.originX + grid.width * grid.pixelWidth;
  const bottom = grid.originY - grid.height * grid.pixelHeight;
  // Land: the eastern 12 % of the scene with a ragged coast.
  const coastX = grid.originX + 0.88 * grid.width * grid.pixelWidth;
  const coast: number[][] = [[right + 1, grid.originY + 1]];
  for (let k = 0; k <= 16; k++) coast.push([coastX + (random() - 0.5) * 40 * grid.pixelWidth, grid.originY - (k / 16) * (grid.originY - bottom)]);
  coast.push([right + 1, bottom - 1], [right + 1, grid.originY + 1]);
  const ships: ShipTruth[] = [];
  const cells = 8;
  for (let i = 0; i < cells; i++)
    for (let j = 0; j < cells - 1; j++) {
      const fx = (j + 0.25 + 0.5 * random()) / cells;
      const fy = (i + 0.25 + 0.5 * random()) / cells;
      ships.push({
        lon: grid.originX + fx * 0.85 * grid.width * grid.pixelWidth,
        lat: grid.originY - fy * grid.height * grid.pixelHeight,
        lengthM: Math.round(20 + random() * 280),
        widthM: 0,
        headingDeg: Math.round(random() * 360),
        sigma0Db: Math.round((-8 + random() * 20) * 10) / 10,
      });
    }
  for (const s of ships) s.widthM = Math.max(6, Math.round(s.lengthM * 0.15));
  return { grid, clutter, land: [[coast]], landDb: -6, ships, seed };
}
