// rf-fuse unit tests: the Viterbi gap fill, spoof scoring, minor-gap interpolation, the cleaning SQL
// (validation, dedup, TDOA centroids, entity resolution, counted rejects), lineage id and the simulator.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { destinationPoint, haversineKm } from '../../lib/geo/sphere.js';
import { withDb, writeTable } from '../../src/sdk/table-io.js';
import { loadAndClean } from '../../steps/rf-fuse/clean.js';
import { feasible, fillGap, gapSpeeds, viterbiPath, type GapCandidate, type GapEnd } from '../../steps/rf-fuse/gapfill.js';
import { AisClock, fuse, interpolateMinorGap } from '../../steps/rf-fuse/fuse.js';
import { lineageRunId } from '../../steps/rf-fuse/run.js';
import { assessFix } from '../../steps/rf-fuse/spoof.js';
import { simulate, syntheticTracks } from '../../steps/rf-fuse/simulate.js';
import { DEFAULT_PARAMS, type AisFix, type RfDetection } from '../../steps/rf-fuse/types.js';
import { StepError } from '../../src/sdk/errors.js';
import { explainedSql } from '../../steps/rf-fuse/stream.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 4, 25, 10, 0, 0);

/** A vessel sailing due east at 12 kn from (50.5, -1.5). */
function eastbound(ts: number): { lat: number; lon: number } {
  const km = (12 * 1.852 * (ts - T0)) / 3_600_000;
  return destinationPoint(50.5, -1.5, 90, km);
}

function det(id: string, ts: number, pos: { lat: number; lon: number }, uncertaintyM = 500, mmsi: number | null = 235000001): RfDetection {
  return { rfId: id, ts, lat: pos.lat, lon: pos.lon, uncertaintyM, geolocMethod: 'AOA', mmsi, memberIds: [id] };
}

describe('Algorithm A: Viterbi gap fill', () => {
  const a: GapEnd = { ts: T0, ...eastbound(T0), sog: 12 };
  const b: GapEnd = { ts: T0 + 20 * MIN, ...eastbound(T0 + 20 * MIN), sog: 12 };

  it('follows the vessel through its own and anonymous detections and skips decoys off its track', () => {
    const candidates: GapCandidate[] = [];
    for (let k = 2; k < 20; k += 2) {
      const ts = T0 + k * MIN + 7_000;
      candidates.push({ det: det(`own-${k}`, ts, eastbound(ts), 400), own: k % 4 === 0 });
      // A decoy 3 km north of the track, drifting the other way, in the same buckets.
      const decoy = destinationPoint(eastbound(T0).lat, eastbound(T0).lon, 60, 3 + (k / 20) * 2);
      candidates.push({ det: det(`decoy-${k}`, ts + 3_000, decoy, 400, null), own: false });
    }
    const path = viterbiPath(a, b, candidates, DEFAULT_PARAMS);
    expect(path.map((d) => d.rfId)).toEqual(candidates.filter((c) => c.det.rfId.startsWith('own')).map((c) => c.det.rfId));

    const filled = fillGap(a, b, candidates, DEFAULT_PARAMS);
    expect(filled.slots).toBe(19);
    expect(filled.points.length).toBeGreaterThanOrEqual(17);
    for (const p of filled.points) {
      expect(haversineKm(p.lat, p.lon, eastbound(p.ts).lat, eastbound(p.ts).lon)).toBeLessThan(0.6);
      expect(p.rfIds.every((id) => id.startsWith('own'))).toBe(true);
      expect(p.confidence).toBeGreaterThan(0);
      expect(p.confidence).toBeLessThanOrEqual(1);
      expect(Math.abs(p.sogKn - 12)).toBeLessThan(3);
      expect(Math.abs(p.cogDeg - 90)).toBeLessThan(10);
    }
  });

  it('fills nothing where there is no RF, and nothing far from the detections it has', () => {
    expect(fillGap(a, b, [], DEFAULT_PARAMS).points).toEqual([]);
    const ts = T0 + 3 * MIN;
    const filled = fillGap(a, b, [{ det: det('only', ts, eastbound(ts)), own: true }], DEFAULT_PARAMS);
    // Support is ±rf_window_min/2 = 3 min around the one detection: minutes 1..6.
    expect(filled.points.map((p) => (p.ts - T0) / MIN)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('never uses a detection the vessel could not have reached', () => {
    const ts = T0 + 10 * MIN;
    const far = destinationPoint(eastbound(ts).lat, eastbound(ts).lon, 0, 40);
    const { maxKn } = gapSpeeds(a, b, DEFAULT_PARAMS);
    expect(feasible(a, b, det('far', ts, far), maxKn)).toBe(false);
    expect(feasible(a, b, det('near', ts, eastbound(ts)), maxKn)).toBe(true);
    expect(viterbiPath(a, b, [{ det: det('far', ts, far), own: true }], DEFAULT_PARAMS)).toEqual([]);
  });

  it('property: synthesised legs respect speed continuity and stay inside the gap, whatever the candidates', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ minute: fc.double({ min: 0.2, max: 19.8, noNaN: true }), bearing: fc.double({ min: 0, max: 360, noNaN: true }), km: fc.double({ min: 0, max: 15, noNaN: true }), unc: fc.integer({ min: 200, max: 5000 }), own: fc.boolean() }), { maxLength: 40 }),
        (specs) => {
          const candidates = specs.map((s, i) => {
            const ts = T0 + Math.round(s.minute * MIN);
            const truth = eastbound(ts);
            return { det: det(`c${i}`, ts, destinationPoint(truth.lat, truth.lon, s.bearing, s.km), s.unc), own: s.own };
          });
          const filled = fillGap(a, b, candidates, DEFAULT_PARAMS);
          const { maxKn } = gapSpeeds(a, b, DEFAULT_PARAMS);
          const chain = [a, ...filled.points, b];
          for (let i = 1; i < chain.length; i++) {
            const p = chain[i - 1];
            const q = chain[i];
            expect(q.ts).toBeGreaterThan(p.ts);
            const sigmaKm = (x: object) => ('uncertaintyM' in x ? (x as { uncertaintyM: number }).uncertaintyM / 1000 / 2.45 : 0.05);
            const kn = Math.max(0, haversineKm(p.lat, p.lon, q.lat, q.lon) - 2 * (sigmaKm(p) + sigmaKm(q))) / ((q.ts - p.ts) / 3_600_000) / 1.852;
            expect(kn).toBeLessThanOrEqual(maxKn + 1e-6);
          }
          expect(filled.points.length + filled.rejected).toBeLessThanOrEqual(filled.slots);
        },
      ),
      { numRuns: 60, seed: 42 },
    );
  });
});

describe('anonymous RF explained by another vessel', () => {
  const fixAt = (mmsi: number, ts: number, pos: { lat: number; lon: number }): AisFix => ({ mmsi, ts, ...pos, sog: 12, cog: 90, trackId: `${mmsi}-0`, deltaT: null, deltaDistKm: null, speedCalcKn: null });

  it('drops an anonymous detection sitting on another vessel that is reporting AIS, keeps the silent vessel\'s own', () => {
    const silent = 235000001;
    const other = 235000002;
    const ais: AisFix[] = [];
    for (let m = 0; m <= 30; m++) {
      const ts = T0 + m * MIN;
      if (m <= 5 || m >= 25) ais.push(fixAt(silent, ts, eastbound(ts)));
      // Another vessel 4 km north, same course and speed, reporting all along.
      const p = eastbound(ts);
      ais.push(fixAt(other, ts, destinationPoint(p.lat, p.lon, 0, 4)));
    }
    const rf: RfDetection[] = [];
    for (let m = 7; m < 25; m += 2) {
      const ts = T0 + m * MIN + 5_000;
      const p = eastbound(ts);
      rf.push(det(`silent-${m}`, ts, p, 400, null));
      rf.push(det(`other-${m}`, ts, destinationPoint(p.lat, p.lon, 0, 4.1), 400, null));
    }
    expect(() => fuse(ais, rf, DEFAULT_PARAMS)).toThrow(/ordered by mmsi then ts/);
    const index = AisClock.fromFixes(ais);
    expect(index.explains(rf.find((r) => r.rfId === 'other-9')!, silent)).toBe(true);
    expect(index.explains(rf.find((r) => r.rfId === 'silent-9')!, silent)).toBe(false);
    // The other vessel's own fixes do not explain away the silent vessel's detections for it.
    expect(index.explains(rf.find((r) => r.rfId === 'other-9')!, other)).toBe(false);

    ais.sort((p, q) => p.mmsi - q.mmsi || p.ts - q.ts);
    const { rows, stats } = fuse(ais, rf, DEFAULT_PARAMS);
    expect(stats.gaps).toBe(1);
    expect(stats.gap_candidates_explained).toBeGreaterThan(0);
    expect(stats.gap_candidates_anonymous).toBe(9);
    const fills = rows.filter((r) => r.source_tag === 'RF_FILL');
    expect(fills.length).toBeGreaterThanOrEqual(17);
    expect(fills.every((r) => r.mmsi === String(silent) && r.rf_ids_used.every((id) => id.startsWith('silent')))).toBe(true);
    for (const r of fills) expect(haversineKm(r.lat, r.lon, eastbound(r.ts_utc).lat, eastbound(r.ts_utc).lon)).toBeLessThan(0.5);
  });
});

describe('AisClock', () => {
  /** The question answered the way the step did before the index: a scan of every fix within ±1 min. */
  function explainsByScan(fixes: readonly AisFix[], d: RfDetection, silent: number): boolean {
    const sigmaKm = d.uncertaintyM / 1000 / 2.45;
    return fixes.some((f) => {
      if (Math.abs(f.ts - d.ts) > MIN || f.mmsi === silent) return false;
      const reachKm = sigmaKm + ((f.sog ?? 0) * 1.852 * Math.abs(f.ts - d.ts)) / 3_600_000 + 0.2;
      // The box test of the original scan (it can reject a fix a hair inside the haversine reach).
      return Math.abs(f.lat - d.lat) * 111.2 <= reachKm && haversineKm(f.lat, f.lon, d.lat, d.lon) <= reachKm;
    });
  }

  it('property: gives the answer of a scan over every fix, whatever the fixes (minute edges, same latitudes, fast ships)', () => {
    const fixArb = fc.record({
      mmsi: fc.integer({ min: 1, max: 4 }),
      ts: fc.integer({ min: -3 * MIN, max: 3 * MIN }),
      lat: fc.double({ min: 50, max: 50.05, noNaN: true }),
      lon: fc.double({ min: -1.05, max: -1, noNaN: true }),
      sog: fc.option(fc.double({ min: 0, max: 102, noNaN: true })),
    });
    const detArb = fc.record({ ts: fc.integer({ min: -2 * MIN, max: 2 * MIN }), lat: fc.double({ min: 50, max: 50.05, noNaN: true }), lon: fc.double({ min: -1.05, max: -1, noNaN: true }), unc: fc.integer({ min: 50, max: 5000 }) });
    fc.assert(
      fc.property(fc.array(fixArb, { maxLength: 60 }), fc.array(detArb, { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 4 }), (raw, dets, silent) => {
        const fixes: AisFix[] = raw.map((f) => ({ ...f, ts: T0 + f.ts, cog: null, trackId: '0', deltaT: null, deltaDistKm: null, speedCalcKn: null }));
        const clock = AisClock.fromFixes(fixes);
        for (const d of dets) {
          const detection = det('x', T0 + d.ts, d, d.unc, null);
          expect(clock.explains(detection, silent)).toBe(explainsByScan(fixes, detection, silent));
        }
      }),
      { numRuns: 300 },
    );
  });

  // The streamed day asks DuckDB instead (explainedSql): same answers, band and minute edges included.
  it('property: explainedSql gives the scan\'s answer too (minute edges, latitude band edges, fast ships, no fixes)', async () => {
    const fixArb = fc.record({
      mmsi: fc.integer({ min: 1, max: 4 }),
      ts: fc.oneof(fc.integer({ min: -3 * MIN, max: 3 * MIN }), fc.constantFrom(-MIN, 0, MIN, MIN - 1, -MIN + 1)),
      lat: fc.oneof(fc.double({ min: 49.97, max: 50.08, noNaN: true }), fc.constantFrom(50, 50.05, 49.99999999)),
      lon: fc.double({ min: -1.05, max: -1, noNaN: true }),
      sog: fc.option(fc.double({ min: 0, max: 102, noNaN: true })),
    });
    const detArb = fc.record({ ts: fc.integer({ min: -2 * MIN, max: 2 * MIN }), lat: fc.double({ min: 49.97, max: 50.08, noNaN: true }), lon: fc.double({ min: -1.05, max: -1, noNaN: true }), unc: fc.integer({ min: 50, max: 5000 }) });
    await withDb(async (db) => {
      await fc.assert(
        fc.asyncProperty(fc.array(fixArb, { maxLength: 60 }), fc.array(detArb, { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 4 }), async (raw, dets, silent) => {
          const fixes: AisFix[] = raw.map((f) => ({ ...f, ts: T0 + f.ts, cog: null, trackId: '0', deltaT: null, deltaDistKm: null, speedCalcKn: null }));
          const detections = dets.map((d, i) => det(`x${i}`, T0 + d.ts, d, d.unc, null));
          await db.createTable('fixes_t', { mmsi: 'BIGINT', ts_ms: 'BIGINT', lat: 'DOUBLE', lon: 'DOUBLE', sog: 'DOUBLE' }, fixes.map((f) => ({ mmsi: f.mmsi, ts_ms: f.ts, lat: f.lat, lon: f.lon, sog: f.sog })));
          await db.createTable('cands_t', { anon_id: 'INTEGER', silent_mmsi: 'BIGINT', ts_ms: 'BIGINT', lat: 'DOUBLE', lon: 'DOUBLE', uncertainty_m: 'DOUBLE' },
            detections.map((d, i) => ({ anon_id: i, silent_mmsi: silent, ts_ms: d.ts, lat: d.lat, lon: d.lon, uncertainty_m: d.uncertaintyM })));
          await explainedSql(db, 'cands_t', 'SELECT * FROM fixes_t', 'explained_t');
          const explained = new Set((await db.all('SELECT anon_id FROM explained_t')).map((r) => Number(r.anon_id)));
          await db.run('DROP TABLE explained_t');
          detections.forEach((d, i) => expect(explained.has(i), `detection ${i}`).toBe(explainsByScan(fixes, d, silent)));
        }),
        { numRuns: 80 },
      );
    });
  });

  it('refuses fixes out of (minute, latitude) order rather than answering wrongly', () => {
    const clock = new AisClock(2);
    clock.add(T0, 50.1, -1, 10, 1);
    expect(() => clock.add(T0 + 1000, 50.0, -1, 10, 2)).toThrow(/ordered by minute, then latitude/);
  });
});

describe('Algorithm B: spoof detection and correction', () => {
  const truth = { lat: 50.7, lon: -1.2 };
  const fix = { ts: T0, sog: 10, cog: 90, ...destinationPoint(truth.lat, truth.lon, 200, 60) };
  const around = [-90_000, -30_000, 40_000, 100_000].map((dt, i) => det(`r${i}`, T0 + dt, destinationPoint(truth.lat, truth.lon, 45 * i, 0.3), 600));
  const matched = around.filter((d) => Math.abs(d.ts - T0) <= 2 * MIN);

  it('corrects a fix 60 km from where every RF detection puts the vessel', () => {
    const verdict = assessFix(fix, null, null, matched, around, DEFAULT_PARAMS);
    expect(verdict.flagged).toBe(true);
    expect(verdict.score).toBeGreaterThanOrEqual(0.7);
    expect(verdict.corrected).not.toBeNull();
    expect(haversineKm(verdict.corrected!.lat, verdict.corrected!.lon, truth.lat, truth.lon)).toBeLessThan(0.5);
    expect(verdict.corrected!.distanceKm).toBeCloseTo(60, 0);
    expect(verdict.rfIds).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('leaves a fix alone when the RF agrees with it, or when a single detection disagrees', () => {
    const honest = { ...fix, ...truth };
    const agreeing = assessFix(honest, null, null, matched, around, DEFAULT_PARAMS);
    expect(agreeing.flagged).toBe(false);
    expect(agreeing.score).toBeLessThan(0.2);
    expect(agreeing.corrected).toBeNull();
    // One mislinked detection 80 km away among three that agree: flagged by nobody.
    const mislink = det('mislink', T0 + 10_000, destinationPoint(truth.lat, truth.lon, 0, 80), 600);
    const mixed = assessFix(honest, null, null, [mislink], [...around, mislink], DEFAULT_PARAMS);
    expect(mixed.flagged).toBe(true);
    expect(mixed.score).toBeLessThan(0.7);
    expect(mixed.corrected).toBeNull();
  });

  it('does not assess a fix without time-matched RF, and respects spoof_thr', () => {
    expect(assessFix(fix, null, null, [], [], DEFAULT_PARAMS)).toMatchObject({ score: null, flagged: false, corrected: null });
    expect(assessFix(fix, null, null, matched, around, { ...DEFAULT_PARAMS, spoof_thr: 0.99 }).corrected).toBeNull();
  });

  it('a residual inside a large RF uncertainty is not a spoof', () => {
    const vague = matched.map((d) => ({ ...d, uncertaintyM: 30_000 }));
    const near = { ...fix, ...destinationPoint(truth.lat, truth.lon, 200, 25) };
    expect(assessFix(near, null, null, vague, vague, DEFAULT_PARAMS).flagged).toBe(false);
  });
});

describe('minor gaps', () => {
  it('interpolates ≤ 5 min gaps only when the two fixes are spatially consistent', () => {
    const a = { ts: T0, ...eastbound(T0), sog: 12 };
    const b = { ts: T0 + 4 * MIN, ...eastbound(T0 + 4 * MIN), sog: 12 };
    const points = interpolateMinorGap(a, b, 90, MIN, DEFAULT_PARAMS);
    expect(points.map((p) => p.ts_utc - T0)).toEqual([MIN, 2 * MIN, 3 * MIN]);
    expect(points.every((p) => p.position_label === 'AIS_INTERPOLATED' && p.source_tag === 'AIS')).toBe(true);
    const jump = { ...b, ...destinationPoint(b.lat, b.lon, 0, 30) };
    expect(interpolateMinorGap(a, jump, 90, MIN, DEFAULT_PARAMS)).toEqual([]);
  });
});

describe('cleaning, resolution and counted rejects (SQL)', () => {
  it('counts out-of-range coordinates, duplicates and unknown entities, centroids TDOA clusters, resolves by mmsi/imo/call_sign/map', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rf-clean-'));
    const aisCsv = join(dir, 'ais.csv');
    writeFileSync(
      aisCsv,
      [
        'mmsi,ts_utc,lat,lon,sog,cog,imo,call_sign',
        '235000001,2026-05-25T10:00:00Z,50.5,-1.5,12,90,,',
        '235000001,2026-05-25T10:00:00Z,50.5,-1.5,12,90,,', // duplicate vessel+timestamp
        '235000001,2026-05-25T10:01:00Z,91.0,-1.5,12,90,,', // lat out of range: line 4
        '235000002,2026-05-25T10:00:00Z,50.6,-1.4,0,,IMO9111111,', // imo resolved from AIS
        '235000003,2026-05-25T10:00:00Z,50.7,-1.3,0,,,ABCD', // call_sign from AIS
        '235000004,2026-05-25T10:00:00Z,50.8,-1.2,0,,,', // only via the mapping table
        '235000005,not-a-time,50.8,-1.2,0,,,',
        '235000005,2026-05-24T23:59:00Z,50.8,-1.2,0,,,', // another day
      ].join('\n'),
    );
    const rfFile = join(dir, 'rf.parquet');
    const t = Date.parse('2026-05-25T10:00:30Z');
    const rfRow = (over: Record<string, unknown>) => ({ rf_id: 'x', ts_utc: t, est_lat: 50.5, est_lon: -1.5, geo_uncertainty_m: 1000, geoloc_method: 'AOA', tdoa_cluster_id: null, mmsi: null, imo: null, call_sign: null, ...over });
    await writeTable(
      rfFile,
      { rf_id: 'VARCHAR', ts_utc: 'BIGINT', est_lat: 'DOUBLE', est_lon: 'DOUBLE', geo_uncertainty_m: 'DOUBLE', geoloc_method: 'VARCHAR', tdoa_cluster_id: 'VARCHAR', mmsi: 'BIGINT', imo: 'VARCHAR', call_sign: 'VARCHAR' },
      [
        rfRow({ rf_id: 'a', mmsi: 235000001 }),
        rfRow({ rf_id: 'a', mmsi: 235000001 }), // duplicate rf_id+ts
        rfRow({ rf_id: 'bad', est_lon: 190 }), // out of range
        rfRow({ rf_id: 'b', imo: '9111111' }),
        rfRow({ rf_id: 'c', call_sign: ' abcd ' }),
        rfRow({ rf_id: 'd', imo: 'IMO9444444' }),
        rfRow({ rf_id: 'ghost', mmsi: 999000001 }), // unknown entity
        rfRow({ rf_id: 'anon' }),
        rfRow({ rf_id: 'vague', geo_uncertainty_m: 8000 }), // over the cap
        rfRow({ rf_id: 't1', tdoa_cluster_id: 'k', geoloc_method: 'TDOA', est_lat: 50.50, geo_uncertainty_m: 1000, mmsi: 235000001 }),
        rfRow({ rf_id: 't2', tdoa_cluster_id: 'k', geoloc_method: 'TDOA', est_lat: 50.51, geo_uncertainty_m: 1000, ts_utc: t + 800 }),
      ],
    );
    const mapFile = join(dir, 'map.csv');
    writeFileSync(mapFile, 'key_type,key_value,mmsi\nimo,IMO9444444,235000004\n');
    const result = await withDb((db) => loadAndClean(db, { aisFiles: [aisCsv], rfFiles: [rfFile], entityMapFiles: [mapFile], date: '2026-05-25' }, DEFAULT_PARAMS));
    expect(result.counts).toMatchObject({
      ais_rows_in: 8,
      ais_invalid_coord: 1,
      ais_invalid_ts: 1,
      ais_outside_partition: 1,
      ais_duplicates: 1,
      ais_rows_clean: 4,
      rf_rows_in: 11,
      rf_invalid_coord: 1,
      rf_duplicates: 1,
      rf_clusters: 1,
      rf_cluster_members: 2,
      rf_dropped_uncertainty: 1,
      rf_unknown_entity: 1,
      rf_anonymous: 1,
      rf_resolved_mmsi: 2,
      rf_resolved_imo: 1,
      rf_resolved_call_sign: 1,
      rf_resolved_entity_map: 1,
      rf_rows_clean: 6,
    });
    expect(result.examples).toContain(`${aisCsv} row 4 field lat/lon: outside [-90, 90] / [-180, 180] or missing (value 91.0, -1.5); 1 such row(s) dropped`);
    // writeTable sorts the rows (ORDER BY ALL): 'bad' is the 5th row of the file (a, a, anon, b, bad).
    expect(result.examples).toContain(`${rfFile} row 5 field est_lat/est_lon: outside [-90, 90] / [-180, 180] or missing (value 50.5, 190.0); 1 such row(s) dropped`);
    expect(result.examples.some((e) => e.includes('rf_id ghost') && e.includes('999000001'))).toBe(true);
    const byId = new Map(result.rf.map((r) => [r.rfId, r]));
    expect(byId.get('b')!.mmsi).toBe(235000002);
    expect(byId.get('c')!.mmsi).toBe(235000003);
    expect(byId.get('d')!.mmsi).toBe(235000004);
    expect(byId.get('anon')!.mmsi).toBeNull();
    const cluster = byId.get('t1')!;
    expect(cluster.memberIds).toEqual(['t1', 't2']);
    expect(cluster.geolocMethod).toBe('TDOA_CENTROID');
    expect(cluster.lat).toBeCloseTo(50.505, 6);
    expect(cluster.mmsi).toBe(235000001);
    // Two 1000 m (95 %) solutions 1.1 km apart: combined radius 1000/√2, inflated by the Birge ratio
    // √(χ²/(n−1)) because they scatter more than σ = 1000/2.45 m allows.
    const halfKm = haversineKm(50.5, -1.5, 50.51, -1.5) / 2;
    const sigmaM = 1000 / 2.45;
    const birge = Math.sqrt(2 * ((halfKm * 1000) / sigmaM) ** 2);
    expect(cluster.uncertaintyM).toBeCloseTo((1000 / Math.SQRT2) * birge, 0);
    expect(result.ais.map((f) => [f.mmsi, f.trackId])).toEqual([[235000001, '235000001-0'], [235000002, '235000002-0'], [235000003, '235000003-0'], [235000004, '235000004-0']]);
  });

  it('a bad mapping-table row stops the step with file, row and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rf-map-'));
    const ais = join(dir, 'ais.csv');
    writeFileSync(ais, 'mmsi,ts_utc,lat,lon\n235000001,2026-05-25T10:00:00Z,50.5,-1.5\n');
    const map = join(dir, 'map.csv');
    writeFileSync(map, 'key_type,key_value,mmsi\nimo,9111111,235000001\nflag,GB,235000001\n');
    const run = withDb((db) => loadAndClean(db, { aisFiles: [ais], rfFiles: [], entityMapFiles: [map], date: '2026-05-25' }, DEFAULT_PARAMS));
    await expect(run).rejects.toBeInstanceOf(StepError);
    await expect(run).rejects.toMatchObject({ where: `${map} row 3 field key_type` });
  });

  it('AIS without a required column is a StepError naming the column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rf-col-'));
    const ais = join(dir, 'ais.csv');
    writeFileSync(ais, 'mmsi,time,lat,lon\n235000001,2026-05-25T10:00:00Z,50.5,-1.5\n');
    await expect(withDb((db) => loadAndClean(db, { aisFiles: [ais], rfFiles: [], date: '2026-05-25' }, DEFAULT_PARAMS))).rejects.toThrow(/no column "ts_utc"/);
  });
});

describe('cleaning invariants (property)', () => {
  it('every row is either kept once or counted; ISO text, epoch ms and TIMESTAMP give the same instant', async () => {
    const dayStart = Date.parse('2026-05-25T00:00:00Z');
    const rowArb = fc.record({
      mmsi: fc.integer({ min: 1, max: 4 }),
      second: fc.integer({ min: -600, max: 86_400 + 600 }),
      ms: fc.constantFrom(0, 250),
      lat: fc.oneof(fc.double({ min: -90, max: 90, noNaN: true }), fc.constantFrom(91, -95.5)),
      lon: fc.double({ min: -180, max: 180, noNaN: true }),
      form: fc.constantFrom('iso', 'epoch'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { minLength: 1, maxLength: 60 }), async (rows) => {
        const dir = mkdtempSync(join(tmpdir(), 'rf-prop-'));
        const file = join(dir, 'ais.csv');
        const lines = ['mmsi,ts_utc,lat,lon'];
        for (const r of rows) {
          const ts = dayStart + r.second * 1000 + r.ms;
          lines.push(`${235000000 + r.mmsi},${r.form === 'iso' ? new Date(ts).toISOString() : ts},${r.lat},${r.lon}`);
        }
        writeFileSync(file, lines.join('\n') + '\n');
        const { ais, counts } = await withDb((db) => loadAndClean(db, { aisFiles: [file], rfFiles: [], date: '2026-05-25' }, DEFAULT_PARAMS));
        const valid = new Set<string>();
        let invalidCoord = 0, outside = 0;
        for (const r of rows) {
          const ts = dayStart + r.second * 1000 + r.ms;
          if (Math.abs(r.lat) > 90) invalidCoord++;
          else if (ts < dayStart || ts >= dayStart + 86_400_000) outside++;
          else valid.add(`${235000000 + r.mmsi}/${ts}`);
        }
        expect(counts.ais_invalid_coord).toBe(invalidCoord);
        expect(counts.ais_outside_partition).toBe(outside);
        expect(new Set(ais.map((f) => `${f.mmsi}/${f.ts}`))).toEqual(valid);
        expect(counts.ais_rows_in).toBe(counts.ais_invalid_coord + counts.ais_outside_partition + counts.ais_duplicates + counts.ais_rows_clean);
      }),
      { numRuns: 8, seed: 7 },
    );
  });
});

describe('lineage_run_id', () => {
  it('is a digest of partition, params and input bytes: stable on rerun, new when anything changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rf-lineage-'));
    const file = join(dir, 'x.csv');
    writeFileSync(file, 'a\n1\n');
    const id = lineageRunId('2026-05-25', DEFAULT_PARAMS, [file]);
    expect(id).toMatch(/^rf-fuse-2026-05-25-[0-9a-f]{16}$/);
    expect(lineageRunId('2026-05-25', { ...DEFAULT_PARAMS }, [file])).toBe(id);
    expect(lineageRunId('2026-05-26', DEFAULT_PARAMS, [file])).not.toBe(id);
    expect(lineageRunId('2026-05-25', { ...DEFAULT_PARAMS, spoof_thr: 0.8 }, [file])).not.toBe(id);
    writeFileSync(file, 'a\n2\n');
    expect(lineageRunId('2026-05-25', DEFAULT_PARAMS, [file])).not.toBe(id);
  });
});

describe('RF simulator', () => {
  const tracks = syntheticTracks({ seed: 5, date: '2026-05-25', vessels: 25, hours: 1.5, intervalSec: 60 });

  it('is deterministic from its seed', () => {
    expect(JSON.stringify(simulate(tracks, { seed: 3 }))).toBe(JSON.stringify(simulate(tracks, { seed: 3 })));
    expect(JSON.stringify(simulate(tracks, { seed: 4 }).rf)).not.toBe(JSON.stringify(simulate(tracks, { seed: 3 }).rf));
  });

  it('cuts gaps, displaces spoofs by 20–200 km, keeps uncertainties realistic, places decoys near gaps', () => {
    const sim = simulate(tracks, { seed: 3 });
    expect(sim.truth.gaps.length).toBeGreaterThan(3);
    expect(sim.truth.spoofs.length).toBeGreaterThan(5);
    for (const gap of sim.truth.gaps) {
      expect(gap.end_ts - gap.start_ts).toBeGreaterThan(DEFAULT_PARAMS.gap_thr_min * MIN);
      expect(sim.ais.some((f) => f.mmsi === gap.mmsi && f.ts > gap.start_ts && f.ts < gap.end_ts)).toBe(false);
    }
    for (const s of sim.truth.spoofs) {
      const d = haversineKm(s.true_lat, s.true_lon, s.spoof_lat, s.spoof_lon);
      expect(d).toBeGreaterThanOrEqual(19.9);
      expect(d).toBeLessThanOrEqual(200.1);
    }
    const valid = sim.truth.rf.filter((t) => t.kind === 'vessel' || t.kind === 'decoy');
    expect(valid.filter((t) => t.geo_uncertainty_m <= 5000).every((t) => t.geo_uncertainty_m >= 200)).toBe(true);
    expect(valid.some((t) => t.geo_uncertainty_m > 5000)).toBe(true);
    const errors = valid.filter((t) => t.geo_uncertainty_m <= 5000).map((t) => {
      const row = sim.rf.find((r) => r.rf_id === t.rf_id)!;
      return haversineKm(t.true_lat, t.true_lon, row.est_lat, row.est_lon) * 1000 / t.geo_uncertainty_m;
    });
    // geo_uncertainty_m is a 95 % radius: about 95 % of errors fall inside it.
    const inside = errors.filter((e) => e <= 1).length / errors.length;
    expect(inside).toBeGreaterThan(0.9);
    expect(inside).toBeLessThan(0.99);
    const decoys = sim.rf.filter((r) => sim.truth.rf.find((t) => t.rf_id === r.rf_id)!.kind === 'decoy');
    expect(decoys.length).toBeGreaterThan(0);
    expect(decoys.every((r) => r.mmsi === null && r.imo === null && r.call_sign === null)).toBe(true);
    expect(sim.rf.some((r) => r.tdoa_cluster_id !== null)).toBe(true);
  });
});
