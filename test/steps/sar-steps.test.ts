// sar-search → sar-detect → verify-dark-fleet-sar → transit-reconcile through the real engine
// (execStep) on the embedded sample, sar-search against a local STAC API with Earth Search and CDSE
// asset keys, and the detections' format beside the real allenai Sentinel-1 predictions.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execStep } from '../../src/engine/exec.js';
import { readTable, withDb, writeTable } from '../../src/sdk/table-io.js';
import { haversineKm } from '../../lib/geo/sphere.js';
import { parseDetections } from '../../steps/transit-reconcile/detections.js';
import { readDetectionRows } from '../../steps/transit-reconcile/tables.js';
import { PROJECT_ROOT, sharedData } from '../helpers/paths.js';
import { SAMPLE_STORY_DAY2, transitStatus } from './transit-helpers.js';

const pipeline = join(PROJECT_ROOT, 'pipeline.yaml');
const work = mkdtempSync(join(tmpdir(), 'sar-steps-'));
const DATES = ['2026-05-25', '2026-05-26'] as const;
type Rows = Awaited<ReturnType<typeof readTable>>;
const scenes: Record<string, string> = {};
const detections: Record<string, string> = {};
const sweeps: Record<string, Record<string, string>> = {};

const cues: Record<string, string> = {};

beforeAll(async () => {
  for (const [index, date] of DATES.entries()) {
    const predicted = await execStep({ pipeline, step: 'transit-predict', partition: { date }, outDir: join(work, 'chain'), inputs: index > 0 ? { previous_cues: `file:${cues[DATES[index - 1]]}` } : {} });
    cues[date] = predicted.outputs.cues;
    const search = await execStep({ pipeline, step: 'sar-search', partition: { date }, outDir: join(work, 'chain'), inputs: { cues: `file:${cues[date]}` } });
    scenes[date] = search.outputs.scenes;
    const detect = await execStep({ pipeline, step: 'sar-detect', partition: { date }, outDir: join(work, 'chain'), inputs: { scenes: `file:${scenes[date]}` } });
    detections[date] = detect.outputs.detections;
    const sweep = await execStep({ pipeline, step: 'verify-dark-fleet-sar', partition: { date }, outDir: join(work, 'chain'), inputs: { detections: `file:${detections[date]}` } });
    sweeps[date] = sweep.outputs;
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The sample's truth: the strongest CSV detection per scene is where 60-sar.ts put each ship. */
function truth(): { scene_id: string; lat: number; lon: number }[] {
  const lines = readFileSync(join(PROJECT_ROOT, 'datasets/sample/transits/sar_detections.csv'), 'utf8').trim().split('\n').slice(1);
  const best = new Map<string, { scene_id: string; lat: number; lon: number; confidence: number }>();
  for (const line of lines) {
    const [scene_id, , lat, lon, , confidence] = line.split(',');
    const d = { scene_id, lat: Number(lat), lon: Number(lon), confidence: Number(confidence) };
    if (!best.has(scene_id) || best.get(scene_id)!.confidence < d.confidence) best.set(scene_id, d);
  }
  return [...best.values()].sort((a, b) => (a.scene_id < b.scene_id ? -1 : 1));
}

/** A cues table (transit-predict's format) holding the given windows. */
async function cuesFile(name: string, windows: [string, string, string][]): Promise<string> {
  const file = join(work, `${name}.parquet`);
  const { outputColumns } = await import('../../steps/transit-predict/transit-predict.dagrun.js');
  await writeTable(file, outputColumns.cues, windows.map(([chokepoint_id, window_start, window_end]) => ({ chokepoint_id, window_start, window_end, predictions: 1 })));
  return file;
}

/** A dark-events CSV with the sample's header and no rows (no dark-event cue). */
function noDarkEvents(): string {
  const file = join(work, 'no-dark-events.csv');
  writeFileSync(file, `${readFileSync(join(PROJECT_ROOT, 'datasets/sample/sar/dark_events.csv'), 'utf8').split('\n')[0]}\n`);
  return file;
}

describe('sar-search', () => {
  it('searches a corridor only where a prediction’s ETA band or a high/critical dark event meets the day', async () => {
    const day1 = await readTable(scenes['2026-05-25']);
    const day2 = await readTable(scenes['2026-05-26']);
    // 05-25: no prediction reaches suez-s; the critical dark event 9800001 (suez-s, dark since 12:00) cues the DARK scene.
    expect(day1.map((s) => [String(s.scene_id).slice(-4), s.chokepoint_id, s.cued_by])).toEqual([['DARK', 'suez-s', 'dark_event']]);
    // 05-26: BAB is in 9700002's ETA band and 9800002's dark period; SUEZ in 9700003's band and still in 9800001's 72 h.
    expect(day2.map((s) => [String(s.scene_id).slice(-4), s.chokepoint_id, s.cued_by])).toEqual([['_BAB', 'bab-el-mandeb', 'dark_event,prediction'], ['SUEZ', 'suez-s', 'dark_event,prediction']]);
    // Every predicted scene lies in a cue window of its corridor.
    const windows = await readTable(cues['2026-05-26']);
    for (const scene of day2) {
      const at = Date.parse(String(scene.acquired_at));
      expect(windows.some((w) => w.chokepoint_id === scene.chokepoint_id && Date.parse(String(w.window_start)) <= at && at <= Date.parse(String(w.window_end)))).toBe(true);
    }
    for (const s of [...day1, ...day2]) {
      expect(s.vv).toBe(`sentinel-1-grd/${s.scene_id}/vv.tif`);
      expect(s.calibration_vv).toBe(`sentinel-1-grd/${s.scene_id}/calibration-vv.xml`);
      expect(s.vh).toBeNull();
    }
  });

  it('no cue: searches nothing and writes an empty, typed scenes table', async () => {
    const result = await execStep({ pipeline, step: 'sar-search', partition: { date: '2026-05-26' }, outDir: join(work, 'none'), inputs: { cues: `file:${await cuesFile('no-cues', [])}`, dark_events: `file:${noDarkEvents()}` } });
    expect(result.rows.scenes).toBe(0);
    expect(result.metrics.stac_queries).toBe(0);
    const columns = await withDb((db) => db.describe(`(SELECT * FROM read_parquet('${result.outputs.scenes}'))`));
    expect(columns).toMatchObject({ scene_id: 'VARCHAR', acquired_at: 'TIMESTAMP', scale: 'DOUBLE', cued_by: 'VARCHAR' });
  });

  it('a band that misses the scene by a second leaves it out; a band that reaches it takes it', async () => {
    const search = (name: string, end: string) => cuesFile(name, [['bab-el-mandeb', '2026-05-26T02:00:00.000Z', end]]).then((file) =>
      execStep({ pipeline, step: 'sar-search', partition: { date: '2026-05-26' }, outDir: join(work, name), inputs: { cues: `file:${file}`, dark_events: `file:${noDarkEvents()}` } }));
    const before = await search('band-before', '2026-05-26T04:50:19.000Z'); // BAB is acquired at 04:50:20
    expect(before.rows.scenes).toBe(0);
    const reaching = await search('band-reaching', '2026-05-26T04:50:20.000Z');
    expect((await readTable(reaching.outputs.scenes)).map((r) => [String(r.scene_id).slice(-4), r.cued_by])).toEqual([['_BAB', 'prediction']]);
  });

  describe('against a STAC API', () => {
    let server: Server;
    let url = '';
    const requests: Record<string, unknown>[] = [];
    const item = (id: string, assets: Record<string, unknown>, properties: Record<string, unknown> = {}) => ({
      type: 'Feature',
      id,
      geometry: { type: 'Polygon', coordinates: [[[43.0, 12.2], [43.8, 12.2], [43.8, 13.0], [43.0, 13.0], [43.0, 12.2]]] },
      properties: { datetime: '2026-05-26T04:50:20.123Z', ...properties },
      assets,
    });
    beforeAll(async () => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => (body += chunk));
        req.on('end', () => {
          requests.push(JSON.parse(body || '{}'));
          res.setHeader('content-type', 'application/geo+json');
          res.end(JSON.stringify({
            type: 'FeatureCollection',
            features: [
              // Earth Search keys
              item('S1A_IW_GRDH_1SDV_20260526T045020_20260526T045045_000001_000001_AAAA', { vv: { href: 'https://example.invalid/a/vv.tif', 'raster:bands': [{ scale: 1 }] }, vh: { href: 'https://example.invalid/a/vh.tif' }, 'schema-calibration-vv': { href: 'https://example.invalid/a/cal-vv.xml' } }, { 'sar:instrument_mode': 'IW', 'sar:product_type': 'GRD', 's1:resolution': 'high', 'sar:polarizations': ['VV', 'VH'], platform: 'sentinel-1a' }),
              // CDSE-style keys, mode and type only in the product name
              item('S1C_IW_GRDH_1SDV_20260526T045020_20260526T045045_000002_000002_BBBB', { VV: { href: 'https://example.invalid/b/VV.tif' }, VH: { href: 'https://example.invalid/b/VH.tif' }, 'calibration-vh': { href: 'https://example.invalid/b/cal-vh.xml' } }),
              // stactools-sentinel1's GRD item layout (what Earth Search's sentinel-1-grd is made with): upper-case
              // platform, start/end in Python's format, metadata assets beside the measurements, relative hrefs.
              item('S1A_IW_GRDH_1SDV_20260526T045020_20260526T045045_000005_000005_EEEE', Object.fromEntries([
                ['safe-manifest', 'manifest.safe'], ['schema-product-vv', 'annotation/s1a-iw-grd-vv.xml'], ['schema-calibration-vv', 'annotation/calibration/calibration-s1a-iw-grd-vv.xml'],
                ['schema-noise-vv', 'annotation/calibration/noise-s1a-iw-grd-vv.xml'], ['schema-calibration-vh', 'annotation/calibration/calibration-s1a-iw-grd-vh.xml'],
                ['thumbnail', 'preview/quick-look.png'], ['vv', 'measurement/s1a-iw-grd-vv.tiff'], ['vh', 'measurement/s1a-iw-grd-vh.tiff'],
              ].map(([key, href]) => [key, { href: `../e/${href}` }])), { 'sar:instrument_mode': 'IW', 'sar:product_type': 'GRD', 's1:resolution': 'high', 'sar:polarizations': ['VV', 'VH'], platform: 'SENTINEL-1A', start_datetime: '2026-05-26 04:50:20.000000+00:00', end_datetime: '2026-05-26 04:50:45.000000+00:00' }),
              item('S1A_EW_GRDM_1SDH_20260526T045020_20260526T045045_000003_000003_CCCC', { hh: { href: 'https://example.invalid/c/hh.tif' } }),
              item('S1A_IW_GRDH_1SDV_20260527T001000_20260527T001025_000004_000004_DDDD', { vv: { href: 'https://example.invalid/d/vv.tif' } }, { datetime: '2026-05-27T00:10:00Z' }),
            ],
            links: [],
          }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('one search per cue window clipped to the day; normalises Earth Search and CDSE asset keys, drops EW/GRDM and scenes outside the windows', async () => {
      const windows = await cuesFile('api-cues', [
        ['bab-el-mandeb', '2026-05-25T20:00:00.000Z', '2026-05-26T06:00:00.000Z'],
        ['bab-el-mandeb', '2026-05-26T20:00:00.000Z', '2026-05-27T03:00:00.000Z'],
        ['hormuz', '2026-05-26T10:00:00.000Z', '2026-05-26T12:00:00.000Z'], // not among the chokepoints asked for
      ]);
      const first = requests.length;
      const result = await execStep({ pipeline, step: 'sar-search', partition: { date: '2026-05-26' }, outDir: join(work, 'api'), inputs: { cues: `file:${windows}`, dark_events: `file:${noDarkEvents()}` }, params: { api_url: url, chokepoints: ['bab-el-mandeb'], retries: 0 } });
      const rows = await readTable(result.outputs.scenes);
      expect(rows.map((r) => [String(r.scene_id).slice(-4), r.platform, r.polarisations, r.vv, r.vh, r.calibration_vv, r.calibration_vh])).toEqual([
        ['AAAA', 'sentinel-1a', 'VV,VH', 'https://example.invalid/a/vv.tif', 'https://example.invalid/a/vh.tif', 'https://example.invalid/a/cal-vv.xml', null],
        ['EEEE', 'sentinel-1a', 'VV,VH', `${url}/e/measurement/s1a-iw-grd-vv.tiff`, `${url}/e/measurement/s1a-iw-grd-vh.tiff`, `${url}/e/annotation/calibration/calibration-s1a-iw-grd-vv.xml`, `${url}/e/annotation/calibration/calibration-s1a-iw-grd-vh.xml`],
        ['BBBB', 'sentinel-1c', 'VV,VH', 'https://example.invalid/b/VV.tif', 'https://example.invalid/b/VH.tif', null, 'https://example.invalid/b/cal-vh.xml'],
      ]);
      expect(rows[0].acquired_at).toBe('2026-05-26T04:50:20.123Z');
      expect(result.warnings.join('\n')).toMatch(/1 item\(s\) skipped: instrument mode EW, not IW/);
      expect(requests.slice(first).map((r) => r.datetime)).toEqual(['2026-05-26T00:00:00.000Z/2026-05-26T06:00:00.000Z', '2026-05-26T20:00:00.000Z/2026-05-26T23:59:59.999Z']);
      expect(requests[first]).toMatchObject({ collections: ['sentinel-1-grd'], intersects: { type: 'Polygon' } });
      expect(result.metrics.stac_queries).toBe(2);
      expect(rows.every((r) => r.cued_by === 'prediction')).toBe(true);
    });

    it('names an unknown chokepoint', async () => {
      await expect(execStep({ pipeline, step: 'sar-search', partition: { date: '2026-05-26' }, outDir: join(work, 'api2'), inputs: { cues: `file:${cues['2026-05-26']}` }, params: { api_url: url, chokepoints: ['panama'] } })).rejects.toThrow(/unknown chokepoint "panama"/);
    });
  });
});

describe('sar-detect on the sample scenes', () => {
  it('finds exactly the one ship of each scene, where it is, with its size and heading', async () => {
    const rows: Rows = [...(await readTable(detections['2026-05-25'])), ...(await readTable(detections['2026-05-26']))].sort((a, b) => (String(a.scene_id) < String(b.scene_id) ? -1 : 1));
    const expected = truth();
    expect(rows.map((r) => r.scene_id)).toEqual(expected.map((t) => t.scene_id));
    // 60-sar.ts: lengths 140 + 40·index, width 24, heading 155 + 20·index (index in scene-id order).
    rows.forEach((r, index) => {
      expect(haversineKm(r.lat as number, r.lon as number, expected[index].lat, expected[index].lon) * 1000).toBeLessThan(30);
      expect(Math.abs((r.length_m as number) - (140 + 40 * index))).toBeLessThan(0.1 * (140 + 40 * index));
      expect(Math.abs((r.width_m as number) - 24)).toBeLessThan(6);
      const turn = ((((r.orientation_deg as number) - (155 + 20 * index)) % 180) + 180) % 180;
      expect(Math.min(turn, 180 - turn)).toBeLessThan(5);
      expect(r.detection_method).toBe('sentinel-1-cfar-v1');
      expect(r.max_confidence as number).toBeGreaterThanOrEqual(r.mean_confidence as number);
      expect(r.chokepoint_id).toBe(String(r.scene_id).endsWith('_BAB') ? 'bab-el-mandeb' : 'suez-s');
    });
  });

  it('is byte-identical on a rerun, with the CFAR on 2 worker threads', async () => {
    const again = await execStep({ pipeline, step: 'sar-detect', partition: { date: '2026-05-26' }, outDir: join(work, 'again'), inputs: { scenes: `file:${scenes['2026-05-26']}` }, params: { jobs: 2 } });
    expect(readFileSync(again.outputs.detections).equals(readFileSync(detections['2026-05-26']))).toBe(true);
  });

  it('bad inputs name the file, row and field', async () => {
    const badLand = join(work, 'land.geojson');
    writeFileSync(badLand, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [0, 0] } }] }));
    await expect(execStep({ pipeline, step: 'sar-detect', partition: { date: '2026-05-26' }, outDir: join(work, 'bad'), inputs: { scenes: `file:${scenes['2026-05-26']}`, land: `file:${badLand}` } })).rejects.toThrow(/feature 0 is a Point, not a Polygon or MultiPolygon/);
    const escaping = join(work, 'escaping.parquet');
    await withDb(async (db) => {
      await db.run(`COPY (SELECT * REPLACE ('../../../../etc/passwd' AS vv) FROM read_parquet('${scenes['2026-05-26']}')) TO '${escaping}' (FORMAT parquet)`);
    });
    await expect(execStep({ pipeline, step: 'sar-detect', partition: { date: '2026-05-26' }, outDir: join(work, 'bad2'), inputs: { scenes: `file:${escaping}` } })).rejects.toThrow(/leaves the catalog folder/);
  });

  it('writes the detections transit-reconcile reads, in the same terms as the real allenai Sentinel-1 predictions', async () => {
    const ours = await withDb(async (db) => parseDetections(await readDetectionRows(db, detections['2026-05-26']), 'ours'));
    expect(ours).toHaveLength(2);
    const allenaiFile = sharedData('detections/allenai_sentinel1_vessel_predictions_S1B_20211130.csv');
    const theirs = await withDb(async (db) => parseDetections(await readDetectionRows(db, allenaiFile), 'allenai'));
    expect(theirs[0].sceneId).toMatch(/^S1B_IW_GRDH_1SDV_20211130T025211/);
    // Column correspondences (allenai → ours): lon/lat, score → confidence, vessel_length_m → length_m,
    // vessel_width_m → width_m, orientation → orientation_deg, column/row → col/row, meters_per_pixel, detect_id, scene_id.
    const header = readFileSync(allenaiFile, 'utf8').split('\n')[0].split(',');
    const ourColumns = Object.keys((await readTable(detections['2026-05-26']))[0]);
    const mapping: Record<string, string> = { lon: 'lon', lat: 'lat', score: 'confidence', vessel_length_m: 'length_m', vessel_width_m: 'width_m', orientation: 'orientation_deg', column: 'col', row: 'row', meters_per_pixel: 'meters_per_pixel', detect_id: 'detect_id', scene_id: 'scene_id' };
    for (const [theirsName, oursName] of Object.entries(mapping)) {
      expect(header).toContain(theirsName);
      expect(ourColumns).toContain(oursName);
    }
  });
});

describe('downstream of sar-detect', () => {
  it('transit-reconcile on the CFAR clusters tells the sample story the CSV told', async () => {
    const day1 = await execStep({ pipeline, step: 'transit-reconcile', via: ['transit-predict'], partition: { date: '2026-05-25' }, outDir: join(work, 'tr'), inputs: { detections: `file:${detections['2026-05-25']}` } });
    const day2 = await execStep({ pipeline, step: 'transit-reconcile', via: ['transit-predict'], partition: { date: '2026-05-26' }, outDir: join(work, 'tr'), inputs: { detections: `file:${detections['2026-05-26']}`, previous: `file:${day1.outputs.vessel_transits}` } });
    const rows = await readTable(day2.outputs.vessel_transits);
    expect(transitStatus(rows)).toEqual(SAMPLE_STORY_DAY2);
    const dark = rows.find((r) => r.status === 'dark_transit')!;
    expect(dark.sar_scene_id).toMatch(/_SAMPLE_DARK$/);
    expect(dark.pixel_detection_count as number).toBeGreaterThan(20);
  });

  it('verify-dark-fleet-sar writes one sar_detections row per high/critical event near a ship, none for the others', async () => {
    const all = [...(await readTable(sweeps['2026-05-25'].sar_detections)), ...(await readTable(sweeps['2026-05-26'].sar_detections))];
    expect(all.map((r) => [r.vessel_imo, String(r.scene_id).slice(-4)]).sort()).toEqual([['9800001', 'DARK'], ['9800002', '_BAB']]);
    for (const r of all) {
      expect(r.distance_to_expected_nm as number).toBeGreaterThan(0.7);
      expect(r.distance_to_expected_nm as number).toBeLessThan(0.9);
      expect(r.detection_method).toBe('sentinel-1-cfar-v1');
    }
    const events = await readTable(sweeps['2026-05-26'].dark_events);
    expect(events.map((e) => e.risk_tier).sort()).toEqual(['critical', 'critical', 'high', 'medium']);
  });

  it('verify-dark-fleet-sar names a bad dark_events cell', async () => {
    const bad = join(work, 'dark_events.csv');
    const text = readFileSync(join(PROJECT_ROOT, 'datasets/sample/sar/dark_events.csv'), 'utf8').replace(',critical,0.91', ',extreme,0.91');
    writeFileSync(bad, text);
    await expect(execStep({ pipeline, step: 'verify-dark-fleet-sar', partition: { date: '2026-05-25' }, outDir: join(work, 'bad3'), inputs: { detections: `file:${detections['2026-05-25']}`, dark_events: `file:${bad}` } })).rejects.toThrow(/risk_tier "extreme" is not one of/);
  });
});

