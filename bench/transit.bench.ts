// Benchmark: transit-reconcile's predictor on the latest positions of 100,000 vessels (seeded).
//  - predict_global_s: 80 % of vessels anywhere in 60° S…60° N, 20 % within ~300 km of a corridor;
//    10 % drifting, 2 % without course, 5 % stale (ineligible).
//  - predict_near_s: all 100,000 eligible and within ~300 km of a corridor (every track is drawn and
//    intersected: the worst case).
//  - step_path_s: the kernel's path for one run — positions parquet read through DuckDB (vessel keys,
//    ordering), latest fix per vessel, predict, insert rows, reconcile, constraints — on the global set.
// Plus the Ever Given replay (../shared/data, if present): counts and median ETA error, with the seed's
// point rule for exit-zone reappearance and with interpolate_exit_crossing.
// Usage: node --import tsx bench/transit.bench.ts [--quick]   (--quick: 10,000 vessels)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { destinationPoint } from '../lib/geo/sphere.js';
import { seededRandom } from '../src/sdk/random.js';
import { withDb, writeTable } from '../src/sdk/table-io.js';
import { runLifecycle } from '../steps/transit-reconcile/lifecycle.js';
import { DEFAULT_PREDICT_PARAMS, predictAll, type LatestFix } from '../steps/transit-reconcile/predict.js';
import { DEFAULT_RECONCILE_PARAMS } from '../steps/transit-reconcile/reconcile.js';
import { readVesselTracks } from '../steps/transit-reconcile/tables.js';
import { assertTransitConstraints } from '../steps/transit-reconcile/transits.js';
import { HOUR, everGivenTracks, loadCorridors, summariseReplay, t } from '../test/steps/transit-helpers.js';
import { sharedData } from '../test/helpers/paths.js';

const quick = process.argv.includes('--quick');
const VESSELS = quick ? 10_000 : 100_000;
const ROUNDS = 3;
const T = t('2026-05-26T00:00:00Z');
const corridors = loadCorridors();

function fleet(seed: number, nearShare: number, ineligibleShare: boolean): LatestFix[] {
  const random = seededRandom(seed);
  const fixes: LatestFix[] = [];
  for (let i = 0; i < VESSELS; i++) {
    let lat: number;
    let lon: number;
    if (random() < nearShare) {
      const c = corridors[Math.floor(random() * corridors.length)];
      const p = destinationPoint(c.centre.lat, c.centre.lon, random() * 360, random() * 300);
      lat = p.lat;
      lon = p.lon;
    } else {
      lat = -60 + random() * 120;
      lon = -180 + random() * 360;
    }
    const roll = ineligibleShare ? random() : 1;
    fixes.push({
      mmsi: 200_000_000 + i,
      vesselKey: `MMSI:${200_000_000 + i}`,
      tsMs: T - Math.floor((roll < 0.05 ? 7 : random() * 5.9) * HOUR),
      lat,
      lon,
      sog: roll >= 0.05 && roll < 0.15 ? random() * 0.9 : 5 + random() * 15,
      cog: roll >= 0.15 && roll < 0.17 ? null : Math.floor(random() * 3600) / 10,
    });
  }
  return fixes;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function timePredict(fixes: LatestFix[]): { seconds: number; predictions: number } {
  const times: number[] = [];
  let predictions = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    predictions = predictAll(fixes, corridors, T, DEFAULT_PREDICT_PARAMS).length;
    times.push((performance.now() - start) / 1000);
  }
  return { seconds: median(times), predictions };
}

const global = fleet(1, 0.2, true);
const near = fleet(2, 1, false);
const globalResult = timePredict(global);
const nearResult = timePredict(near);

// The kernel's path for one run at T, from a parquet file of those latest positions.
const dir = mkdtempSync(join(tmpdir(), 'transit-bench-'));
const parquet = join(dir, 'positions.parquet');
await writeTable(
  parquet,
  { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', lat: 'DOUBLE', lon: 'DOUBLE', sog: 'DOUBLE', cog: 'DOUBLE', imo: 'VARCHAR' },
  global.map((f) => ({ mmsi: f.mmsi, ts_utc: new Date(f.tsMs).toISOString(), lat: f.lat, lon: f.lon, sog: f.sog, cog: f.cog, imo: null })),
);
const stepTimes: number[] = [];
let rowsOut = 0;
for (let r = 0; r < ROUNDS; r++) {
  const start = performance.now();
  const vessels = await withDb((db) => readVesselTracks(db, parquet, T));
  const rows = runLifecycle([], vessels, [], corridors, [T], { predict: DEFAULT_PREDICT_PARAMS, reconcile: DEFAULT_RECONCILE_PARAMS });
  assertTransitConstraints(rows, 'bench', new Set(corridors.map((c) => c.id)));
  rowsOut = rows.length;
  stepTimes.push((performance.now() - start) / 1000);
}
rmSync(dir, { recursive: true, force: true });

let everGiven: Record<string, unknown> | null = null;
const everGivenFile = sharedData('ais', 'evergiven_suez_2021-03_vesselsvalue.csv');
if (existsSync(everGivenFile)) {
  const vessels = everGivenTracks(everGivenFile);
  const runs: number[] = [];
  for (let r = t('2021-03-20T01:00:00Z'); r <= t('2021-03-29T12:00:00Z'); r += HOUR) runs.push(r);
  for (const interpolateExitCrossing of [false, true]) {
    const start = performance.now();
    const rows = runLifecycle([], vessels, [], corridors, runs, { predict: DEFAULT_PREDICT_PARAMS, reconcile: { ...DEFAULT_RECONCILE_PARAMS, interpolateExitCrossing } });
    const seconds = (performance.now() - start) / 1000;
    everGiven = { ...(everGiven ?? {}), [interpolateExitCrossing ? 'interpolate_exit_crossing' : 'point_rule']: { ...summariseReplay(rows, vessels, corridors, runs.length), replay_s: Number(seconds.toFixed(3)) } };
  }
}

console.log(
  JSON.stringify({
    vessels: VESSELS,
    rounds: ROUNDS,
    predict_global_s: Number(globalResult.seconds.toFixed(3)),
    predictions_global: globalResult.predictions,
    predict_near_s: Number(nearResult.seconds.toFixed(3)),
    predictions_near: nearResult.predictions,
    step_path_s: Number(median(stepTimes).toFixed(3)),
    step_rows: rowsOut,
    evergiven: everGiven,
  }),
);
