// The chip folder read the way TorchGeo's RasterDataset reads a folder of GeoTIFFs (torchgeo is not in
// the Debian archive; rasterio, which it uses, is): glob `**/*.tif`, keep the files whose *name*
// matches `filename_regex`, take the time from its `date` group with `date_format`, and the CRS and
// bounds from the file. Every ok chip must be found, with the scene time, CRS and bounds the chips
// table gives; SCL chips, sidecars and a stray file must not be.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execStep } from '../../src/engine/exec.js';
import { footprintContains, loadStaticItems, normaliseItem } from '../../lib/geo/stac.js';
import { readTable } from '../../src/sdk/table-io.js';
import { shipsAt } from '../../scripts/sample/30-scene.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { writeMatches } from './chip-fixture.js';
import { compactTime, TORCHGEO_FILENAME_REGEX } from '../../scripts/check-release.js';

const DATE = '2026-05-25';
const root = mkdtempSync(join(tmpdir(), 'chip-torchgeo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Debian's interpreter carries python3-rasterio; a pyenv `python3` first on PATH may not.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** RasterDataset's indexing loop (torchgeo/datasets/geo.py), minus the R-tree. */
const RASTER_DATASET = `
import glob, json, os, re, sys
from datetime import datetime, timezone
import rasterio
root, filename_glob, filename_regex, date_format = sys.argv[1:5]
regex = re.compile(filename_regex, re.VERBOSE)
found = []
for path in sorted(glob.iglob(os.path.join(root, '**', filename_glob), recursive=True)):
    match = re.match(regex, os.path.basename(path))
    if match is None:
        continue
    with rasterio.open(path) as src:
        crs = src.crs.to_epsg()
        minx, miny, maxx, maxy = src.bounds
        res = src.res
        count = src.count
        descriptions = list(src.descriptions)
    mint = datetime.strptime(match.group('date'), date_format).replace(tzinfo=timezone.utc)
    found.append({'path': os.path.relpath(path, root), 'chip_id': match.group('chip_id'), 'time': mint.isoformat(),
                  'epsg': crs, 'bounds': [minx, miny, maxx, maxy], 'res': list(res), 'count': count, 'descriptions': descriptions})
print(json.dumps(found))
`;

describe('TorchGeo RasterDataset layout', () => {
  let chips: Record<string, unknown>[];
  let chipsDir: string;

  beforeAll(async () => {
    const scene = (await loadStaticItems(join(PROJECT_ROOT, 'datasets/sample/scene/catalog.json'))).map((item) => normaliseItem(item)).find((s) => s.datetime.startsWith(DATE))!;
    const ais = readFileSync(join(PROJECT_ROOT, 'datasets/sample/ais/stream.ndjson'), 'utf8');
    const matches = shipsAt(ais, scene.datetime)
      .filter((ship) => footprintContains(scene, ship.lat, ship.lon))
      .slice(0, 3)
      .map((ship) => ({
        mmsi: ship.mmsi, ais_time: ship.time, lat: ship.lat, lon: ship.lon, scene_id: scene.id, scene_datetime: scene.datetime,
        cloud_cover: scene.cloudCover ?? 0, epsg: scene.epsg!, assets: JSON.stringify(scene.assets),
      }));
    await writeMatches(join(root, 'matches.parquet'), matches);
    const result = await execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'chip', inputs: { matches: `file:${join(root, 'matches.parquet')}` }, partition: { date: DATE }, outDir: join(root, 'out') });
    chips = (await readTable(result.outputs.chips)).filter((row) => row.status === 'ok');
    chipsDir = result.outputs.chips_dir;
    // a stray GeoTIFF without a date in its name: RasterDataset skips it, as it must
    writeFileSync(join(chipsDir, 'notes.tif'), 'not a chip');
  }, 300_000);

  it('finds every ok chip by its file name, with the scene time, CRS and bounds of the chips table', () => {
    expect(chips.length).toBeGreaterThanOrEqual(2);
    const regex = TORCHGEO_FILENAME_REGEX.source.replace(/\(\?</g, '(?P<'); // JS named groups → Python's
    const found = JSON.parse(execFileSync(PYTHON, ['-c', RASTER_DATASET, chipsDir, '*.tif', regex, '%Y%m%dT%H%M%S'], { encoding: 'utf8' })) as {
      path: string; chip_id: string; time: string; epsg: number; bounds: number[]; res: number[]; count: number; descriptions: string[];
    }[];
    // the reflectance chips only: not the _scl.tif beside each, not the stray file
    expect(found.map((f) => f.chip_id).sort()).toEqual(chips.map((c) => String(c.chip_id)).sort());
    for (const chip of chips) {
      const entry = found.find((f) => f.chip_id === chip.chip_id)!;
      expect(`chips/${DATE}/${entry.path}`).toBe(chip.path);
      // the time TorchGeo indexes is the scene time, to the second
      expect(entry.time.replace(/[-:]/g, '').slice(0, 15)).toBe(compactTime(chip.scene_datetime));
      expect(Math.abs(Date.parse(entry.time) - Date.parse(new Date(String(chip.scene_datetime)).toISOString()))).toBeLessThan(1000);
      expect(entry.epsg).toBe(chip.epsg);
      const [originX, res, , originY] = JSON.parse(String(chip.transform)) as number[];
      expect(entry.bounds).toEqual([originX, originY - 256 * res, originX + 256 * res, originY]);
      expect(entry.res).toEqual([res, res]);
      expect(entry.descriptions).toEqual(String(chip.bands).split(','));
    }
  });
});
