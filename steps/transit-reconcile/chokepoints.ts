// The chokepoints dataset (datasets/chokepoints/chokepoints.geojson): one Feature per corridor, its
// geometry the corridor polygon, with entry_zone / exit_zone polygons in its properties.
import { StepError } from '../../src/sdk/errors.js';
import { boundingRadiusKm, polygonBBox, polygonCentre, type BBox, type LatLon, type PolygonCoords } from './geometry.js';

export interface Zone {
  readonly polygon: PolygonCoords;
  readonly bbox: BBox;
  readonly centre: LatLon;
  readonly radiusKm: number;
}

export interface Corridor extends Zone {
  readonly id: string;
  readonly name: string;
  /** Also valid from exit_zone to entry_zone (Hormuz, per the seed). */
  readonly bidirectional: boolean;
  readonly entryZone: Zone;
  readonly exitZone: Zone;
}

/** Travel direction through a corridor: which zone the vessel comes from. */
export type Direction = 'entry_to_exit' | 'exit_to_entry';

export function zoneFrom(polygon: PolygonCoords): Zone {
  const centre = polygonCentre(polygon);
  return { polygon, bbox: polygonBBox(polygon), centre, radiusKm: boundingRadiusKm(polygon, centre) };
}

/** The zone a vessel travelling in `direction` must reappear in to confirm the transit. */
export function destinationZone(corridor: Corridor, direction: Direction): Zone {
  return direction === 'entry_to_exit' ? corridor.exitZone : corridor.entryZone;
}

function checkPolygon(value: unknown, where: string): PolygonCoords {
  const geometry = value as { type?: unknown; coordinates?: unknown } | null;
  if (!geometry || geometry.type !== 'Polygon' || !Array.isArray(geometry.coordinates) || geometry.coordinates.length === 0)
    throw new StepError('must be a GeoJSON Polygon with at least one ring', where);
  geometry.coordinates.forEach((ring: unknown, r: number) => {
    if (!Array.isArray(ring) || ring.length < 4) throw new StepError(`ring ${r} needs at least 4 positions`, where);
    ring.forEach((position: unknown, p: number) => {
      const [lon, lat] = Array.isArray(position) ? position : [];
      if (typeof lon !== 'number' || typeof lat !== 'number' || !(Math.abs(lon) <= 180) || !(Math.abs(lat) <= 90))
        throw new StepError(`ring ${r} position ${p} is not a [lon, lat] pair in range`, where);
    });
    const first = ring[0] as number[];
    const last = ring[ring.length - 1] as number[];
    if (first[0] !== last[0] || first[1] !== last[1]) throw new StepError(`ring ${r} is not closed (first and last positions differ)`, where);
  });
  return geometry.coordinates as PolygonCoords;
}

/** Parse and check a chokepoints FeatureCollection; errors name the file, feature and field. */
export function parseChokepoints(text: string, file: string): Corridor[] {
  let doc: { type?: unknown; features?: unknown };
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new StepError(`not valid JSON (${(error as Error).message})`, file);
  }
  if (doc?.type !== 'FeatureCollection' || !Array.isArray(doc.features)) throw new StepError('must be a GeoJSON FeatureCollection', file);
  const seen = new Set<string>();
  const corridors = doc.features.map((feature: { properties?: Record<string, unknown>; geometry?: unknown }, index: number) => {
    const where = (field: string) => `${file} feature ${index} field ${field}`;
    const props = feature?.properties ?? {};
    const id = props.id;
    if (typeof id !== 'string' || !/^[a-z0-9-]+$/.test(id)) throw new StepError('id must be a lower-case slug', where('properties.id'));
    if (seen.has(id)) throw new StepError(`duplicate chokepoint id "${id}"`, where('properties.id'));
    seen.add(id);
    if (typeof props.bidirectional !== 'boolean') throw new StepError('bidirectional must be true or false', where('properties.bidirectional'));
    const corridor: Corridor = {
      id,
      name: typeof props.name === 'string' ? props.name : id,
      bidirectional: props.bidirectional,
      ...zoneFrom(checkPolygon(feature.geometry, where('geometry'))),
      entryZone: zoneFrom(checkPolygon(props.entry_zone, where('properties.entry_zone'))),
      exitZone: zoneFrom(checkPolygon(props.exit_zone, where('properties.exit_zone'))),
    };
    return corridor;
  });
  if (corridors.length === 0) throw new StepError('holds no chokepoints', file);
  return corridors.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
