// chip through the real engine (execStep) on the embedded sample scene: the sample catalog parses
// with stac-search's reader, every sample ship inside the scene gets an ok chip, the ship is the
// bright target at the chip centre, and the table passes the engine's schema check.
import { describe, expect, it, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromFile } from 'geotiff';
import { execStep } from '../../src/engine/exec.js';
import { footprintContains, loadStaticItems, normaliseItem, type Scene } from '../../lib/geo/stac.js';
import { readTable } from '../../src/sdk/table-io.js';
import { shipsAt } from '../../scripts/sample/30-scene.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { writeTable } from '../../src/sdk/table-io.js';
import { describeError, isUserError } from '../../src/sdk/errors.js';
import { writeMatches, type MatchRow } from './chip-fixture.js';
import { compactTime } from '../../scripts/check-release.js';

const DATE = '2026-05-25';
const root = mkdtempSync(join(tmpdir(), 'chip-exec-'));

describe('chip on the sample scene through execStep', () => {
  let scene: Scene;
  let matches: MatchRow[];
  let result: Awaited<ReturnType<typeof execStep>>;

  beforeAll(async () => {
    const items = await loadStaticItems(join(PROJECT_ROOT, 'datasets/sample/scene/catalog.json'));
    const scenes = items.map((item) => normaliseItem(item));
    scene = scenes.find((s) => s.datetime.startsWith(DATE))!;
    const ais = readFileSync(join(PROJECT_ROOT, 'datasets/sample/ais/stream.ndjson'), 'utf8');
    matches = shipsAt(ais, scene.datetime)
      .filter((ship) => footprintContains(scene, ship.lat, ship.lon))
      .map((ship) => ({
        mmsi: ship.mmsi, ais_time: ship.time, lat: ship.lat, lon: ship.lon, scene_id: scene.id, scene_datetime: scene.datetime,
        cloud_cover: scene.cloudCover ?? 0, epsg: scene.epsg!, assets: JSON.stringify(scene.assets),
      }));
    const matchesPath = join(root, 'matches.parquet');
    await writeMatches(matchesPath, matches);
    result = await execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'chip', inputs: { matches: `file:${matchesPath}` }, partition: { date: DATE }, params: { jobs: 2 }, outDir: join(root, 'out') });
  });

  it('the sample catalog is an Earth Search v1 style L2A scene with all chip bands, scale 0.0001 and offset −0.1', () => {
    expect(scene.epsg).toBe(32630);
    expect(Object.keys(scene.assets).sort()).toEqual(['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B11', 'B12', 'B8A', 'SCL']);
    expect(scene.assets.B04).toMatchObject({ scale: 0.0001, offset: -0.1, nodata: 0 });
    expect(matches.length).toBeGreaterThanOrEqual(3);
  });

  it('cuts one ok chip per ship, with the metrics, and the engine accepts the table', async () => {
    const rows = await readTable(result.outputs.chips);
    expect(rows).toHaveLength(matches.length);
    expect(rows.every((row) => row.status === 'ok')).toBe(true);
    expect(result.metrics).toMatchObject({ chips_ok: matches.length, chips_failed: 0, rows_invalid: 0 });
    expect(Number(result.metrics.bytes_read)).toBeGreaterThan(0);
    expect(rows.map((row) => row.chip_id)).toEqual([...rows.map((row) => row.chip_id)].sort());
    // the file name carries the scene time (UTC, to the second) for TorchGeo
    for (const row of rows) {
      const time = compactTime(row.scene_datetime);
      expect(time).toMatch(/^20260525T\d{6}$/);
      expect(String(row.path)).toMatch(new RegExp(`^chips/${DATE}/(train|val|test)/${row.mmsi}/${row.chip_id}_${time}\\.tif$`));
      // these matches have no scene_href column (as tables written before it existed): the chip has none
      expect(row.scene_href).toBeNull();
    }
  });

  it('compression zstd (on two threads): GDAL reads ZSTD tiles with exactly the pixels of the default DEFLATE chips', async () => {
    const zstd = await execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'chip', inputs: { matches: `file:${join(root, 'matches.parquet')}` }, partition: { date: DATE }, params: { jobs: 2, compression: 'zstd' }, outDir: join(root, 'out-zstd') });
    const rows = await readTable(zstd.outputs.chips);
    expect(rows).toHaveLength(matches.length);
    for (const row of rows.slice(0, 2)) {
      for (const path of [String(row.path), String(row.scl_path)]) {
        const relative = path.slice(`chips/${DATE}/`.length);
        const [withZstd, withDeflate] = [zstd.outputs.chips_dir, result.outputs.chips_dir].map((dir) => join(dir, relative));
        const compression = (file: string) => JSON.parse(execFileSync('gdalinfo', ['-json', file], { encoding: 'utf8' })).metadata.IMAGE_STRUCTURE.COMPRESSION;
        expect([compression(withZstd), compression(withDeflate)]).toEqual(['ZSTD', 'DEFLATE']);
        const pixels = (file: string) => {
          execFileSync('gdal_translate', ['-q', '-of', 'ENVI', file, `${file}.bin`]);
          return readFileSync(`${file}.bin`);
        };
        expect(pixels(withZstd).equals(pixels(withDeflate)), relative).toBe(true);
      }
    }
  });

  it('each ship is a bright target at its chip centre unless the thick cloud hides it', async () => {
    const rows = await readTable(result.outputs.chips);
    for (const row of rows) {
      const relative = String(row.path).slice(`chips/${DATE}/`.length);
      const chip = await (await fromFile(join(result.outputs.chips_dir, relative))).getImage();
      const red = ((await chip.readRasters({ interleave: false })) as unknown as Float32Array[])[2];
      const scl = await (await fromFile(join(result.outputs.chips_dir, relative.replace(/\.tif$/, '_scl.tif')))).getImage();
      const classes = ((await scl.readRasters({ interleave: false })) as unknown as Uint8Array[])[0];
      if (classes[128 * 256 + 128] === 9) continue;
      let centre = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) centre = Math.max(centre, red[(128 + dy) * 256 + 128 + dx]);
      // water is ~0.025 in B04, the synthetic hull 0.2
      expect(centre).toBeGreaterThan(0.15);
    }
  });
});

describe('chip input errors through execStep', () => {
  it('a matches file without the assets column fails with a message naming it, no stack trace', async () => {
    const path = join(root, 'bad-matches.parquet');
    await writeTable(path, { mmsi: 'BIGINT', ais_time: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE', scene_id: 'VARCHAR', scene_datetime: 'TIMESTAMP', cloud_cover: 'DOUBLE', epsg: 'INTEGER' }, [
      { mmsi: 1, ais_time: '2026-05-25T11:00:00Z', lat: 50.8, lon: -1.3, scene_id: 'S', scene_datetime: '2026-05-25T11:00:00Z', cloud_cover: 1, epsg: 32630 },
    ]);
    const error = await execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'chip', inputs: { matches: `file:${path}` }, partition: { date: DATE }, outDir: join(root, 'bad-out') }).catch((e: unknown) => e);
    expect(isUserError(error)).toBe(true);
    expect(describeError(error)).toBe(`${path}: missing column(s) assets (has mmsi, ais_time, lat, lon, scene_id, scene_datetime, cloud_cover, epsg)`);
  });
});
