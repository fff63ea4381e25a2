// tle-fetch: TLE parsing and validation on the real CelesTrak file, error cases, the URL path
// against a local HTTP server, and the step run through the engine.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { twoline2satrec } from 'satellite.js';
import { sharedData, PROJECT_ROOT } from '../helpers/paths.js';
import { isolatedPipeline } from '../helpers/isolated-pipeline.js';
import { execStep } from '../../src/engine/exec.js';
import { readTable } from '../../src/sdk/table-io.js';
import { StepError } from '../../src/sdk/errors.js';
import { formatElementSet, parseTleEpoch, parseTleText, tleChecksum, withChecksum, type MeanElements } from '../../lib/maritime/tle.js';
import { readTleSource } from '../../steps/tle-fetch/kernel.js';

const REAL_TLE = sharedData('tle', 'sentinel2_celestrak_2026-05-23_to_2026-05-30.tle');
const REAL_INDEX = sharedData('tle', 'sentinel2_celestrak_2026-05-23_to_2026-05-30_index.csv');
const realText = readFileSync(REAL_TLE, 'utf8');
const realLines = realText.split('\n');


function errorOf(fn: () => unknown): StepError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StepError);
    return error as StepError;
  }
  throw new Error('expected a StepError');
}

describe('parseTleText on the real CelesTrak file', () => {
  const parsed = parseTleText(realText, 'real.tle');

  it('keeps all 70 element sets (several epochs per satellite)', () => {
    const counts = new Map<string, number>();
    for (const row of parsed.elementSets) counts.set(row.satellite, (counts.get(row.satellite) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ S2A: 25, S2B: 25, S2C: 20 });
    expect(parsed.otherSatellites).toEqual([]);
  });

  it('parses every epoch to the microsecond as the index file states it', () => {
    const index = readFileSync(REAL_INDEX, 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
    const byLine1 = new Map(index.map((cols) => [cols[3], cols[2]]));
    for (const row of parsed.elementSets) {
      const expected = byLine1.get(row.line1);
      expect(expected, row.line1).toBeDefined();
      // index: 2026-05-23T19:25:06.190752Z; ours: 2026-05-23 19:25:06.190752
      expect(row.epoch_utc.replace(' ', 'T') + 'Z').toBe(expected);
    }
  });

  it('agrees with satellite.js on the epoch', () => {
    for (const row of parsed.elementSets.slice(0, 10)) {
      const satrec = twoline2satrec(row.line1, row.line2);
      const satrecMs = (satrec.jdsatepoch - 2440587.5) * 86_400_000;
      expect(Math.abs(satrecMs - parseTleEpoch(row.line1).epochMs)).toBeLessThan(1);
    }
  });
});

describe('TLE validation errors name the file, line and problem', () => {
  const lineOf = (n: number): string => realLines[n - 1];
  const replaceLine = (n: number, text: string): string => realLines.map((line, i) => (i === n - 1 ? text : line)).join('\n');

  it('rejects a bad checksum', () => {
    // Line 6 is line 2 of the second element set; change the inclination's last digit.
    const line = lineOf(6);
    const broken = `${line.slice(0, 15)}${line[15] === '9' ? '8' : '9'}${line.slice(16)}`;
    const error = errorOf(() => parseTleText(replaceLine(6, broken), 'real.tle'));
    expect(error.where).toBe('real.tle:6');
    expect(error.message).toMatch(/checksum mismatch on line 2/);
  });

  it('rejects a truncated line', () => {
    const error = errorOf(() => parseTleText(replaceLine(2, lineOf(2).slice(0, 60)), 'real.tle'));
    expect(error.where).toBe('real.tle:2');
    expect(error.message).toMatch(/69 characters, got 60/);
  });

  it('rejects lines 1 and 2 with different catalogue numbers', () => {
    const line2 = withChecksum(`2 42063${lineOf(3).slice(7, 68)}`);
    const error = errorOf(() => parseTleText(replaceLine(3, line2), 'real.tle'));
    expect(error.where).toBe('real.tle:3');
    expect(error.message).toMatch(/catalogue number mismatch: line 1 says 40697, line 2 says 42063/);
  });

  it('rejects a name line that contradicts the catalogue number', () => {
    const error = errorOf(() => parseTleText(replaceLine(1, 'SENTINEL-2B'), 'real.tle'));
    expect(error.where).toBe('real.tle:1');
    expect(error.message).toMatch(/SENTINEL-2B but the element set is for catalogue number 40697 \(S2A\)/);
  });

  it('rejects a line 2 without line 1 and a dangling name line', () => {
    expect(errorOf(() => parseTleText(`${lineOf(3)}\n`, 'x.tle')).message).toMatch(/line 2 without a preceding line 1/);
    expect(errorOf(() => parseTleText(`${realLines.slice(0, 3).join('\n')}\nSENTINEL-2A\n`, 'x.tle')).where).toBe('x.tle:4');
  });

  it('skips (and reports) element sets of other satellites', () => {
    const iss = ['ISS (ZARYA)', withChecksum('1 25544U 98067A   26145.50000000  .00016717  00000+0  10270-3 0  999'), withChecksum('2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.7212539156353')];
    const parsed = parseTleText(`${iss.join('\n')}\n${realLines.slice(0, 3).join('\n')}\n`, 'mixed.tle');
    expect(parsed.otherSatellites).toEqual([25544]);
    expect(parsed.elementSets.map((r) => r.norad_id)).toEqual([40697]);
  });

  it('accepts plain two-line sets and the "0 NAME" three-line variant', () => {
    const plain = parseTleText(`${lineOf(2)}\n${lineOf(3)}\r\n`, 'plain.tle');
    expect(plain.elementSets).toHaveLength(1);
    const zero = parseTleText(`0 SENTINEL-2A\n${lineOf(2)}\n${lineOf(3)}\n`, 'zero.tle');
    expect(zero.elementSets[0].satellite).toBe('S2A');
  });
});

describe('checksums and formatting (properties)', () => {
  it('any single changed digit in a line is caught by the checksum unless it changes the sum by 10', () => {
    const bodies = realLines.filter((l) => /^[12] /.test(l)).map((l) => l.slice(0, 68));
    fc.assert(
      fc.property(fc.constantFrom(...bodies), fc.nat(67), fc.integer({ min: 1, max: 9 }), (body, position, delta) => {
        const char = body[position];
        if (!/\d/.test(char)) return;
        const changed = body.slice(0, position) + String((Number(char) + delta) % 10) + body.slice(position + 1);
        expect(tleChecksum(changed)).not.toBe(tleChecksum(body));
      }),
    );
  });

  it('formatElementSet writes lines that parse back to the same elements (satellite.js reads them too)', () => {
    const elements = fc.record({
      epochMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2056, 11, 31) }),
      inclinationDeg: fc.double({ min: 0, max: 179.9999, noNaN: true }),
      raanDeg: fc.double({ min: 0, max: 359.99, noNaN: true }),
      eccentricity: fc.double({ min: 0, max: 0.2, noNaN: true }),
      argPerigeeDeg: fc.double({ min: 0, max: 359.99, noNaN: true }),
      meanAnomalyDeg: fc.double({ min: 0, max: 359.99, noNaN: true }),
      meanMotionRevPerDay: fc.double({ min: 11, max: 16.5, noNaN: true }),
      bstar: fc.double({ min: -1e-3, max: 1e-3, noNaN: true }),
      ndotHalf: fc.double({ min: -1e-4, max: 1e-4, noNaN: true }),
      revolutionNumber: fc.nat(99_999),
      elementNumber: fc.nat(9_999),
    });
    fc.assert(
      fc.property(elements, (e) => {
        const full: MeanElements = { ...e, noradId: 42063, designator: '17013A' };
        const [line1, line2] = formatElementSet(full);
        const parsed = parseTleText(`SENTINEL-2B\n${line1}\n${line2}\n`, 'generated');
        expect(parsed.elementSets).toHaveLength(1);
        expect(Math.abs(parseTleEpoch(line1).epochMs - e.epochMs)).toBeLessThan(1); // 8 decimals of a day = 0.864 ms
        const satrec = twoline2satrec(line1, line2);
        const deg = Math.PI / 180;
        const angleDiff = (a: number, b: number) => Math.abs(((a - b + 540) % 360) - 180);
        expect(angleDiff(satrec.inclo / deg, e.inclinationDeg)).toBeLessThan(6e-5);
        expect(angleDiff(satrec.nodeo / deg, e.raanDeg)).toBeLessThan(6e-5);
        expect(angleDiff(satrec.mo / deg, e.meanAnomalyDeg)).toBeLessThan(6e-5);
        expect(Math.abs(satrec.ecco - e.eccentricity)).toBeLessThan(6e-8);
        // satellite.js keeps only the un-Kozai'd mean motion, so read the field itself.
        expect(Math.abs(Number(line2.slice(52, 63)) - e.meanMotionRevPerDay)).toBeLessThan(6e-9);
        expect(Math.abs(satrec.bstar - e.bstar)).toBeLessThanOrEqual(Math.abs(e.bstar) * 1e-4 + 1e-10);
      }),
      { numRuns: 300 },
    );
  });
});

describe('tle-fetch through the engine', () => {
  let dir: string;
  let pipeline: string;
  let server: Server;
  let baseUrl: string;
  const served = new Map<string, string>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tle-fetch-'));
    pipeline = isolatedPipeline(dir, ['tle-fetch', 'predict'], 'tle-test');
    served.set('/sentinel.txt', realText);
    server = createServer((request, response) => {
      const body = served.get(request.url ?? '');
      if (body === undefined) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    baseUrl = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the declared table from the sample file', async () => {
    const result = await execStep({ pipeline, step: 'tle-fetch', outDir: join(dir, 'sample') });
    const rows = await readTable(result.outputs.tles);
    expect(rows.length).toBeGreaterThanOrEqual(60);
    expect(new Set(rows.map((r) => r.satellite))).toEqual(new Set(['S2A', 'S2B', 'S2C']));
    expect(Object.keys(rows[0])).toEqual(['satellite', 'norad_id', 'epoch_utc', 'line1', 'line2']);
    expect(result.warnings).toEqual([]);
    // Rows are ordered by satellite then epoch.
    const keys = rows.map((r) => `${r.satellite} ${r.epoch_utc}`);
    expect(keys).toEqual([...keys].sort());
  });

  it('reads the same element sets from an http URL as from the file', async () => {
    served.set('/sample.tle', readFileSync(join(PROJECT_ROOT, 'datasets/sample/tle/sentinel2.tle'), 'utf8'));
    const fromUrl = await execStep({ pipeline, step: 'tle-fetch', inputs: { tles: `${baseUrl}/sample.tle` }, outDir: join(dir, 'url') });
    expect(readFileSync(fromUrl.outputs.tles)).toEqual(readFileSync(join(dir, 'sample', 'plan', 'tles.parquet')));
  });

  it('reports an HTTP error with the URL', async () => {
    await expect(readTleSource(`${baseUrl}/missing.txt?key=1`)).rejects.toMatchObject({ where: `${baseUrl}/missing.txt`, message: expect.stringMatching(/HTTP 404/) });
  });

  it('warns about other satellites; a bad line fails the step naming file and line', async () => {
    const iss = ['ISS (ZARYA)', withChecksum('1 25544U 98067A   26145.50000000  .00016717  00000+0  10270-3 0  999'), withChecksum('2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.7212539156353')];
    const mixed = join(dir, 'mixed.tle');
    writeFileSync(mixed, `${iss.join('\n')}\n${realText}`);
    const result = await execStep({ pipeline, step: 'tle-fetch', inputs: { tles: `file:${mixed}` }, outDir: join(dir, 'mixed') });
    expect(result.warnings.some((w) => /skipped 1 element set\(s\) for satellites other than Sentinel-2A\/2B\/2C \(NORAD 25544\)/.test(w))).toBe(true);
    expect(result.metrics.other_satellites_skipped).toBe(1);
    // A bad line fails the step with file and line (the ISS set alone, with a broken checksum).
    const bad = join(dir, 'bad.tle');
    writeFileSync(bad, `${iss[0]}\n${iss[1].slice(0, 68)}${(Number(iss[1][68]) + 1) % 10}\n${iss[2]}\n`);
    await expect(execStep({ pipeline, step: 'tle-fetch', inputs: { tles: `file:${bad}` }, outDir: join(dir, 'bad') })).rejects.toMatchObject({
      where: `${bad}:2`,
      message: expect.stringMatching(/checksum mismatch on line 1/),
    });
  });

});
