// Real STAC items from three catalogues parse into the same shape, with the right band files and
// reflectance scale/offset; scene matching picks the closest clear scene whose footprint contains the point.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { sharedData } from '../helpers/paths.js';
import { baselineOffset, footprintContains, loadStaticItems, normaliseItem, processingBaseline, type Scene } from '../../lib/geo/stac.js';
import { alignToScene, dedupeResults, matchPoint, selectQueryPoints, NO_MATCH_REASONS, type AisPoint, type Match } from '../../steps/stac-search/match.js';

const stac = (name: string) => sharedData('stac', name);
const readJson = (name: string) => JSON.parse(readFileSync(stac(name), 'utf8'));

describe('Earth Search v1 items', async () => {
  const items = await loadStaticItems(stac('earthsearch_v1_sentinel-2-l2a_39QTA_39QUA_2023-06.json'));
  const scenes = items.map((entry) => normaliseItem(entry));

  it('reads all three items, sorted by id', () => {
    expect(scenes.map((s) => s.id)).toEqual(['S2A_39QTA_20230628_0_L2A', 'S2A_39QUA_20230628_0_L2A', 'S2B_39QTA_20230623_0_L2A']);
  });

  it('maps common-name asset keys to bands and keeps raster:bands scale/offset', () => {
    const scene = scenes[0];
    expect(scene.datetime).toBe('2023-06-28T07:24:41.632Z');
    expect(scene.epsg).toBe(32639);
    expect(scene.cloudCover).toBeCloseTo(4.025136, 6);
    expect(scene.processingBaseline).toBe('05.09');
    const base = 'https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/39/Q/TA/2023/6/S2A_39QTA_20230628_0_L2A/';
    expect(scene.assets.B02).toEqual({ href: `${base}B02.tif`, scale: 0.0001, offset: -0.1, nodata: 0 });
    expect(scene.assets.B08?.href).toBe(`${base}B08.tif`); // `nir`, not `nir08` (B8A)
    expect(scene.assets.B11?.href).toBe(`${base}B11.tif`);
    expect(scene.assets.B12?.href).toBe(`${base}B12.tif`);
    expect(scene.assets.SCL).toEqual({ href: `${base}SCL.tif`, scale: 1, offset: 0, nodata: 0 });
  });

  it('contains a point inside the tile footprint and not one outside', () => {
    expect(footprintContains(scenes[0], 18.5, 48.7)).toBe(true);
    expect(footprintContains(scenes[0], 18.5, 49.5)).toBe(false); // east of 39QTA, inside 39QUA
    expect(footprintContains(scenes[1], 18.5, 49.5)).toBe(true);
  });
});

describe('Earth Search v0 item (no raster:bands, no baseline property)', () => {
  const scene = normaliseItem({ item: readJson('earthsearch_v0_S2A_28QCH_20200714_0_L2A.json'), location: stac('earthsearch_v0_S2A_28QCH_20200714_0_L2A.json') });

  it('reads the baseline from the product id (N0214) and applies no offset', () => {
    expect(scene.processingBaseline).toBe('02.14');
    expect(scene.assets.B04).toEqual({
      href: 'https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/2020/S2A_28QCH_20200714_0_L2A/B04.tif',
      scale: 0.0001, offset: 0, nodata: 0,
    });
    expect(scene.assets.SCL?.href).toMatch(/\/SCL\.tif$/);
    expect(scene.epsg).toBe(32628);
    expect(scene.cloudCover).toBe(2.36);
  });
});

describe('Planetary Computer items', async () => {
  const alaska = normaliseItem({ item: readJson('planetarycomputer_S2B_MSIL2A_20190629T212529_R043_T06VVN.json'), location: 'x' });
  const collection = await loadStaticItems(stac('planetarycomputer_sentinel-2-l2a_35MNM_2020-06_07_13items.geojson'));

  it('maps B02…SCL keys with the baseline-02.12 rule (no offset)', () => {
    expect(alaska.processingBaseline).toBe('02.12');
    expect(alaska.epsg).toBe(32606);
    expect(alaska.assets.B08?.href).toMatch(/T06VVN_20190629T212529_B08_10m\.tif$/);
    expect(alaska.assets.B11?.href).toMatch(/_B11_20m\.tif$/);
    expect(alaska.assets.SCL?.href).toMatch(/_SCL_20m\.tif$/);
    expect(alaska.assets.B02?.offset).toBe(0);
    expect(alaska.assets.B02?.scale).toBe(0.0001);
  });

  it('reads all 13 items of the FeatureCollection with every band present', () => {
    const scenes = collection.map((entry) => normaliseItem(entry));
    expect(scenes).toHaveLength(13);
    for (const scene of scenes) expect(Object.keys(scene.assets).sort()).toEqual(['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B11', 'B12', 'B8A', 'SCL']);
  });

  it('applies −0.1 when the same item carries baseline 04.00 or later, and keeps 0 before', () => {
    const item = readJson('planetarycomputer_S2B_MSIL2A_20190629T212529_R043_T06VVN.json');
    item.properties['s2:processing_baseline'] = '04.00';
    expect(normaliseItem({ item, location: 'x' }).assets.B03?.offset).toBe(-0.1);
    item.properties['s2:processing_baseline'] = '03.01';
    expect(normaliseItem({ item, location: 'x' }).assets.B03?.offset).toBe(0);
    expect(baselineOffset(null, '2022-03-01T00:00:00.000Z')).toBe(-0.1);
    expect(baselineOffset(null, '2021-03-01T00:00:00.000Z')).toBe(0);
    expect(processingBaseline({ 'processing:version': '05.11' })).toBe('05.11');
  });

  it('derives EPSG from the MGRS tile when proj:epsg is absent', () => {
    const item = readJson('planetarycomputer_S2B_MSIL2A_20190629T212529_R043_T06VVN.json');
    delete item.properties['proj:epsg'];
    expect(normaliseItem({ item, location: 'x' }).epsg).toBe(32606);
    item.properties['s2:mgrs_tile'] = '35MNM';
    expect(normaliseItem({ item, location: 'x' }).epsg).toBe(32735);
  });
});

describe('matching AIS points to scenes', async () => {
  const scenes = (await loadStaticItems(stac('earthsearch_v1_sentinel-2-l2a_39QTA_39QUA_2023-06.json'))).map((entry) => normaliseItem(entry));
  const options = { searchWindowHours: 24, cloudCoverMax: 30 };
  const point = (aisTime: string, lat = 18.5, lon = 48.7): AisPoint => ({ mmsi: 1, aisTime, lat, lon });

  it('picks the closest-in-time scene containing the point', () => {
    const result = matchPoint(point('2023-06-28T10:00:00.000Z'), scenes, options);
    expect('scene' in result && result.scene.id).toBe('S2A_39QTA_20230628_0_L2A');
    const earlier = matchPoint(point('2023-06-23T20:00:00.000Z'), scenes, options);
    expect('scene' in earlier && earlier.scene.id).toBe('S2B_39QTA_20230623_0_L2A');
  });

  it('gives the reason of the filter that left nothing', () => {
    expect(matchPoint(point('2023-06-25T12:00:00.000Z'), scenes, options)).toMatchObject({ reason: NO_MATCH_REASONS.noTime });
    expect(matchPoint(point('2023-06-28T10:00:00.000Z', 10, 10), scenes, options)).toMatchObject({ reason: NO_MATCH_REASONS.noFootprint });
    expect(matchPoint(point('2023-06-28T10:00:00.000Z'), scenes, { ...options, cloudCoverMax: 1 })).toMatchObject({ reason: NO_MATCH_REASONS.cloud });
    expect(matchPoint(point('2023-06-28T10:00:00.000Z', 95), scenes, options)).toMatchObject({ reason: NO_MATCH_REASONS.invalidPosition });
    const noBands: Scene[] = scenes.map((s) => ({ ...s, assets: { SCL: s.assets.SCL } }));
    expect(matchPoint(point('2023-06-28T10:00:00.000Z'), noBands, options)).toMatchObject({ reason: NO_MATCH_REASONS.unusable });
  });

  it('never returns a scene outside the window or footprint, nor misses a closer valid one (property)', () => {
    const base = Date.parse('2023-06-20T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 * 24 * 60 }), fc.double({ min: 17.9, max: 19.1, noNaN: true }), fc.double({ min: 48, max: 49.8, noNaN: true }),
        fc.integer({ min: 1, max: 72 }), fc.double({ min: 0, max: 10, noNaN: true }),
        (minutes, lat, lon, windowHours, cloudMax) => {
          const p = point(new Date(base + minutes * 60_000).toISOString(), lat, lon);
          const opts = { searchWindowHours: windowHours, cloudCoverMax: cloudMax };
          const result = matchPoint(p, scenes, opts);
          const ok = (s: Scene) => footprintContains(s, lat, lon) && Math.abs(Date.parse(s.datetime) - Date.parse(p.aisTime)) <= windowHours * 3_600_000 && (s.cloudCover ?? 101) <= cloudMax;
          const valid = scenes.filter(ok);
          if (!('scene' in result)) return valid.length === 0;
          const dt = (s: Scene) => Math.abs(Date.parse(s.datetime) - Date.parse(p.aisTime));
          return ok(result.scene) && valid.every((s) => dt(s) >= dt(result.scene));
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  it('selects, per MMSI and overpass, the fix closest to the overpass centre within the window', () => {
    const fixes: AisPoint[] = [
      { mmsi: 7, aisTime: '2026-05-25T10:55:00.000Z', lat: 50.7, lon: -1.3 },
      { mmsi: 7, aisTime: '2026-05-25T11:01:00.000Z', lat: 50.71, lon: -1.31 },
      { mmsi: 7, aisTime: '2026-05-25T11:09:00.000Z', lat: 50.72, lon: -1.32 },
      { mmsi: 8, aisTime: '2026-05-25T12:00:00.000Z', lat: 50.8, lon: -1.1 }, // outside ±30 min
      { mmsi: 9, aisTime: '2026-05-25T10:59:00.000Z', lat: 50.6, lon: -1.2 },
      { mmsi: 9, aisTime: '2026-05-25T11:01:00.000Z', lat: 50.61, lon: -1.21 }, // tie: the earlier one wins
    ];
    const chosen = selectQueryPoints(fixes, [{ centerTime: '2026-05-25T11:00:00.000Z' }], 30);
    expect(chosen.map((p) => [p.mmsi, p.aisTime])).toEqual([[7, '2026-05-25T11:01:00.000Z'], [9, '2026-05-25T10:59:00.000Z']]);
    // Same fixes, two overpasses picking the same fix: counted once.
    expect(selectQueryPoints(fixes, [{ centerTime: '2026-05-25T11:00:00.000Z' }, { centerTime: '2026-05-25T10:59:50.000Z' }], 30)).toHaveLength(2);
    // With the overpass target's box, fixes outside it do not count (mmsi 9 is south of 50.65).
    const boxed = selectQueryPoints(fixes, [{ centerTime: '2026-05-25T11:00:00.000Z', bbox: { minLat: 50.65, minLon: -1.5, maxLat: 50.9, maxLon: -1.0 } }], 30);
    expect(boxed.map((p) => p.mmsi)).toEqual([7]);
  });

  it('aligns a match to the fix nearest the scene time, inside the footprint', () => {
    const scene = scenes[0]; // S2A_39QTA_20230628, 07:24:41.632Z
    const at = (iso: string, lat = 18.5, lon = 48.7): AisPoint => ({ mmsi: 1, aisTime: iso, lat, lon });
    const match = matchPoint(at('2023-06-28T07:30:00.000Z'), scenes, options) as Match;
    const fixes = [
      at('2023-06-28T07:30:00.000Z'),
      at('2023-06-28T07:25:00.000Z', 18.51), // 18 s from the scene: chosen
      at('2023-06-28T07:24:30.000Z', 18.5, 49.5), // 12 s, but outside 39QTA
      { ...at('2023-06-28T07:24:40.000Z', 18.52), mmsi: 2 }, // another ship
    ];
    const aligned = alignToScene(match, fixes);
    expect(aligned.point).toEqual(fixes[1]);
    expect(aligned.scene).toBe(scene);
    // no closer fix: unchanged object
    expect(alignToScene(match, [fixes[0]])).toBe(match);
    // two points aligned to the same fix count once
    expect(dedupeResults([aligned, alignToScene(matchPoint(at('2023-06-28T07:29:00.000Z'), scenes, options) as Match, fixes)])).toHaveLength(1);
  });
});
