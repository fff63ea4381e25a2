// A small STAC client for Sentinel-2 L2A: the item API (POST /search with paging, timeouts and retries),
// static catalogs on disk or over HTTP, and normalisation of items from Earth Search v1/v0, CDSE and
// Planetary Computer into one shape (band keys B02…SCL, absolute hrefs, reflectance scale/offset).
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { StepError, UserError } from '../../src/sdk/errors.js';
import { pointInPolygon } from './sphere.js';

export type JsonObject = Record<string, unknown>;

/** A raw STAC item and the URL it was read from (relative asset hrefs resolve against it). */
export interface LocatedItem {
  readonly item: JsonObject;
  readonly location: string;
  /** True when `location` is the item's own document (a static catalog's item file), not a page or collection holding it. */
  readonly own?: boolean;
}

/**
 * The bands the chip and gate steps use, by their Sentinel-2 names: seed 001's set and SCL, then the
 * rest of Clay's ten (red edge and B8A, 20 m), appended so existing `assets` strings keep their order.
 */
export const CHIP_BANDS = ['B02', 'B03', 'B04', 'B08', 'B11', 'B12', 'SCL', 'B05', 'B06', 'B07', 'B8A'] as const;
export type ChipBand = (typeof CHIP_BANDS)[number];

/**
 * Asset keys per band across catalogues, in order of preference: Earth Search v1 common names,
 * Earth Search v0 / Planetary Computer band ids, CDSE resolution-suffixed ids.
 * `nir08` (B8A) is deliberately not an alias of B08.
 */
export const BAND_ASSET_KEYS: Readonly<Record<ChipBand, readonly string[]>> = {
  B02: ['blue', 'B02', 'B02_10m', 'B02_20m', 'B02_60m'],
  B03: ['green', 'B03', 'B03_10m', 'B03_20m', 'B03_60m'],
  B04: ['red', 'B04', 'B04_10m', 'B04_20m', 'B04_60m'],
  B08: ['nir', 'B08', 'B08_10m'],
  B11: ['swir16', 'B11', 'B11_20m', 'B11_60m'],
  B12: ['swir22', 'B12', 'B12_20m', 'B12_60m'],
  SCL: ['scl', 'SCL', 'SCL_20m', 'SCL_60m'],
  B05: ['rededge1', 'B05', 'B05_20m', 'B05_60m'],
  B06: ['rededge2', 'B06', 'B06_20m', 'B06_60m'],
  B07: ['rededge3', 'B07', 'B07_20m', 'B07_60m'],
  B8A: ['nir08', 'B8A', 'B8A_20m', 'B8A_60m'],
};

/** One band's file and how to turn its DN into physical values: value = DN × scale + offset. */
export interface BandAsset {
  href: string;
  scale: number;
  offset: number;
  nodata: number;
}

export interface Scene {
  id: string;
  /** ISO 8601 UTC, milliseconds. */
  datetime: string;
  cloudCover: number | null;
  epsg: number | null;
  processingBaseline: string | null;
  /**
   * Where the item itself can be read again (the target of a chip's `derived_from` link): its `self`
   * link resolved against where it was read, else its own document; null when neither is known.
   */
  href: string | null;
  /** GeoJSON Polygon or MultiPolygon in WGS84. */
  geometry: { type: string; coordinates: unknown } | null;
  assets: Partial<Record<ChipBand, BandAsset>>;
}

/** L2A reflectance quantification: DN / 10000. */
export const L2A_SCALE = 0.0001;
/** Processing baseline 04.00 (25 Jan 2022) added BOA_ADD_OFFSET = −1000 DN, i.e. −0.1 after scaling. */
export const BOA_OFFSET_BASELINE = '04.00';
export const BOA_OFFSET = -0.1;
const BASELINE_04_DATE = '2022-01-25T00:00:00Z';

// ---------------------------------------------------------------------------------------------
// Item normalisation

/** The processing baseline ("05.09") from whichever property the catalogue uses, else the product id's `_Nxxyy_`. */
export function processingBaseline(properties: JsonObject): string | null {
  for (const key of ['s2:processing_baseline', 'sentinel:processing_baseline', 'processing:version']) {
    const value = properties[key];
    if (typeof value === 'string' && /^\d{1,2}\.\d{2}$/.test(value)) return value.padStart(5, '0');
    if (typeof value === 'number' && Number.isFinite(value)) return value.toFixed(2).padStart(5, '0');
  }
  for (const key of ['s2:product_uri', 'sentinel:product_id', 's2:granule_id', 's2:datatake_id']) {
    const value = properties[key];
    const match = typeof value === 'string' ? /_N(\d{2})\.?(\d{2})(?:[_.]|$)/.exec(value) : null;
    if (match) return `${match[1]}.${match[2]}`;
  }
  return null;
}

/** Reflectance offset implied by the processing baseline (or, without one, by the acquisition date). */
export function baselineOffset(baseline: string | null, datetime: string): number {
  if (baseline !== null) return baseline >= BOA_OFFSET_BASELINE ? BOA_OFFSET : 0;
  return datetime >= BASELINE_04_DATE ? BOA_OFFSET : 0;
}

function firstRasterBand(asset: JsonObject): JsonObject | null {
  const bands = asset['raster:bands'];
  if (Array.isArray(bands) && bands.length > 0 && bands[0] && typeof bands[0] === 'object') return bands[0] as JsonObject;
  // STAC 1.1 moved raster:* fields into `bands` with prefixed names.
  const stac11 = asset.bands;
  if (Array.isArray(stac11) && stac11.length > 0 && stac11[0] && typeof stac11[0] === 'object') {
    const band = stac11[0] as JsonObject;
    return { scale: band['raster:scale'], offset: band['raster:offset'], nodata: band.nodata ?? band['raster:nodata'] };
  }
  return null;
}

const finite = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** Resolve an asset href against the document it came from; local files come back as absolute paths. */
export function resolveHref(href: string, location: string): string {
  const base = toUrl(location);
  const url = /^[a-z][a-z0-9+.-]*:/i.test(href) && !/^[a-z]:[\\/]/i.test(href) ? new URL(href) : new URL(href, base);
  return url.protocol === 'file:' ? fileURLToPath(url) : url.href;
}

function toUrl(location: string): URL {
  if (/^(https?|file):/i.test(location)) return new URL(location);
  return pathToFileURL(isAbsolute(location) ? location : resolve(location));
}

/** EPSG code from proj:epsg / proj:code (item or asset level), else from the MGRS tile id. */
export function sceneEpsg(item: JsonObject): number | null {
  const properties = (item.properties ?? {}) as JsonObject;
  const assets = (item.assets ?? {}) as Record<string, JsonObject>;
  const candidates: unknown[] = [properties['proj:epsg'], properties['proj:code']];
  for (const key of BAND_ASSET_KEYS.B04) if (assets[key]) candidates.push(assets[key]['proj:epsg'], assets[key]['proj:code']);
  for (const value of candidates) {
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    const match = typeof value === 'string' ? /^EPSG:(\d+)$/i.exec(value) : null;
    if (match) return Number(match[1]);
  }
  const tile = [properties['s2:mgrs_tile'], properties['grid:code'], properties['tile_id']].find((v) => typeof v === 'string') as string | undefined;
  const mgrs = tile ? /(\d{1,2})([C-X])[A-Z]{2}$/.exec(tile.replace(/^MGRS-/, '')) : null;
  if (mgrs) return (mgrs[2] >= 'N' ? 32600 : 32700) + Number(mgrs[1]);
  return null;
}

function isoMillis(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

/**
 * Normalise one STAC item. Throws a StepError naming `where` when it is not an item at all
 * (no id or no datetime); missing bands simply stay absent from `assets`.
 */
export function normaliseItem(located: LocatedItem, where = located.location): Scene {
  const { item, location } = located;
  const id = item.id;
  const properties = (item.properties ?? {}) as JsonObject;
  if (typeof id !== 'string' || id === '') throw new StepError('STAC item has no id', where);
  // Items with a range instead of an instant use its start.
  const datetime = isoMillis(properties.datetime) ?? isoMillis(properties.start_datetime);
  if (datetime === null) throw new StepError(`STAC item ${id} has no valid datetime`, where);
  const baseline = processingBaseline(properties);
  const assetsIn = (item.assets ?? {}) as Record<string, JsonObject>;
  const assets: Partial<Record<ChipBand, BandAsset>> = {};
  for (const band of CHIP_BANDS) {
    const key = BAND_ASSET_KEYS[band].find((k) => assetsIn[k] && typeof assetsIn[k].href === 'string');
    if (key === undefined) continue;
    const asset = assetsIn[key];
    const raster = firstRasterBand(asset);
    const nodata = finite(raster?.nodata) ?? 0;
    if (band === 'SCL') {
      assets[band] = { href: resolveHref(String(asset.href), location), scale: finite(raster?.scale) ?? 1, offset: finite(raster?.offset) ?? 0, nodata };
      continue;
    }
    const scale = finite(raster?.scale);
    // Prefer the catalogue's own raster:bands; otherwise apply the ESA rule for the processing baseline.
    assets[band] =
      scale !== undefined
        ? { href: resolveHref(String(asset.href), location), scale, offset: finite(raster?.offset) ?? 0, nodata }
        : { href: resolveHref(String(asset.href), location), scale: L2A_SCALE, offset: baselineOffset(baseline, datetime), nodata };
  }
  const geometry = item.geometry && typeof item.geometry === 'object' ? (item.geometry as Scene['geometry']) : null;
  return {
    id,
    datetime,
    cloudCover: finite(properties['eo:cloud_cover']) ?? null,
    epsg: sceneEpsg(item),
    processingBaseline: baseline,
    href: itemHref(located),
    geometry,
    assets,
  };
}

/** The item's `self` link (resolved against where it was read), else its own document, else null. */
export function itemHref({ item, location, own }: LocatedItem): string | null {
  const self = ((item.links ?? []) as StacLink[]).find((link) => link?.rel === 'self' && typeof link.href === 'string' && link.href !== '');
  if (self) {
    try {
      return resolveHref(self.href as string, location);
    } catch {
      return own ? resolveHref(location, location) : null; // an unparsable self link: fall back to the document
    }
  }
  return own ? resolveHref(location, location) : null;
}

/** Whether a scene footprint (Polygon or MultiPolygon, lon/lat) contains the point. */
export function footprintContains(scene: Pick<Scene, 'geometry'>, lat: number, lon: number): boolean {
  const geometry = scene.geometry;
  if (!geometry) return false;
  if (geometry.type === 'Polygon') return pointInPolygon(lon, lat, geometry.coordinates as number[][][]);
  if (geometry.type === 'MultiPolygon') return (geometry.coordinates as number[][][][]).some((polygon) => pointInPolygon(lon, lat, polygon));
  return false;
}

// ---------------------------------------------------------------------------------------------
// HTTP with timeouts and retries

export interface HttpOptions {
  /** Per-request timeout. */
  timeoutMs: number;
  /** Retries after the first attempt on 429, 5xx, timeouts and connection errors. */
  retries: number;
  /** First backoff; doubles on each retry (a Retry-After header in seconds wins, capped at 60 s). */
  backoffMs: number;
  /** For tests: how to wait. */
  sleep?: (ms: number) => Promise<void>;
  /** Called once per HTTP attempt (metrics). */
  onRequest?: (url: string, status: number | 'error') => void;
}

export const DEFAULT_HTTP: HttpOptions = { timeoutMs: 30_000, retries: 4, backoffMs: 1_000 };

const defaultSleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Fetch JSON with a timeout and retries with exponential backoff; a final failure is a NETWORK UserError. */
export async function fetchJson(url: string, init: { method?: string; body?: unknown }, options: HttpOptions): Promise<unknown> {
  const sleep = options.sleep ?? defaultSleep;
  let lastProblem = '';
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    let waitMs = options.backoffMs * 2 ** attempt;
    try {
      const response = await fetch(url, {
        method: init.method ?? 'GET',
        headers: init.body === undefined ? { accept: 'application/geo+json, application/json' } : { 'content-type': 'application/json', accept: 'application/geo+json, application/json' },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      options.onRequest?.(url, response.status);
      const text = await response.text();
      if (response.ok) {
        try {
          return JSON.parse(text);
        } catch {
          throw new UserError('NETWORK', `response is not JSON (${text.slice(0, 80)})`, url);
        }
      }
      lastProblem = `HTTP ${response.status} ${response.statusText}`.trim();
      if (!isRetryableStatus(response.status)) throw new UserError('NETWORK', `${lastProblem}: ${text.slice(0, 200)}`, url);
      const retryAfter = Number(response.headers.get('retry-after'));
      if (Number.isFinite(retryAfter) && retryAfter >= 0 && response.headers.get('retry-after') !== null) waitMs = Math.min(retryAfter * 1000, 60_000);
    } catch (error) {
      if (error instanceof UserError) throw error;
      options.onRequest?.(url, 'error');
      const name = (error as { name?: string }).name;
      lastProblem = name === 'TimeoutError' || name === 'AbortError' ? `timed out after ${options.timeoutMs} ms` : `request failed (${(error as Error).message})`;
    }
    if (attempt < options.retries) await sleep(waitMs);
  }
  throw new UserError('NETWORK', `${lastProblem} (after ${options.retries + 1} attempts)`, url);
}

// ---------------------------------------------------------------------------------------------
// STAC API search

export interface SearchRequest {
  collections: string[];
  intersects?: JsonObject;
  bbox?: number[];
  /** RFC 3339 interval "start/end". */
  datetime: string;
  query?: JsonObject;
  limit?: number;
}

export interface SearchResult {
  items: LocatedItem[];
  pages: number;
}

interface StacLink {
  rel?: string;
  href?: string;
  method?: string;
  body?: JsonObject;
  merge?: boolean;
}

/**
 * POST {api}/search and follow `next` links until there are none (or `maxPages`): a POST link's body
 * replaces the previous one, or is merged into it when `merge` is true; a GET link is fetched as is.
 */
export async function searchStacApi(apiUrl: string, request: SearchRequest, options: HttpOptions & { maxPages?: number }): Promise<SearchResult> {
  const maxPages = options.maxPages ?? 100;
  const items: LocatedItem[] = [];
  let url = `${apiUrl.replace(/\/+$/, '')}/search`;
  let method = 'POST';
  let body: JsonObject | undefined = { ...request } as JsonObject;
  let pages = 0;
  const seen = new Set<string>();
  while (pages < maxPages) {
    const page = (await fetchJson(url, { method, body }, options)) as JsonObject;
    pages++;
    if (!page || page.type !== 'FeatureCollection' || !Array.isArray(page.features)) {
      throw new UserError('NETWORK', 'STAC search response is not a FeatureCollection', url);
    }
    for (const feature of page.features as JsonObject[]) items.push({ item: feature, location: url });
    const next = ((page.links ?? []) as StacLink[]).find((link) => link.rel === 'next' && typeof link.href === 'string');
    if (!next || (page.features as unknown[]).length === 0) break;
    method = (next.method ?? 'GET').toUpperCase();
    const nextUrl = new URL(next.href as string, url).href;
    if (method === 'POST') body = next.merge ? { ...(body ?? {}), ...(next.body ?? {}) } : (next.body ?? body);
    else body = undefined;
    // A server that hands back the same page forever must not loop us forever.
    const key = `${method} ${nextUrl} ${JSON.stringify(body ?? null)}`;
    if (seen.has(key)) break;
    seen.add(key);
    url = nextUrl;
  }
  return { items, pages };
}

// ---------------------------------------------------------------------------------------------
// Static catalogs

async function readDocument(location: string, http: HttpOptions): Promise<JsonObject> {
  if (/^https?:/i.test(location)) return (await fetchJson(location, {}, http)) as JsonObject;
  const path = location.startsWith('file:') ? fileURLToPath(location) : location;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new StepError(`cannot read STAC document (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, path);
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as JsonObject;
  } catch (error) {
    throw new StepError(`not valid JSON: ${(error as Error).message.split('\n')[0]}`, `${path}:${jsonErrorLine(text, error as Error)}`);
  }
}

/**
 * Every item reachable from a static STAC document: a Catalog or Collection (following `child`,
 * `item` and `items` links), an ItemCollection / FeatureCollection, or a single Item.
 * Items come back sorted by id (then location) so the result does not depend on link order.
 */
export async function loadStaticItems(
  location: string,
  http: HttpOptions = DEFAULT_HTTP,
  maxDocuments = 10_000,
  /** An item document (an `item` link) that cannot be read: reported here and skipped; without it, thrown. */
  onUnreadableItem?: (location: string, message: string) => void,
): Promise<LocatedItem[]> {
  const items: LocatedItem[] = [];
  const visited = new Set<string>();
  const queue: { href: string; rel: string }[] = [{ href: normaliseLocation(location), rel: 'root' }];
  while (queue.length > 0) {
    const { href: here, rel } = queue.shift() as { href: string; rel: string };
    if (visited.has(here)) continue;
    visited.add(here);
    if (visited.size > maxDocuments) throw new StepError(`static catalog has more than ${maxDocuments} documents`, location);
    let doc: JsonObject;
    try {
      doc = await readDocument(here, http);
    } catch (error) {
      if (rel !== 'item' || !onUnreadableItem) throw error;
      onUnreadableItem(here, (error as Error).message);
      continue;
    }
    if (doc.type === 'Feature') {
      items.push({ item: doc, location: here, own: true });
      continue;
    }
    if (doc.type === 'FeatureCollection') {
      if (!Array.isArray(doc.features)) throw new StepError('FeatureCollection has no features array', here);
      for (const feature of doc.features as JsonObject[]) items.push({ item: feature, location: here });
    } else if (doc.type !== 'Catalog' && doc.type !== 'Collection') {
      throw new StepError(`not a STAC Catalog, Collection, ItemCollection or Item (type ${JSON.stringify(doc.type)})`, here);
    }
    for (const link of (doc.links ?? []) as StacLink[]) {
      if (typeof link.href !== 'string' || !['child', 'item', 'items'].includes(link.rel ?? '')) continue;
      queue.push({ href: normaliseLocation(resolveHref(link.href, here)), rel: link.rel as string });
    }
  }
  return items.sort((a, b) => compareText(String(a.item.id), String(b.item.id)) || compareText(a.location, b.location));
}

/** The line of a JSON syntax error: from V8's "at position N" when given, else from the yaml parser's error position. */
function jsonErrorLine(text: string, error: Error): number {
  const position = /position (\d+)/.exec(error.message);
  if (position) return text.slice(0, Number(position[1])).split('\n').length;
  return parseDocument(text).errors[0]?.linePos?.[0].line ?? 1;
}

function normaliseLocation(location: string): string {
  if (/^https?:/i.test(location)) return new URL(location).href;
  const path = location.startsWith('file:') ? fileURLToPath(location) : location;
  return isAbsolute(path) ? path : resolve(path);
}

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
