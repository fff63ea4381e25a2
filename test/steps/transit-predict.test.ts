// The predictor: eligibility rules, ETA by dead reckoning to the first corridor hit, uncertainty,
// direction; the geometry it rests on; deterministic UUIDs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { destinationPoint, haversineKm } from '../../lib/geo/sphere.js';
import { zoneFrom, type Corridor } from '../../steps/transit-reconcile/chokepoints.js';
import { distanceToSegmentKm, firstEntryFraction, greatCircleTrack, inPolygon, segmentCrossing } from '../../steps/transit-reconcile/geometry.js';
import { DEFAULT_PREDICT_PARAMS, etaUncertaintyHours, ineligibility, normaliseImo, predictVessel, type LatestFix } from '../../steps/transit-reconcile/predict.js';
import { predictedKey, transitId } from '../../steps/transit-reconcile/transits.js';
import { HOUR, loadCorridors, t } from './transit-helpers.js';

const corridors = loadCorridors();
const params = DEFAULT_PREDICT_PARAMS;
const T = t('2026-05-25T12:00:00Z');

function fix(over: Partial<LatestFix>): LatestFix {
  return { mmsi: 1, vesselKey: '9700001', tsMs: T - HOUR, lat: 12.3, lon: 43.7, sog: 12, cog: 305, ...over };
}

/** A square corridor 0.2° on a side centred on (lat, lon) with zones south (entry) and north (exit). */
function squareCorridor(lat: number, lon: number, bidirectional = false): Corridor {
  const box = (s: number, n: number) => [[[lon - 0.1, s], [lon + 0.1, s], [lon + 0.1, n], [lon - 0.1, n], [lon - 0.1, s]]];
  return {
    id: 'box',
    name: 'box',
    bidirectional,
    ...zoneFrom(box(lat - 0.1, lat + 0.1)),
    entryZone: zoneFrom(box(lat - 0.4, lat - 0.2)),
    exitZone: zoneFrom(box(lat + 0.2, lat + 0.4)),
  };
}

describe('eligibility (seed: lookback 6 h, speed ≥ 1 kn, course in [0, 360), position present)', () => {
  it('accepts a fresh, moving fix with a course', () => {
    expect(ineligibility(fix({}), T, params)).toBeNull();
  });
  it.each([
    ['stale', { tsMs: T - 6 * HOUR - 1000 }],
    ['stale', { tsMs: T + 1000 }],
    ['drifting', { sog: 0.9 }],
    ['drifting', { sog: null }],
    ['drifting', { sog: 102.3 }],
    ['no_course', { cog: null }],
    ['no_course', { cog: 360 }],
    ['no_course', { cog: -1 }],
    ['no_position', { lat: null }],
    ['no_position', { lon: 181 }],
  ] as const)('%s: %j', (reason, over) => {
    expect(ineligibility(fix(over), T, params)).toBe(reason);
    expect(predictVessel(fix(over), corridors, T, params)).toEqual([]);
  });
  it('exactly 6 h old and exactly 1.0 kn are still eligible', () => {
    expect(ineligibility(fix({ tsMs: T - 6 * HOUR, sog: 1.0 }), T, params)).toBeNull();
  });
});

describe('ETA by dead reckoning', () => {
  it('a vessel 50 km south of a box heading north at 10 kn enters it after distance / speed', () => {
    const box = squareCorridor(20, 60);
    const start = destinationPoint(20 - 0.1, 60, 180, 50); // 50 km south of the southern edge
    const f = fix({ lat: start.lat, lon: start.lon, cog: 0, sog: 10, tsMs: T - 2 * HOUR });
    const [p] = predictVessel(f, [box], T, params);
    const expectedHours = 50 / (10 * 1.852);
    expect((p.etaMs - f.tsMs) / HOUR).toBeCloseTo(expectedHours, 2);
    expect(p.uncertaintyHours).toBeCloseTo(Math.max(1, 0.15 * expectedHours), 3);
    expect(p.direction).toBe('entry_to_exit');
    expect(p.etaMs % 1000).toBe(0); // whole seconds: a stable idempotency key
  });

  it('a vessel already inside the corridor has ETA = its fix time and the 1 h floor', () => {
    const box = squareCorridor(20, 60);
    const [p] = predictVessel(fix({ lat: 20, lon: 60, cog: 0, tsMs: T - HOUR }), [box], T, params);
    expect(p.etaMs).toBe(T - HOUR);
    expect(p.uncertaintyHours).toBe(1);
  });

  it('no row when the track misses the corridor or ends before it', () => {
    const box = squareCorridor(20, 60);
    const start = destinationPoint(19.9, 60, 180, 50);
    expect(predictVessel(fix({ lat: start.lat, lon: start.lon, cog: 90 }), [box], T, params)).toEqual([]); // heading east
    expect(predictVessel(fix({ lat: start.lat, lon: start.lon, cog: 0, sog: 1 }), [box], T, { ...params, horizonHours: 10 })).toEqual([]); // 18.5 km < 50 km
  });

  it('uncertainty is 15 % of the hours ahead with a 1 h floor', () => {
    expect(etaUncertaintyHours(2, params)).toBe(1);
    expect(etaUncertaintyHours(20, params)).toBeCloseTo(3, 10);
    expect(etaUncertaintyHours(-3, params)).toBe(1);
  });

  it('one-way bab-el-mandeb: northbound from the Gulf of Aden predicts, southbound from the Red Sea does not', () => {
    const north = predictVessel(fix({ lat: 12.3, lon: 43.7, cog: 305 }), corridors, T, params);
    expect(north.map((p) => [p.chokepointId, p.direction])).toEqual([['bab-el-mandeb', 'entry_to_exit']]);
    const south = predictVessel(fix({ lat: 12.95, lon: 43.2, cog: 160 }), corridors, T, params);
    expect(south).toEqual([]);
  });

  it('hormuz is valid both ways: westbound from the Gulf of Oman is exit_to_entry', () => {
    const [p] = predictVessel(fix({ lat: 26.1, lon: 56.8, cog: 300, sog: 14 }), corridors, T, params);
    expect(p.chokepointId).toBe('hormuz');
    expect(p.direction).toBe('exit_to_entry');
  });

  it('property: the dead-reckoned position at the ETA is on the corridor boundary (or the start inside it)', () => {
    const box = squareCorridor(10, 50);
    fc.assert(
      fc.property(
        fc.double({ min: 9, max: 11, noNaN: true }),
        fc.double({ min: 49, max: 51, noNaN: true }),
        fc.double({ min: 0, max: 359.999, noNaN: true }),
        fc.double({ min: 1, max: 25, noNaN: true }),
        (lat, lon, cog, sog) => {
          const f = fix({ lat, lon, cog, sog, tsMs: T });
          const predictions = predictVessel(f, [box], T, params);
          const start = { lat, lon };
          if (inPolygon(start, box.polygon)) return predictions.length === 1 && predictions[0].etaMs === T;
          if (predictions.length === 0) return true;
          const hours = (predictions[0].etaMs - T) / HOUR;
          if (hours < 0 || hours > params.horizonHours) return false;
          const at = destinationPoint(lat, lon, cog, sog * 1.852 * hours);
          // Within 1 km of the boundary: the ETA rounding (≤ 0.5 s) plus the 5 km polyline approximation.
          const ring = box.polygon[0];
          let nearest = Infinity;
          for (let i = 0; i + 1 < ring.length; i++)
            nearest = Math.min(nearest, distanceToSegmentKm(at, { lat: ring[i][1], lon: ring[i][0] }, { lat: ring[i + 1][1], lon: ring[i + 1][0] }));
          return nearest < 1;
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});

describe('geometry', () => {
  it('segmentCrossing finds the crossing parameter and rejects misses', () => {
    expect(segmentCrossing(0, 0, 2, 0, 1, -1, 1, 1)).toBeCloseTo(0.5);
    expect(segmentCrossing(0, 0, 2, 0, 3, -1, 3, 1)).toBeNull();
    expect(segmentCrossing(0, 0, 2, 0, 0, 1, 2, 1)).toBeNull();
  });

  it('greatCircleTrack: equal spacing, total length, segment cap', () => {
    const track = greatCircleTrack({ lat: 12, lon: 43 }, 305, 0, 100, 5);
    expect(track).toHaveLength(21);
    expect(haversineKm(track[0].lat, track[0].lon, track[20].lat, track[20].lon)).toBeCloseTo(100, 6);
    expect(haversineKm(track[3].lat, track[3].lon, track[4].lat, track[4].lon)).toBeCloseTo(5, 6);
    const stretch = greatCircleTrack({ lat: 12, lon: 43 }, 305, 40, 52, 5); // 3 segments of 4 km
    expect(stretch).toHaveLength(4);
    expect(haversineKm(12, 43, stretch[0].lat, stretch[0].lon)).toBeCloseTo(40, 6);
    expect(haversineKm(12, 43, stretch[3].lat, stretch[3].lon)).toBeCloseTo(52, 6);
  });

  it('firstEntryFraction: 0 inside, fraction of the first crossing, null on a miss', () => {
    const square = [[[1, -1], [3, -1], [3, 1], [1, 1], [1, -1]]];
    const line = [{ lat: 0, lon: 0 }, { lat: 0, lon: 2 }, { lat: 0, lon: 4 }];
    expect(firstEntryFraction(line, square)).toBeCloseTo(0.25);
    expect(firstEntryFraction([{ lat: 0, lon: 2 }, { lat: 0, lon: 5 }], square)).toBe(0);
    expect(firstEntryFraction([{ lat: 5, lon: 0 }, { lat: 5, lon: 4 }], square)).toBeNull();
  });

  it('distanceToSegmentKm: perpendicular inside the segment, nearest end outside it', () => {
    const a = { lat: 0, lon: 0 };
    const b = { lat: 0, lon: 1 };
    expect(distanceToSegmentKm({ lat: 0.1, lon: 0.5 }, a, b)).toBeCloseTo(haversineKm(0, 0.5, 0.1, 0.5), 3);
    expect(distanceToSegmentKm({ lat: 0, lon: -0.5 }, a, b)).toBeCloseTo(haversineKm(0, 0, 0, -0.5), 6);
    expect(distanceToSegmentKm({ lat: 0, lon: 1.5 }, a, b)).toBeCloseTo(haversineKm(0, 1, 0, 1.5), 6);
  });
});

describe('keys and ids', () => {
  it('ids are RFC 9562 version-5 UUIDs, stable per key and distinct across keys', () => {
    const key = predictedKey('9700001', 'suez-s', t('2026-05-25T10:00:00Z'));
    expect(key).toBe('predicted|9700001|suez-s|2026-05-25T10:00:00.000Z');
    const id = transitId(key);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(transitId(key)).toBe(id);
    expect(transitId(predictedKey('9700001', 'suez-s', t('2026-05-25T10:00:01Z')))).not.toBe(id);
  });

  it('normaliseImo keeps 7-digit IMOs and drops placeholders', () => {
    expect(normaliseImo('IMO9811000')).toBe('9811000');
    expect(normaliseImo(' 9811000 ')).toBe('9811000');
    expect(normaliseImo('IMO0000000')).toBeNull();
    expect(normaliseImo('0')).toBeNull();
    expect(normaliseImo(null)).toBeNull();
  });
});
