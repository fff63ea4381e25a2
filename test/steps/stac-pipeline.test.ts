// stac-search → chip → gate → index through the real engine (`execStep`, pipeline.yaml declarations),
// on the embedded sample scene: the static catalog and the same items served by a local STAC API.
import { afterAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { execStep } from '../../src/engine/exec.js';
import { readTable, withDb, writeTable } from '../../src/sdk/table-io.js';
import { loadStaticItems, resolveHref } from '../../lib/geo/stac.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { digestFile } from '../../src/sdk/hash.js';

const PIPELINE = join(PROJECT_ROOT, 'pipeline.yaml');
const CATALOG = join(PROJECT_ROOT, 'datasets', 'sample', 'scene', 'catalog.json');
const DATE = '2026-05-25';

const work = mkdtempSync(join(tmpdir(), 'stac-pipeline-'));
const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

/** Three ships inside the 2026-05-25 sample scene, one far outside it, one fix too far from the overpass. */
async function inputs(): Promise<{ positions: string; schedule: string; sceneId: string; sceneTime: string; inside: { mmsi: number; lat: number; lon: number }[] }> {
  const items = await loadStaticItems(CATALOG);
  const scene = items.map((i) => i.item).find((item) => String(item.id).includes('20260525')) as { id: string; properties: { datetime: string }; bbox: number[] };
  const sceneTime = new Date(scene.properties.datetime).toISOString();
  const [w, s, e, n] = scene.bbox;
  const inside = [
    { mmsi: 235000101, lat: s + 0.3 * (n - s), lon: w + 0.4 * (e - w) },
    { mmsi: 235000102, lat: s + 0.5 * (n - s), lon: w + 0.5 * (e - w) },
    { mmsi: 235000103, lat: s + 0.7 * (n - s), lon: w + 0.6 * (e - w) },
  ];
  const at = (minutes: number) => new Date(Date.parse(sceneTime) + minutes * 60_000).toISOString();
  const fixes = [
    ...inside.map((p) => ({ ...p, ts_utc: at(0.25) })),
    ...inside.map((p) => ({ ...p, lat: p.lat + 0.01, ts_utc: at(9) })), // later fixes: not the closest to the overpass
    { mmsi: 235000104, lat: 51.5, lon: 1.5, ts_utc: at(1) }, // outside every footprint
    { mmsi: 235000105, lat: inside[0].lat, lon: inside[0].lon, ts_utc: at(-120) }, // outside the overpass window
  ];
  const positions = join(work, 'in', 'positions.parquet');
  const schedule = join(work, 'in', 'schedule.parquet');
  await writeTable(positions, { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE' }, fixes);
  await writeTable(schedule, { tile_id: 'VARCHAR', center_time_utc: 'TIMESTAMP' }, [{ tile_id: '30UXB', center_time_utc: at(0) }]);
  return { positions, schedule, sceneId: scene.id, sceneTime, inside };
}

describe('stac-search, chip, gate and index through execStep on the sample scene', async () => {
  const { positions, schedule, sceneId, sceneTime, inside } = await inputs();
  const stacOut = join(work, 'static');
  const search = await execStep({ pipeline: PIPELINE, step: 'stac-search', inputs: { positions: `file:${positions}`, schedule: `file:${schedule}` }, partition: { date: DATE }, outDir: stacOut });

  it('matches the ships inside the scene and records the one outside', async () => {
    const matches = await readTable(search.outputs.matches);
    expect(matches.map((m) => m.mmsi)).toEqual(inside.map((p) => p.mmsi));
    for (const m of matches) {
      expect(m.scene_id).toBe(sceneId);
      expect(m.scene_datetime).toBe(sceneTime);
      expect(m.epsg).toBe(32630);
      const assets = JSON.parse(m.assets as string);
      expect(Object.keys(assets)).toEqual(['B02', 'B03', 'B04', 'B08', 'B11', 'B12', 'SCL', 'B05', 'B06', 'B07', 'B8A']);
      // stored relative to the pipeline folder, so the table is the same wherever the checkout lives
      expect(assets.B02.href).toBe(`datasets/sample/scene/sentinel-2-l2a/${sceneId}/B02.tif`);
      expect(assets.B02).toMatchObject({ scale: 0.0001, offset: -0.1, nodata: 0 });
      // local COGs carry their content digest, so the chip step's cache key follows the pixels
      expect(assets.SCL.digest).toBe((await digestFile(join(PROJECT_ROOT, assets.SCL.href))).digest);
      // the item itself (no self link: its own file), relative like the assets: the chips' derived_from
      expect(m.scene_href).toBe(`datasets/sample/scene/sentinel-2-l2a/${sceneId}/${sceneId}.json`);
    }
    const noMatch = await readTable(search.outputs.no_match);
    expect(noMatch).toEqual([expect.objectContaining({ mmsi: 235000104, reason: 'no_scene_footprint' })]);
    expect(search.metrics).toMatchObject({ points: 4, matched: 3, no_match: 1 });
  });

  it('gets the same matches from a STAC API serving the same items', async () => {
    // as Earth Search does, each item carries a self link (relative here: it resolves against the API)
    const items = (await loadStaticItems(CATALOG)).map((i) => ({ ...i.item, links: [{ rel: 'self', href: `/collections/sentinel-2-l2a/items/${String(i.item.id)}` }] }));
    const bodies: Record<string, unknown>[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        bodies.push(JSON.parse(text || '{}'));
        res.writeHead(200, { 'content-type': 'application/geo+json' });
        res.end(JSON.stringify({ type: 'FeatureCollection', features: items, links: [] }));
      });
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const viaApi = await execStep({
      pipeline: PIPELINE, step: 'stac-search', inputs: { positions: `file:${positions}`, schedule: `file:${schedule}` },
      params: { api_url: base, retries: 0 }, partition: { date: DATE }, outDir: join(work, 'api'),
    });
    const fromApi = await readTable(viaApi.outputs.matches);
    const fromStatic = await readTable(search.outputs.matches);
    expect(fromApi.map((m) => [m.mmsi, m.scene_id, m.scene_datetime])).toEqual(fromStatic.map((m) => [m.mmsi, m.scene_id, m.scene_datetime]));
    // API items carry relative hrefs: they resolve against the server
    expect(JSON.parse(fromApi[0].assets as string).B02.href).toMatch(new RegExp(`^${base}/.*B02\\.tif$`));
    expect(JSON.parse(fromApi[0].assets as string).B02.digest).toBeUndefined(); // remote: pinned with the capture instead
    expect(fromApi.map((m) => m.scene_href)).toEqual(fromApi.map((m) => `${base}/collections/sentinel-2-l2a/items/${String(m.scene_id)}`));
    expect(bodies.length).toBeGreaterThanOrEqual(1);
    expect(bodies[0]).toMatchObject({ collections: ['sentinel-2-l2a'], query: { 'eo:cloud_cover': { lte: 30 } }, intersects: { type: 'Polygon' } });
    expect(String(bodies[0].datetime)).toMatch(/^2026-05-24T.*\/2026-05-26T/);
  });

  it('searches again without `query` when the API refuses it (400), and filters cloud cover itself', async () => {
    const items = (await loadStaticItems(CATALOG)).map((i) => i.item);
    const bodies: Record<string, unknown>[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        const body = JSON.parse(text || '{}');
        bodies.push(body);
        if (body.query) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'BadRequest', description: 'unknown parameter query' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/geo+json' });
        res.end(JSON.stringify({ type: 'FeatureCollection', features: items, links: [] }));
      });
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const run = (cloud: number, dir: string) => execStep({
      pipeline: PIPELINE, step: 'stac-search', inputs: { positions: `file:${positions}`, schedule: `file:${schedule}` },
      params: { api_url: base, retries: 0, cloud_cover_max: cloud }, partition: { date: DATE }, outDir: join(work, dir),
    });
    const result = await run(30, 'no-query');
    expect(result.warnings.some((w) => w.includes('refused the query extension'))).toBe(true);
    expect((await readTable(result.outputs.matches)).map((m) => m.scene_id)).toEqual([sceneId, sceneId, sceneId]);
    expect(bodies.map((b) => 'query' in b)).toEqual([true, false, false]); // two search groups (1° cells); only the first tries query
    // the sample scenes have about 2 % cloud: with a 1 % limit the local filter rejects them
    const strict = await run(1, 'no-query-strict');
    expect(await readTable(strict.outputs.matches)).toEqual([]);
    expect((await readTable(strict.outputs.no_match)).filter((r) => r.reason === 'cloud_cover_above_max')).toHaveLength(3);
  });

  it('chips, gates every chip and indexes the accepted ones', async () => {
    const chipOut = join(work, 'out');
    const chip = await execStep({ pipeline: PIPELINE, step: 'chip', inputs: { matches: `file:${search.outputs.matches}` }, partition: { date: DATE }, outDir: chipOut });
    const chips = await readTable(chip.outputs.chips);
    expect(chips).toHaveLength(3);
    const gate = await execStep({
      pipeline: PIPELINE, step: 'gate', inputs: { chips: `file:${chip.outputs.chips}`, chips_dir: `file:${chip.outputs.chips_dir}` }, partition: { date: DATE }, outDir: chipOut,
    });
    const verdicts = await readTable(gate.outputs.gate);
    expect(verdicts.map((v) => v.chip_id)).toEqual(chips.map((c) => c.chip_id).sort());
    for (const v of verdicts) {
      expect(v.qa_source).toBe('scl');
      for (const f of ['qa_cloud_frac', 'qa_water_frac', 'qa_land_frac']) expect(v[f]).toBeGreaterThanOrEqual(0);
      expect(['accept', 'reject']).toContain(v.decision);
    }
    expect(chips.map((c) => c.scene_href)).toEqual(chips.map(() => `datasets/sample/scene/sentinel-2-l2a/${sceneId}/${sceneId}.json`));
    // the items folder is not out/indexes/stac/items of the pipeline here: say where the pipeline folder is from it
    const itemsDir = join(chipOut, 'indexes', 'stac', 'items');
    const index = await execStep({
      pipeline: PIPELINE, step: 'index', inputs: { chips: `file:${chip.outputs.chips}`, gate: `file:${gate.outputs.gate}`, positions: `file:${positions}` }, outDir: chipOut,
      params: { scene_link_base: `${relative(itemsDir, PROJECT_ROOT).split(sep).join('/')}/` },
    });
    const accepted = verdicts.filter((v) => v.decision === 'accept').map((v) => v.chip_id);
    expect(accepted.length).toBeGreaterThan(0); // the sample scene is open water around these points
    const tiles = await withDb((db) => db.all(`SELECT chip_id, ST_AsText(footprint) AS wkt FROM read_parquet('${index.outputs.tiles}') ORDER BY chip_id`));
    const pruned = await readTable(index.outputs.pruned);
    // every accepted chip is either listed or pruned (the fixes are 15 s from scene time at the chip point: none pruned)
    expect(pruned).toEqual([]);
    expect(tiles.map((t) => t.chip_id)).toEqual(accepted);
    const stacItems = readdirSync(join(index.outputs.stac, 'items')).filter((f) => !f.endsWith('.labels.geojson')).map((f) => f.replace('.json', '')).sort();
    expect(stacItems).toEqual(accepted);
    // GDAL opens each item's image through its relative href and sees the grid the item declares.
    for (const name of stacItems) {
      const itemFile = join(index.outputs.stac, 'items', `${name}.json`);
      const item = JSON.parse(readFileSync(itemFile, 'utf8'));
      const info = JSON.parse(execFileSync('gdalinfo', ['-json', resolveHref(item.assets.image.href, itemFile)], { encoding: 'utf8' }));
      expect(info.size).toEqual([...item.properties['proj:shape']].reverse());
      const [a, b, c, d, e, f] = item.properties['proj:transform'];
      expect(info.geoTransform).toEqual([c, a, b, f, d, e]);
      expect(info.bands).toHaveLength(item.assets.image['eo:bands'].length);
      // derived_from: the Sentinel-2 item the chip was cut from, reachable from the item
      const sources = item.links.filter((l: { rel: string }) => l.rel === 'derived_from');
      expect(sources).toHaveLength(1);
      expect(JSON.parse(readFileSync(resolveHref(sources[0].href, itemFile), 'utf8')).id).toBe(sceneId);
    }
    expect((await readTable(index.outputs.tiles)).map((t) => t.scene_href)).toEqual(accepted.map(() => `datasets/sample/scene/sentinel-2-l2a/${sceneId}/${sceneId}.json`));
    const daily = JSON.parse(readFileSync(join(index.outputs.daily, 'tiles_20260525.geojson'), 'utf8'));
    expect(daily.features.map((f: { id: string }) => f.id).sort()).toEqual(accepted);
  });
});
