// Scenario tests for the transit lifecycle, one per seed rule, with constructed voyages through the
// project's corridors, run through the replayed hourly cron (runLifecycle) exactly as the kernel does.
import { describe, expect, it } from 'vitest';
import { isUserError } from '../../src/sdk/errors.js';
import { clusterDetections, type SarDetection } from '../../steps/transit-reconcile/detections.js';
import { inPolygon } from '../../steps/transit-reconcile/geometry.js';
import { resolveRunTime } from '../../steps/transit-predict/kernel.js';
import { runLifecycle, runTimes, type VesselTrack } from '../../steps/transit-reconcile/lifecycle.js';
import { DEFAULT_PREDICT_PARAMS } from '../../steps/transit-reconcile/predict.js';
import { DEFAULT_RECONCILE_PARAMS } from '../../steps/transit-reconcile/reconcile.js';
import { assertTransitConstraints, transitId, darkKey, type TransitRow } from '../../steps/transit-reconcile/transits.js';
import { HOUR, loadCorridors, positionAt, t, voyage, type VoyageSpec } from './transit-helpers.js';

const corridors = loadCorridors();
const bab = corridors.find((c) => c.id === 'bab-el-mandeb')!;
const params = { predict: DEFAULT_PREDICT_PARAMS, reconcile: DEFAULT_RECONCILE_PARAMS };
const DAY_END = t('2026-05-26T00:00:00Z');
const hourly = runTimes(DAY_END, 1);
const ids = new Set(corridors.map((c) => c.id));

/** Northbound through Bab-el-Mandeb: Gulf of Aden → corridor → Red Sea exit zone. */
const northbound: VoyageSpec = {
  mmsi: 636000001,
  key: '9700001',
  start: '2026-05-25T00:00:00Z',
  speedKn: 12,
  waypoints: [[12.25, 43.75], [12.45, 43.47], [12.62, 43.32], [12.88, 43.25], [13.2, 43.05]],
};
/** The same vessel going dark in the entry zone at 01:30, before the strait. */
const goesDark: VoyageSpec = { ...northbound, darkAfter: '2026-05-25T01:30:00Z' };

function sarAt(spec: VoyageSpec, iso: string, confidence = 0.9, scene = `S1A_IW_GRDH_1SDV_${iso.replace(/[-:]/g, '').slice(0, 15)}_X`): SarDetection {
  const at = positionAt(spec, iso);
  return { sceneId: scene, acquiredMs: t(iso), lat: at.lat, lon: at.lon, pixelCount: 12, confidence };
}

function run(vessels: VesselTrack[], detections: SarDetection[], runs: number[] = hourly, previous: TransitRow[] = []): TransitRow[] {
  const rows = runLifecycle(previous, vessels, clusterDetections(detections, 0.5, corridors), corridors, runs, params);
  assertTransitConstraints(rows, 'test', ids);
  return rows.sort((a, b) => (a.id < b.id ? -1 : 1));
}

describe('transit lifecycle scenarios', () => {
  it('confirmed by AIS reappearance in the exit zone after the ETA band opens', () => {
    const track = voyage(northbound);
    const [row] = run([track], []);
    expect(row.status).toBe('confirmed');
    expect(row.confirmed_via).toBe('ais_reappear');
    expect(row.predicted_imo).toBe('9700001');
    expect(row.chokepoint_id).toBe('bab-el-mandeb');
    expect(row.predicted_at).toBe(t('2026-05-25T00:00:00Z') + HOUR); // the first hourly run with a fix
    const firstInExit = track.fixes.find((f) => f.tsMs > (row.last_known_at as number) && inPolygon({ lat: f.lat!, lon: f.lon! }, bab.exitZone.polygon))!;
    expect(row.confirmed_at).toBe(firstInExit.tsMs);
    expect(row.confirmed_at!).toBeGreaterThanOrEqual(row.predicted_eta! - row.eta_uncertainty_hours! * HOUR);
    expect(row.sar_scene_id).toBeNull();
  });

  it('confirmed by a SAR cluster in the corridor inside the ETA band (vessel dark)', () => {
    const detection = sarAt(northbound, '2026-05-25T02:20:00Z');
    const [row] = run([voyage(goesDark)], [detection]);
    expect(row.status).toBe('confirmed');
    expect(row.confirmed_via).toBe('sar_pixel');
    expect(row.sar_scene_id).toBe(detection.sceneId);
    expect(row.sar_scene_acquired_at).toBe(detection.acquiredMs);
    expect(row.confirmed_at).toBe(detection.acquiredMs);
    expect(row.pixel_detection_count).toBe(12);
    const z = (detection.acquiredMs - row.predicted_eta!) / (row.eta_uncertainty_hours! * HOUR);
    expect(row.match_confidence).toBeCloseTo(0.9 * Math.exp(-0.5 * z * z), 5);
  });

  it('a SAR cluster outside the ETA band does not confirm; it becomes a dark transit', () => {
    const late = sarAt(northbound, '2026-05-25T02:20:00Z');
    late.acquiredMs += 5 * HOUR;
    const rows = run([voyage(goesDark)], [late]);
    expect(rows.map((r) => r.status).sort()).toEqual(['dark_transit', 'predicted']);
  });

  it('combined when both the SAR pixel and the AIS reappearance agree', () => {
    const detection = sarAt(northbound, '2026-05-25T02:20:00Z');
    const [row] = run([voyage(northbound)], [detection]);
    expect(row.status).toBe('confirmed');
    expect(row.confirmed_via).toBe('combined');
    expect(row.confirmed_at).toBe(detection.acquiredMs); // the earlier of the two signals
    expect(row.sar_scene_id).toBe(detection.sceneId);
  });

  it('missed once predicted_eta + 96 h has passed with neither signal (state carried across partitions)', () => {
    const [day1] = run([voyage(goesDark)], []);
    expect(day1.status).toBe('predicted');
    const eta = day1.predicted_eta!;
    const before = run([voyage(goesDark)], [], [eta + 95 * HOUR], [day1]);
    expect(before[0].status).toBe('predicted');
    const after = run([voyage(goesDark)], [], [eta + 96 * HOUR], before);
    expect(after).toHaveLength(1);
    expect(after[0].id).toBe(day1.id);
    expect(after[0].status).toBe('missed');
    expect(after[0].confirmed_at).toBe(eta + 96 * HOUR);
    expect(after[0].confirmed_via).toBeNull();
  });

  it('sparse AIS that jumps over the exit zone: not a reappearance by the seed rule; interpolate_exit_crossing confirms at the crossing time', () => {
    const hourlyFixes = voyage({ ...northbound, everyMin: 75 }); // fixes at lat 12.57 (corridor) and 12.80, 13.02 (either side of the exit zone)
    const between = hourlyFixes.fixes.findIndex((f) => f.lat! > 12.98); // first fix past the exit zone
    const before = hourlyFixes.fixes[between - 1];
    expect(inPolygon({ lat: before.lat!, lon: before.lon! }, bab.exitZone.polygon) || inPolygon({ lat: hourlyFixes.fixes[between].lat!, lon: hourlyFixes.fixes[between].lon! }, bab.exitZone.polygon)).toBe(false);
    const [pointRule] = run([hourlyFixes], []);
    expect(pointRule.status).toBe('predicted');
    const interpolated = runLifecycle([], [hourlyFixes], [], corridors, hourly, { ...params, reconcile: { ...DEFAULT_RECONCILE_PARAMS, interpolateExitCrossing: true } });
    expect(interpolated).toHaveLength(1);
    expect(interpolated[0].status).toBe('confirmed');
    expect(interpolated[0].confirmed_via).toBe('ais_reappear');
    expect(interpolated[0].confirmed_at!).toBeGreaterThan(before.tsMs);
    expect(interpolated[0].confirmed_at!).toBeLessThan(hourlyFixes.fixes[between].tsMs);
  });

  it('hormuz in reverse (Gulf of Oman → Persian Gulf) is confirmed by reappearing in the entry zone', () => {
    const westbound: VoyageSpec = { mmsi: 422000001, key: '9700010', start: '2026-05-25T00:00:00Z', speedKn: 14, waypoints: [[26.1, 56.85], [26.55, 56.45], [26.5, 55.9]] };
    const [row] = run([voyage(westbound)], []);
    const hormuz = corridors.find((c) => c.id === 'hormuz')!;
    expect(row).toMatchObject({ chokepoint_id: 'hormuz', direction: 'exit_to_entry', status: 'confirmed', confirmed_via: 'ais_reappear' });
    const at = voyage(westbound).fixes.find((f) => f.tsMs === row.confirmed_at)!;
    expect(inPolygon({ lat: at.lat!, lon: at.lon! }, hormuz.entryZone.polygon)).toBe(true);
  });

  it('cancelled when the vessel leaves the approach without entering the corridor', () => {
    const turnsAway: VoyageSpec = { mmsi: 636000004, key: '9700004', start: '2026-05-25T05:00:00Z', speedKn: 12, waypoints: [[12.2, 43.85], [12.4, 43.57], [12.5, 44.0], [12.75, 44.9]] };
    const track = voyage(turnsAway);
    const rows = run([track], []);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row.status).toBe('cancelled');
    expect(row.confirmed_via).toBeNull();
    const turn = t(turnsAway.start) + (37.4 / (12 * 1.852)) * HOUR; // end of the first leg (≈ 37 km)
    expect(row.confirmed_at!).toBeGreaterThan(turn);
    expect(track.fixes.some((f) => f.tsMs === row.confirmed_at)).toBe(true);
    expect(track.fixes.every((f) => !inPolygon({ lat: f.lat!, lon: f.lon! }, bab.polygon))).toBe(true);
  });

  it('dark transit: a SAR cluster in a corridor matching no prediction, deduplicated on re-ingestion', () => {
    const scene = 'S1A_IW_GRDH_1SDV_20260525T153012_X';
    const pixels: SarDetection[] = [
      { sceneId: scene, acquiredMs: t('2026-05-25T15:30:12Z'), lat: 29.8721, lon: 32.5632, pixelCount: 14, confidence: 0.91 },
      { sceneId: scene, acquiredMs: t('2026-05-25T15:30:12Z'), lat: 29.8733, lon: 32.5641, pixelCount: 6, confidence: 0.74 },
      { sceneId: scene, acquiredMs: t('2026-05-25T15:30:12Z'), lat: 29.8712, lon: 32.5625, pixelCount: 3, confidence: 0.55 },
      // Open water outside every corridor: no row.
      { sceneId: scene, acquiredMs: t('2026-05-25T15:30:12Z'), lat: 29.7, lon: 32.6, pixelCount: 9, confidence: 0.9 },
    ];
    const rows = run([], pixels);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({ status: 'dark_transit', chokepoint_id: 'suez-s', predicted_imo: null, predicted_eta: null, sar_scene_id: scene, pixel_match_lat: 29.8721, pixel_match_lon: 32.5632, pixel_detection_count: 23, match_confidence: 0.91 });
    expect(row.id).toBe(transitId(darkKey(scene, 29.8721, 32.5632)));
    // The scene re-ingested (rows reordered, one pixel duplicated) the next day: still one dark row.
    const again = run([], [pixels[2], pixels[0], pixels[1], pixels[0]], runTimes(DAY_END + 24 * HOUR, 1), rows);
    expect(again).toEqual(rows);
  });

  it.each([
    ['drifting', { sog: 0.4 }],
    ['no course', { cog: null }],
  ] as const)('ineligible (%s): no rows at all', (_name, over) => {
    expect(run([voyage({ ...northbound, ...over })], [])).toEqual([]);
  });

  it('ineligible (stale): last fix more than lookback_hours before the run time gives no row', () => {
    const track = voyage({ ...northbound, darkAfter: '2026-05-25T00:30:00Z' });
    expect(run([track], [], [t('2026-05-25T06:31:00Z')])).toEqual([]);
    expect(run([track], [], [t('2026-05-25T06:29:00Z')])).toHaveLength(1);
  });

  it('running the same hour twice changes nothing, and input order does not matter', () => {
    const vessels = [voyage(northbound), voyage({ ...goesDark, mmsi: 636000002, key: '9700002' }), voyage({ ...northbound, mmsi: 636000003, key: '9700003', sog: 0.2 })];
    const detections = [sarAt(northbound, '2026-05-25T02:20:00Z'), { sceneId: 'S1A_DARK', acquiredMs: t('2026-05-25T15:30:12Z'), lat: 29.8721, lon: 32.5632, pixelCount: 4, confidence: 0.8 }];
    const first = run(vessels, detections);
    expect(first.length).toBeGreaterThanOrEqual(3);
    const rerun = run(vessels, detections, [DAY_END], first);
    expect(rerun).toEqual(first);
    const twice = run(vessels, detections, [DAY_END], rerun);
    expect(twice).toEqual(first);
    expect(run([...vessels].reverse(), [...detections].reverse())).toEqual(first);
  });
});

describe('run times', () => {
  it('T defaults to the end of the date partition; run_time overrides; a non-date partition without run_time fails', () => {
    expect(resolveRunTime(null, { date: '2026-05-25' })).toBe(t('2026-05-26T00:00:00Z'));
    expect(resolveRunTime('2026-05-25T13:30:00Z', { date: '2026-05-25' })).toBe(t('2026-05-25T13:30:00Z'));
    expect(() => resolveRunTime(null, {})).toThrow(/date partition or the run_time param/);
    expect(() => resolveRunTime('soon', {})).toThrow(/not a timestamp/);
  });
  it('the replayed cron runs every cadence_hours over the 24 h ending at T, the last run at T', () => {
    expect(runTimes(DAY_END, 0)).toEqual([DAY_END]);
    expect(runTimes(DAY_END, 6)).toEqual([DAY_END - 18 * HOUR, DAY_END - 12 * HOUR, DAY_END - 6 * HOUR, DAY_END]);
    expect(runTimes(DAY_END, 1)).toHaveLength(24);
  });
});

describe('constraints on every row', () => {
  const base = run([voyage(northbound)], [])[0];
  const fails = (row: TransitRow, field: string) => {
    try {
      assertTransitConstraints([row], 'out.parquet', ids);
      expect.unreachable();
    } catch (error) {
      expect(isUserError(error)).toBe(true);
      expect((error as { where: string }).where).toBe(`out.parquet row 1 (id ${row.id}) field ${field}`);
    }
  };
  it('dark_transit must have a scene and pixel and no predicted_imo', () => {
    const dark: TransitRow = { ...base, status: 'dark_transit', confirmed_via: null, confirmed_at: null, sar_scene_id: 'S', pixel_match_lat: 1, pixel_match_lon: 2 };
    fails({ ...dark }, 'predicted_imo');
    fails({ ...dark, predicted_imo: null, sar_scene_id: null }, 'sar_scene_id');
  });
  it('other statuses must have predicted_imo and predicted_eta; confirmed needs confirmed_via', () => {
    fails({ ...base, predicted_imo: null }, 'predicted_imo');
    fails({ ...base, predicted_eta: null }, 'predicted_eta');
    fails({ ...base, confirmed_via: null }, 'confirmed_via');
    fails({ ...base, status: 'missed' as const }, 'confirmed_via');
    fails({ ...base, eta_uncertainty_hours: 0.5 }, 'eta_uncertainty_hours');
    fails({ ...base, id: transitId('something else') }, 'id');
  });
  it('the unique key (predicted_imo, chokepoint_id, predicted_eta) is enforced', () => {
    expect(() => assertTransitConstraints([base, { ...base }], 'out.parquet', ids)).toThrow(/duplicates row 1/);
  });
});
