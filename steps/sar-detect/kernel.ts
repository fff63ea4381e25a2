// sar-detect (per date): CFAR ship detection on every scene × corridor sar-search found. Reads the
// measurement COG window around the corridor (bbox + margin) through the COG reader, calibrates with
// the GRD sigmaNought LUT when the item has one (else its raster scale), masks Natural Earth land,
// runs the two-parameter CFAR and writes one row per cluster, in the detections format transit-reconcile
// reads (scene_id, acquired_at, lat, lon, pixel_detection_count, confidence) plus the CFAR figures.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { CogReader } from '../../lib/geo/cog-reader.js';
import { parseCalibrationLut, type CalibrationLut, type Polygon } from '../../lib/geo/sar.js';
import { readRangeText } from './text.js';
import { StepError } from '../../src/sdk/errors.js';
import { outputColumns, outputOrderBy, type StepKernel } from './sar-detect.dagrun.js';
import { readTable, writeTable } from '../../src/sdk/table-io.js';
import { parseChokepoints } from '../transit-reconcile/chokepoints.js';
import { inPolygon } from '../transit-reconcile/geometry.js';
import { DETECTION_METHOD, detectInWindow, type DetectParams } from './detect.js';


/** Land polygons from a GeoJSON file or every *.geojson in a folder (Polygon and MultiPolygon features). */
export async function loadLand(location: string): Promise<Polygon[]> {
  const files = (await stat(location)).isDirectory() ? (await readdir(location)).filter((f) => f.endsWith('.geojson')).sort().map((f) => join(location, f)) : [location];
  const polygons: Polygon[] = [];
  for (const file of files) {
    let doc: { features?: { geometry?: { type?: string; coordinates?: unknown } }[] };
    try {
      doc = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new StepError(`not valid JSON (${(error as Error).message})`, file);
    }
    (doc.features ?? []).forEach((feature, index) => {
      const g = feature.geometry;
      if (g?.type === 'Polygon') polygons.push(g.coordinates as Polygon);
      else if (g?.type === 'MultiPolygon') polygons.push(...(g.coordinates as Polygon[]));
      else throw new StepError(`feature ${index} is a ${g?.type ?? 'missing geometry'}, not a Polygon or MultiPolygon`, file);
    });
  }
  return polygons;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

const kernel: StepKernel = async (ctx) => {
  const p = ctx.params;
  const params: DetectParams = {
    guardPx: Number(p.guard_px),
    backgroundPx: Number(p.background_px),
    pfa: Number(p.pfa),
    minBackgroundFraction: Number(p.min_background_fraction),
    minPixels: Number(p.min_pixels),
    landBufferPx: Number(p.land_buffer_px),
    maxWindowPx: Number(p.max_window_px),
    jobs: Number(p.jobs),
  };
  const polarisation = String(p.polarisation);
  const marginDeg = Number(p.corridor_margin_km) / 111;
  const corridors = parseChokepoints(await readFile(ctx.inputs.chokepoints, 'utf8'), 'chokepoints');
  const byId = new Map(corridors.map((c) => [c.id, c]));
  const land = await loadLand(ctx.inputs.land);
  const scenes = await readTable(ctx.inputs.scenes);
  const catalogRoot = ctx.inputs.catalog ? resolve(ctx.inputs.catalog) : null;
  /** A scene row's asset href, resolved; a problem is thrown as a plain Error naming the field (the row is a failed item). */
  const href = (value: unknown, field: string): string | null => {
    if (value === null || value === undefined || value === '') return null;
    const text = String(value);
    if (/^https?:\/\//i.test(text)) return text;
    if (catalogRoot === null) throw new Error(`field ${field}: a local asset href needs the catalog input`);
    const path = resolve(catalogRoot, text);
    if (path !== catalogRoot && !path.startsWith(catalogRoot + sep)) throw new Error(`field ${field}: href "${text}" leaves the catalog folder`);
    return path;
  };

  const rows: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  let windowPixels = 0;
  let seaPixels = 0;
  // Every scene × corridor row is an item: one whose measurement cannot be read (a bad href, an
  // unreadable COG or calibration annotation, an unknown corridor) is a failed item and the others are
  // still searched; the step fails when all fail, or more than max_failed_fraction.
  for (const [index, scene] of scenes.entries()) {
    const item = `scenes row ${index + 1} (scene ${scene.scene_id}, corridor ${scene.chokepoint_id})`;
    try {
      const corridor = byId.get(String(scene.chokepoint_id));
      if (!corridor) throw new Error(`field chokepoint_id: unknown chokepoint "${scene.chokepoint_id}"`);
      const measurement = href(scene[polarisation], polarisation);
      if (!measurement) {
        ctx.warn(`${scene.scene_id}: no ${polarisation.toUpperCase()} measurement; skipped`);
        continue;
      }
      const calibrationHref = href(scene[`calibration_${polarisation}`], `calibration_${polarisation}`);
      let lut: CalibrationLut | undefined;
      if (calibrationHref) {
        try {
          lut = parseCalibrationLut(await readRangeText(calibrationHref));
        } catch (error) {
          throw new Error(`field calibration_${polarisation}: calibration annotation: ${(error as Error).message}`);
        }
      }
      const b = corridor.bbox;
      const bbox: [number, number, number, number] = [b.west - marginDeg, b.south - marginDeg, b.east + marginDeg, b.north + marginDeg];
      const reader = await CogReader.open(measurement).catch((error: Error) => {
        throw new Error(`field ${polarisation}: cannot open the measurement: ${error.message}`);
      });
      let result;
      try {
        result = await detectInWindow(reader, bbox, land, lut ? { lut } : { scale: Number(scene.scale ?? 1) }, params);
      } finally {
        await reader.close();
      }
      windowPixels += result.windowPixels;
      seaPixels += result.seaPixels;
      for (const d of result.detections) {
        const lat = round(d.lat, 6);
        const lon = round(d.lon, 6);
        const key = `${scene.scene_id}|${lat}|${lon}`;
        if (seen.has(key)) continue; // two corridors' windows over the same scene
        seen.add(key);
        const inside = corridors.find((c) => inPolygon({ lat, lon }, c.polygon));
        rows.push({
          detect_id: `${scene.scene_id}_${Math.round(d.row)}_${Math.round(d.col)}`,
          scene_id: scene.scene_id,
          acquired_at: scene.acquired_at,
          chokepoint_id: inside?.id ?? null,
          polarisation: polarisation.toUpperCase(),
          lat,
          lon,
          col: round(d.col, 2),
          row: round(d.row, 2),
          pixel_detection_count: d.pixels,
          confidence: round(d.maxConfidence, 6),
          mean_confidence: round(d.meanConfidence, 6),
          max_confidence: round(d.maxConfidence, 6),
          cfar_score: round(d.cfarScore, 4),
          peak_sigma0_db: round(d.peakSigma0Db, 3),
          mean_sigma0_db: round(d.meanSigma0Db, 3),
          length_m: round(d.lengthM, 1),
          width_m: round(d.widthM, 1),
          orientation_deg: round(d.orientationDeg, 1),
          meters_per_pixel: round(d.metersPerPixel, 3),
          detection_method: DETECTION_METHOD,
        });
      }
      ctx.itemDone();
    } catch (error) {
      ctx.itemFailed(item, (error as Error).message);
    }
  }
  await writeTable(ctx.outputs.detections, outputColumns.detections, rows, { orderBy: outputOrderBy.detections });
  ctx.metric('scenes', new Set(scenes.map((s) => s.scene_id)).size);
  ctx.metric('detections', rows.length);
  ctx.metric('detections_in_corridors', rows.filter((r) => r.chokepoint_id !== null).length);
  ctx.metric('window_megapixels', round(windowPixels / 1e6, 3));
  ctx.metric('sea_fraction', windowPixels ? round(seaPixels / windowPixels, 4) : 0);
};

export default kernel;
