// Real AIS (VesselsValue via movingpandas, Suez, 2021-03-20…24; ../shared/data): the hourly predictor
// and reconciler replayed over the whole file against the suez-s corridor. Ids are anonymised with no
// IMO, so the id is the vessel key; SOG/COG come from consecutive fixes.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runLifecycle } from '../../steps/transit-reconcile/lifecycle.js';
import { DEFAULT_PREDICT_PARAMS } from '../../steps/transit-reconcile/predict.js';
import { DEFAULT_RECONCILE_PARAMS } from '../../steps/transit-reconcile/reconcile.js';
import { assertTransitConstraints } from '../../steps/transit-reconcile/transits.js';
import { sharedData } from '../helpers/paths.js';
import { HOUR, everGivenTracks, loadCorridors, summariseReplay, t } from './transit-helpers.js';

const FILE = sharedData('ais', 'evergiven_suez_2021-03_vesselsvalue.csv');

describe.skipIf(!existsSync(FILE))('Ever Given AIS through predictor and reconciler', () => {
  const corridors = loadCorridors();
  const vessels = everGivenTracks(FILE);
  // Hourly runs from the first hour of data until 96 h after the data ends, so every prediction resolves.
  const runs: number[] = [];
  for (let r = t('2021-03-20T01:00:00Z'); r <= t('2021-03-29T12:00:00Z'); r += HOUR) runs.push(r);
  const params = { predict: DEFAULT_PREDICT_PARAMS, reconcile: DEFAULT_RECONCILE_PARAMS };
  const rows = runLifecycle([], vessels, [], corridors, runs, params);

  it('reads all 22,287 fixes of 256 vessels', () => {
    expect(vessels).toHaveLength(256);
    expect(vessels.reduce((n, v) => n + v.fixes.length, 0)).toBe(22_287);
  });

  it('predicts suez-s transits both ways, resolves every one, and keeps every constraint', () => {
    assertTransitConstraints(rows, 'evergiven', new Set(corridors.map((c) => c.id)));
    const summary = summariseReplay(rows, vessels, corridors, runs.length);
    console.log(`Ever Given replay: ${JSON.stringify(summary)}`);
    expect(rows.every((r) => r.chokepoint_id === 'suez-s')).toBe(true);
    expect(new Set(rows.map((r) => r.direction))).toEqual(new Set(['entry_to_exit', 'exit_to_entry']));
    expect(summary.predicted).toBeGreaterThan(50);
    expect(summary.stillOpen).toBe(0);
    expect(summary.confirmed + summary.missed + summary.cancelled).toBe(summary.predicted);
    expect(summary.confirmed).toBeGreaterThan(summary.missed);
    // Dead reckoning over the last few km of the approach: entry within an hour of the ETA, typically.
    expect(Math.abs(summary.medianEntryErrorHours as number)).toBeLessThan(1);
    // One open prediction per vessel and corridor at a time: no vessel has two overlapping predicted rows.
    const byVessel = new Map<string, number[][]>();
    for (const r of rows) byVessel.set(r.predicted_imo as string, [...(byVessel.get(r.predicted_imo as string) ?? []), [r.predicted_at as number, r.resolved_at as number]]);
    for (const spans of byVessel.values()) {
      spans.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    }
  });

  it('vessels swinging at anchor in the south anchorage are never predicted', () => {
    const predictedVessels = new Set(rows.map((r) => r.vessel_mmsi));
    const anchored = vessels.filter((v) => v.fixes.every((f) => f.sog === null || f.sog < 1));
    expect(anchored.length).toBeGreaterThan(0);
    for (const v of anchored) expect(predictedVessels.has(v.mmsi)).toBe(false);
  });

  it('with interpolate_exit_crossing, vessels whose sparse fixes jump over the canal-mouth exit zone are confirmed too', () => {
    const interpolated = runLifecycle([], vessels, [], corridors, runs, { ...params, reconcile: { ...DEFAULT_RECONCILE_PARAMS, interpolateExitCrossing: true } });
    assertTransitConstraints(interpolated, 'evergiven-interpolated', new Set(corridors.map((c) => c.id)));
    const pointRule = summariseReplay(rows, vessels, corridors, runs.length);
    const summary = summariseReplay(interpolated, vessels, corridors, runs.length);
    console.log(`Ever Given replay, interpolate_exit_crossing: ${JSON.stringify(summary)}`);
    expect(summary.stillOpen).toBe(0);
    expect(summary.confirmed).toBeGreaterThan(pointRule.confirmed);
    expect(summary.missed).toBeLessThan(pointRule.missed);
    expect(Math.abs(summary.medianEntryErrorHours as number)).toBeLessThan(1);
  });

  it('re-running the last hour on the final state changes nothing', () => {
    expect(runLifecycle(rows, vessels, [], corridors, [runs[runs.length - 1]], params)).toEqual(rows);
  });
});
