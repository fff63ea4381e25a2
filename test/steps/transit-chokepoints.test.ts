// The chokepoints dataset: valid against its schema, parsed strictly, and every corridor and zone on
// water according to Natural Earth 10 m land (../shared/data/land) and inside the NE marine polygons.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { isUserError } from '../../src/sdk/errors.js';
import { parseChokepoints } from '../../steps/transit-reconcile/chokepoints.js';
import { inPolygon, polygonsTouch, type PolygonCoords } from '../../steps/transit-reconcile/geometry.js';
import { PROJECT_ROOT, sharedData } from '../helpers/paths.js';
import { CHOKEPOINTS_FILE, loadCorridors } from './transit-helpers.js';

type Geometry = { type: string; coordinates: unknown };
function polygonsOf(geometry: Geometry): PolygonCoords[] {
  if (geometry.type === 'Polygon') return [geometry.coordinates as PolygonCoords];
  if (geometry.type === 'MultiPolygon') return geometry.coordinates as PolygonCoords[];
  return [];
}
function landPolygons(file: string): PolygonCoords[] {
  const doc = JSON.parse(readFileSync(sharedData('land', file), 'utf8')) as { features: { geometry: Geometry }[] };
  return doc.features.flatMap((f) => polygonsOf(f.geometry));
}

const LAND_FILE: Record<string, string> = {
  'bab-el-mandeb': 'naturalearth_10m_land_clip_bab_el_mandeb.geojson',
  hormuz: 'naturalearth_10m_land_clip_hormuz.geojson',
  'suez-s': 'naturalearth_10m_land_clip_suez_canal_and_gulf_of_suez.geojson',
  'cape-agulhas': 'naturalearth_10m_land_clip_cape_agulhas.geojson',
};

describe('chokepoints dataset', () => {
  const corridors = loadCorridors();

  it('validates against schemas/chokepoints.schema.json and holds the four seed corridors', () => {
    const schema = JSON.parse(readFileSync(`${PROJECT_ROOT}/schemas/chokepoints.schema.json`, 'utf8'));
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate(JSON.parse(readFileSync(CHOKEPOINTS_FILE, 'utf8'))), JSON.stringify(validate.errors)).toBe(true);
    expect(corridors.map((c) => c.id)).toEqual(['bab-el-mandeb', 'cape-agulhas', 'hormuz', 'suez-s']);
    expect(corridors.find((c) => c.id === 'hormuz')?.bidirectional).toBe(true);
    expect(corridors.find((c) => c.id === 'bab-el-mandeb')?.bidirectional).toBe(false);
  });

  it.each(Object.keys(LAND_FILE))('%s: corridor, entry_zone and exit_zone lie on water (no contact with NE 10 m land)', (id) => {
    const corridor = corridors.find((c) => c.id === id)!;
    const land = landPolygons(LAND_FILE[id]);
    expect(land.length).toBeGreaterThan(0);
    for (const [name, polygon] of [['corridor', corridor.polygon], ['entry_zone', corridor.entryZone.polygon], ['exit_zone', corridor.exitZone.polygon]] as const) {
      const touching = land.filter((l) => polygonsTouch(polygon, l));
      expect(touching.length, `${id} ${name} touches land`).toBe(0);
    }
  });

  it('the land check can fail: a corridor moved onto the coast touches land', () => {
    const bab = corridors.find((c) => c.id === 'bab-el-mandeb')!;
    const shifted = bab.polygon.map((ring) => ring.map(([lon, lat]) => [lon - 0.15, lat])); // onto the Djibouti coast
    expect(landPolygons(LAND_FILE['bab-el-mandeb']).some((l) => polygonsTouch(shifted, l))).toBe(true);
  });

  it('corridors sit in the right Natural Earth seas (Red Sea side, Gulf of Suez, Persian Gulf/Gulf of Oman)', () => {
    const marine = JSON.parse(readFileSync(sharedData('chokepoints', 'naturalearth_10m_marine_polys_red_sea_gulfs.geojson'), 'utf8')) as {
      features: { properties: { name: string }; geometry: Geometry }[];
    };
    const seaOf = (lat: number, lon: number) =>
      marine.features.filter((f) => polygonsOf(f.geometry).some((p) => inPolygon({ lat, lon }, p))).map((f) => f.properties.name.replace(/\s+/g, ' '));
    const centre = (id: string) => corridors.find((c) => c.id === id)!.centre;
    // (NE's "Bab el Mandeb" feature is a few coastal slivers, so the strait corridor is checked against land only.)
    expect(seaOf(centre('bab-el-mandeb').lat, centre('bab-el-mandeb').lon).length).toBeGreaterThan(0);
    expect(seaOf(centre('suez-s').lat, centre('suez-s').lon)).toContain('Gulf of Suez');
    const hormuz = corridors.find((c) => c.id === 'hormuz')!;
    expect(seaOf(hormuz.entryZone.centre.lat, hormuz.entryZone.centre.lon)).toContain('Persian Gulf');
    expect(seaOf(hormuz.exitZone.centre.lat, hormuz.exitZone.centre.lon)).toContain('Gulf of Oman');
    // Cape Agulhas (NE point 19.9934 E, 34.8011 S) lies just north of the corridor's longitude band.
    const cape = corridors.find((c) => c.id === 'cape-agulhas')!;
    expect(cape.bbox.west).toBeLessThan(19.9934);
    expect(cape.bbox.east).toBeGreaterThan(19.9934);
    expect(cape.bbox.north).toBeLessThan(-34.8011);
  });

  it('bad corridor files fail with the file, feature and field', () => {
    const doc = JSON.parse(readFileSync(CHOKEPOINTS_FILE, 'utf8'));
    doc.features[2].properties.exit_zone.coordinates[0].pop(); // ring no longer closed
    try {
      parseChokepoints(JSON.stringify(doc), 'x.geojson');
      expect.unreachable();
    } catch (error) {
      expect(isUserError(error)).toBe(true);
      expect((error as Error & { where: string }).where).toBe('x.geojson feature 2 field properties.exit_zone');
    }
    expect(() => parseChokepoints('{"type":"FeatureCollection","features":[]}', 'y.geojson')).toThrow(/no chokepoints/);
  });
});
