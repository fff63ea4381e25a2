// The index outputs on chips spread over two dates: GeoParquet read back by DuckDB, daily GeoJSON,
// a STAC catalog our own client can walk, and prune-by-AIS applied the same way to every output.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { withDb, writeTable } from '../../src/sdk/table-io.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { execStep } from '../../src/engine/exec.js';
import { loadStaticItems, resolveHref } from '../../lib/geo/stac.js';
import { destinationPoint } from '../../lib/geo/sphere.js';
import { CHIP_COLUMNS } from '../../steps/chip/chip.js';
import { chipGrid, chipId, footprintRing, footprintWkt, geoTransform } from '../../steps/chip/geometry.js';
import { outputColumns } from '../../steps/gate/gate.dagrun.js';

const GATE_COLUMNS = outputColumns.gate;
import { buildIndexes } from '../../steps/index/build.js';
import { chipShape, derivedFromHref, hrefFromItem, parseWktPolygon, pruneCheck, ringCentre, stacItem } from '../../steps/index/index-build.js';

const EPSG = 32630;
const SCENE_1 = '2026-05-25T11:06:21.024Z';
const SCENE_2 = '2026-05-26T10:56:19.024Z';

interface Spec {
  name: string;
  mmsi: number;
  lat: number;
  lon: number;
  scene: string;
  status?: 'ok' | 'failed';
  decision?: 'accept' | 'reject';
}

function chipRow(spec: Spec) {
  const id = chipId(spec.mmsi, spec.scene, spec.lat, spec.lon);
  const grid = chipGrid(EPSG, spec.lon, spec.lat, 600000, 5700000, 10, 256);
  const day = spec.scene.slice(0, 10);
  const ok = (spec.status ?? 'ok') === 'ok';
  return {
    chip_id: id, path: ok ? `chips/${day}/train/${spec.mmsi}/${id}.tif` : null, scl_path: ok ? `chips/${day}/train/${spec.mmsi}/${id}_scl.tif` : null,
    mmsi: spec.mmsi, lat: spec.lat, lon: spec.lon, overpass_time: spec.scene.replace(/:\d\d\.\d+Z$/, ':00.000Z'),
    scene_id: `S2X_30UXB_${day.replaceAll('-', '')}_0_L2A`, scene_datetime: spec.scene, cloud_cover: 3.5, split: 'train', bands: 'B02,B03,B04,B08,B11,B12',
    // one chip from a local catalog (a pipeline-relative path), the rest from a STAC API (a URL)
    scene_href: spec.name === 'listed' ? `datasets/s2/${day}.json` : `https://stac.example/collections/sentinel-2-l2a/items/S2X_30UXB_${day.replaceAll('-', '')}_0_L2A`,
    has_swir: true, epsg: EPSG, transform: JSON.stringify(geoTransform(grid)), footprint_wkt: ok ? footprintWkt(footprintRing(grid)) : null,
    status: ok ? 'ok' : 'failed', reason: ok ? null : 'B02 truncated',
  };
}

const specs: Spec[] = [
  { name: 'listed', mmsi: 235000001, lat: 50.78, lon: -1.1, scene: SCENE_1 },
  { name: 'late', mmsi: 235000002, lat: 50.76, lon: -1.15, scene: SCENE_1 },
  { name: 'moved', mmsi: 235000003, lat: 50.74, lon: -1.2, scene: SCENE_1 },
  { name: 'gated', mmsi: 235000004, lat: 50.72, lon: -1.25, scene: SCENE_1, decision: 'reject' },
  { name: 'failed', mmsi: 235000005, lat: 50.7, lon: -1.3, scene: SCENE_1, status: 'failed', decision: 'reject' },
  { name: 'no-ais', mmsi: 235000006, lat: 50.77, lon: -1.05, scene: SCENE_1 },
  { name: 'day2', mmsi: 235000001, lat: 50.79, lon: -1.12, scene: SCENE_2 },
];
const rows = Object.fromEntries(specs.map((s) => [s.name, chipRow(s)]));
const id = (name: string) => rows[name].chip_id as string;

async function fixture(root: string): Promise<{ chips: string[]; gate: string[]; positions: string[] }> {
  const byDay = (day: string) => specs.filter((s) => s.scene.startsWith(day));
  const files = { chips: [] as string[], gate: [] as string[], positions: [] as string[] };
  for (const day of ['2026-05-25', '2026-05-26']) {
    const chips = join(root, 'in', day, 'chips.parquet');
    const gate = join(root, 'in', day, 'gate.parquet');
    await writeTable(chips, CHIP_COLUMNS, byDay(day).map((s) => rows[s.name]));
    await writeTable(gate, GATE_COLUMNS, byDay(day).map((s) => ({ chip_id: rows[s.name].chip_id, qa_cloud_frac: 0, qa_water_frac: 0.9, qa_land_frac: 0.05, qa_source: 'scl', decision: s.decision ?? 'accept', reason: s.decision === 'reject' ? 'land 0.6 > 0.5' : 'ok' })));
    files.chips.push(chips);
    files.gate.push(gate);
  }
  // Recorded AIS: exact fixes at scene time for most; "late" only 40 min off; "moved" 2 km away at scene time.
  const at = (iso: string, minutes: number) => new Date(Date.parse(iso) + minutes * 60_000).toISOString();
  const moved = destinationPoint(50.74, -1.2, 90, 2);
  const fixes = [
    { mmsi: 235000001, ts_utc: at(SCENE_1, 0.5), lat: 50.78, lon: -1.1 },
    { mmsi: 235000001, ts_utc: at(SCENE_1, 30), lat: 50.8, lon: -1.0 },
    { mmsi: 235000002, ts_utc: at(SCENE_1, 40), lat: 50.76, lon: -1.15 },
    { mmsi: 235000003, ts_utc: at(SCENE_1, 0), lat: moved.lat, lon: moved.lon },
    { mmsi: 235000003, ts_utc: at(SCENE_1, -60), lat: 50.74, lon: -1.2 },
    { mmsi: 235000004, ts_utc: at(SCENE_1, 0), lat: 50.72, lon: -1.25 },
  ];
  const positions1 = join(root, 'in', '2026-05-25', 'positions.parquet');
  const positions2 = join(root, 'in', '2026-05-26', 'positions.parquet');
  const columns = { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE' };
  await writeTable(positions1, columns, fixes);
  await writeTable(positions2, columns, [{ mmsi: 235000001, ts_utc: at(SCENE_2, -1), lat: 50.79, lon: -1.12 }]);
  files.positions.push(positions1, positions2);
  return files;
}

async function build(root: string) {
  const inputs = await fixture(root);
  const outputs = { tiles: join(root, 'out', 'indexes', 'tiles.parquet'), pruned: join(root, 'out', 'indexes', 'pruned.parquet'), daily: join(root, 'out', 'indexes', 'daily'), stac: join(root, 'out', 'indexes', 'stac') };
  const counts = await buildIndexes(inputs, outputs, { timeMinutes: 15, distanceM: 300 });
  return { outputs, counts };
}

describe('index outputs', async () => {
  const root = mkdtempSync(join(tmpdir(), 'index-'));
  const { outputs, counts } = await build(root);

  it('lists gate-accepted chips within AIS tolerance, prunes the rest, skips rejected and failed', () => {
    expect(counts).toEqual({ chipsIn: 7, listed: 2, pruned: 3 });
  });

  it('writes tiles.parquet that DuckDB reads as geometry from WKB', async () => {
    const got = await withDb((db) =>
      db.all(`SELECT chip_id, mmsi, split, has_swir, typeof(footprint) AS t, ST_AsText(footprint) AS wkt,
                     ST_AsText(ST_GeomFromWKB(ST_AsWKB(footprint))) AS via_wkb, overpass_time
              FROM read_parquet('${outputs.tiles}') ORDER BY chip_id`),
    );
    expect(got.map((r) => r.chip_id)).toEqual([id('listed'), id('day2')].sort());
    for (const row of got) {
      const source = Object.values(rows).find((r) => r.chip_id === row.chip_id)!;
      expect(row.t).toBe("GEOMETRY('OGC:CRS84')");
      expect(row.via_wkb).toBe(row.wkt);
      const ours = parseWktPolygon(row.wkt as string);
      const theirs = parseWktPolygon(source.footprint_wkt as string);
      ours.forEach((p, i) => { expect(p[0]).toBeCloseTo(theirs[i][0], 9); expect(p[1]).toBeCloseTo(theirs[i][1], 9); });
    }
    const schema = await withDb((db) => db.all(`SELECT name, type FROM parquet_schema('${outputs.tiles}') WHERE name = 'footprint'`));
    expect(schema).toEqual([{ name: 'footprint', type: 'BYTE_ARRAY' }]);
  });

  it('is GeoParquet 1.1: one `geo` key valid against the 1.1 schema, a bbox covering column with row-group statistics', async () => {
    const metas = await withDb((db) => db.all(`SELECT decode(value) AS v FROM parquet_kv_metadata('${outputs.tiles}') WHERE decode(key) = 'geo'`));
    expect(metas).toHaveLength(1);
    const geo = JSON.parse(metas[0].v as string);
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas', 'vendor', 'geoparquet-1.1.schema.json'), 'utf8')));
    expect(validate(geo), JSON.stringify(validate.errors)).toBe(true);
    expect(geo.version).toBe('1.1.0');
    expect(geo.columns.footprint.covering).toEqual({ bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } });
    // the covering column holds each footprint's bounds, and every row group has min/max statistics on it
    const boxes = await withDb((db) => db.all(`SELECT chip_id, bbox.xmin AS xmin, bbox.ymin AS ymin, bbox.xmax AS xmax, bbox.ymax AS ymax FROM read_parquet('${outputs.tiles}') ORDER BY chip_id`));
    for (const box of boxes) {
      const ring = parseWktPolygon(Object.values(rows).find((r) => r.chip_id === box.chip_id)!.footprint_wkt as string);
      expect([box.xmin, box.ymin, box.xmax, box.ymax]).toEqual([Math.min(...ring.map((p) => p[0])), Math.min(...ring.map((p) => p[1])), Math.max(...ring.map((p) => p[0])), Math.max(...ring.map((p) => p[1]))]);
    }
    const stats = await withDb((db) => db.all(`SELECT path_in_schema AS p, stats_min IS NOT NULL AND stats_max IS NOT NULL AS has FROM parquet_metadata('${outputs.tiles}') WHERE path_in_schema LIKE 'bbox%'`));
    expect(stats.map((r) => [r.p, r.has])).toEqual([['bbox, xmin', true], ['bbox, ymin', true], ['bbox, xmax', true], ['bbox, ymax', true]]);
    // the geo metadata of a metadata-less schema check fails: the validator is not vacuous
    expect(validate({ ...geo, version: '1.0.0' })).toBe(false);
  });

  it('STAC items carry ml-aoi splits and an AIS vessel label, valid against both extensions', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const schema = (name: string) => ajv.compile(JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas', 'vendor', name), 'utf8')));
    const mlAoi = schema('stac-ml-aoi-0.1.0.schema.json');
    const label = schema('stac-label-1.0.0.schema.json');
    const items = readdirSync(join(outputs.stac, 'items')).filter((f) => f.endsWith('.json'));
    expect(items).toHaveLength(2);
    for (const file of items) {
      const item = JSON.parse(readFileSync(join(outputs.stac, 'items', file), 'utf8'));
      expect(mlAoi(item), JSON.stringify(mlAoi.errors)).toBe(true);
      expect(label(item), JSON.stringify(label.errors)).toBe(true);
      const chip = Object.values(rows).find((r) => r.chip_id === item.id)!;
      expect(item.properties['ml-aoi:split']).toBe(chip.split === 'val' ? 'validate' : chip.split);
      const labels = JSON.parse(readFileSync(join(outputs.stac, 'items', item.assets.labels.href), 'utf8'));
      expect(labels.features[0].properties).toEqual({ mmsi: chip.mmsi, vessel_type: null });
      expect(labels.features[0].geometry.type).toBe('Point');
      // a wrong split or a missing label field is refused: the schemas are not vacuous
      expect(mlAoi({ ...item, properties: { ...item.properties, 'ml-aoi:split': 'val' } })).toBe(false);
      const { ['label:type']: _dropped, ...withoutType } = item.properties;
      expect(label({ ...item, properties: withoutType })).toBe(false);
      // derived_from: the Sentinel-2 item, by URL, or relative from items/ to the pipeline folder (release = out/)
      const sources = item.links.filter((l: { rel: string }) => l.rel === 'derived_from');
      expect(sources).toEqual([{ rel: 'derived_from', href: chip.scene_href.startsWith('https:') ? chip.scene_href : `../../../../${chip.scene_href}`, type: 'application/geo+json', title: chip.scene_id }]);
    }
  });

  it('carries GeoParquet 1.0 `geo` metadata that is valid JSON per the spec', async () => {
    const [meta] = await withDb((db) => db.all(`SELECT decode(value) AS v FROM parquet_kv_metadata('${outputs.tiles}') WHERE decode(key) = 'geo'`));
    const geo = JSON.parse(meta.v as string);
    expect(geo.version).toMatch(/^1\.\d+\.\d+$/);
    expect(geo.primary_column).toBe('footprint');
    expect(Object.keys(geo.columns)).toEqual(['footprint']);
    const column = geo.columns.footprint;
    expect(column.encoding).toBe('WKB');
    expect(column.geometry_types).toEqual(['Polygon']);
    // no crs member means OGC:CRS84 (lon/lat), which is what the footprints are
    expect(column.crs === undefined || column.crs === null || JSON.stringify(column.crs).includes('CRS84')).toBe(true);
    const [w, s, e, n] = column.bbox as number[];
    for (const name of ['listed', 'day2']) {
      for (const [lon, lat] of parseWktPolygon(rows[name].footprint_wkt as string)) {
        expect(lon >= w && lon <= e && lat >= s && lat <= n).toBe(true);
      }
    }
  });

  it('writes one daily FeatureCollection per day with the listed chips only', () => {
    expect(readdirSync(outputs.daily).sort()).toEqual(['tiles_20260525.geojson', 'tiles_20260526.geojson']);
    const day1 = JSON.parse(readFileSync(join(outputs.daily, 'tiles_20260525.geojson'), 'utf8'));
    expect(day1.type).toBe('FeatureCollection');
    expect(day1.features.map((f: { id: string }) => f.id)).toEqual([id('listed')]);
    expect(day1.features[0].geometry.coordinates[0]).toEqual(parseWktPolygon(rows.listed.footprint_wkt as string));
    expect(day1.features[0].properties).toMatchObject({ mmsi: 235000001, split: 'train', qa_water_frac: 0.9, scene_datetime: SCENE_1 });
  });

  it('writes a STAC collection and items with the required fields, walkable by the STAC client', async () => {
    const collection = JSON.parse(readFileSync(join(outputs.stac, 'collection.json'), 'utf8'));
    for (const field of ['type', 'stac_version', 'id', 'description', 'license', 'extent', 'links']) expect(collection).toHaveProperty(field);
    expect(collection.type).toBe('Collection');
    expect(collection.extent.spatial.bbox[0]).toHaveLength(4);
    expect(collection.extent.temporal.interval).toEqual([[SCENE_1, SCENE_2]]);
    const items = await loadStaticItems(join(outputs.stac, 'collection.json'));
    expect(items.map((i) => i.item.id)).toEqual([id('listed'), id('day2')].sort());
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas', 'stac-chip-item.schema.json'), 'utf8')));
    for (const { item, location } of items) {
      for (const field of ['type', 'stac_version', 'id', 'geometry', 'bbox', 'properties', 'links', 'assets']) expect(item).toHaveProperty(field);
      expect(validate(item), JSON.stringify(validate.errors)).toBe(true);
      const { datetime: _dropped, ...withoutDatetime } = item.properties as Record<string, unknown>;
      expect(validate({ ...item, properties: withoutDatetime })).toBe(false); // the schema does check
      const properties = item.properties as Record<string, unknown>;
      expect(typeof properties.datetime).toBe('string');
      expect(properties['proj:epsg']).toBe(EPSG);
      expect(properties['proj:shape']).toEqual([256, 256]);
      const source = Object.values(rows).find((r) => r.chip_id === item.id)!;
      const [originX, pw, , originY, , ph] = JSON.parse(source.transform as string);
      expect(properties['proj:transform']).toEqual([pw, 0, originX, 0, ph, originY]);
      const assets = item.assets as Record<string, { href: string; roles: string[]; 'eo:bands'?: { name: string }[]; 'raster:bands'?: unknown[] }>;
      for (const asset of Object.values(assets)) expect(typeof asset.href).toBe('string');
      expect(assets.image['eo:bands']?.map((b) => b.name)).toEqual(['B02', 'B03', 'B04', 'B08', 'B11', 'B12']);
      expect(assets.image['raster:bands']).toHaveLength(6);
      // relative hrefs land on the chip files below the output root
      expect(resolveHref(assets.image.href, location)).toBe(join(root, 'out', source.path as string));
      expect(resolveHref(assets.thumbnail.href, location)).toBe(join(root, 'out', (source.path as string).replace('.tif', '_quicklook.jpg')));
      expect(resolveHref(assets.scl.href, location)).toBe(join(root, 'out', source.scl_path as string));
    }
  });

  it('prunes consistently: a pruned chip is in `pruned` and in no index output', async () => {
    const pruned = await withDb((db) => db.all(`SELECT chip_id, reason FROM read_parquet('${outputs.pruned}') ORDER BY chip_id`));
    const expected = [
      [id('late'), /nearest AIS fix 2\d{3} s from scene time > 15 min/],
      [id('moved'), /AIS fix 20\d\d\.\d m from chip centre > 300 m/],
      [id('no-ais'), /no recorded AIS for this MMSI/],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(pruned.map((r) => r.chip_id)).toEqual(expected.map((e) => e[0]));
    pruned.forEach((r, i) => expect(r.reason).toMatch(expected[i][1] as RegExp));
    const tiles = (await withDb((db) => db.all(`SELECT chip_id FROM read_parquet('${outputs.tiles}')`))).map((r) => r.chip_id);
    const daily = readdirSync(outputs.daily).flatMap((f) => JSON.parse(readFileSync(join(outputs.daily, f), 'utf8')).features.map((x: { id: string }) => x.id));
    const stacFiles = readdirSync(join(outputs.stac, 'items')).filter((f) => !f.endsWith('.labels.geojson')).map((f) => f.replace(/\.json$/, ''));
    const links = JSON.parse(readFileSync(join(outputs.stac, 'collection.json'), 'utf8')).links.filter((l: { rel: string }) => l.rel === 'item').map((l: { href: string }) => l.href.replace(/^\.\/items\/|\.json$/g, ''));
    for (const list of [tiles, daily, stacFiles, links]) {
      expect([...list].sort()).toEqual([id('listed'), id('day2')].sort());
      for (const name of ['late', 'moved', 'no-ais', 'gated', 'failed']) expect(list).not.toContain(id(name));
    }
  });

  it('is byte-identical when built again from the same inputs', async () => {
    const again = mkdtempSync(join(tmpdir(), 'index-again-'));
    const second = await build(again);
    const read = (dir: string, rel: string) => readFileSync(join(dir, 'out', 'indexes', rel));
    for (const rel of ['tiles.parquet', 'pruned.parquet', 'daily/tiles_20260525.geojson', 'stac/collection.json', `stac/items/${id('listed')}.json`]) {
      expect(read(again, rel).equals(read(root, rel))).toBe(true);
    }
    expect(existsSync(second.outputs.tiles)).toBe(true);
  });
});

describe('index helpers', () => {
  it('prune check: within tolerance keeps, beyond names both failures', () => {
    const centre = { lon: -1.1, lat: 50.78 };
    const near = destinationPoint(50.78, -1.1, 45, 0.2);
    expect(pruneCheck({ scene_datetime: SCENE_1, fix_time: SCENE_1, fix_lat: near.lat, fix_lon: near.lon }, centre, { timeMinutes: 15, distanceM: 300 }).reason).toBeNull();
    const far = destinationPoint(50.78, -1.1, 45, 0.5);
    const late = new Date(Date.parse(SCENE_1) + 16 * 60_000).toISOString();
    expect(pruneCheck({ scene_datetime: SCENE_1, fix_time: late, fix_lat: far.lat, fix_lon: far.lon }, centre, { timeMinutes: 15, distanceM: 300 }).reason).toBe(
      'nearest AIS fix 960 s from scene time > 15 min; AIS fix 500.0 m from chip centre > 300 m',
    );
  });

  it('chip centre from the footprint is within 10 m of the projected centre, and the shape is 256×256', () => {
    const grid = chipGrid(EPSG, -1.1, 50.78, 600000, 5700000, 10, 256);
    const ring = footprintRing(grid);
    const centre = ringCentre(ring);
    // the chip's centre pixel corner (128, 128) contains the point; the centre is within one pixel diagonal
    expect(pruneCheck({ scene_datetime: SCENE_1, fix_time: SCENE_1, fix_lat: 50.78, fix_lon: -1.1 }, centre, { timeMinutes: 1, distanceM: 15 }).reason).toBeNull();
    expect(chipShape(ring, EPSG, 10)).toEqual({ width: 256, height: 256 });
  });

  it('a malformed footprint fails the step naming the chip and field', async () => {
    const root = mkdtempSync(join(tmpdir(), 'index-bad-'));
    const chips = join(root, 'chips.parquet');
    const gate = join(root, 'gate.parquet');
    await writeTable(chips, CHIP_COLUMNS, [{ ...rows.listed, footprint_wkt: 'POLYGON ((1 2, 3))' }]);
    await writeTable(gate, GATE_COLUMNS, [{ chip_id: rows.listed.chip_id, qa_cloud_frac: 0, qa_water_frac: 1, qa_land_frac: 0, qa_source: 'scl', decision: 'accept', reason: 'ok' }]);
    const outputs = { tiles: join(root, 't.parquet'), pruned: join(root, 'p.parquet'), daily: join(root, 'd'), stac: join(root, 's') };
    const error = await buildIndexes({ chips: [chips], gate: [gate], positions: [] }, outputs, { timeMinutes: 15, distanceM: 300 }).catch((e: unknown) => e);
    expect((error as { where: string }).where).toBe(chips);
    expect((error as Error).message).toMatch(new RegExp(`chip ${rows.listed.chip_id} field footprint_wkt: bad WKT polygon`));
  });

  it('through the step: one accepted chip with a malformed footprint among good ones is a failed item (a warning naming it); all malformed fails the step', async () => {
    const root = mkdtempSync(join(tmpdir(), 'index-items-'));
    const inputs = await fixture(root);
    const bad = join(root, 'chips-bad.parquet');
    const allBad = join(root, 'chips-all-bad.parquet');
    const day1 = specs.filter((s) => s.scene.startsWith('2026-05-25')).map((s) => rows[s.name]);
    await writeTable(bad, CHIP_COLUMNS, day1.map((r) => (r.chip_id === id('listed') ? { ...r, footprint_wkt: 'POLYGON ((1 2, 3))' } : r)));
    await writeTable(allBad, CHIP_COLUMNS, day1.map((r) => ({ ...r, footprint_wkt: 'POLYGON ((1 2, 3))' })));
    const run = (chips: string, out: string) =>
      execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'index', inputs: { chips: `file:${chips}`, gate: `file:${inputs.gate[0]}`, positions: `file:${inputs.positions[0]}` }, outDir: join(root, out) });
    const result = await run(bad, 'out-bad');
    expect(result.warnings).toEqual([`chip ${id('listed')} failed: field footprint_wkt: bad WKT polygon coordinates: POLYGON ((1 2, 3)); not indexed`]);
    expect(result.metrics.items_failed).toBe(1);
    expect(result.metrics.items_done as number).toBeGreaterThan(0);
    await expect(run(allBad, 'out-all-bad')).rejects.toThrow(new RegExp(`^all \\d+ item\\(s\\) failed; first: chip \\S+: field footprint_wkt: bad WKT polygon`));
  });

  it('derived_from hrefs: URLs as they are, local items through the base, none without a scene href', () => {
    expect(derivedFromHref('https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a/items/S2A_X')).toBe('https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a/items/S2A_X');
    expect(derivedFromHref('datasets/sample/scene/a/a.json')).toBe('../../../../datasets/sample/scene/a/a.json');
    expect(derivedFromHref('datasets/a.json', '../../../../../')).toBe('../../../../../datasets/a.json');
    expect(derivedFromHref(null)).toBeNull();
    expect(derivedFromHref('')).toBeNull();
    const listed = { chip: { ...chipRow(specs[0]), scene_href: null, decision: 'accept' }, ring: footprintRing(chipGrid(EPSG, specs[0].lon, specs[0].lat, 600000, 5700000, 10, 256)) } as unknown as Parameters<typeof stacItem>[0];
    expect((stacItem(listed).links as { rel: string }[]).map((l) => l.rel)).toEqual(['collection', 'parent', 'root']);
  });

  it('item hrefs are relative from indexes/stac/items', () => {
    expect(hrefFromItem('chips/2026-05-25/train/1/a.tif')).toBe('../../../chips/2026-05-25/train/1/a.tif');
  });
});
