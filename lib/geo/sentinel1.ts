// Sentinel-1 GRD items from Earth Search (`sentinel-1-grd`) and the Copernicus Data Space STAC, in one
// shape: the VV/VH measurement COGs and their calibration annotations under fixed names, whatever
// the catalogue calls them. Only IW GRDH (high resolution) scenes are kept; the rest get a reason.
import { resolveHref, type JsonObject, type LocatedItem } from './stac.js';

/** Asset keys per role across catalogues, in order of preference. */
export const S1_ASSET_KEYS = {
  vv: ['vv', 'VV', 'measurement-vv', 'measurement_vv'],
  vh: ['vh', 'VH', 'measurement-vh', 'measurement_vh'],
  calibration_vv: ['schema-calibration-vv', 'calibration-vv', 'calibration_vv', 'VV_calibration'],
  calibration_vh: ['schema-calibration-vh', 'calibration-vh', 'calibration_vh', 'VH_calibration'],
} as const;
export type S1Asset = keyof typeof S1_ASSET_KEYS;

export interface S1Scene {
  id: string;
  /** ISO 8601 UTC, milliseconds: the sensing start. */
  datetime: string;
  platform: string;
  polarisations: string[];
  geometry: { type: string; coordinates: unknown } | null;
  /** Absolute path or URL per role present. */
  assets: Partial<Record<S1Asset, string>>;
  /** raster:bands scale of the VV asset (σ⁰ = (DN·scale)² when there is no calibration LUT). */
  scale: number;
}

export type S1Result = { scene: S1Scene } | { rejected: string };

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Normalise one item, or say why it is not an IW GRDH scene with a VV or VH measurement. */
export function normaliseS1Item(located: LocatedItem): S1Result {
  const item = located.item;
  const id = text(item.id);
  if (!id) return { rejected: 'item has no id' };
  const p = (item.properties ?? {}) as JsonObject;
  const mode = text(p['sar:instrument_mode']) ?? (/_(IW|EW|SM|WV)_/.exec(id)?.[1] ?? null);
  if (mode !== 'IW') return { rejected: `instrument mode ${mode ?? 'unknown'}, not IW` };
  const productType = text(p['sar:product_type']) ?? (/_GRD[HMF]_/.test(id) ? 'GRD' : null);
  if (productType !== 'GRD') return { rejected: `product type ${productType ?? 'unknown'}, not GRD` };
  const resolution = text(p['s1:resolution']) ?? (/_GRDH_/.test(id) ? 'high' : /_GRDM_/.test(id) ? 'medium' : null);
  if (resolution !== 'high') return { rejected: `resolution ${resolution ?? 'unknown'}, not GRDH` };
  const datetime = text(p.datetime) ?? text(p.start_datetime);
  const ms = datetime ? Date.parse(datetime) : NaN;
  if (Number.isNaN(ms)) return { rejected: 'no datetime' };
  const rawAssets = (item.assets ?? {}) as Record<string, JsonObject>;
  const assets: Partial<Record<S1Asset, string>> = {};
  for (const role of Object.keys(S1_ASSET_KEYS) as S1Asset[]) {
    const key = S1_ASSET_KEYS[role].find((k) => typeof rawAssets[k]?.href === 'string');
    if (key) assets[role] = resolveHref(rawAssets[key].href as string, located.location);
  }
  if (!assets.vv && !assets.vh) return { rejected: 'no VV or VH measurement asset' };
  const bands = (rawAssets[S1_ASSET_KEYS.vv.find((k) => rawAssets[k]) ?? '']?.['raster:bands'] ?? []) as JsonObject[];
  const scale = typeof bands[0]?.scale === 'number' ? (bands[0].scale as number) : 1;
  const polarisations = Array.isArray(p['sar:polarizations']) ? (p['sar:polarizations'] as unknown[]).map(String) : (['VV', 'VH'] as const).filter((pol) => assets[pol.toLowerCase() as S1Asset]);
  return {
    scene: {
      id,
      datetime: new Date(ms).toISOString(),
      // Earth Search writes `sentinel-1a`, stactools' GRD items `SENTINEL-1A`: one spelling.
      platform: (text(p.platform) ?? (id.startsWith('S1') ? `sentinel-1${id.slice(2, 3)}` : 'unknown')).toLowerCase(),
      polarisations,
      geometry: (item.geometry as S1Scene['geometry']) ?? null,
      assets,
      scale,
    },
  };
}
