// ESA Sentinel-2 acquisition plans (the `S2x_MP_ACQ__KML_<from>_<to>.kml` files ESA publishes each week):
// the planned datatakes, their UTC start/stop and footprint, turned into overpass windows over targets.
//
// Format (ESA's acquisition-plans page and the files' own layout): Document → Folder per satellite
// (S2A…) → Folder per mode (NOBS nominal, VIC vicarious, DARK-O …) → [sub-folders] → Placemark, each
// with ExtendedData <Data name="…"><value>…</value></Data> fields — ID, Mode, ObservationTimeStart,
// ObservationTimeStop (UTC, ISO 8601, often without a zone), OrbitAbsolute, OrbitRelative — a TimeSpan
// and a Polygon/LinearRing footprint "constructed by simply linking the four corners of the image
// acquisition strip". Only NOBS datatakes are distributed to users, so only they become overpasses.
//
// Timing: Sentinel-2 images on descending passes, so a datatake starts at its northern end. The strip's
// axis runs from the midpoint of its start edge to the midpoint of its stop edge (for four corners: the
// two short opposite edges; otherwise the two northernmost and the two southernmost vertices), and a
// point's time is start + (stop − start) × its fraction along that great circle.
import { basename } from 'node:path';
import { StepError } from '../../src/sdk/errors.js';
import { childrenNamed, descendantsNamed, parseXml, XmlSyntaxError, type XmlElement } from '../../lib/geo/xml.js';
import { cross, dot, ecefToGeodetic, norm, sunElevationDeg, unit, type Vec3 } from './orbit.js';
import type { Overpass, Target } from './overpass.js';

const RAD = Math.PI / 180;
const EARTH_RADIUS_KM = 6371.0088;
const MS_PER_DAY = 86_400_000;

/** NORAD catalogue numbers of the units a plan may name. */
export const PLAN_SATELLITES: Readonly<Record<string, number>> = { S2A: 40697, S2B: 42063, S2C: 60989 };

export interface Datatake {
  /** S2A, S2B or S2C. */
  satellite: string;
  noradId: number;
  /** The plan's datatake id (ExtendedData ID, else the placemark name). */
  id: string;
  mode: string;
  startMs: number;
  stopMs: number;
  orbitAbsolute: number | null;
  orbitRelative: number | null;
  /** Footprint rings of [lon, lat], closed. */
  rings: [number, number][][];
  /** `file:line` of the Placemark, for messages. */
  where: string;
}

export interface ParsedPlan {
  datatakes: Datatake[];
  /** Placemarks in modes that produce no user products (VIC, DARK-O …), counted by mode. */
  skipped: Record<string, number>;
  /** The validity window in the file name (`…_KML_<from>_<to>.kml`), when it has one. */
  validity: { fromMs: number; toMs: number } | null;
}

/** `…_MP_ACQ__KML_20260525T120000_20260612T150000.kml` → the unit and the window the file covers. */
export function planFileInfo(file: string): { satellite: string | null; validity: ParsedPlan['validity'] } {
  const name = basename(file);
  const unitMatch = /(?:^|[^A-Z0-9])(S2[ABC])_MP_ACQ/i.exec(name) ?? /Sentinel-2([ABC])_MP_ACQ/i.exec(name);
  const satellite = unitMatch ? (unitMatch[1].length === 1 ? `S2${unitMatch[1]}` : unitMatch[1]).toUpperCase() : null;
  const window = /_(\d{8}T\d{6})_(\d{8}T\d{6})(?:\.kml)?$/i.exec(name);
  const compact = (text: string): number => Date.parse(`${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}T${text.slice(9, 11)}:${text.slice(11, 13)}:${text.slice(13, 15)}Z`);
  const validity = window ? { fromMs: compact(window[1]), toMs: compact(window[2]) } : null;
  return { satellite, validity: validity && Number.isFinite(validity.fromMs) && Number.isFinite(validity.toMs) && validity.toMs > validity.fromMs ? validity : null };
}

/** A plan time: ISO 8601, UTC when it names no zone; NaN when it is not one. */
export function parsePlanTime(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)(Z|[+-]00:?00)?$/.exec(text.trim());
  if (!match) return NaN;
  const [hh, mm, ss] = match[2].split(':').map(Number);
  if (hh > 23 || mm > 59 || ss >= 60) return NaN;
  const ms = Date.parse(`${match[1]}T${match[2].slice(0, 12)}Z`);
  // Date.parse accepts 2026-02-30; the round trip does not.
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === match[1] ? ms : NaN;
}

const unitOf = (text: string | undefined): string | null => {
  if (!text) return null;
  const match = /^(?:S2([ABC])|Sentinel-2([ABC]))$/i.exec(text.trim());
  return match ? `S2${(match[1] ?? match[2]).toUpperCase()}` : null;
};

/** The ExtendedData fields of a placemark, keyed by lower-case name without spaces. */
function extendedData(placemark: XmlElement): Map<string, { value: string; line: number }> {
  const fields = new Map<string, { value: string; line: number }>();
  for (const extended of childrenNamed(placemark, 'ExtendedData')) {
    for (const data of childrenNamed(extended, 'Data')) {
      const name = (data.attributes.name ?? '').replace(/\s+/g, '').toLowerCase();
      const value = childrenNamed(data, 'value')[0];
      if (name !== '') fields.set(name, { value: (value?.text ?? '').trim(), line: (value ?? data).line });
    }
  }
  return fields;
}

function parseCoordinates(element: XmlElement, where: (line: number) => string): [number, number][] {
  const tokens = element.text.trim().split(/\s+/).filter((t) => t !== '');
  const points = tokens.map((token): [number, number] => {
    const parts = token.split(',');
    const [lon, lat] = parts.map(Number);
    if (parts.length < 2 || parts.length > 3 || !parts.every((p) => p !== '' && Number.isFinite(Number(p)))) throw new StepError(`coordinate "${token}" is not lon,lat[,alt]`, where(element.line));
    if (Math.abs(lat) > 90 || Math.abs(lon) > 180) throw new StepError(`coordinate "${token}" is outside lon −180…180, lat −90…90`, where(element.line));
    return [lon, lat];
  });
  const distinct = new Set(points.map(([lon, lat]) => `${lon},${lat}`));
  if (distinct.size < 3) throw new StepError(`a footprint ring needs at least 3 distinct corners, got ${distinct.size}`, where(element.line));
  const [first, last] = [points[0], points[points.length - 1]];
  if (first[0] !== last[0] || first[1] !== last[1]) points.push([first[0], first[1]]); // close it
  return points;
}

/**
 * Parse one plan file. Malformed XML, a placemark without a satellite, times, a mode or a footprint,
 * and bad values are StepErrors at `file:line[:column]`.
 */
export function parsePlanKml(text: string, file: string): ParsedPlan {
  const where = (line: number, column?: number): string => `${file}:${line}${column ? `:${column}` : ''}`;
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw new StepError(`not well-formed XML: ${error.message}`, where(error.line, error.column));
    throw error;
  }
  if (root.name !== 'kml') throw new StepError(`not a KML document (root element <${root.name}>, expected <kml>)`, where(root.line, root.column));
  const fromName = planFileInfo(file);
  const datatakes: Datatake[] = [];
  const skipped: Record<string, number> = {};

  const visit = (node: XmlElement, satellite: string | null, mode: string | null): void => {
    for (const child of node.children) {
      if (child.name === 'Document' || child.name === 'Folder') {
        const name = (childrenNamed(child, 'name')[0]?.text ?? '').trim();
        const unit = unitOf(name) ?? unitOf(/Sentinel-2[ABC]/i.exec(name)?.[0]);
        // Below a satellite folder, the first named folder is the mode (NOBS, VIC, DARK-O, …).
        const folderMode = !unit && satellite && !mode && child.name === 'Folder' && /^[A-Z][A-Z0-9_-]*$/.test(name) ? name : null;
        visit(child, unit ?? satellite, mode ?? folderMode);
      } else if (child.name === 'Placemark') {
        placemark(child, satellite, mode);
      }
    }
  };

  const placemark = (element: XmlElement, folderSatellite: string | null, folderMode: string | null): void => {
    const at = where(element.line);
    const fields = extendedData(element);
    const field = (...names: string[]) => names.map((n) => fields.get(n)).find((f) => f !== undefined && f.value !== '');
    const unitField = field('satelliteid', 'satellite', 'satelliteunit', 'spacecraft');
    const satellite = unitField ? unitOf(unitField.value) : (folderSatellite ?? fromName.satellite);
    if (unitField && !satellite) throw new StepError(`satellite "${unitField.value}" is not Sentinel-2A, 2B or 2C`, where(unitField.line));
    if (!satellite) throw new StepError('cannot tell the satellite: no SatelliteId field, no S2A/S2B/S2C folder, and the file name is not S2x_MP_ACQ__KML_…', at);
    const modeField = field('mode', 'instrumentmode');
    const mode = (modeField?.value ?? folderMode ?? '').toUpperCase();
    if (mode === '') throw new StepError('no mode: neither an ExtendedData Mode nor a NOBS/VIC/… folder', at);
    if (mode !== 'NOBS') {
      skipped[mode] = (skipped[mode] ?? 0) + 1;
      return;
    }
    const id = field('id', 'datatakeid')?.value ?? (childrenNamed(element, 'name')[0]?.text ?? '').trim();
    const timeSpan = childrenNamed(element, 'TimeSpan')[0];
    const time = (names: string[], spanChild: 'begin' | 'end'): number => {
      const found = field(...names);
      const span = timeSpan ? childrenNamed(timeSpan, spanChild)[0] : undefined;
      const text = found?.value ?? span?.text.trim();
      const line = found?.line ?? span?.line ?? element.line;
      if (!text) throw new StepError(`no ${names[0] === 'observationtimestart' ? 'ObservationTimeStart' : 'ObservationTimeStop'} (nor TimeSpan ${spanChild})`, at);
      const ms = parsePlanTime(text);
      if (Number.isNaN(ms)) throw new StepError(`time "${text}" is not ISO 8601 (YYYY-MM-DDTHH:MM:SS[.fff][Z])`, where(line));
      return ms;
    };
    const startMs = time(['observationtimestart'], 'begin');
    const stopMs = time(['observationtimestop'], 'end');
    if (!(stopMs > startMs)) throw new StepError(`datatake ${id} stops (${new Date(stopMs).toISOString()}) before it starts (${new Date(startMs).toISOString()})`, at);
    if (stopMs - startMs > 2 * 3_600_000) throw new StepError(`datatake ${id} lasts ${((stopMs - startMs) / 3_600_000).toFixed(1)} h (more than an orbit)`, at);
    const orbit = (name: string, max: number): number | null => {
      const found = field(name);
      if (!found) return null;
      const value = Number(found.value);
      if (!Number.isInteger(value) || value < 1 || value > max) throw new StepError(`${name === 'orbitrelative' ? 'OrbitRelative' : 'OrbitAbsolute'} "${found.value}" is not an integer in 1…${max}`, where(found.line));
      return value;
    };
    const rings = descendantsNamed(element, 'LinearRing').map((ring) => {
      const coordinates = childrenNamed(ring, 'coordinates')[0];
      if (!coordinates) throw new StepError('LinearRing without <coordinates>', where(ring.line));
      return parseCoordinates(coordinates, (line) => where(line));
    });
    if (rings.length === 0) throw new StepError(`datatake ${id} has no footprint (Polygon or LinearRing)`, at);
    datatakes.push({ satellite, noradId: PLAN_SATELLITES[satellite], id, mode, startMs, stopMs, orbitAbsolute: orbit('orbitabsolute', 10_000_000), orbitRelative: orbit('orbitrelative', 143), rings, where: at });
  };

  visit(root, null, null);
  return { datatakes, skipped, validity: fromName.validity };
}

// ---------------------------------------------------------------------------------------------
// Datatakes over targets

const toVec = (lon: number, lat: number): Vec3 => [Math.cos(lat * RAD) * Math.cos(lon * RAD), Math.cos(lat * RAD) * Math.sin(lon * RAD), Math.sin(lat * RAD)];
const angle = (a: Vec3, b: Vec3): number => Math.atan2(norm(cross(a, b)), dot(a, b));
const midpoint = (a: Vec3, b: Vec3): Vec3 => unit([a[0] + b[0], a[1] + b[1], a[2] + b[2]]);

/** The strip's axis: unit vectors of the start (northern) and stop end midpoints. */
export function stripAxis(ring: readonly [number, number][]): { start: Vec3; stop: Vec3 } {
  const corners = ring.slice(0, ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1] ? -1 : undefined).map(([lon, lat]) => ({ lat, v: toVec(lon, lat) }));
  let ends: { lat: number; v: Vec3 }[][];
  if (corners.length === 4) {
    const edge = (i: number) => [corners[i], corners[(i + 1) % 4]];
    const length = (i: number) => angle(corners[i].v, corners[(i + 1) % 4].v);
    ends = length(0) + length(2) <= length(1) + length(3) ? [edge(0), edge(2)] : [edge(1), edge(3)];
  } else {
    const byLat = [...corners].sort((a, b) => b.lat - a.lat);
    ends = [byLat.slice(0, 2), byLat.slice(-2)];
  }
  const meanLat = (end: { lat: number }[]) => (end[0].lat + end[1].lat) / 2;
  const [north, south] = meanLat(ends[0]) >= meanLat(ends[1]) ? [ends[0], ends[1]] : [ends[1], ends[0]];
  return { start: midpoint(north[0].v, north[1].v), stop: midpoint(south[0].v, south[1].v) };
}

/** Fraction along the axis (0 at the start end, 1 at the stop end) and signed cross-track km (east +). */
export function alongAcross(axis: { start: Vec3; stop: Vec3 }, lon: number, lat: number): { fraction: number; crossTrackKm: number } {
  const p = toVec(lon, lat);
  const pole = unit(cross(axis.start, axis.stop));
  const offset = dot(p, pole);
  const projected = unit([p[0] - offset * pole[0], p[1] - offset * pole[1], p[2] - offset * pole[2]]);
  const along = Math.atan2(dot(cross(axis.start, projected), pole), dot(axis.start, projected));
  const east: Vec3 = unit([-Math.sin(lon * RAD), Math.cos(lon * RAD), 0]);
  const side = Math.sign(dot(pole, east)) || 1;
  return { fraction: along / angle(axis.start, axis.stop), crossTrackKm: side * Math.asin(Math.max(-1, Math.min(1, offset))) * EARTH_RADIUS_KM };
}

/** Whether great-circle arcs a→b and c→d cross (neither arc longer than 180°). */
function arcsCross(a: Vec3, b: Vec3, c: Vec3, d: Vec3): boolean {
  const n1 = cross(a, b);
  const n2 = cross(c, d);
  const sa = Math.sign(dot(n2, a));
  const sb = Math.sign(dot(n2, b));
  const sc = Math.sign(dot(n1, c));
  const sd = Math.sign(dot(n1, d));
  return sa !== sb && sc !== sd && sa !== 0 && sc !== 0 && (() => {
    // The great circles meet at ±x; the arcs cross when both contain the same one.
    const x = unit(cross(n1, n2));
    const on = (p: Vec3, q: Vec3, y: Vec3) => Math.abs(angle(p, y) + angle(y, q) - angle(p, q)) < 1e-9;
    return (on(a, b, x) && on(c, d, x)) || (on(a, b, [-x[0], -x[1], -x[2]]) && on(c, d, [-x[0], -x[1], -x[2]]));
  })();
}

/** A ring on the sphere (great-circle edges) ready for point tests. */
export interface SphericalRing {
  vertices: Vec3[];
  centre: Vec3;
  /** Largest angle from the centre to a vertex (radians): a cheap bounding cap. */
  radius: number;
  /** A point outside the ring (the antipode of its centre): the end of every test ray. */
  outside: Vec3;
}

export function sphericalRing(ring: readonly [number, number][]): SphericalRing {
  const vertices = ring.map(([lon, lat]) => toVec(lon, lat));
  const open = vertices.slice(0, -1);
  const centre = unit(open.reduce<Vec3>((s, v) => [s[0] + v[0], s[1] + v[1], s[2] + v[2]], [0, 0, 0]));
  return { vertices, centre, radius: Math.max(...open.map((v) => angle(centre, v))), outside: [-centre[0], -centre[1], -centre[2]] };
}

/** Point in a spherical ring by counting edge crossings of the arc to a point outside it. */
export function inSphericalRing(ring: SphericalRing, lon: number, lat: number): boolean {
  const p = toVec(lon, lat);
  if (angle(ring.centre, p) > ring.radius) return false;
  // The arc p → outside may exceed 180°: go through the midpoint of p and the centre's antipode via a waypoint.
  const waypoint = unit(cross(cross(p, ring.outside), p)); // 90° from p, towards `outside`
  let crossings = 0;
  for (let i = 0; i + 1 < ring.vertices.length; i++) {
    const [a, b] = [ring.vertices[i], ring.vertices[i + 1]];
    if (arcsCross(p, waypoint, a, b)) crossings++;
    else if (arcsCross(waypoint, ring.outside, a, b)) crossings++;
  }
  return crossings % 2 === 1;
}

/** Points that stand for a target's area: the centre, and rings at 1/3, 2/3 and 1 of the way to its boundary. */
export function targetSamples(target: Target): { lon: number; lat: number }[] {
  const samples = [{ lon: target.center.lon, lat: target.center.lat }];
  for (const boundary of target.boundaryEcef) {
    const { lat, lon } = ecefToGeodetic(boundary);
    const dLon = ((lon - target.center.lon + 540) % 360) - 180; // across the antimeridian
    for (const t of [1 / 3, 2 / 3, 1]) samples.push({ lon: ((target.center.lon + t * dLon + 540) % 360) - 180, lat: target.center.lat + t * (lat - target.center.lat) });
  }
  return samples;
}

/** A datatake over a target: an Overpass from the plan (source esa_plan) — its orbit as the plan gives it, no TLE. */
export type PlanOverpass = Omit<Overpass, 'relativeOrbit' | 'tleEpochMs'> & { relativeOrbit: number | null; tleEpochMs: null; datatakeId: string };

/**
 * The NOBS datatakes that image each target, with times interpolated along the strip; one overpass
 * per target per datatake whose centre time falls in [startMs, startMs + days). Ordered by target,
 * then time.
 */
export function planOverpasses(datatakes: readonly Datatake[], targets: readonly Target[], window: { startMs: number; days: number }): PlanOverpass[] {
  const endMs = window.startMs + window.days * MS_PER_DAY;
  const result: PlanOverpass[] = [];
  const prepared = datatakes.map((datatake) => ({ datatake, rings: datatake.rings.map((ring) => ({ ring, sphere: sphericalRing(ring), axis: stripAxis(ring) })) }));
  for (const target of targets) {
    const samples = targetSamples(target);
    for (const { datatake, rings } of prepared) {
      const duration = datatake.stopMs - datatake.startMs;
      const inside = samples.map((s) => rings.findIndex((r) => inSphericalRing(r.sphere, s.lon, s.lat)));
      const covered = inside.filter((index) => index >= 0).length;
      if (covered === 0) continue;
      // Times along the ring that holds most of the target (a datatake is one strip; several rings are its parts).
      const counts = rings.map((_, index) => inside.filter((i) => i === index).length);
      const axis = rings[counts.indexOf(Math.max(...counts))].axis;
      const timeAt = (lon: number, lat: number): number => datatake.startMs + Math.min(1, Math.max(0, alongAcross(axis, lon, lat).fraction)) * duration;
      const centerTimeMs = timeAt(target.center.lon, target.center.lat);
      if (centerTimeMs < window.startMs || centerTimeMs >= endMs) continue;
      const times = samples.filter((_, i) => inside[i] >= 0).map((s) => timeAt(s.lon, s.lat));
      result.push({
        targetId: target.id,
        targetKind: target.kind,
        satellite: datatake.satellite,
        noradId: datatake.noradId,
        centerTimeMs,
        startTimeMs: Math.min(...times),
        endTimeMs: Math.max(...times),
        crossTrackKm: alongAcross(axis, target.center.lon, target.center.lat).crossTrackKm,
        coverageFraction: covered / samples.length,
        relativeOrbit: datatake.orbitRelative,
        sunElevationDeg: sunElevationDeg(target.center.lat, target.center.lon, centerTimeMs),
        tleEpochMs: null,
        datatakeId: datatake.id,
        target,
      });
    }
  }
  return result.sort((a, b) => (a.targetId < b.targetId ? -1 : a.targetId > b.targetId ? 1 : a.centerTimeMs - b.centerTimeMs || (a.satellite < b.satellite ? -1 : 1)));
}
