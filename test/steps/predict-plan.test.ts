// predict with ESA acquisition plans: the KML parser (layout, NOBS only, located errors, fast-check
// round trip and truncation), datatakes over tiles, the plan checked against the TLE prediction with a
// known offset, and the step through the engine on the sample plans.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { execStep } from '../../src/engine/exec.js';
import { readTable } from '../../src/sdk/table-io.js';
import { StepError, isUserError } from '../../src/sdk/errors.js';
import { parseTleText } from '../../lib/maritime/tle.js';
import { parseXml, XmlSyntaxError } from '../../lib/geo/xml.js';
import { buildSeries, predictOverpasses, resolveTarget } from '../../steps/predict/overpass.js';
import { alongAcross, inSphericalRing, parsePlanKml, parsePlanTime, planFileInfo, planOverpasses, sphericalRing, stripAxis } from '../../steps/predict/esa-plan.js';
import { planCheckRows, SAME_PASS_MS } from '../../steps/predict/schedule.js';
import { datatakeAlongTrack, planFileName, planKml, STRIP_SECONDS, type PlannedDatatake } from '../../scripts/sample/15-plans.js';

const PIPELINE = join(PROJECT_ROOT, 'pipeline.yaml');
const SAMPLE_TLE = join(PROJECT_ROOT, 'datasets', 'sample', 'tle', 'sentinel2.tle');
const SAMPLE_PLANS = join(PROJECT_ROOT, 'datasets', 'sample', 'plans');
const tles = parseTleText(readFileSync(SAMPLE_TLE, 'utf8'), 'sample.tle').elementSets;
const series = buildSeries(tles);
const work = mkdtempSync(join(tmpdir(), 'predict-plan-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const DAY = 86_400_000;
const MAY25 = Date.parse('2026-05-25T00:00:00Z');
const target = resolveTarget({ tile: '30UXB' });
/** The sample TLEs' passes over 30UXB on 25–27 May. */
const tlePasses = predictOverpasses(series, [target], { startMs: MAY25, days: 3, maxTleAgeDays: 60 }).overpasses;
/** A NOBS datatake over a pass, its times shifted by `shiftMs` (the plan says the satellite is that much later). */
const datatakeFor = (pass: (typeof tlePasses)[number], shiftMs = 0, id = `${pass.satellite}-1-1`): PlannedDatatake => {
  const own = series.get(pass.satellite)!;
  const d = datatakeAlongTrack(own, id, pass.centerTimeMs - STRIP_SECONDS.before * 1000, pass.centerTimeMs + STRIP_SECONDS.after * 1000, { orbitRelative: pass.relativeOrbit });
  return { ...d, startMs: d.startMs + shiftMs, stopMs: d.stopMs + shiftMs };
};

describe('XML reader', () => {
  it('reads elements, attributes, entities, CDATA and comments with their lines', () => {
    const root = parseXml('\ufeff<?xml version="1.0"?>\n<!-- c -->\n<a x="1 &amp; 2">\n  <b>&lt;t&gt; &#65;&#x42;<![CDATA[<raw>]]></b>\n  <c/>\n</a>\n');
    expect(root.name).toBe('a');
    expect(root.attributes).toEqual({ x: '1 & 2' });
    expect(root.children.map((c) => [c.name, c.line, c.column])).toEqual([['b', 4, 3], ['c', 5, 3]]);
    expect(root.children[0].text).toBe('<t> AB<raw>');
  });

  it.each([
    ['<a><b></a>', 1, 7, /end tag <\/a> does not close <b> \(opened at line 1, column 4\)/],
    ['<a>\n<b>\n', 3, 1, /<b> \(line 2, column 1\) is not closed at the end of the file/],
    ['<a>\n x &nbsp; </a>', 2, 4, /unknown entity &nbsp;/],
    ['<a>\n  <b c=1/></a>', 2, 8, /the value must be quoted/],
    ['<a/>\n<b/>', 2, 1, /a second root element <b>/],
    ['text<a/>', 1, 1, /text before the root element/],
    ['<a>1 < 2</a>', 1, 6, /"<" must start a tag/],
    ['', 1, 1, /no root element/],
  ])('%j is an error at line %i, column %i', (text, line, column, message) => {
    try {
      parseXml(text);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(XmlSyntaxError);
      expect([(error as XmlSyntaxError).line, (error as XmlSyntaxError).column]).toEqual([line, column]);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe('plan KML parser', () => {
  it('reads the sample plans: NOBS datatakes with unit, id, times, orbits and corners; VIC skipped', () => {
    const files = readdirSync(SAMPLE_PLANS).filter((f) => f.endsWith('.kml')).sort();
    expect(files).toEqual(['S2A', 'S2B', 'S2C'].map((u) => planFileName(u)));
    const s2b = parsePlanKml(readFileSync(join(SAMPLE_PLANS, files[1]), 'utf8'), files[1]);
    expect(s2b.skipped).toEqual({ VIC: 1 });
    expect(s2b.validity).toEqual({ fromMs: Date.parse('2026-05-24T12:00:00Z'), toMs: Date.parse('2026-05-28T15:00:00Z') });
    expect(s2b.datatakes.length).toBeGreaterThanOrEqual(1);
    const first = s2b.datatakes[0];
    expect(first).toMatchObject({ satellite: 'S2B', noradId: 42063, mode: 'NOBS', orbitRelative: 137, id: `S2B-${first.orbitAbsolute}-1` });
    expect(new Date(first.startMs).toISOString()).toBe('2026-05-25T11:13:05.184Z'); // a plan time without a zone is UTC
    expect(first.stopMs - first.startMs).toBe((STRIP_SECONDS.before + STRIP_SECONDS.after) * 1000);
    expect(first.rings).toHaveLength(1);
    expect(first.rings[0]).toHaveLength(5);
    expect(first.where).toMatch(new RegExp(`^${files[1]}:\\d+$`));
  });

  it('takes the unit from the folder, else the file name; S1 fields (SatelliteId, bare LinearRing) read too', () => {
    const placemark = (extra = '') => `<Placemark><ExtendedData>${extra}<Data name="Mode"><value>NOBS</value></Data><Data name="ObservationTimeStart"><value>2026-05-25T11:00:00Z</value></Data><Data name="ObservationTimeStop"><value>2026-05-25T11:01:00Z</value></Data></ExtendedData><LinearRing><coordinates>0,50 1,50 1,49 0,49 0,50</coordinates></LinearRing></Placemark>`;
    const kml = (body: string) => `<kml xmlns="http://www.opengis.net/kml/2.2"><Document>${body}</Document></kml>`;
    expect(parsePlanKml(kml(placemark()), 'x/S2C_MP_ACQ__KML_20260524T120000_20260528T150000.kml').datatakes[0].satellite).toBe('S2C');
    expect(parsePlanKml(kml(placemark('<Data name="Satellite ID"><value>S2A</value></Data>')), 'plan.kml').datatakes[0].satellite).toBe('S2A');
    expect(() => parsePlanKml(kml(placemark()), 'plan.kml')).toThrow(/cannot tell the satellite/);
    expect(() => parsePlanKml(kml(placemark('<Data name="SatelliteId"><value>S1A</value></Data>')), 'plan.kml')).toThrow(/satellite "S1A" is not Sentinel-2A, 2B or 2C/);
  });

  it('file names give the unit and the validity window', () => {
    expect(planFileInfo('S2A_MP_ACQ__KML_20260625T150000_20260713T180000.kml')).toEqual({ satellite: 'S2A', validity: { fromMs: Date.parse('2026-06-25T15:00:00Z'), toMs: Date.parse('2026-07-13T18:00:00Z') } });
    expect(planFileInfo('Sentinel-2B_MP_ACQ_KML_20180323T110000_20180409T140000.kml').satellite).toBe('S2B');
    expect(planFileInfo('plan.kml')).toEqual({ satellite: null, validity: null });
    expect(parsePlanTime('2026-05-25T11:13:05.184')).toBe(Date.parse('2026-05-25T11:13:05.184Z'));
    expect(parsePlanTime('2026-05-25T11:13:05Z')).toBe(Date.parse('2026-05-25T11:13:05Z'));
    for (const bad of ['2026-02-30T00:00:00', '2026-05-25T24:00:00', '25/05/2026 11:00', '2026-05-25T11:13:05+02:00']) expect(parsePlanTime(bad)).toBeNaN();
  });

  const base = () => planKml('S2B', [datatakeFor(tlePasses.find((p) => p.satellite === 'S2B')!)]);
  const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split('\n').length;
  it.each([
    ['a bad time', (t: string) => t.replace(/<Data name="ObservationTimeStart"><value>[^<]*/, '<Data name="ObservationTimeStart"><value>yesterday'), 'ObservationTimeStart', /time "yesterday" is not ISO 8601/],
    ['a bad coordinate', (t: string) => t.replace(/<coordinates>[^,]*/, '<coordinates>east'), '<coordinates>', /coordinate "east,[^"]*" is not lon,lat\[,alt\]/],
    ['a latitude out of range', (t: string) => t.replace(/<coordinates>([^,]*),[^,]*/, '<coordinates>$1,95'), '<coordinates>', /outside lon −180…180, lat −90…90/],
    ['a stop before the start', (t: string) => t.replace(/<Data name="ObservationTimeStop"><value>[^<]*/, '<Data name="ObservationTimeStop"><value>2026-05-01T00:00:00'), '<Placemark>', /stops \(2026-05-01T00:00:00.000Z\) before it starts/],
    ['no footprint', (t: string) => t.replace(/<Polygon>.*<\/Polygon>/, ''), '<Placemark>', /has no footprint/],
    ['a relative orbit of 144', (t: string) => t.replace(/<Data name="OrbitRelative"><value>\d+/, '<Data name="OrbitRelative"><value>144'), 'OrbitRelative', /OrbitRelative "144" is not an integer in 1…143/],
    ['an unclosed tag', (t: string) => t.replace('</TimeSpan>', ''), '</Placemark>', /not well-formed XML: end tag <\/Placemark> does not close <TimeSpan>/],
  ])('%s is an error at its file and line', (_name, corrupt, anchor, message) => {
    const text = corrupt(base());
    try {
      parsePlanKml(text, 'plans/S2B.kml');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(StepError);
      expect((error as StepError).message).toMatch(message);
      expect((error as StepError).where).toMatch(new RegExp(`^plans/S2B\\.kml:${lineOf(text, anchor)}(:\\d+)?$`));
    }
  });

  it('not KML at all: the root element is named', () => {
    expect(() => parsePlanKml('<html><body/></html>', 'p.kml')).toThrow(/not a KML document \(root element <html>, expected <kml>\)/);
  });

  const datatakeArb = fc.record({
    id: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() === s && !/[\u0000-\u001f\ufffe\uffff\ud800-\udfff]/.test(s)),
    mode: fc.constantFrom('NOBS', 'VIC', 'DARK-O'),
    startMs: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }),
    durationMs: fc.integer({ min: 1, max: 3_600_000 }),
    orbitRelative: fc.integer({ min: 1, max: 143 }),
    lon: fc.double({ min: -170, max: 170, noNaN: true }),
    lat: fc.double({ min: -80, max: 80, noNaN: true }),
  });

  it('round trip (fast-check): what planKml writes, parsePlanKml reads back; other modes are counted', () => {
    fc.assert(
      fc.property(fc.array(datatakeArb, { minLength: 1, maxLength: 6 }), (specs) => {
        const datatakes: PlannedDatatake[] = specs.map((s) => ({
          id: s.id, mode: s.mode, startMs: s.startMs, stopMs: s.startMs + s.durationMs, orbitRelative: s.orbitRelative,
          corners: [[s.lon, s.lat + 1], [s.lon + 1, s.lat + 1], [s.lon + 1, s.lat], [s.lon, s.lat]],
        }));
        const parsed = parsePlanKml(planKml('S2C', datatakes), planFileName('S2C'));
        const nobs = datatakes.filter((d) => d.mode === 'NOBS');
        expect(parsed.datatakes.map((d) => [d.satellite, d.id, d.startMs, d.stopMs, d.orbitRelative])).toEqual(nobs.map((d) => ['S2C', d.id, d.startMs, d.stopMs, d.orbitRelative]));
        parsed.datatakes.forEach((d, i) => d.rings[0].slice(0, 4).forEach(([lon, lat], k) => {
          expect(Math.abs(lon - nobs[i].corners[k][0])).toBeLessThan(1e-6);
          expect(Math.abs(lat - nobs[i].corners[k][1])).toBeLessThan(1e-6);
        }));
        const others = datatakes.length - nobs.length;
        expect(Object.values(parsed.skipped).reduce((a, b) => a + b, 0)).toBe(others);
      }),
      { numRuns: 60 },
    );
  });

  it('a plan cut anywhere (fast-check) parses to a prefix of its datatakes or fails with a located StepError', () => {
    const text = planKml('S2A', tlePasses.filter((p) => p.satellite !== 'S2C').map((p, i) => ({ ...datatakeFor(p), id: `D${i}` })));
    const lines = text.split('\n').length;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: text.length - 1 }), (cut) => {
        let parsed;
        try {
          parsed = parsePlanKml(text.slice(0, cut), 'cut.kml');
        } catch (error) {
          expect(isUserError(error)).toBe(true);
          const match = /^cut\.kml:(\d+)(?::\d+)?$/.exec((error as StepError).where ?? '');
          expect(match, (error as Error).message).not.toBeNull();
          expect(Number(match![1])).toBeLessThanOrEqual(lines);
        }
        // only a cut after </kml> (the final newline) leaves a whole document
        if (parsed) expect(text.slice(0, cut)).toContain('</kml>');
      }),
      { numRuns: 150 },
    );
  });
});

describe('datatakes over tiles', () => {
  it('spherical ring test: a long thin strip contains its own axis, not points beyond its long edges', () => {
    const strip: [number, number][] = [[6.8, 59.7], [1.9, 60.5], [-7.2, 38.4], [-4.0, 37.8], [6.8, 59.7]];
    const ring = sphericalRing(strip);
    const axis = stripAxis(strip);
    expect(inSphericalRing(ring, -1.1, 50.8)).toBe(true); // the Solent, mid-strip
    expect(inSphericalRing(ring, 10, 50.8)).toBe(false);
    expect(inSphericalRing(ring, -12, 50.8)).toBe(false);
    expect(inSphericalRing(ring, -1.1, 62)).toBe(false); // north of the start edge
    expect(inSphericalRing(ring, 150, -40)).toBe(false); // the far side of the Earth
    expect(alongAcross(axis, 4.35, 60.1).fraction).toBeCloseTo(0, 2); // about the start edge's midpoint
    expect(alongAcross(axis, -5.6, 38.1).fraction).toBeCloseTo(1, 2);
  });

  it('a plan built from the TLE passes agrees with them to < 0.5 s; shifted by 7.5 s, the check reports +7.5 s', () => {
    const passes = tlePasses.filter((p) => p.coverageFraction > 0.9);
    expect(passes.length).toBeGreaterThanOrEqual(2);
    for (const shift of [0, 7_500]) {
      const datatakes = passes.map((p, i) => ({ ...datatakeFor(p, shift, `D${i}`), satellite: p.satellite }));
      const parsed = ['S2A', 'S2B', 'S2C'].flatMap((unit) => {
        const own = datatakes.filter((d) => d.satellite === unit);
        return own.length ? parsePlanKml(planKml(unit, own), planFileName(unit)).datatakes : [];
      });
      const planned = planOverpasses(parsed, [target], { startMs: MAY25, days: 3 });
      expect(planned.map((p) => p.satellite)).toEqual(passes.map((p) => p.satellite));
      const rows = planCheckRows(tlePasses, planned, new Map());
      expect(rows.map((r) => r.status)).toEqual(passes.map(() => 'both'));
      for (const row of rows) expect(Math.abs((row.center_diff_s as number) - shift / 1000), JSON.stringify(row)).toBeLessThan(0.5);
      for (const p of planned) expect(p.coverageFraction).toBeGreaterThan(0.9);
    }
  });

  it('a pass the plan leaves out is tle_only (inside the plan window), a datatake with no pass is plan_only', () => {
    const [kept, dropped] = tlePasses.filter((p) => p.satellite === 'S2B' || p.satellite === 'S2A');
    const late = datatakeFor(kept, 2 * 3_600_000, 'LATE'); // two hours after the pass: the Solent is not under it then, but the strip is
    const planned = planOverpasses(parsePlanKml(planKml(kept.satellite, [datatakeFor(kept, 0, 'KEPT'), late]), planFileName(kept.satellite)).datatakes, [target], { startMs: MAY25, days: 3 });
    const windows = new Map([[kept.satellite, [{ fromMs: MAY25, toMs: MAY25 + 3 * DAY }]], [dropped.satellite, [{ fromMs: MAY25, toMs: MAY25 + 3 * DAY }]]]);
    const rows = planCheckRows(tlePasses.filter((p) => p === kept || p === dropped), planned, windows);
    expect(rows.map((r) => [r.satellite, r.status, r.datatake_id])).toEqual([
      [kept.satellite, 'both', 'KEPT'],
      [kept.satellite, 'plan_only', 'LATE'],
      [dropped.satellite, 'tle_only', null],
    ]);
    // outside every plan window, a pass is not reported missing from the plan
    expect(planCheckRows([dropped], [], new Map()).length).toBe(0);
    expect(SAME_PASS_MS).toBe(30 * 60_000);
  });
});

describe('predict with plans through the engine', () => {
  const run = (date: string, params: Record<string, unknown>, plans: string | undefined, out: string) =>
    execStep({ pipeline: PIPELINE, step: 'predict', via: ['tle-fetch'], inputs: { tles: `file:${SAMPLE_TLE}`, ...(plans ? { plans: `file:${plans}` } : {}) }, partition: { date }, params, outDir: join(work, out) });

  it('overpass_source both: TLE and plan rows with a source column; plan_vs_tle per tile', async () => {
    const result = await run('2026-05-25', { overpass_source: 'both' }, SAMPLE_PLANS, 'both');
    const schedule = await readTable(result.outputs.schedule);
    expect(schedule.map((r) => [r.tile_id, r.satellite, r.source])).toEqual([['30UXB', 'S2B', 'esa_plan'], ['30UXB', 'S2B', 'tle']]);
    expect(schedule.find((r) => r.source === 'esa_plan')).toMatchObject({ tle_epoch_utc: null, relative_orbit: 137, coverage_fraction: 1, target_kind: 'tile', epsg: 32630 });
    const check = await readTable(result.outputs.plan_check);
    expect(check).toHaveLength(1);
    expect(check[0]).toMatchObject({ tile_id: '30UXB', satellite: 'S2B', status: 'both', plan_relative_orbit: 137, tle_relative_orbit: 137 });
    expect(Math.abs(check[0].center_diff_s as number)).toBeLessThan(0.5);
    expect(result.metrics).toMatchObject({ plan_overpasses: 1 });
    expect(readFileSync(result.outputs.schedule_csv, 'utf8').split('\n')[0]).toMatch(/,source$/);
  }, 120_000);

  it('tle (the default) keeps the schedule TLE-only; esa_plan without plans is refused', async () => {
    const tleOnly = await run('2026-05-25', {}, SAMPLE_PLANS, 'tle');
    expect((await readTable(tleOnly.outputs.schedule)).map((r) => r.source)).toEqual(['tle']);
    expect(await readTable(tleOnly.outputs.plan_check)).toHaveLength(1); // still checked
    const none = await run('2026-05-25', {}, undefined, 'none');
    expect(await readTable(none.outputs.plan_check)).toEqual([]);
    await expect(run('2026-05-25', { overpass_source: 'esa_plan' }, undefined, 'refused')).rejects.toThrow(/overpass_source esa_plan needs ESA acquisition plan files/);
  }, 120_000);

  it('a bad plan file fails the step naming the file (relative) and line', async () => {
    const dir = join(work, 'bad-plans');
    mkdirSync(dir, { recursive: true });
    const text = readFileSync(join(SAMPLE_PLANS, planFileName('S2B')), 'utf8').replace(/<Data name="ObservationTimeStop"><value>[^<]*/, '<Data name="ObservationTimeStop"><value>soon');
    writeFileSync(join(dir, planFileName('S2B')), text);
    const line = text.slice(0, text.indexOf('soon')).split('\n').length;
    const error = await run('2026-05-25', { overpass_source: 'esa_plan' }, dir, 'bad').catch((e: unknown) => e);
    expect(isUserError(error)).toBe(true);
    // Its only plan file failed: every item failed, and the reason names the file (relative) and line.
    expect((error as StepError).message).toMatch(new RegExp(`^all 1 item\\(s\\) failed; first: plan (\\S+/)?${planFileName('S2B').replace(/\./g, '\\.')}:${line}: time "soon" is not ISO 8601`));
    expect((error as StepError).message).not.toMatch(/(^|\s)\//); // no absolute path
  }, 120_000);

  it('one bad plan file among good ones: the others are used, with a warning naming it', async () => {
    const dir = join(work, 'one-bad-plan');
    mkdirSync(dir, { recursive: true });
    for (const satellite of ['S2A', 'S2B'] as const) writeFileSync(join(dir, planFileName(satellite)), readFileSync(join(SAMPLE_PLANS, planFileName(satellite)), 'utf8'));
    writeFileSync(join(dir, planFileName('S2C')), '<html><body/></html>');
    const result = await run('2026-05-25', { overpass_source: 'esa_plan' }, dir, 'one-bad');
    expect(result.metrics).toMatchObject({ items_done: 2, items_failed: 1, plan_overpasses: 1 });
    expect(result.warnings).toEqual([expect.stringMatching(new RegExp(`^plan (\\S+/)?${planFileName('S2C').replace(/\./g, '\\.')}(:\\d+)* failed: not a KML document`))]);
    expect((await readTable(result.outputs.schedule)).map((r) => [r.satellite, r.source])).toEqual([['S2B', 'esa_plan']]);
  }, 120_000);
});
