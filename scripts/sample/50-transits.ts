// Sample inputs for transit-reconcile (datasets/sample/transits/): constructed voyages through the
// bab-el-mandeb and suez-s corridors over 2026-05-25…26, plus SAR detections. Synthetic, seeded:
// one voyage per lifecycle rule (AIS reappearance, SAR-only, combined, cancelled, still open,
// drifting, no course) and one SAR cluster with no AIS (a dark transit).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bearingDeg, destinationPoint, haversineKm } from '../../lib/geo/sphere.js';
import { seededRandom } from '../../src/sdk/random.js';
import { writeTable } from '../../src/sdk/table-io.js';
import { AIS_COLUMNS } from '../../lib/maritime/ais.js';

const HOUR = 3_600_000;
const FIX_EVERY_MS = 5 * 60_000;
const KN_TO_KMH = 1.852;

interface Voyage {
  mmsi: number;
  imo: string | null;
  name: string;
  start: string;
  speedKn: number;
  /** [lat, lon] waypoints followed at constant speed. */
  waypoints: [number, number][];
  /** Fixes after this time are not transmitted (the vessel goes dark). */
  darkAfter?: string;
  /** Report no course over ground (AIS 360 = not available → null). */
  noCourse?: boolean;
  /** Stay put, swinging at anchor at this speed. */
  driftKn?: number;
  endAt?: string;
}

export const SAMPLE_VOYAGES: Voyage[] = [
  // Predicted on 05-25, reappears in the Red Sea exit zone after midnight → confirmed (ais_reappear) on 05-26.
  { mmsi: 636019001, imo: '9700001', name: 'SAMPLE REAPPEAR', start: '2026-05-25T19:00:00Z', speedKn: 12, waypoints: [[12.25, 43.75], [12.45, 43.47], [12.62, 43.32], [12.88, 43.25], [13.2, 43.05]] },
  // Goes dark in the Gulf of Aden entry zone; a SAR cluster in the corridor near its ETA → confirmed (sar_pixel).
  { mmsi: 636019002, imo: '9700002', name: 'SAMPLE SAR ONLY', start: '2026-05-26T02:00:00Z', speedKn: 11, waypoints: [[12.25, 43.75], [12.45, 43.47], [12.62, 43.32], [12.88, 43.25]], darkAfter: '2026-05-26T03:30:00Z' },
  // Leaves the Suez anchorage for the canal; seen by SAR in the corridor and by AIS at the canal mouth → combined.
  { mmsi: 622110003, imo: '9700003', name: 'SAMPLE COMBINED', start: '2026-05-26T07:00:00Z', speedKn: 8, waypoints: [[29.66, 32.56], [29.84, 32.55], [29.9, 32.545], [29.935, 32.55], [29.95, 32.565]] },
  // Heads for Bab-el-Mandeb, then turns east for Aden before the strait → cancelled.
  { mmsi: 636019004, imo: '9700004', name: 'SAMPLE TURNS AWAY', start: '2026-05-25T05:00:00Z', speedKn: 12, waypoints: [[12.2, 43.85], [12.4, 43.57], [12.5, 44.0], [12.75, 44.9]] },
  // Swinging at anchor in the Suez south anchorage → never eligible (drifting).
  { mmsi: 538000005, imo: '9700005', name: 'SAMPLE AT ANCHOR', start: '2026-05-25T00:00:00Z', speedKn: 0, waypoints: [[29.82, 32.57]], driftKn: 0.3, endAt: '2026-05-27T00:00:00Z' },
  // Underway towards the strait but reports no course → never eligible (no_course).
  { mmsi: 538000006, imo: null, name: 'SAMPLE NO COURSE', start: '2026-05-26T10:00:00Z', speedKn: 10, waypoints: [[12.3, 43.7], [12.45, 43.47]], noCourse: true },
  // Goes dark on the approach late on 05-26 → still predicted at the end of the sample (missed 96 h later).
  { mmsi: 636019007, imo: '9700007', name: 'SAMPLE STILL OPEN', start: '2026-05-26T15:00:00Z', speedKn: 12, waypoints: [[12.2, 43.8], [12.42, 43.5], [12.62, 43.32]], darkAfter: '2026-05-26T18:00:00Z' },
];

/** SAR detections: scene, time, pixel position, cluster size, confidence. Rows in one scene within 500 m form one cluster. */
export const SAMPLE_DETECTIONS = [
  // Dark transit: a three-pixel cluster in the suez-s corridor with no AIS vessel predicted there.
  { scene_id: 'S1A_IW_GRDH_1SDV_20260525T153012_20260525T153037_SAMPLE_DARK', acquired_at: '2026-05-25T15:30:12Z', lat: 29.8721, lon: 32.5632, pixel_detection_count: 14, confidence: 0.91 },
  { scene_id: 'S1A_IW_GRDH_1SDV_20260525T153012_20260525T153037_SAMPLE_DARK', acquired_at: '2026-05-25T15:30:12Z', lat: 29.8733, lon: 32.5641, pixel_detection_count: 6, confidence: 0.74 },
  { scene_id: 'S1A_IW_GRDH_1SDV_20260525T153012_20260525T153037_SAMPLE_DARK', acquired_at: '2026-05-25T15:30:12Z', lat: 29.8712, lon: 32.5625, pixel_detection_count: 3, confidence: 0.55 },
];

function parse(iso: string): number {
  return Date.parse(iso);
}

/** Fixes along the waypoints at constant speed, one every FIX_EVERY_MS, with seeded jitter. */
function voyageFixes(voyage: Voyage, random: () => number): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const startMs = parse(voyage.start);
  const common = {
    mmsi: voyage.mmsi,
    imo: voyage.imo,
    call_sign: `S${String(voyage.mmsi).slice(-5)}`,
    name: voyage.name,
    vessel_type: 70,
    source: 'sample-synthetic',
  };
  if (voyage.driftKn !== undefined) {
    const [lat, lon] = voyage.waypoints[0];
    for (let t = startMs; t < parse(voyage.endAt as string); t += FIX_EVERY_MS) {
      const swing = destinationPoint(lat, lon, random() * 360, random() * 0.15);
      rows.push({ ...common, ts_utc: new Date(t).toISOString(), lat: swing.lat, lon: swing.lon, sog: voyage.driftKn * (0.5 + random()), cog: Math.floor(random() * 3600) / 10, heading: null, nav_status: 1 });
    }
    return rows;
  }
  const speedKmh = voyage.speedKn * KN_TO_KMH;
  let t = startMs;
  let legStart = startMs; // when the vessel is at waypoint `leg`
  for (let leg = 0; leg + 1 < voyage.waypoints.length; leg++) {
    const [lat1, lon1] = voyage.waypoints[leg];
    const [lat2, lon2] = voyage.waypoints[leg + 1];
    const legKm = haversineKm(lat1, lon1, lat2, lon2);
    const course = bearingDeg(lat1, lon1, lat2, lon2);
    if (leg > 0) legStart += (haversineKm(...voyage.waypoints[leg - 1], lat1, lon1) / speedKmh) * HOUR;
    const legEnd = legStart + (legKm / speedKmh) * HOUR;
    for (; t < legEnd; t += FIX_EVERY_MS) {
      const at = destinationPoint(lat1, lon1, course, ((t - legStart) / HOUR) * speedKmh);
      if (voyage.darkAfter && t > parse(voyage.darkAfter)) return rows;
      rows.push({
        ...common,
        ts_utc: new Date(t).toISOString(),
        lat: Math.round(at.lat * 1e6) / 1e6,
        lon: Math.round(at.lon * 1e6) / 1e6,
        sog: Math.round((voyage.speedKn + (random() - 0.5) * 0.4) * 10) / 10,
        cog: voyage.noCourse ? null : Math.round((((course + (random() - 0.5) * 2) % 360) + 360) % 360 * 10) / 10,
        heading: voyage.noCourse ? null : Math.round(course),
        nav_status: 0,
      });
    }
  }
  return rows;
}

export async function generate(root: string): Promise<void> {
  const dir = join(root, 'datasets', 'sample', 'transits');
  await mkdir(dir, { recursive: true });
  const random = seededRandom(50_2026_05_25);
  const rows = SAMPLE_VOYAGES.flatMap((voyage) => voyageFixes(voyage, random));
  await writeTable(join(dir, 'positions.parquet'), AIS_COLUMNS, rows, { orderBy: ['mmsi', 'ts_utc'] });

  // The SAR-only and combined confirmations need a detection where those vessels are at their ETA.
  const sarOnly = SAMPLE_VOYAGES[1];
  const combined = SAMPLE_VOYAGES[2];
  const detections = [
    ...SAMPLE_DETECTIONS,
    { scene_id: 'S1A_IW_GRDH_1SDV_20260526T045020_20260526T045045_SAMPLE_BAB', acquired_at: '2026-05-26T04:50:20Z', ...positionAt(sarOnly, '2026-05-26T04:50:20Z'), pixel_detection_count: 22, confidence: 0.88 },
    { scene_id: 'S1A_IW_GRDH_1SDV_20260526T084010_20260526T084035_SAMPLE_SUEZ', acquired_at: '2026-05-26T08:40:10Z', ...positionAt(combined, '2026-05-26T08:40:10Z'), pixel_detection_count: 18, confidence: 0.83 },
  ];
  const header = 'scene_id,acquired_at,lat,lon,pixel_detection_count,confidence';
  const lines = detections.map((d) => [d.scene_id, d.acquired_at, d.lat, d.lon, d.pixel_detection_count, d.confidence].join(','));
  await writeFile(join(dir, 'sar_detections.csv'), `${[header, ...lines].join('\n')}\n`);
  await writeFile(
    join(dir, 'README.md'),
    '# transits sample (synthetic)\n\nMade by `scripts/sample/50-transits.ts` (seeded; no real data). `positions.parquet` holds constructed AIS voyages through the bab-el-mandeb and suez-s corridors over 2026-05-25…26 (one per lifecycle rule: AIS reappearance, SAR-only, combined, cancelled, still open, drifting, no course); `sar_detections.csv` holds SAR pixel detections, including a three-pixel cluster in the suez-s corridor with no AIS vessel (a dark transit). Scene ids are invented.\n',
  );
}

/** Where a voyage is at `iso` (true track, no jitter), rounded to 1e-6°. */
function positionAt(voyage: Voyage, iso: string): { lat: number; lon: number } {
  const speedKmh = voyage.speedKn * KN_TO_KMH;
  let remainingKm = ((parse(iso) - parse(voyage.start)) / HOUR) * speedKmh;
  for (let leg = 0; leg + 1 < voyage.waypoints.length; leg++) {
    const [lat1, lon1] = voyage.waypoints[leg];
    const [lat2, lon2] = voyage.waypoints[leg + 1];
    const legKm = haversineKm(lat1, lon1, lat2, lon2);
    if (remainingKm <= legKm) {
      const at = destinationPoint(lat1, lon1, bearingDeg(lat1, lon1, lat2, lon2), remainingKm);
      return { lat: Math.round(at.lat * 1e6) / 1e6, lon: Math.round(at.lon * 1e6) / 1e6 };
    }
    remainingKm -= legKm;
  }
  const [lat, lon] = voyage.waypoints[voyage.waypoints.length - 1];
  return { lat, lon };
}
