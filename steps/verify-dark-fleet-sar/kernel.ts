// verify-dark-fleet-sar (per date): the daily SAR sweep over high/critical AIS dark events. For each
// such event and each scene of the day acquired after the vessel went dark (within max_dark_hours),
// the AIS-expected position is dead-reckoned from the last fix to the scene time; the nearest CFAR
// cluster within search_radius_nm becomes one sar_detections row (FK to the event). Deterministic ids.
import { readFile } from 'node:fs/promises';
import { destinationPoint, haversineKm } from '../../lib/geo/sphere.js';
import { StepError } from '../../src/sdk/errors.js';
import { readTable, writeTable } from '../../src/sdk/table-io.js';
import { KM_PER_NM } from '../transit-reconcile/geometry.js';
import { parseTime, transitId } from '../transit-reconcile/transits.js';
import { DETECTION_METHOD } from '../sar-detect/detect.js';
import { parseDarkEvents, type DarkEvent } from './dark-events.js';
import { outputColumns, outputOrderBy, type StepKernel } from './verify-dark-fleet-sar.dagrun.js';


interface Cluster {
  sceneId: string;
  acquiredMs: number;
  lat: number;
  lon: number;
  row: Record<string, unknown>;
}

/** Where the AIS track says the vessel is at `atMs`: dead reckoning from its last fix (or the fix itself). */
export function expectedPosition(event: DarkEvent, atMs: number): { lat: number; lon: number } {
  if (event.lastKnownSpeed === null || event.lastKnownCourse === null || event.lastKnownSpeed <= 0) return { lat: event.lastKnownLat, lon: event.lastKnownLon };
  const hours = Math.max(0, (atMs - event.darkSinceMs) / 3_600_000);
  return destinationPoint(event.lastKnownLat, event.lastKnownLon, event.lastKnownCourse, event.lastKnownSpeed * KM_PER_NM * hours);
}

export function sweep(events: readonly DarkEvent[], clusters: readonly Cluster[], params: { tiers: readonly string[]; radiusNm: number; maxDarkHours: number }): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const scenes = [...new Set(clusters.map((c) => c.sceneId))].sort();
  for (const event of events) {
    if (!params.tiers.includes(event.riskTier)) continue;
    for (const scene of scenes) {
      const candidates = clusters.filter((c) => c.sceneId === scene && c.acquiredMs >= event.darkSinceMs && c.acquiredMs - event.darkSinceMs <= params.maxDarkHours * 3_600_000);
      let best: { cluster: Cluster; nm: number } | null = null;
      for (const cluster of candidates) {
        const expected = expectedPosition(event, cluster.acquiredMs);
        const nm = haversineKm(expected.lat, expected.lon, cluster.lat, cluster.lon) / KM_PER_NM;
        if (nm <= params.radiusNm && (best === null || nm < best.nm || (nm === best.nm && (cluster.lat < best.cluster.lat || (cluster.lat === best.cluster.lat && cluster.lon < best.cluster.lon))))) best = { cluster, nm };
      }
      if (!best) continue;
      const r = best.cluster.row;
      rows.push({
        id: transitId(`sar_detection|${event.id}|${scene}|${best.cluster.lat.toFixed(6)}|${best.cluster.lon.toFixed(6)}`),
        dark_event_id: event.id,
        vessel_imo: event.vesselImo,
        scene_id: scene,
        scene_acquired_at: new Date(best.cluster.acquiredMs).toISOString(),
        detection_lat: best.cluster.lat,
        detection_lon: best.cluster.lon,
        distance_to_expected_nm: Math.round(best.nm * 1e4) / 1e4,
        cfar_score: Number(r.cfar_score),
        mean_confidence: Number(r.mean_confidence),
        max_confidence: Number(r.max_confidence),
        ship_size_estimate: r.length_m === null || r.length_m === undefined ? null : Number(r.length_m),
        pixel_detection_count: Number(r.pixel_detection_count),
        detection_method: String(r.detection_method ?? DETECTION_METHOD),
      });
    }
  }
  return rows;
}

const kernel: StepKernel = async (ctx) => {
  const p = ctx.params;
  const events = parseDarkEvents(await readFile(ctx.inputs.dark_events, 'utf8'), 'dark_events');
  const clusters: Cluster[] = (await readTable(ctx.inputs.detections)).map((row, index) => {
    const acquiredMs = parseTime(row.acquired_at);
    if (acquiredMs === null) throw new StepError('acquired_at is not a timestamp', `detections row ${index + 1} field acquired_at`);
    return { sceneId: String(row.scene_id), acquiredMs, lat: Number(row.lat), lon: Number(row.lon), row };
  });
  const rows = sweep(events, clusters, { tiers: p.risk_tiers as string[], radiusNm: Number(p.search_radius_nm), maxDarkHours: Number(p.max_dark_hours) });
  await writeTable(ctx.outputs.sar_detections, outputColumns.sar_detections, rows, { orderBy: outputOrderBy.sar_detections });
  await writeTable(ctx.outputs.dark_events, outputColumns.dark_events, events.map((e) => e.row), { orderBy: outputOrderBy.dark_events });
  ctx.metric('dark_events', events.length);
  ctx.metric('swept_events', events.filter((e) => (p.risk_tiers as string[]).includes(e.riskTier)).length);
  ctx.metric('sar_detections', rows.length);
};

export default kernel;
