// sar-search (source, per date): monitor-corridor-sar's cue. Sentinel-1 IW GRDH scenes over a corridor,
// searched only over the parts of the partition's day where a prediction's ETA band or a high/critical
// dark event puts a vessel in it (cue.ts). From a STAC API (Earth Search `sentinel-1-grd`, CDSE) when
// api_url is set, else from a static catalog; items normalised by lib/geo/sentinel1.ts.
// Local hrefs are written relative to the catalog folder, so the output does not depend on where the
// project lives; sar-detect resolves them against the same catalog input.
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { StepError } from '../../src/sdk/errors.js';
import { outputColumns, outputOrderBy, type StepKernel } from './sar-search.dagrun.js';
import { readTable, writeTable } from '../../src/sdk/table-io.js';
import { loadStaticItems, searchStacApi, type LocatedItem } from '../../lib/geo/stac.js';
import { normaliseS1Item, type S1Scene } from '../../lib/geo/sentinel1.js';
import { parseChokepoints, type Corridor } from '../transit-reconcile/chokepoints.js';
import { footprintIntersects } from './footprint.js';
import { cuedBy, darkEventCues, searchWindows, type Cue } from './cue.js';
import { parseCueRows } from '../transit-predict/cues.js';
import { parseDarkEvents } from '../verify-dark-fleet-sar/dark-events.js';


const DAY = 86_400_000;

const kernel: StepKernel = async (ctx) => {
  const p = ctx.params;
  const date = ctx.partition.date;
  if (!date || !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new StepError('needs a date partition', 'partition');
  const fromMs = Date.parse(`${date}T00:00:00Z`) - Number(p.lead_hours) * 3_600_000;
  const toMs = Date.parse(`${date}T00:00:00Z`) + DAY;
  const corridors = parseChokepoints(await readFile(ctx.inputs.chokepoints, 'utf8'), 'chokepoints');
  const wanted = (p.chokepoints as string[]).length > 0 ? corridors.filter((c) => (p.chokepoints as string[]).includes(c.id)) : corridors;
  for (const id of p.chokepoints as string[]) if (!corridors.some((c) => c.id === id)) throw new StepError(`unknown chokepoint "${id}"`, 'param chokepoints');

  const cues: Cue[] = [];
  for (const file of ctx.inputFiles.cues?.length ? ctx.inputFiles.cues : [ctx.inputs.cues]) {
    for (const w of parseCueRows(await readTable(file), 'cues')) {
      if (!corridors.some((c) => c.id === w.chokepointId)) throw new StepError(`cue for unknown chokepoint "${w.chokepointId}"`, 'cues field chokepoint_id');
      cues.push({ ...w, kind: 'prediction' });
    }
  }
  const events = parseDarkEvents(await readFile(ctx.inputs.dark_events, 'utf8'), 'dark_events');
  const unknown = events.filter((e) => !corridors.some((c) => c.id === e.row.chokepoint_id));
  if (unknown.length > 0) ctx.warn(`${unknown.length} dark event(s) name no known chokepoint (first: ${unknown[0].id}, "${String(unknown[0].row.chokepoint_id)}"): not searched`);
  cues.push(...darkEventCues(events, p.risk_tiers, p.max_dark_hours));
  const windows = searchWindows(cues.filter((c) => wanted.some((w) => w.id === c.chokepointId)), fromMs, toMs);

  const apiUrl = String(p.api_url ?? '');
  let catalogRoot: string | null = null;
  const perCorridor = new Map<string, LocatedItem[]>();
  let queries = 0;
  if (apiUrl) {
    const http = { timeoutMs: Number(p.timeout_s) * 1000, retries: Number(p.retries), backoffMs: Number(p.backoff_ms), maxPages: Number(p.max_pages) };
    for (const corridor of wanted) {
      const items: LocatedItem[] = [];
      const ids = new Set<unknown>();
      for (const window of windows.get(corridor.id) ?? []) {
        const result = await searchStacApi(apiUrl, {
          collections: [String(p.collection)],
          intersects: { type: 'Polygon', coordinates: corridor.polygon },
          datetime: `${new Date(window.startMs).toISOString()}/${new Date(window.endMs).toISOString()}`,
          limit: 100,
        }, http);
        queries += 1;
        // Windows are disjoint, but a server may answer loosely: an item counts once per corridor.
        for (const located of result.items) {
          if (ids.has(located.item.id)) continue;
          ids.add(located.item.id);
          items.push(located);
        }
        ctx.log(`${corridor.id} ${new Date(window.startMs).toISOString()}/${new Date(window.endMs).toISOString()}: ${result.items.length} item(s) in ${result.pages} page(s)`);
      }
      perCorridor.set(corridor.id, items);
    }
  } else if (windows.size > 0) {
    const location = ctx.inputs.catalog;
    const isDir = (await stat(location)).isDirectory();
    catalogRoot = isDir ? location : dirname(location);
    const root = catalogRoot;
    // An item document that cannot be read is a failed item; the catalog's other items are still searched.
    const items = await loadStaticItems(isDir ? join(location, 'catalog.json') : location, undefined, undefined, (where, message) => ctx.itemFailed(`STAC item ${relative(root, where) || where}`, message));
    for (const corridor of wanted) perCorridor.set(corridor.id, items);
  }

  // Every STAC item is an item of this step, normalised once however many corridors list it: one that
  // is malformed (no id, no datetime, no measurement, an asset outside the catalog) is a failed item;
  // one of another mode, product or resolution is skipped (the search's filter, not a failure).
  const rows: Record<string, unknown>[] = [];
  const rejected = new Map<string, number>();
  const seen = new Set<string>();
  const normalised = new Map<string, { scene: S1Scene; row: (corridor: Corridor) => Record<string, unknown> } | null>();
  const normalise = (located: LocatedItem) => {
    const id = typeof located.item.id === 'string' && located.item.id !== '' ? `id ${located.item.id}` : `at ${located.location}`;
    if (normalised.has(id)) return normalised.get(id);
    let outcome: { scene: S1Scene; row: (corridor: Corridor) => Record<string, unknown> } | null = null;
    const name = `STAC item ${typeof located.item.id === 'string' && located.item.id !== '' ? located.item.id : located.location}`;
    const result = normaliseS1Item(located);
    if ('rejected' in result) {
      if (MALFORMED.some((pattern) => pattern.test(result.rejected))) ctx.itemFailed(name, result.rejected);
      else rejected.set(result.rejected, (rejected.get(result.rejected) ?? 0) + 1);
    } else {
      try {
        const hrefs = sceneHrefs(result.scene, catalogRoot);
        outcome = { scene: result.scene, row: (corridor) => sceneRow(result.scene, corridor, hrefs) };
        ctx.itemDone();
      } catch (error) {
        ctx.itemFailed(name, (error as Error).message);
      }
    }
    normalised.set(id, outcome);
    return outcome;
  };
  for (const corridor of wanted) {
    for (const located of perCorridor.get(corridor.id) ?? []) {
      const outcome = normalise(located);
      if (!outcome) continue;
      const scene = outcome.scene;
      const at = Date.parse(scene.datetime);
      if (!(windows.get(corridor.id) ?? []).some((w) => w.startMs <= at && at <= w.endMs) || !footprintIntersects(scene.geometry, corridor)) continue;
      const key = `${scene.id}|${corridor.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push({ ...outcome.row(corridor), cued_by: cuedBy(cues, corridor.id, at) });
    }
  }
  for (const [reason, n] of rejected) ctx.warn(`${n} item(s) skipped: ${reason}`);
  await writeTable(ctx.outputs.scenes, outputColumns.scenes, rows, { orderBy: outputOrderBy.scenes });
  ctx.metric('cue_windows', [...windows.values()].reduce((n, list) => n + list.length, 0));
  ctx.metric('stac_queries', queries);
  ctx.metric('scenes', new Set(rows.map((r) => r.scene_id)).size);
  ctx.metric('scene_corridor_pairs', rows.length);
};

/** Reasons normaliseS1Item rejects an item for that mean it is broken, not merely of another kind. */
const MALFORMED = [/^item has no id$/, /^no datetime$/, /^no VV or VH measurement asset$/];

/** Local hrefs relative to the catalog folder ('/'-separated); URLs as they are. */
export function portableHref(href: string | undefined, root: string | null): string | null {
  if (!href) return null;
  if (root === null || !isAbsolute(href)) return href;
  const rel = relative(root, href);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new StepError(`asset ${href} lies outside the catalog folder`, 'catalog');
  return rel.split(sep).join('/');
}

function sceneHrefs(scene: S1Scene, root: string | null): Record<'vv' | 'vh' | 'calibration_vv' | 'calibration_vh', string | null> {
  return {
    vv: portableHref(scene.assets.vv, root),
    vh: portableHref(scene.assets.vh, root),
    calibration_vv: portableHref(scene.assets.calibration_vv, root),
    calibration_vh: portableHref(scene.assets.calibration_vh, root),
  };
}

function sceneRow(scene: S1Scene, corridor: Corridor, hrefs: ReturnType<typeof sceneHrefs>): Record<string, unknown> {
  return {
    scene_id: scene.id,
    acquired_at: scene.datetime,
    platform: scene.platform,
    chokepoint_id: corridor.id,
    polarisations: scene.polarisations.join(','),
    ...hrefs,
    scale: scene.scale,
  };
}

export default kernel;
