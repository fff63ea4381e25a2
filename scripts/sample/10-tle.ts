// Sample TLEs for Sentinel-2A/2B/2C, late May 2026 — built from the published orbit, not copied:
// sun-synchronous, 98.57° inclination, 14 + 3/10 revolutions per day (143 orbits in a 10-day repeat
// cycle), descending node at 10:30 local mean solar time. The mean motion is solved numerically so
// the SGP4 ground track really repeats after 143 orbits; each satellite's phase is chosen so that
// the sample tile 30UXB (the Solent) is overflown on both sample dates (S2B on 2026-05-25, S2C 180°
// behind it on the same track, S2A — in its own phase since its extended campaign — on 2026-05-26).
// Each satellite gets element sets about twice a day, as CelesTrak publishes them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { twoline2satrec } from 'satellite.js';
import { seededRandom } from '../../src/sdk/random.js';
import { formatElementSet, type MeanElements } from '../../lib/maritime/tle.js';
import { buildSeries, predictOverpasses } from '../../steps/predict/overpass.js';
import { gstimeAt, propagateMinutes } from '../../steps/predict/orbit.js';

const DAY_MS = 86_400_000;
const SAMPLE_TILE = '30UXB';
const INCLINATION_DEG = 98.57;
const REPEAT_ORBITS = 143;
const REPEAT_DAYS = 10;
/** Element sets from 2026-05-18 to 2026-06-01: the sample dates ± the default 7-day window. */
const FIRST_EPOCH_MS = Date.UTC(2026, 4, 18);
const LAST_EPOCH_MS = Date.UTC(2026, 5, 1);

interface SatelliteSpec {
  name: string;
  noradId: number;
  designator: string;
  launchMs: number;
  /** The date whose pass over the sample tile fixes this satellite's phase; S2C follows S2B by 180°. */
  phaseDate?: string;
  followsHalfOrbitBehind?: string;
}

const SATELLITES: SatelliteSpec[] = [
  { name: 'SENTINEL-2B', noradId: 42063, designator: '17013A', launchMs: Date.UTC(2017, 2, 7), phaseDate: '2026-05-25' },
  { name: 'SENTINEL-2A', noradId: 40697, designator: '15028A', launchMs: Date.UTC(2015, 5, 23), phaseDate: '2026-05-26' },
  { name: 'SENTINEL-2C', noradId: 60989, designator: '24157A', launchMs: Date.UTC(2024, 8, 5), followsHalfOrbitBehind: 'SENTINEL-2B' },
];

const wrap360 = (deg: number): number => ((deg % 360) + 360) % 360;

/** Right ascension of the mean sun (degrees) at an instant. */
function meanSunRaDeg(ms: number): number {
  const daysSinceJ2000 = (ms - Date.UTC(2000, 0, 1, 12)) / DAY_MS;
  return wrap360(280.46 + 0.9856474 * daysSinceJ2000);
}

function lines(elements: MeanElements): [string, string] {
  return formatElementSet(elements);
}

/** Earth-fixed longitude (deg) of the ascending node crossings in [0, days) after epoch, in order. */
function nodeLongitudes(elements: MeanElements, days: number): { timeMs: number; lonDeg: number }[] {
  const [l1, l2] = lines(elements);
  const satrec = twoline2satrec(l1, l2);
  const crossings: { timeMs: number; lonDeg: number }[] = [];
  const z = (minutes: number): number => propagateMinutes(satrec, minutes)!.r[2];
  let previous = z(0);
  for (let minute = 1; minute <= days * 1440; minute += 1) {
    const current = z(minute);
    if (previous < 0 && current >= 0) {
      let a = minute - 1;
      let b = minute;
      for (let k = 0; k < 40; k++) {
        const mid = (a + b) / 2;
        if (z(mid) < 0) a = mid;
        else b = mid;
      }
      const timeMs = elements.epochMs + b * 60_000;
      const { r } = propagateMinutes(satrec, b)!;
      // At the node the position lies in the equatorial plane: its right ascension minus GMST.
      const lon = (Math.atan2(r[1], r[0]) - gstimeAt(timeMs)) * (180 / Math.PI);
      crossings.push({ timeMs, lonDeg: ((((lon + 180) % 360) + 360) % 360) - 180 });
    }
    previous = current;
  }
  return crossings;
}

/** Mean motion (rev/day) for which the SGP4 ground track repeats after 143 orbits. */
function solveRepeatMeanMotion(base: MeanElements): number {
  const drift = (n: number): number => {
    const crossings = nodeLongitudes({ ...base, meanMotionRevPerDay: n }, REPEAT_DAYS + 0.2);
    const first = crossings[0];
    const later = crossings[REPEAT_ORBITS];
    return ((((later.lonDeg - first.lonDeg + 180) % 360) + 360) % 360) - 180;
  };
  let n0 = REPEAT_ORBITS / REPEAT_DAYS;
  let n1 = n0 + 0.005;
  let d0 = drift(n0);
  let d1 = drift(n1);
  for (let k = 0; k < 12 && Math.abs(d1) > 1e-5; k++) {
    const next = n1 - (d1 * (n1 - n0)) / (d1 - d0);
    n0 = n1;
    d0 = d1;
    n1 = next;
    d1 = drift(n1);
  }
  return Math.round(n1 * 1e8) / 1e8;
}

/** Advance mean elements to a new epoch with SGP4's secular rates (a re-published element set). */
function advance(elements: MeanElements, epochMs: number, elementNumber: number): MeanElements {
  const [l1, l2] = lines(elements);
  const satrec = twoline2satrec(l1, l2);
  const minutes = (epochMs - elements.epochMs) / 60_000;
  const deg = 180 / Math.PI;
  const revolutions = Math.floor((elements.meanAnomalyDeg + elements.argPerigeeDeg + satrec.mdot * minutes * deg) / 360);
  return {
    ...elements,
    epochMs,
    elementNumber,
    raanDeg: wrap360(elements.raanDeg + satrec.nodedot * minutes * deg),
    argPerigeeDeg: wrap360(elements.argPerigeeDeg + satrec.argpdot * minutes * deg),
    meanAnomalyDeg: wrap360(elements.meanAnomalyDeg + satrec.mdot * minutes * deg),
    revolutionNumber: elements.revolutionNumber + Math.max(0, revolutions),
  };
}

/** Cross-track distance (km) of the best pass of one element set over the sample tile on a date. */
function bestPass(elements: MeanElements, satellite: string, date: string): { crossKm: number; timeMs: number } | undefined {
  const [line1, line2] = lines(elements);
  const series = buildSeries([{ satellite, norad_id: elements.noradId, line1, line2 }]);
  const { overpasses } = predictOverpasses(series, [{ tile: SAMPLE_TILE }], { startMs: Date.parse(`${date}T00:00:00Z`), days: 1, maxTleAgeDays: 60 });
  let best: { crossKm: number; timeMs: number } | undefined;
  for (const pass of overpasses) {
    if (!best || Math.abs(pass.crossTrackKm) < Math.abs(best.crossKm)) best = { crossKm: pass.crossTrackKm, timeMs: pass.centerTimeMs };
  }
  return best;
}

/** The mean anomaly that puts the sample tile's centre on the ground track on `date`. */
function solvePhase(elements: MeanElements, satellite: string, date: string): number {
  const score = (m: number): number => bestPass({ ...elements, meanAnomalyDeg: wrap360(m) }, satellite, date)?.crossKm ?? Number.NaN;
  let bestM = 0;
  let bestAbs = Number.POSITIVE_INFINITY;
  for (let m = 0; m < 360; m += 3) {
    const cross = Math.abs(score(m));
    if (cross < bestAbs) {
      bestAbs = cross;
      bestM = m;
    }
  }
  // The cross-track distance varies almost linearly with the phase near the best coarse value.
  let a = bestM - 3;
  let b = bestM + 3;
  for (let k = 0; k < 30; k++) {
    const m1 = a + (b - a) / 3;
    const m2 = b - (b - a) / 3;
    const s1 = Math.abs(score(m1));
    const s2 = Math.abs(score(m2));
    if (!(s1 >= s2)) b = m2;
    else a = m1;
  }
  return wrap360((a + b) / 2);
}

export async function generate(root: string): Promise<void> {
  const random = seededRandom(20260525);
  const referenceEpoch = Date.UTC(2026, 4, 24, 12);
  // Descending node at 10:30 local mean solar time → ascending node at 22:30: RA = sun − 22.5° + 180°.
  const raan = wrap360(meanSunRaDeg(referenceEpoch) - 22.5 + 180);
  const base: MeanElements = {
    noradId: 0,
    designator: '',
    epochMs: referenceEpoch,
    ndotHalf: 0,
    bstar: 0,
    elementNumber: 999,
    inclinationDeg: INCLINATION_DEG,
    raanDeg: raan,
    eccentricity: 0.0001,
    argPerigeeDeg: 90,
    meanAnomalyDeg: 0,
    meanMotionRevPerDay: 14.3,
    revolutionNumber: 0,
  };
  const meanMotion = solveRepeatMeanMotion(base);

  const phased = new Map<string, MeanElements>();
  for (const spec of SATELLITES) {
    const revolutions = Math.floor(((referenceEpoch - spec.launchMs) / DAY_MS) * meanMotion);
    const own: MeanElements = {
      ...base,
      noradId: spec.noradId,
      designator: spec.designator,
      meanMotionRevPerDay: meanMotion,
      eccentricity: 0.0001 + Math.round(random() * 200) / 1e7,
      argPerigeeDeg: 80 + random() * 15,
      bstar: (1 + random() * 4) * 1e-5,
      revolutionNumber: revolutions,
    };
    if (spec.followsHalfOrbitBehind) {
      const leader = phased.get(spec.followsHalfOrbitBehind)!;
      // Same orbital plane, 180° behind in the orbit: same ground track, five days later.
      own.meanAnomalyDeg = wrap360(leader.meanAnomalyDeg + leader.argPerigeeDeg - own.argPerigeeDeg - 180);
    } else {
      own.meanAnomalyDeg = solvePhase(own, spec.name, spec.phaseDate!);
    }
    phased.set(spec.name, own);
  }

  const text: string[] = [];
  for (const spec of [...SATELLITES].sort((a, b) => a.name.localeCompare(b.name))) {
    const elements = phased.get(spec.name)!;
    let elementNumber = 990 + Math.floor(random() * 9);
    // Epochs about every 12 h with a few hours of jitter, as tracking updates arrive.
    for (let t = FIRST_EPOCH_MS + random() * 6 * 3_600_000; t < LAST_EPOCH_MS; t += (10 + random() * 4) * 3_600_000) {
      const epochMs = Math.round(t / 1000) * 1000;
      elementNumber += 1;
      const [line1, line2] = lines({ ...advance(elements, epochMs, elementNumber), ndotHalf: Math.round((random() - 0.5) * 400) / 1e8 });
      text.push(spec.name, line1, line2);
    }
  }
  const dir = join(root, 'datasets', 'sample', 'tle');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'sentinel2.tle'), `${text.join('\n')}\n`);
}
