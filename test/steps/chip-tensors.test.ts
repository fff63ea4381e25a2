// chip with Clay's ten bands and `tensors: npz`: band names in the GeoTIFF, 20 m bands equal to gdalwarp,
// and the .npz numpy reads (keys, shapes, dtypes, Clay v1.5 normalisation of the chip's own pixels).
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromFile } from 'geotiff';
import { CLAY_S2_BANDS, S2_BANDS, clayLatLon, clayTime } from '../../lib/ml/clay.js';
import { requestedBands, type ChipParams, type ChipRow } from '../../steps/chip/chip.js';
import { orderTasks, parseMatches, runChips } from '../../steps/chip/run.js';
import { matchRow, writeScene, type Fixture } from './chip-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'chip-tensors-'));
const PARAMS: ChipParams = { size_px: 256, resolution_m: 10, include_swir: true, split_fractions: { train: 0.8, val: 0.1, test: 0.1 }, bands: CLAY_S2_BANDS, tensors: 'npz' };

describe('chip: Clay bands and tensors', () => {
  let fixture: Fixture;
  let row: ChipRow;
  const outDir = join(root, 'out');
  const fileOf = (path: string) => join(outDir, path.replace('chips/2026-05-25/', ''));

  beforeAll(async () => {
    fixture = writeScene(join(root, 'scene'));
    const { tasks } = parseMatches([matchRow(235000001, 300, 280, fixture.assets)] as unknown as Record<string, unknown>[]);
    const { rows } = await runChips(orderTasks(tasks), PARAMS, { outDir, outPrefix: 'chips/2026-05-25', jobs: 1 });
    [row] = rows;
    expect(row.status).toBe('ok');
  });

  it('writes ten bands named as asked; the table lists their ESA ids for gate', () => {
    expect(row.bands).toBe('B02,B03,B04,B05,B06,B07,B08,B8A,B11,B12');
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', fileOf(row.path!)], { encoding: 'utf8' }));
    expect(info.bands.map((band: { description: string }) => band.description)).toEqual([...CLAY_S2_BANDS]);
  });

  it('resamples the red-edge and B8A bands like SWIR (equal to gdalwarp -r cubic)', async () => {
    const [x0, , , y0] = JSON.parse(row.transform) as number[];
    const bands = (await (await fromFile(fileOf(row.path!))).getImage()).readRasters({ interleave: false }) as unknown as Promise<Float32Array[]>;
    const chip = await bands;
    for (const [b, id] of [[3, 'B05'], [7, 'B8A']] as const) {
      const warped = join(root, `${id}.bin`);
      execFileSync('gdalwarp', ['-q', '-overwrite', '-of', 'ENVI', '-ot', 'Float32', '-r', 'cubic', '-te', String(x0), String(y0 - 2560), String(x0 + 2560), String(y0), '-tr', '10', '10', fixture.assets[id].href, warped]);
      const bytes = readFileSync(warped);
      const dn = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      let worst = 0;
      for (let i = 0; i < dn.length; i++) worst = Math.max(worst, Math.abs(chip[b][i] - (dn[i] === 0 ? 0 : Math.min(1, Math.max(0, dn[i] * 0.0001 - 0.1)))));
      expect(worst).toBeLessThan(1e-6);
    }
  });

  it('numpy reads the .npz: pixels float32 [10,256,256] = (reflectance×10⁴ − mean)/std, time, latlon, gsd, waves, platform', async () => {
    const npz = fileOf(row.path!).replace(/\.tif$/, '.npz');
    const out = JSON.parse(execFileSync('python3', ['-c', `
import json, sys, numpy as np
z = np.load(sys.argv[1])
p = z["pixels"]
print(json.dumps({"files": z.files, "pixels": [str(p.dtype), list(p.shape)], "probe": [float(p[b, 128, 128]) for b in range(p.shape[0])] + [float(p[9, 3, 250])],
  "time": z["time"].tolist(), "latlon": z["latlon"].tolist(), "gsd": float(z["gsd"]), "waves": z["waves"].tolist(), "platform": str(z["platform"]), "dtypes": [str(z[k].dtype) for k in ("time", "latlon", "gsd", "waves")]}))`, npz], { encoding: 'utf8' }));
    expect(out.files).toEqual(['pixels', 'time', 'latlon', 'gsd', 'waves', 'platform']);
    expect(out.pixels).toEqual(['float32', [10, 256, 256]]);
    expect(out.dtypes).toEqual(['float32', 'float32', 'float32', 'float32']);
    const chip = (await (await (await fromFile(fileOf(row.path!))).getImage()).readRasters({ interleave: false })) as unknown as Float32Array[];
    const expected = S2_BANDS.map((band, b) => Math.fround((chip[b][128 * 256 + 128] * 10_000 - band.mean) / band.std));
    expected.push(Math.fround((chip[9][3 * 256 + 250] * 10_000 - S2_BANDS[9].mean) / S2_BANDS[9].std));
    expect(out.probe).toEqual(expected);
    expect(out.time).toEqual(Array.from(clayTime(row.scene_datetime)));
    expect(out.latlon).toEqual(Array.from(clayLatLon(row.lat, row.lon)));
    expect(out.gsd).toBe(10);
    expect(out.waves).toEqual(Array.from(Float32Array.from(S2_BANDS, (band) => band.wavelengthUm)));
    expect(out.platform).toBe('sentinel-2-l2a');
    const sidecar = JSON.parse(readFileSync(fileOf(row.path!).replace(/\.tif$/, '.json'), 'utf8'));
    expect(sidecar.npz_path).toBe(row.path!.replace(/\.tif$/, '.npz'));
    expect(sidecar.band_names).toEqual([...CLAY_S2_BANDS]);
  });

  it('refuses unknown, repeated or insufficient band lists with the reason', () => {
    expect(() => requestedBands(['B02', 'B03', 'B04', 'B08', 'B09'])).toThrow(/unknown band "B09"/);
    expect(() => requestedBands(['blue', 'B02', 'B03', 'B04', 'B08'])).toThrow(/B02, listed twice/);
    expect(() => requestedBands(['B02', 'B03', 'B04', 'swir16'])).toThrow(/B08 missing/);
    expect(requestedBands(['B02', 'B03', 'B04', 'B08', 'B11', 'B12']).ids).toEqual(['B02', 'B03', 'B04', 'B08', 'B11', 'B12']);
  });
});
