// Sample part "sar": one small synthetic Sentinel-1 IW GRDH scene (VV, uint16 DN COG in EPSG:4326,
// 10 m pixels, with its sigmaNought calibration annotation) per SAR scene of the transits sample,
// each with one ship at that scene's strongest sample detection, K-distributed sea clutter and
// Natural Earth land; a static STAC catalog in Earth Search `sentinel-1-grd` style; and the land
// polygons that touch the scenes. Seeded: same code, same bytes.
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeGeoTiff } from '../../lib/geo/geotiff-writer.js';
import type { Polygon } from '../../lib/geo/sar.js';
import { gridAround, lutXml, synthesize, type ShipTruth } from '../../lib/geo/sar-synthetic.js';
import { destinationPoint } from '../../lib/geo/sphere.js';
import { transitId } from '../../steps/transit-reconcile/transits.js';

const PX = 320;
const PIXEL_M = 10;
const LAND_FILES = ['naturalearth_10m_land_clip_bab_el_mandeb.geojson', 'naturalearth_10m_land_clip_suez_canal_and_gulf_of_suez.geojson'];

interface SampleDetection {
  scene_id: string;
  acquired_at: string;
  lat: number;
  lon: number;
  confidence: number;
}

/** The strongest detection of each scene in the transits sample's CSV. */
function sampleScenes(root: string): SampleDetection[] {
  const text = readFileSync(join(root, 'datasets/sample/transits/sar_detections.csv'), 'utf8').trim().split('\n');
  const header = text[0].split(',');
  const rows = text.slice(1).map((line) => Object.fromEntries(line.split(',').map((v, i) => [header[i], v])));
  const best = new Map<string, SampleDetection>();
  for (const r of rows) {
    const d = { scene_id: r.scene_id, acquired_at: r.acquired_at, lat: Number(r.lat), lon: Number(r.lon), confidence: Number(r.confidence) };
    if (!best.has(d.scene_id) || (best.get(d.scene_id) as SampleDetection).confidence < d.confidence) best.set(d.scene_id, d);
  }
  return [...best.values()].sort((a, b) => (a.scene_id < b.scene_id ? -1 : 1));
}

function bboxOf(polygon: Polygon): [number, number, number, number] {
  const pts = polygon.flat();
  return [Math.min(...pts.map((p) => p[0])), Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[1]))];
}

export async function generate(root: string): Promise<void> {
  const project = resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const landDir = resolve(project, '../shared/data/land');
  const dir = join(root, 'datasets/sample/sar');
  await rm(dir, { recursive: true, force: true });
  const collectionDir = join(dir, 'catalog', 'sentinel-1-grd');
  await mkdir(collectionDir, { recursive: true });

  const landFeatures: { type: string; properties: Record<string, unknown>; geometry: { type: string; coordinates: unknown } }[] = [];
  for (const file of LAND_FILES) {
    const doc = JSON.parse(readFileSync(join(landDir, file), 'utf8')) as { features: typeof landFeatures };
    landFeatures.push(...doc.features.map((f) => ({ type: 'Feature', properties: { source: `Natural Earth 10 m land (public domain), ${file}` }, geometry: f.geometry })));
  }
  const polygonsOf = (f: (typeof landFeatures)[number]): Polygon[] => (f.geometry.type === 'Polygon' ? [f.geometry.coordinates as Polygon] : (f.geometry.coordinates as Polygon[]));

  const scenes = sampleScenes(root);
  const itemLinks: Record<string, unknown>[] = [];
  const usedLand = new Set<number>();
  for (const [index, scene] of scenes.entries()) {
    // The ship sits 400 m north-east of the scene centre, so the scene is not symmetric about it.
    const grid = gridAround(scene.lat - 0.0036, scene.lon - 0.0036, PX, PX, PIXEL_M);
    const west = grid.originX;
    const north = grid.originY;
    const east = west + PX * grid.pixelWidth;
    const south = north - PX * grid.pixelHeight;
    const land: Polygon[] = [];
    landFeatures.forEach((feature, i) => {
      for (const polygon of polygonsOf(feature)) {
        const [w, s, e, n] = bboxOf(polygon);
        if (w > east || e < west || s > north || n < south) continue;
        land.push(polygon);
        usedLand.add(i);
      }
    });
    const ship: ShipTruth = { lat: scene.lat, lon: scene.lon, lengthM: 140 + 40 * index, widthM: 24, headingDeg: 155 + 20 * index, sigma0Db: 6 };
    const { dn, lut } = synthesize({ grid, clutter: { kind: 'k', meanDb: -18, looks: 4.4, shape: 4 }, land, landDb: -6, ships: [ship], seed: 60_000 + index });
    const itemDir = join(collectionDir, scene.scene_id);
    await mkdir(itemDir, { recursive: true });
    await writeFile(join(itemDir, 'vv.tif'), writeGeoTiff({ width: PX, height: PX, bands: [dn], sampleType: 'uint16', epsg: 4326, transform: grid, nodata: 0, tileSize: 256, level: 9 }));
    await writeFile(join(itemDir, 'calibration-vv.xml'), lutXml(lut, 'vv'));
    const ring = [[west, south], [east, south], [east, north], [west, north], [west, south]];
    const item = {
      type: 'Feature',
      stac_version: '1.0.0',
      stac_extensions: ['https://stac-extensions.github.io/sar/v1.0.0/schema.json', 'https://stac-extensions.github.io/raster/v1.1.0/schema.json'],
      id: scene.scene_id,
      collection: 'sentinel-1-grd',
      bbox: [west, south, east, north],
      geometry: { type: 'Polygon', coordinates: [ring] },
      properties: {
        datetime: new Date(Date.parse(scene.acquired_at)).toISOString(),
        platform: 'sentinel-1a',
        constellation: 'sentinel-1',
        'sar:instrument_mode': 'IW',
        'sar:product_type': 'GRD',
        'sar:polarizations': ['VV'],
        'sar:frequency_band': 'C',
        's1:resolution': 'high',
        'dagrun:synthetic': `scripts/sample/60-sar.ts: ${PX}×${PX} px at ${PIXEL_M} m, K clutter (ν 4, 4.4 looks, −18 dB), one ${ship.lengthM} m ship at ${ship.lat}, ${ship.lon} heading ${ship.headingDeg}°`,
      },
      assets: {
        vv: { href: './vv.tif', type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'], 'raster:bands': [{ data_type: 'uint16', nodata: 0, scale: 1 }] },
        'schema-calibration-vv': { href: './calibration-vv.xml', type: 'application/xml', roles: ['metadata'] },
      },
      links: [
        { rel: 'collection', href: '../collection.json', type: 'application/json' },
        { rel: 'parent', href: '../collection.json', type: 'application/json' },
        { rel: 'root', href: '../../catalog.json', type: 'application/json' },
      ],
    };
    await writeFile(join(itemDir, `${scene.scene_id}.json`), `${JSON.stringify(item, null, 2)}\n`);
    itemLinks.push({ rel: 'item', href: `./${scene.scene_id}/${scene.scene_id}.json`, type: 'application/geo+json' });
  }
  const collection = {
    type: 'Collection',
    stac_version: '1.0.0',
    id: 'sentinel-1-grd',
    title: 'Sentinel-1 IW GRDH (synthetic dagrun sample)',
    description: 'Synthetic Sentinel-1 GRD-like scenes (VV) for the dagrun sample build. Not real imagery.',
    license: 'MIT',
    extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[scenes[0]?.acquired_at ?? null, scenes[scenes.length - 1]?.acquired_at ?? null]] } },
    links: [{ rel: 'root', href: '../catalog.json', type: 'application/json' }, { rel: 'parent', href: '../catalog.json', type: 'application/json' }, ...itemLinks],
  };
  await writeFile(join(collectionDir, 'collection.json'), `${JSON.stringify(collection, null, 2)}\n`);
  const catalog = {
    type: 'Catalog',
    stac_version: '1.0.0',
    id: 'dagrun-sample-sar',
    description: 'Static STAC catalog of the dagrun sample Sentinel-1 scenes (self-contained, relative links).',
    links: [{ rel: 'root', href: './catalog.json', type: 'application/json' }, { rel: 'child', href: './sentinel-1-grd/collection.json', type: 'application/json' }],
  };
  await writeFile(join(dir, 'catalog', 'catalog.json'), `${JSON.stringify(catalog, null, 2)}\n`);
  // Dark events for the daily SAR sweep: a critical and a high one whose dead-reckoned position lands
  // 0.8 nm from a sample ship at its scene time, a medium one (not swept) and a critical one far from
  // every scene (swept, nothing found).
  const nm = 1.852;
  const darkEvent = (imo: string, mmsi: number, chokepoint: string, darkSince: string, at: { lat: number; lon: number } | null, sceneTime: string | null, speedKn: number, course: number, tier: string, score: number, far?: { lat: number; lon: number }) => {
    let start = far ?? { lat: 0, lon: 0 };
    if (at && sceneTime) {
      const hours = (Date.parse(sceneTime) - Date.parse(darkSince)) / 3_600_000;
      const expected = destinationPoint(at.lat, at.lon, 90, 0.8 * nm);
      start = destinationPoint(expected.lat, expected.lon, (course + 180) % 360, speedKn * nm * hours);
    }
    const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
    return [transitId(`dark_event|${imo}|${darkSince}`), imo, mmsi, chokepoint, darkSince, r6(start.lat), r6(start.lon), speedKn, course, tier, score].join(',');
  };
  const [dark, bab, suez] = [scenes.find((s) => s.scene_id.endsWith('DARK')), scenes.find((s) => s.scene_id.endsWith('BAB')), scenes.find((s) => s.scene_id.endsWith('SUEZ'))];
  const events = [
    dark && darkEvent('9800001', 636092001, 'suez-s', '2026-05-25T12:00:00Z', dark, dark.acquired_at, 6, 340, 'critical', 0.91),
    bab && darkEvent('9800002', 636092002, 'bab-el-mandeb', '2026-05-26T01:30:00Z', bab, bab.acquired_at, 11, 350, 'high', 0.77),
    suez && darkEvent('9800003', 636092003, 'suez-s', '2026-05-26T06:00:00Z', suez, suez.acquired_at, 9, 160, 'medium', 0.42),
    darkEvent('9800004', 636092004, 'hormuz', '2026-05-25T20:00:00Z', null, null, 12, 95, 'critical', 0.88, { lat: 26.4, lon: 56.6 }),
  ].filter(Boolean);
  await writeFile(join(dir, 'dark_events.csv'), `${['id,vessel_imo,vessel_mmsi,chokepoint_id,dark_since,last_known_lat,last_known_lon,last_known_speed,last_known_course,risk_tier,risk_score', ...events].join('\n')}\n`);
  const land = { type: 'FeatureCollection', name: 'sample-land', features: [...usedLand].sort((a, b) => a - b).map((i) => landFeatures[i]) };
  await writeFile(join(dir, 'land.geojson'), `${JSON.stringify(land)}\n`);
  await writeFile(
    join(dir, 'README.md'),
    '# sar sample (synthetic)\n\nMade by `scripts/sample/60-sar.ts` (seeded). `catalog/` is a static STAC catalog in Earth Search `sentinel-1-grd` style with one synthetic IW GRDH VV scene per SAR scene of the transits sample (320×320 px at 10 m, EPSG:4326, uint16 DN with a sigmaNought calibration annotation): K-distributed sea clutter, Natural Earth land, and one ship at the scene\'s strongest sample detection. `dark_events.csv` holds four AIS dark events for the daily SAR sweep (critical/high ones near a sample ship, a medium one, a critical one far from every scene). `land.geojson` holds the Natural Earth 10 m land polygons (public domain, from ../shared/data/land) that touch the scenes. Not real imagery.\n',
  );
}
