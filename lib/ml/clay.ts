// Sentinel-2 L2A bands by their two names (ESA band ids and the STAC/Clay common names) and the
// Clay v1.5 normalisation. Mean, std and wavelength are Clay's `configs/metadata.yaml`
// (`sentinel-2-l2a`, Clay-foundation/model); they are in L2A DN units (reflectance × 10,000).

export interface S2Band {
  /** ESA band id, as the chip GeoTIFFs and the catalogue normalisation name it. */
  id: string;
  /** STAC eo common name, as Clay names it. */
  clay: string;
  /** Native ground sampling distance (m). */
  gsd: 10 | 20;
  /** Band centre (µm), Clay's value. */
  wavelengthUm: number;
  /** Clay v1.5 per-band mean and std (DN = reflectance × 10,000). */
  mean: number;
  std: number;
}

export const S2_BANDS: readonly S2Band[] = [
  { id: 'B02', clay: 'blue', gsd: 10, wavelengthUm: 0.493, mean: 1105, std: 1809 },
  { id: 'B03', clay: 'green', gsd: 10, wavelengthUm: 0.56, mean: 1355, std: 1757 },
  { id: 'B04', clay: 'red', gsd: 10, wavelengthUm: 0.665, mean: 1552, std: 1888 },
  { id: 'B05', clay: 'rededge1', gsd: 20, wavelengthUm: 0.704, mean: 1887, std: 1870 },
  { id: 'B06', clay: 'rededge2', gsd: 20, wavelengthUm: 0.74, mean: 2422, std: 1732 },
  { id: 'B07', clay: 'rededge3', gsd: 20, wavelengthUm: 0.783, mean: 2630, std: 1697 },
  { id: 'B08', clay: 'nir', gsd: 10, wavelengthUm: 0.842, mean: 2743, std: 1742 },
  { id: 'B8A', clay: 'nir08', gsd: 20, wavelengthUm: 0.865, mean: 2785, std: 1648 },
  { id: 'B11', clay: 'swir16', gsd: 20, wavelengthUm: 1.61, mean: 2388, std: 1470 },
  { id: 'B12', clay: 'swir22', gsd: 20, wavelengthUm: 2.19, mean: 1835, std: 1379 },
];

/** Clay v1.5's Sentinel-2 L2A band order (all ten). */
export const CLAY_S2_BANDS: readonly string[] = S2_BANDS.map((band) => band.clay);

/** A band by either name (`B8A` or `nir08`); undefined when neither. */
export function s2Band(name: string): S2Band | undefined {
  return S2_BANDS.find((band) => band.id === name || band.clay === name);
}

/** Clay's time encoding: [sin, cos] of ISO week·2π/52, then [sin, cos] of hour·2π/24 (UTC). */
export function clayTime(iso: string): Float32Array {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new Error(`not a time: ${iso}`);
  const week = (isoWeek(date) * 2 * Math.PI) / 52;
  const hour = (date.getUTCHours() * 2 * Math.PI) / 24;
  return Float32Array.of(Math.sin(week), Math.cos(week), Math.sin(hour), Math.cos(hour));
}

/** Clay's location encoding: [sin, cos] of latitude, then [sin, cos] of longitude, in radians. */
export function clayLatLon(lat: number, lon: number): Float32Array {
  const phi = (lat * Math.PI) / 180;
  const lambda = (lon * Math.PI) / 180;
  return Float32Array.of(Math.sin(phi), Math.cos(phi), Math.sin(lambda), Math.cos(lambda));
}

/** ISO 8601 week number (1–53) of a UTC date, as Python's `date.isocalendar().week`. */
export function isoWeek(date: Date): number {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7; // Monday 1 … Sunday 7
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  return Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
}

/** Reflectance bands (0 = nodata) → Clay-normalised float32 [C, H, W]: (reflectance × 10,000 − mean) / std. */
export function clayPixels(reflectance: readonly Float32Array[], bands: readonly S2Band[]): Float32Array {
  const size = reflectance[0]?.length ?? 0;
  const out = new Float32Array(size * reflectance.length);
  reflectance.forEach((values, b) => {
    const { mean, std } = bands[b];
    for (let i = 0; i < size; i++) out[b * size + i] = (values[i] * 10_000 - mean) / std;
  });
  return out;
}
