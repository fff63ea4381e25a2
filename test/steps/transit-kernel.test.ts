// transit-reconcile through the real engine (execStep) on the embedded sample: both partitions with the
// state carried forward, byte-identical reruns, the weekly aggregate and the query, and bad input.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execStep } from '../../src/engine/exec.js';
import { readTable, withDb } from '../../src/sdk/table-io.js';
import { parseDetections } from '../../steps/transit-reconcile/detections.js';
import { loadTransits, queryTransits, readDetectionRows } from '../../steps/transit-reconcile/tables.js';
import { fromTableRow, toTableRow, type TransitRow } from '../../steps/transit-reconcile/transits.js';
import { clusterDetections } from '../../steps/transit-reconcile/detections.js';
import { SAMPLE_STORY_DAY2, transitStatus } from './transit-helpers.js';
import { runLifecycle, runTimes } from '../../steps/transit-reconcile/lifecycle.js';
import { DEFAULT_PREDICT_PARAMS } from '../../steps/transit-reconcile/predict.js';
import { DEFAULT_RECONCILE_PARAMS } from '../../steps/transit-reconcile/reconcile.js';
import { readVesselTracks } from '../../steps/transit-reconcile/tables.js';
import { PROJECT_ROOT, sharedData } from '../helpers/paths.js';
import { detectionsParquet, loadCorridors, SAMPLE_DETECTIONS_CSV } from './transit-helpers.js';
import { rmSync } from 'node:fs';

const pipeline = join(PROJECT_ROOT, 'pipeline.yaml');
const work = mkdtempSync(join(tmpdir(), 'transit-kernel-'));
const out = (name: string) => join(work, name);

async function runDay(date: string, outDir: string, previous?: string, inputs: Record<string, string> = {}) {
  return execStep({
    pipeline,
    step: 'transit-reconcile',
    via: ['transit-predict'],
    partition: { date },
    outDir,
    // The sample's SAR detections as a CSV (the pipeline feeds sar-detect's clusters; test/steps/sar-detect.test.ts runs that chain).
    inputs: { detections: `file:${await detectionsParquet(SAMPLE_DETECTIONS_CSV, join(work, 'sample-detections.parquet'))}`, ...(previous ? { previous: `file:${previous}` } : {}), ...inputs },
  });
}

type Rows = Awaited<ReturnType<typeof readTable>>;
let day1: Awaited<ReturnType<typeof runDay>>;
let day2: Awaited<ReturnType<typeof runDay>>;
let rows2: Rows;

beforeAll(async () => {
  day1 = await runDay('2026-05-25', out('a'));
  day2 = await runDay('2026-05-26', out('a'), day1.outputs.vessel_transits);
  rows2 = await readTable(day2.outputs.vessel_transits);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('transit-reconcile via execStep on the sample', () => {
  it('day 1 predicts, cancels and records the dark transit; day 2 resolves the carried state', async () => {
    const rows1 = await readTable(day1.outputs.vessel_transits);
    expect(transitStatus(rows1)).toEqual({ '9700001': 'confirmed/ais_reappear', '9700004': 'cancelled', 'dark:suez-s': 'dark_transit' });
    expect(transitStatus(rows2)).toEqual(SAMPLE_STORY_DAY2);
    // Rows carried from day 1 are unchanged on day 2.
    for (const row of rows1) expect(rows2.find((r) => r.id === row.id)).toEqual(row);
    expect(day2.metrics.carried_rows).toBe(3);
    const predicted = await execStep({ pipeline, step: 'transit-predict', partition: { date: '2026-05-26' }, outDir: out('p') });
    expect(predicted.metrics.ineligible_drifting).toBe(1);
    expect(predicted.metrics.ineligible_no_course).toBe(1);
  });

  it('transit-predict + transit-reconcile give, row for row, the rows of predicting and reconciling in one pass', async () => {
    const corridors = loadCorridors();
    const end = Date.parse('2026-05-27T00:00:00Z');
    const { vessels, clusters } = await withDb(async (db) => ({
      vessels: await readVesselTracks(db, join(PROJECT_ROOT, 'datasets/sample/transits/positions.parquet'), end),
      clusters: clusterDetections(parseDetections(await readDetectionRows(db, SAMPLE_DETECTIONS_CSV), 'csv'), 0.5, corridors),
    }));
    const params = { predict: DEFAULT_PREDICT_PARAMS, reconcile: DEFAULT_RECONCILE_PARAMS };
    const oneDay = runLifecycle([], vessels, clusters, corridors, runTimes(end - 86_400_000, 1), params);
    const twoDays = runLifecycle(oneDay, vessels, clusters, corridors, runTimes(end, 1), params);
    const asTable = (rows: TransitRow[]) => rows.map(toTableRow).map((r) => JSON.stringify(r)).sort();
    expect(asTable(rows2.map(fromTableRow))).toEqual(asTable(twoDays));
    expect(rows2.length).toBeGreaterThan(5);
  });

  it('re-running the same hour on its own output changes nothing: byte-identical outputs', async () => {
    const sameHour = await runDay('2026-05-26', out('c'), day2.outputs.vessel_transits);
    for (const name of ['vessel_transits', 'weekly', 'query'] as const)
      expect(readFileSync(sameHour.outputs[name]).equals(readFileSync(day2.outputs[name])), name).toBe(true);
    expect(sameHour.metrics.new_predictions).toBe(0);
  });

  it('weekly aggregate: Monday week_start, counts per status, median (confirmed_at − predicted_eta) over confirmed rows', async () => {
    const weekly = await readTable(day2.outputs.weekly);
    expect(weekly.every((w) => w.week_start === '2026-05-25T00:00:00.000Z')).toBe(true); // 2026-05-25 is a Monday
    const confirmedBab = weekly.find((w) => w.chokepoint_id === 'bab-el-mandeb' && w.status === 'confirmed')!;
    expect(confirmedBab.n).toBe(2);
    const deltas = rows2
      .filter((r) => r.chokepoint_id === 'bab-el-mandeb' && r.status === 'confirmed')
      .map((r) => (Date.parse(String(r.confirmed_at)) - Date.parse(String(r.predicted_eta))) / 3_600_000)
      .sort((a, b) => a - b);
    expect(confirmedBab.median_eta_delta_hours).toBeCloseTo((deltas[0] + deltas[1]) / 2, 9);
    expect((confirmedBab.sample_ids as string[]).sort()).toEqual(rows2.filter((r) => r.chokepoint_id === 'bab-el-mandeb' && r.status === 'confirmed').map((r) => r.id).sort());
    expect(weekly.find((w) => w.status === 'cancelled')!.median_eta_delta_hours).toBeNull();
    expect(weekly.reduce((n, w) => n + Number(w.n), 0)).toBe(rows2.length);
  });

  it('query = get_chokepoint_transits(chokepoint, T − 14 d, T), newest first; one chokepoint when asked', async () => {
    const doc = JSON.parse(readFileSync(day2.outputs.query, 'utf8'));
    expect(doc.from).toBe('2026-05-13T00:00:00.000Z');
    expect(doc.to).toBe('2026-05-27T00:00:00.000Z');
    expect(doc.count).toBe(rows2.length);
    const times = doc.transits.map((r: Record<string, string>) => Date.parse(r.predicted_eta ?? r.sar_scene_acquired_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    // The same query as a function, for one chokepoint over the last day only.
    const rows = (await readTable(day2.outputs.vessel_transits)).map(fromTableRow);
    const suez = await withDb(async (db) => {
      await loadTransits(db, rows);
      return queryTransits(db, { chokepoint: 'suez-s', fromMs: Date.parse('2026-05-26T00:00:00Z'), toMs: Date.parse('2026-05-27T00:00:00Z') });
    });
    expect(suez.map((r) => r.status)).toEqual(['confirmed']); // the dark transit was on 05-25, outside the window
    expect(suez[0]).toEqual(doc.transits.find((r: Record<string, unknown>) => r.id === suez[0].id));
  });

  it('a malformed detection row fails the step naming file, line and field', async () => {
    const bad = out('bad.csv');
    writeFileSync(bad, 'scene_id,acquired_at,lat,lon,pixel_detection_count,confidence\nS1,2026-05-25T10:00:00Z,29.87,32.56,3,0.8\nS2,2026-05-25T11:00:00Z,north,32.56,3,0.8\n');
    await expect(runDay('2026-05-25', out('e'), undefined, { detections: `file:${await detectionsParquet(bad, out('bad.parquet'))}` })).rejects.toThrow(/bad\.parquet:3 field lat.*lat "north" is not a number|lat "north" is not a number/);
  });

  it('reads the real Skylight SAR prediction CSV (lon, lat, score, scene_id; time from the product name)', async () => {
    const file = sharedData('detections', 'allenai_sentinel1_vessel_predictions_S1B_20211130.csv');
    const detections = parseDetections(await withDb((db) => readDetectionRows(db, file)), file);
    expect(detections).toHaveLength(2);
    expect(new Date(detections[0].acquiredMs).toISOString()).toBe('2021-11-30T02:52:11.000Z');
    expect(detections[0].confidence).toBeCloseTo(0.9001827836036682, 12);
    expect(detections[0].lat).toBeCloseTo(-19.383539727748914, 12);
    expect(detections[0].pixelCount).toBe(1);
  });
});
