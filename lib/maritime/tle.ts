// Two-line element sets: strict parsing and validation of CelesTrak's text format (an optional name
// line followed by lines 1 and 2), and the formatting helpers the sample generator uses.
import { StepError } from '../../src/sdk/errors.js';

/** The satellites this pipeline plans for, by NORAD catalogue number. */
export const SENTINEL2_SATELLITES: ReadonlyMap<number, string> = new Map([
  [40697, 'S2A'],
  [42063, 'S2B'],
  [60989, 'S2C'],
]);

/** CelesTrak's names for them (what a name line says), mapped to the short code. */
const NAME_TO_CODE: ReadonlyMap<string, string> = new Map([
  ['SENTINEL-2A', 'S2A'],
  ['SENTINEL-2B', 'S2B'],
  ['SENTINEL-2C', 'S2C'],
]);

export type ElementSetRow = {
  /** Short code: S2A, S2B, S2C. */
  satellite: string;
  norad_id: number;
  /** Epoch as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC), exact to the microsecond. */
  epoch_utc: string;
  line1: string;
  line2: string;
};

export interface ParsedTles {
  /** Sentinel-2 element sets, in file order. */
  elementSets: ElementSetRow[];
  /** NORAD ids of well-formed element sets for other satellites (skipped). */
  otherSatellites: number[];
}

/** The TLE mod-10 checksum of the first 68 characters: digits count their value, '-' counts 1. */
export function tleChecksum(line: string): number {
  let sum = 0;
  for (const char of line.slice(0, 68)) {
    if (char >= '0' && char <= '9') sum += char.charCodeAt(0) - 48;
    else if (char === '-') sum += 1;
  }
  return sum % 10;
}

/** Append the checksum digit to a 68-character line. */
export function withChecksum(line68: string): string {
  if (line68.length !== 68) throw new Error(`a TLE line body must be 68 characters, got ${line68.length}: "${line68}"`);
  return line68 + String(tleChecksum(line68));
}

/**
 * The epoch of line 1 (columns 19–32, YYDDD.DDDDDDDD) in epoch milliseconds, plus the exact
 * microsecond text. Two-digit years 57–99 are 19xx, 00–56 are 20xx (the TLE convention).
 */
export function parseTleEpoch(line1: string): { epochMs: number; text: string } {
  const field = line1.slice(18, 32);
  const match = /^(\d{2})(\d{3})\.(\d{8})$/.exec(field.replace(/ /g, '0'));
  if (!match) throw new Error(`epoch field "${field}" is not YYDDD.DDDDDDDD`);
  const yy = Number(match[1]);
  const year = yy < 57 ? 2000 + yy : 1900 + yy;
  const dayOfYear = Number(match[2]);
  const daysInYear = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 366 : 365;
  if (dayOfYear < 1 || dayOfYear > daysInYear) throw new Error(`epoch day of year ${dayOfYear} is outside 1–${daysInYear}`);
  // 8 decimal digits of a day × 86,400,000,000 µs/day = digits × 864 µs: exact integer arithmetic.
  const micros = Number(match[3]) * 864;
  const dayStartMs = Date.UTC(year, 0, dayOfYear);
  const epochMs = dayStartMs + micros / 1000;
  const wholeMs = dayStartMs + Math.floor(micros / 1000);
  const iso = new Date(wholeMs).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micros % 1000).padStart(3, '0')}`;
  return { epochMs, text };
}

/** A line that starts like element line 1 or 2: the line number, a space, a catalogue number. */
function isElementLine(line: string, number: '1' | '2'): boolean {
  return line.length > 24 && line[0] === number && /^[12] [ 0-9]{4}[0-9]/.test(line);
}

/** What is wrong with one element line, or undefined if it is well formed. */
function lineProblem(line: string, expectedNumber: 1 | 2): string | undefined {
  if (line.length !== 69) return `line ${expectedNumber} of an element set must be 69 characters, got ${line.length}`;
  if (line[0] !== String(expectedNumber) || line[1] !== ' ') return `expected element line ${expectedNumber} (starting "${expectedNumber} "), got "${line.slice(0, 2)}"`;
  if (!/^\d$/.test(line[68])) return `checksum column 69 is "${line[68]}", not a digit`;
  const expected = tleChecksum(line);
  if (Number(line[68]) !== expected) return `checksum mismatch on line ${expectedNumber}: column 69 says ${line[68]}, the line sums to ${expected}`;
  const catalogue = line.slice(2, 7);
  if (!/^\s*\d+$/.test(catalogue)) return `catalogue number "${catalogue}" is not a number`;
  if (expectedNumber === 1) {
    if (!/^\d{5}\.\d{8}$/.test(line.slice(18, 32))) return `epoch "${line.slice(18, 32)}" is not YYDDD.DDDDDDDD`;
  } else {
    // Inclination, RAAN, eccentricity (implied decimal), arg. of perigee, mean anomaly, mean motion.
    const fields: [string, number, number][] = [
      ['inclination', 8, 16],
      ['right ascension of the node', 17, 25],
      ['argument of perigee', 34, 42],
      ['mean anomaly', 43, 51],
      ['mean motion', 52, 63],
    ];
    for (const [name, from, to] of fields) {
      if (!/^\s*\d+\.\d+$/.test(line.slice(from, to))) return `${name} "${line.slice(from, to)}" is not a number`;
    }
    if (!/^\d{7}$/.test(line.slice(26, 33))) return `eccentricity "${line.slice(26, 33)}" is not 7 digits`;
  }
  return undefined;
}

/**
 * Parse a TLE text. Every element line is validated (length, line number, checksum, catalogue
 * number matching between lines 1 and 2, numeric fields); a bad line is a StepError naming
 * `source:line`. Element sets for other satellites are skipped and reported in `otherSatellites`
 * (CelesTrak's sentinel.txt lists Sentinel-1/3/5P/6 too). A name line that says SENTINEL-2x but
 * carries another satellite's number is an error: the orbit would be silently wrong.
 */
export function parseTleText(text: string, source: string): ParsedTles {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const elementSets: ElementSetRow[] = [];
  const otherSatellites: number[] = [];
  let pendingName: { name: string; lineNo: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\s+$/, '');
    const lineNo = i + 1;
    if (raw.trim() === '') continue;
    if (isElementLine(raw, '2')) throw new StepError('element line 2 without a preceding line 1', `${source}:${lineNo}`);
    if (!isElementLine(raw, '1')) {
      if (pendingName) {
        throw new StepError(`name line "${pendingName.name.trim()}" is not followed by element line 1 (got "${raw.slice(0, 30)}")`, `${source}:${pendingName.lineNo}`);
      }
      if (raw.length > 69) throw new StepError(`not a name line or an element line (${raw.length} characters)`, `${source}:${lineNo}`);
      pendingName = { name: raw, lineNo };
      continue;
    }
    const line1 = raw;
    const line2 = (lines[i + 1] ?? '').replace(/\s+$/, '');
    const where1 = `${source}:${lineNo}`;
    const where2 = `${source}:${lineNo + 1}`;
    const problem1 = lineProblem(line1, 1);
    if (problem1) throw new StepError(problem1, where1);
    if (!isElementLine(line2, '2')) throw new StepError(`element line 1 is not followed by line 2 (got "${line2.slice(0, 30)}")`, where2);
    const problem2 = lineProblem(line2, 2);
    if (problem2) throw new StepError(problem2, where2);
    const catalogue1 = Number(line1.slice(2, 7));
    const catalogue2 = Number(line2.slice(2, 7));
    if (catalogue1 !== catalogue2) {
      throw new StepError(`catalogue number mismatch: line 1 says ${catalogue1}, line 2 says ${catalogue2}`, where2);
    }
    const code = SENTINEL2_SATELLITES.get(catalogue1);
    if (pendingName) {
      const named = NAME_TO_CODE.get(pendingName.name.replace(/^0 /, '').trim().toUpperCase());
      if (named && named !== code) {
        throw new StepError(
          `name line says ${pendingName.name.trim()} but the element set is for catalogue number ${catalogue1}` +
            (code ? ` (${code})` : ' (not a Sentinel-2 satellite)'),
          `${source}:${pendingName.lineNo}`,
        );
      }
    }
    pendingName = undefined;
    i += 1;
    if (!code) {
      otherSatellites.push(catalogue1);
      continue;
    }
    let epoch: { epochMs: number; text: string };
    try {
      epoch = parseTleEpoch(line1);
    } catch (error) {
      throw new StepError((error as Error).message, where1);
    }
    elementSets.push({ satellite: code, norad_id: catalogue1, epoch_utc: epoch.text, line1, line2 });
  }
  if (pendingName) throw new StepError(`name line "${pendingName.name.trim()}" is not followed by an element set`, `${source}:${pendingName.lineNo}`);
  return { elementSets, otherSatellites };
}

/** Element sets with identical lines appear when files are concatenated; keep one, in epoch order. */
export function dedupeAndSort(rows: readonly ElementSetRow[]): ElementSetRow[] {
  const seen = new Map<string, ElementSetRow>();
  for (const row of rows) seen.set(`${row.line1}\n${row.line2}`, row);
  return [...seen.values()].sort(
    (a, b) => a.satellite.localeCompare(b.satellite) || a.epoch_utc.localeCompare(b.epoch_utc) || a.line1.localeCompare(b.line1),
  );
}

/** Mean elements of one element set, in TLE units (degrees, revolutions per day). */
export interface MeanElements {
  noradId: number;
  /** International designator, e.g. 15028A. */
  designator: string;
  epochMs: number;
  /** First derivative of mean motion / 2 (rev/day²) and B* drag term (1/earth radii). */
  ndotHalf: number;
  bstar: number;
  elementNumber: number;
  inclinationDeg: number;
  raanDeg: number;
  eccentricity: number;
  argPerigeeDeg: number;
  meanAnomalyDeg: number;
  meanMotionRevPerDay: number;
  revolutionNumber: number;
}

/** TLE "assumed decimal point" exponent notation: 0.58072e-4 → " 58072-4". */
function formatExponent(value: number): string {
  if (value === 0) return ' 00000+0';
  const sign = value < 0 ? '-' : ' ';
  let exponent = Math.floor(Math.log10(Math.abs(value))) + 1;
  let mantissa = Math.round((Math.abs(value) / 10 ** exponent) * 1e5);
  if (mantissa >= 1e5) {
    mantissa = Math.round(mantissa / 10);
    exponent += 1;
  }
  if (exponent < -9) {
    // Below 0.1e-9 the mantissa loses digits; below 0.5e-14 the value is written as zero.
    exponent = -9;
    mantissa = Math.round((Math.abs(value) / 1e-9) * 1e5);
    if (mantissa === 0) return ' 00000+0';
  }
  if (exponent > 9) throw new Error(`value ${value} cannot be written in TLE exponent notation`);
  return `${sign}${String(mantissa).padStart(5, '0')}${exponent < 0 ? '-' : '+'}${Math.abs(exponent)}`;
}

const wrap360 = (deg: number): number => ((deg % 360) + 360) % 360;
const angle = (deg: number): string => {
  const text = wrap360(deg).toFixed(4);
  return (text === '360.0000' ? '0.0000' : text).padStart(8, ' ');
};

/** Write an element set as two TLE lines with correct checksums. */
export function formatElementSet(elements: MeanElements): [string, string] {
  const date = new Date(elements.epochMs);
  const year = date.getUTCFullYear();
  const dayStart = Date.UTC(year, 0, 1);
  const dayOfYear = (elements.epochMs - dayStart) / 86_400_000 + 1;
  let dayText = dayOfYear.toFixed(8);
  if (dayText.length < 12) dayText = dayText.padStart(12, '0');
  const ndot = elements.ndotHalf.toFixed(8).replace(/^(-?)0\./, '$1.');
  const catalogue = String(elements.noradId).padStart(5, '0');
  const line1 =
    `1 ${catalogue}U ${elements.designator.padEnd(8, ' ')} ${String(year % 100).padStart(2, '0')}${dayText} ` +
    `${ndot.startsWith('-') ? ndot : ` ${ndot}`} ${formatExponent(0)} ${formatExponent(elements.bstar)} 0 ${String(elements.elementNumber % 10000).padStart(4, ' ')}`;
  const eccentricity = Math.round(elements.eccentricity * 1e7);
  if (eccentricity < 0 || eccentricity > 9_999_999) throw new Error(`eccentricity ${elements.eccentricity} out of range`);
  const line2 =
    `2 ${catalogue} ${angle(elements.inclinationDeg)} ${angle(elements.raanDeg)} ${String(eccentricity).padStart(7, '0')} ` +
    `${angle(elements.argPerigeeDeg)} ${angle(elements.meanAnomalyDeg)} ${elements.meanMotionRevPerDay.toFixed(8).padStart(11, ' ')}` +
    `${String(elements.revolutionNumber % 100000).padStart(5, ' ')}`;
  return [withChecksum(line1), withChecksum(line2)];
}
