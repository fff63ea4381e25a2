// Sample ESA Sentinel-2 acquisition plans (S2x_MP_ACQ__KML_<from>_<to>.kml), one per unit — SYNTHETIC,
// in the documented layout (no real plan file could be found in a public repository; see
// datasets/sample/plans/README.md). The datatakes are the sample TLEs' own descending daylight passes
// over the sample tile 30UXB: start and stop ±STRIP_SECONDS around the pass, the four corners ±145 km
// across the sub-satellite track at start and stop. One extra VIC (vicarious) datatake exercises the
// NOBS-only rule. `planKml` is also what the tests build their plans with.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bearingDeg, destinationPoint } from '../../lib/geo/sphere.js';
import { parseTleText } from '../../lib/maritime/tle.js';
import { buildSeries, predictOverpasses } from '../../steps/predict/overpass.js';
import { ecefToGeodetic, stateAt, type ElementSetSeries } from '../../steps/predict/orbit.js';

/** Seconds of the strip before and after the pass over the tile centre (about 1,100 km north, 1,500 km south). */
export const STRIP_SECONDS = { before: 160, after: 220 };
const SWATH_KM = 290;
const PLAN_FROM = '2026-05-24T12:00:00Z';
const PLAN_TO = '2026-05-28T15:00:00Z';

export interface PlannedDatatake {
  id: string;
  mode: string;
  startMs: number;
  stopMs: number;
  orbitAbsolute?: number;
  orbitRelative?: number;
  /** Four corners [lon, lat]: start-left, start-right, stop-right, stop-left (the ring closes itself). */
  corners: [number, number][];
}

const xmlText = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** ESA writes plan times without a zone, to the millisecond. */
const planTime = (ms: number): string => new Date(ms).toISOString().slice(0, 23);
const compact = (iso: string): string => iso.replace(/[-:]/g, '').slice(0, 15);

export function planFileName(unit: string, fromIso = PLAN_FROM, toIso = PLAN_TO): string {
  return `${unit}_MP_ACQ__KML_${compact(fromIso)}_${compact(toIso)}.kml`;
}

/** A plan KML: Document → Folder <unit> → Folder <mode> → Folder NOMINAL → Placemarks. */
export function planKml(unit: string, datatakes: readonly PlannedDatatake[], documentName = planFileName(unit)): string {
  const modes = [...new Set(datatakes.map((d) => d.mode))];
  const placemark = (d: PlannedDatatake): string => {
    const data = (name: string, value: string | number | undefined) => (value === undefined ? '' : `\n          <Data name="${name}"><value>${xmlText(String(value))}</value></Data>`);
    const ring = [...d.corners, d.corners[0]].map(([lon, lat]) => `${lon.toFixed(6)},${lat.toFixed(6)},0`).join(' ');
    return `
        <Placemark>
          <name>${xmlText(d.id)}</name>
          <styleUrl>#${xmlText(d.mode)}</styleUrl>
          <TimeSpan><begin>${planTime(d.startMs)}</begin><end>${planTime(d.stopMs)}</end></TimeSpan>
          <ExtendedData>${data('ID', d.id)}${data('Timeliness', 'NOMINAL')}${data('Mode', d.mode)}${data('ObservationTimeStart', planTime(d.startMs))}${data('ObservationTimeStop', planTime(d.stopMs))}${data('ObservationDuration', ((d.stopMs - d.startMs) / 1000).toFixed(3))}${data('OrbitAbsolute', d.orbitAbsolute)}${data('OrbitRelative', d.orbitRelative)}
          </ExtendedData>
          <Polygon><outerBoundaryIs><LinearRing><coordinates>${ring}</coordinates></LinearRing></outerBoundaryIs></Polygon>
        </Placemark>`;
  };
  const folders = modes.map((mode) => `
    <Folder>
      <name>${xmlText(mode)}</name>
      <Folder>
        <name>NOMINAL</name>${datatakes.filter((d) => d.mode === mode).map(placemark).join('')}
      </Folder>
    </Folder>`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document>
  <name>${xmlText(documentName)}</name>
  <Folder>
    <name>${xmlText(unit)}</name>${folders.join('')}
  </Folder>
</Document>
</kml>
`;
}

/** Sub-satellite point and ground-track heading at an instant. */
function groundTrack(series: ElementSetSeries, ms: number): { lat: number; lon: number; heading: number } {
  const here = ecefToGeodetic(stateAt(series.nearest(ms), ms)!.r);
  const next = ecefToGeodetic(stateAt(series.nearest(ms), ms + 1000)!.r);
  return { ...here, heading: bearingDeg(here.lat, here.lon, next.lat, next.lon) };
}

/** A NOBS datatake along the satellite's own track from startMs to stopMs, 290 km wide. */
export function datatakeAlongTrack(series: ElementSetSeries, id: string, startMs: number, stopMs: number, extra: Partial<PlannedDatatake> = {}): PlannedDatatake {
  const edge = (ms: number): [[number, number], [number, number]] => {
    const { lat, lon, heading } = groundTrack(series, ms);
    const right = destinationPoint(lat, lon, heading + 90, SWATH_KM / 2);
    const left = destinationPoint(lat, lon, heading - 90, SWATH_KM / 2);
    return [[left.lon, left.lat], [right.lon, right.lat]];
  };
  const [startLeft, startRight] = edge(startMs);
  const [stopLeft, stopRight] = edge(stopMs);
  return { id, mode: 'NOBS', startMs, stopMs, corners: [startLeft, startRight, stopRight, stopLeft], ...extra };
}

/** Revolution number at a time, from the element set's epoch revolution number (TLE line 2, cols 64–68). */
function revolutionAt(series: ElementSetSeries, ms: number): number {
  const set = series.nearest(ms);
  const meanMotion = Number(set.line2.slice(52, 63));
  return Number(set.line2.slice(63, 68)) + Math.floor(((ms - set.epochMs) / 86_400_000) * meanMotion);
}

export async function generate(root: string): Promise<void> {
  const tles = parseTleText(readFileSync(join(root, 'datasets', 'sample', 'tle', 'sentinel2.tle'), 'utf8'), 'sentinel2.tle').elementSets;
  const series = buildSeries(tles);
  const dir = join(root, 'datasets', 'sample', 'plans');
  mkdirSync(dir, { recursive: true });
  const days = Math.round((Date.parse(PLAN_TO) - Date.parse(PLAN_FROM)) / 86_400_000) + 1;
  const { overpasses } = predictOverpasses(series, [{ tile: '30UXB' }], { startMs: Date.parse(PLAN_FROM.slice(0, 10)), days, maxTleAgeDays: 60 });
  for (const unit of ['S2A', 'S2B', 'S2C']) {
    const own = series.get(unit);
    if (!own) continue;
    const datatakes = overpasses
      .filter((o) => o.satellite === unit && o.centerTimeMs >= Date.parse(PLAN_FROM) && o.centerTimeMs < Date.parse(PLAN_TO))
      .map((o) => {
        const startMs = Math.round(o.centerTimeMs - STRIP_SECONDS.before * 1000);
        const orbitAbsolute = revolutionAt(own, startMs);
        return datatakeAlongTrack(own, `${unit}-${orbitAbsolute}-1`, startMs, Math.round(o.centerTimeMs + STRIP_SECONDS.after * 1000), { orbitAbsolute, orbitRelative: o.relativeOrbit });
      });
    // A vicarious-calibration datatake one orbit later: in the plan, but no user product.
    if (datatakes.length > 0) {
      const first = datatakes[0];
      const later = first.startMs + 100.7 * 60_000;
      datatakes.push({ ...datatakeAlongTrack(own, `${unit}-${(first.orbitAbsolute ?? 0) + 1}-2`, later, later + 60_000), mode: 'VIC' });
    }
    writeFileSync(join(dir, planFileName(unit)), planKml(unit, datatakes));
  }
  writeFileSync(join(dir, 'README.md'), README);
}

const README = `# plans sample (synthetic)

Made by \`scripts/sample/15-plans.ts\` from the sample TLEs (themselves synthetic): one ESA Sentinel-2
acquisition plan per unit, \`S2x_MP_ACQ__KML_<from>_<to>.kml\`, in the layout ESA publishes (Document →
Folder S2A → Folder NOBS → Folder NOMINAL → Placemark with ExtendedData ID, Timeliness, Mode,
ObservationTimeStart/Stop (UTC, no zone), ObservationDuration, OrbitAbsolute, OrbitRelative, a TimeSpan
and a four-corner Polygon). Each NOBS datatake is the unit's own descending pass over 30UXB, from
${STRIP_SECONDS.before} s before to ${STRIP_SECONDS.after} s after it, 290 km wide; one VIC datatake per file is
skipped by predict (only NOBS datatakes are distributed).

Not a real plan: no real \`S2x_MP_ACQ__KML\` file or verbatim excerpt was found in a public repository
(searched: the strings S2A_MP_ACQ, S2B_MP_ACQ, ObservationTimeStart, DatatakeId, OrbitRelative; only
parsers and file names turned up). The layout follows ESA's acquisition-plans page (nominal / vicarious /
calibration modes, "a simplified swath constructed by simply linking the four corners"), the STEP forum's
XPaths (/kml/Document/Folder/Folder[name='NOBS'], …/Folder[name='NOMINAL']) and the field names public
parsers read (ID, Mode, ObservationTimeStart/Stop, OrbitAbsolute/Relative). See
\`steps/predict/README.md\` for what predict does with it.
`;
