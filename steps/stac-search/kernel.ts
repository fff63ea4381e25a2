// stac-search: for each AIS point near an overpass, the closest-in-time Sentinel-2 L2A scene whose
// footprint contains it, from a static catalog (default) or a STAC API (`api_url` set).
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { KernelContext } from '../../src/sdk/kernel-api.js';
import { StepError } from '../../src/sdk/errors.js';
import { inputColumns, outputColumns, outputOrderBy, type Params, type StepKernel } from './stac-search.dagrun.js';
import { digestFile } from '../../src/sdk/hash.js';
import { isUri } from '../../src/sdk/project-paths.js';
import { quoteLiteral, withDb, writeTable, type Row } from '../../src/sdk/table-io.js';
import { loadStaticItems, normaliseItem, searchStacApi, type HttpOptions, type LocatedItem, type Scene, type SearchRequest } from '../../lib/geo/stac.js';
import {
  alignToScene, assetsJson, dedupeResults, groupForSearch, isMatch, matchPoint, searchArea, searchInterval, selectQueryPoints,
  type AisPoint, type Match, type NoMatch, type Overpass,
} from './match.js';


async function requireColumns(path: string, wanted: readonly string[]): Promise<Record<string, string>> {
  const columns = await withDb((db) => db.describe(`SELECT * FROM read_parquet(${quoteLiteral(path)})`));
  const missing = wanted.filter((name) => !(name in columns));
  if (missing.length > 0) throw new StepError(`missing column(s) ${missing.join(', ')} (has ${Object.keys(columns).join(', ')})`, path);
  return columns;
}

// What pipeline.yaml says this step reads: the schedule's centre time, and its target box when it has one.
const { center_time_utc: _centerTime, ...scheduleBox } = inputColumns.schedule;
const BBOX_COLUMNS = Object.keys(scheduleBox);

/** The positions within the overpass window of any overpass centre (filtered in DuckDB: AIS tables are big). */
async function readInputs(positionsPath: string, schedulePath: string, windowMinutes: number): Promise<{ positions: AisPoint[]; overpasses: Overpass[] }> {
  const scheduleColumns = await requireColumns(schedulePath, ['center_time_utc']);
  await requireColumns(positionsPath, Object.keys(inputColumns.positions));
  // predict's schedule carries each target's box; a schedule without one matches fixes anywhere.
  const hasBox = BBOX_COLUMNS.every((c) => c in scheduleColumns);
  return withDb(async (db) => {
    const overpasses: Overpass[] = (
      await db.all(
        `SELECT DISTINCT center_time_utc AS t${hasBox ? `, ${BBOX_COLUMNS.join(', ')}` : ''} FROM read_parquet(${quoteLiteral(schedulePath)})
         WHERE center_time_utc IS NOT NULL ORDER BY ALL`,
      )
    ).map((r) => ({
      centerTime: String(r.t),
      bbox: hasBox && BBOX_COLUMNS.every((c) => typeof r[c] === 'number')
        ? { minLat: r.bbox_min_lat as number, minLon: r.bbox_min_lon as number, maxLat: r.bbox_max_lat as number, maxLon: r.bbox_max_lon as number }
        : null,
    }));
    if (overpasses.length === 0) return { positions: [], overpasses };
    const rows = await db.all(
      `SELECT p.mmsi, p.ts_utc, p.lat, p.lon FROM read_parquet(${quoteLiteral(positionsPath)}) p
       WHERE p.mmsi IS NOT NULL AND p.ts_utc IS NOT NULL
         AND EXISTS (SELECT 1 FROM read_parquet(${quoteLiteral(schedulePath)}) s
                     WHERE abs(epoch(p.ts_utc::TIMESTAMP) - epoch(s.center_time_utc::TIMESTAMP)) <= $window)
       ORDER BY p.mmsi, p.ts_utc, p.lat, p.lon`,
      { window: windowMinutes * 60 },
    );
    const positions = rows.map((r) => ({ mmsi: Number(r.mmsi), aisTime: String(r.ts_utc), lat: r.lat === null ? NaN : Number(r.lat), lon: r.lon === null ? NaN : Number(r.lon) }));
    return { positions, overpasses };
  });
}

/**
 * The catalog input is a STAC document (file or URL) or a directory holding `catalog.json` — declaring
 * the directory makes the engine digest every item and COG, so editing an item rebuilds this step.
 */
export function catalogDocument(location: string): string {
  if (/^https?:/i.test(location) || !existsSync(location) || !statSync(location).isDirectory()) return location;
  for (const name of ['catalog.json', 'collection.json']) if (existsSync(join(location, name))) return join(location, name);
  throw new StepError('directory has no catalog.json or collection.json', location);
}

async function catalogueScenes(ctx: KernelContext<Params>, params: Params, points: readonly AisPoint[]): Promise<Scene[]> {
  let requests = 0;
  const http: HttpOptions = {
    timeoutMs: params.timeout_s * 1000, retries: params.retries, backoffMs: params.backoff_ms,
    onRequest: () => (requests += 1),
  };
  let located: LocatedItem[] = [];
  if (params.api_url !== '') {
    let pages = 0;
    // Not every STAC API has the query extension (CDSE speaks CQL2 `filter`): on a 400 the searches go
    // on without it, and cloud cover is filtered here as it always is.
    let useQuery = true;
    for (const group of groupForSearch(points)) {
      const request: SearchRequest = {
        collections: [params.collection],
        intersects: searchArea(group),
        datetime: searchInterval(group, params.search_window_hours),
        limit: 100,
      };
      let result;
      try {
        result = await searchStacApi(params.api_url, useQuery ? { ...request, query: { 'eo:cloud_cover': { lte: params.cloud_cover_max } } } : request, { ...http, maxPages: params.max_pages });
      } catch (error) {
        if (!useQuery || !/HTTP 400/.test((error as Error).message)) throw error;
        ctx.warn(`${params.api_url} refused the query extension (${(error as Error).message.slice(0, 120)}); searching without it`);
        useQuery = false;
        result = await searchStacApi(params.api_url, request, { ...http, maxPages: params.max_pages });
      }
      pages += result.pages;
      located.push(...result.items);
    }
    ctx.metric('api_pages', pages);
  } else {
    const where = (location: string): string => relative(dirname(catalogDocument(ctx.inputs.catalog)), location) || location;
    located = await loadStaticItems(catalogDocument(ctx.inputs.catalog), http, undefined, (location, message) => ctx.itemFailed(`STAC item ${where(location)}`, message));
  }
  ctx.metric('http_requests', requests);
  // The same item can come back from several searches: keep one per id.
  const byId = new Map<string, Scene>();
  // Every STAC item is an item of this step: one that cannot be read or normalised is a failed item
  // (the step fails when all fail, or more than max_failed_fraction), the others are searched.
  const failedIds = new Set<string>();
  for (const entry of located) {
    const id = typeof entry.item.id === 'string' ? entry.item.id : '(no id)';
    if (byId.has(id) || failedIds.has(id)) continue;
    try {
      byId.set(id, normaliseItem(entry));
      ctx.itemDone();
    } catch (error) {
      failedIds.add(id);
      ctx.itemFailed(`STAC item ${id}`, (error as Error).message);
    }
  }
  return [...byId.values()];
}

const kernel: StepKernel = async (ctx) => {
  const params = ctx.params;
  const { positions, overpasses } = await readInputs(ctx.inputs.positions, ctx.inputs.schedule, params.overpass_window_minutes);
  const points = selectQueryPoints(positions, overpasses, params.overpass_window_minutes);
  ctx.log(`${points.length} AIS points (one per MMSI per overpass) from ${positions.length} fixes near ${overpasses.length} overpasses`);
  const scenes = points.length > 0 ? await catalogueScenes(ctx, params, points) : [];
  const fixesByMmsi = new Map<number, AisPoint[]>();
  for (const fix of positions) fixesByMmsi.set(fix.mmsi, [...(fixesByMmsi.get(fix.mmsi) ?? []), fix]);
  let aligned = 0;
  const results: (Match | NoMatch)[] = dedupeResults(
    points.map((point) => {
      const result = matchPoint(point, scenes, { searchWindowHours: params.search_window_hours, cloudCoverMax: params.cloud_cover_max });
      if (!isMatch(result) || !params.align_to_scene_time) return result;
      const moved = alignToScene(result, fixesByMmsi.get(point.mmsi) ?? []);
      if (moved !== result) aligned++;
      return moved;
    }),
  );
  ctx.metric('aligned_to_scene_time', aligned);
  // Local asset hrefs are stored relative to the pipeline folder (chip resolves them again), so the
  // matches table is the same wherever the checkout lives; each local file's content digest goes
  // with it (remote assets are pinned with the capture).
  const digests = new Map<string, string>();
  const portableScenes = new Map<string, Scene>();
  const portableScene = async (scene: Scene): Promise<Scene> => {
    let portable = portableScenes.get(scene.id);
    if (portable) return portable;
    const assets: Scene['assets'] = {};
    for (const [band, asset] of Object.entries(scene.assets) as [keyof Scene['assets'], NonNullable<Scene['assets'][keyof Scene['assets']]>][]) {
      if (!asset || isUri(asset.href) || !existsSync(asset.href)) {
        if (asset) assets[band] = asset;
        continue;
      }
      const href = ctx.relativePath(asset.href);
      if (!digests.has(href)) digests.set(href, (await digestFile(asset.href)).digest);
      assets[band] = { ...asset, href };
    }
    // The item's own href (chips link to it with rel derived_from): a URL as is, a local file relative like the assets.
    const href = scene.href === null || isUri(scene.href) ? scene.href : ctx.relativePath(scene.href);
    portable = { ...scene, assets, href };
    portableScenes.set(scene.id, portable);
    return portable;
  };
  const matches: Row[] = [];
  const noMatches: Row[] = [];
  for (const result of results) {
    const base = { mmsi: result.point.mmsi, ais_time: result.point.aisTime, lat: result.point.lat, lon: result.point.lon };
    if (isMatch(result)) {
      const scene = await portableScene(result.scene);
      matches.push({ ...base, scene_id: scene.id, scene_datetime: scene.datetime, cloud_cover: scene.cloudCover, epsg: scene.epsg, assets: assetsJson(scene, digests), scene_href: scene.href });
    } else {
      noMatches.push({ ...base, reason: result.reason });
    }
  }
  await writeTable(ctx.outputs.matches, outputColumns.matches, matches, { orderBy: outputOrderBy.matches });
  await writeTable(ctx.outputs.no_match, outputColumns.no_match, noMatches, { orderBy: outputOrderBy.no_match });
  ctx.metric('scenes', scenes.length);
  ctx.metric('points', points.length);
  ctx.metric('matched', matches.length);
  ctx.metric('no_match', noMatches.length);
  if (points.length > 0 && matches.length === 0) ctx.warn(`no AIS point matched a scene (${noMatches.length} without a match)`);
};

export default kernel;
