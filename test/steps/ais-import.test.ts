// Importers and field rules on the real AIS samples in ../shared/data/ais, the aisstream parser on
// real messages, and the CSV reader/time parser as properties.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { execStep } from '../../src/engine/exec.js';
import { readTable } from '../../src/sdk/table-io.js';
import { sharedData, PROJECT_ROOT } from '../helpers/paths.js';
import { parseCsv, csvField } from '../../steps/ais-import/csv.js';
import { parseMessage } from '../../steps/ais-capture/messages.js';
import { parseUtcTime, epochMs, canonicalFromMs } from '../../lib/maritime/time.js';
import { validateFix } from '../../lib/maritime/ais.js';
import { writeXlsx } from '../../lib/maritime/xlsx.js';
import { importFile } from './helpers/ais.js';

const PIPELINE = join(PROJECT_ROOT, 'pipeline.yaml');
const lineCount = (file: string): number => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').length - 1;

describe('NOAA MarineCadastre (17 columns)', () => {
  it('reads NOAA’s verbatim formatting: IMO0000000 and heading 511 are "not available"', async () => {
    const file = sharedData('ais', 'marinecadastre_2022-03-31_first50_verbatim.csv');
    const result = await importFile(file);
    expect(result.format).toBe('marinecadastre');
    expect(result.positions).toHaveLength(lineCount(file));
    expect(result.rejects).toHaveLength(0);
    const first = result.positions.find((p) => p.mmsi === 367702220);
    expect(first).toMatchObject({ ts_utc: '2022-03-31 00:00:01.000000', lat: 29.78763, lon: -95.0807, sog: 0.1, cog: 226.5, heading: 340, name: 'JOE B WARD', call_sign: 'WDI4808', vessel_type: 31, nav_status: 12, imo: null, source: 'marinecadastre' });
    const reliance = result.positions.find((p) => p.mmsi === 671226100);
    expect(reliance).toMatchObject({ heading: null, imo: 'IMO9221322' });
    expect(result.nulled.heading).toBe(readFileSync(file, 'utf8').split('\n').filter((l) => l.split(',')[6] === '511.0').length);
  });

  it('keeps every row of the unsorted Houston day', async () => {
    const file = sharedData('ais', 'marinecadastre_2022-01-03_houston_galveston.csv');
    const result = await importFile(file);
    expect(result.positions.length + result.rejects.length).toBe(lineCount(file));
    expect(result.positions.length).toBe(10_717);
    expect(new Set(result.positions.map((p) => p.mmsi)).size).toBe(879);
  });
});

describe('Danish Maritime Authority aisdk (22 columns)', () => {
  const file = sharedData('ais', 'dma_aisdk_2018-06-01_first_rows.csv');
  it('rejects 91/181 positions and non-vessels with reason and file:line, and loses no valid row', async () => {
    const result = await importFile(file);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(result.positions.length + result.rejects.length).toBe(lineCount(file));
    const invalid = lines.map((l, i) => ({ l, line: i + 1 })).filter(({ l }) => l.split(',')[3] === '91.000000');
    expect(result.rejects.filter((r) => r.reason === 'invalid_lat').map((r) => r.location).sort()).toEqual(invalid.map(({ line }) => `dma_aisdk_2018-06-01_first_rows.csv:${line}`).sort());
    const notVessels = lines.filter((l) => /^[^,]*,(Base Station|AtoN),/.test(l)).length;
    expect(result.rejects.filter((r) => r.reason === 'not_a_vessel')).toHaveLength(notVessels);
    expect(result.rejects.filter((r) => r.reason === 'invalid_lat').every((r) => r.field === 'lat' && r.value === '91.000000')).toBe(true);
  });

  it('parses the day-first timestamp and maps status and ship type texts to codes', async () => {
    const result = await importFile(file);
    const p = result.positions.find((x) => x.mmsi === 215810000);
    expect(p).toMatchObject({ ts_utc: '2018-06-01 00:00:00.000000', lat: 55.921028, lon: 17.320418, sog: 12.5, cog: 255.5, heading: 256, nav_status: 4, imo: null, source: 'dma' });
    const sailing = result.positions.find((x) => x.nav_status === 8);
    expect(sailing).toBeDefined();
  });
});

describe('user table (seed 001 §7: mmsi, lat, lon[, overpass_time])', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ais-user-'));

  it('accepts the upload schema, a missing time, and rejects a bad row naming its line', async () => {
    const file = join(dir, 'upload.csv');
    writeFileSync(file, [
      'mmsi,lat,lon,overpass_time,notes',
      '244660123,36.1251,-5.4302,2025-10-27T10:27:00Z,"quoted, with comma"',
      '244660124,36.2104,-5.3566,,',
      '244660125,36.3,-5.3,not a time,',
      'abc,36.3,-5.3,2025-10-27T10:28:00Z,',
      '244660126,36.3,-5.3',
      '',
    ].join('\n'));
    const result = await importFile(file);
    expect(result.format).toBe('user');
    expect(result.positions.map((p) => [p.mmsi, p.ts_utc])).toEqual([[244660123, '2025-10-27 10:27:00.000000'], [244660124, null]]);
    expect(result.rejects.map((r) => [r.location, r.reason, r.field])).toEqual([
      ['upload.csv:4', 'unparseable_time', 'ts_utc'],
      ['upload.csv:5', 'invalid_mmsi', 'mmsi'],
      ['upload.csv:6', 'malformed_row', 'row'],
    ]);
  });

  it('reads the Solent receiver log and the GFW export through their column names', async () => {
    const solent = await importFile(sharedData('ais', 'solent_ais_20160112_stonesoup.csv'));
    expect(solent.positions.length + solent.rejects.length).toBe(18_623);
    // The log repeats some fixes verbatim: those are the only rejects.
    expect(new Set(solent.rejects.map((r) => r.reason))).toEqual(new Set(['duplicate']));
    const danube = await importFile(sharedData('ais', 'gfw_pipe-gaps_ssvid243042594_10days_2024-01.csv'));
    expect(danube.positions).toHaveLength(4680);
    expect(danube.positions[0]).toMatchObject({ mmsi: 243042594, ts_utc: '2024-01-01 00:00:00.000000', lat: 48.332145, lon: 16.3302 });
  });

  it('names the file and the missing column when the header is not usable', async () => {
    await expect(importFile(sharedData('ais', 'evergiven_suez_2021-03_vesselsvalue.csv'))).rejects.toThrow(/needs a column mmsi/);
  });

  it('reads back an Excel snapshot the capture wrote (chip from AIS file)', async () => {
    const file = join(dir, 'snapshot.xlsx');
    await writeXlsx(file, 'ais', ['mmsi', 'lat', 'lon', 'overpass_time'], [
      { mmsi: 232004512, lat: 50.7612, lon: -1.2105, overpass_time: '2026-05-25 11:15:45.184000' },
      { mmsi: 235101234, lat: 50.701, lon: -1.048, overpass_time: '2026-05-25 11:15:45.184000' },
    ]);
    const result = await importFile(file);
    expect(result.positions.map((p) => [p.mmsi, p.lat, p.lon, p.ts_utc])).toEqual([
      [232004512, 50.7612, -1.2105, '2026-05-25 11:15:45.184000'],
      [235101234, 50.701, -1.048, '2026-05-25 11:15:45.184000'],
    ]);
    // Same rows, same bytes.
    const again = join(dir, 'snapshot2.xlsx');
    await writeXlsx(again, 'ais', ['mmsi', 'lat', 'lon', 'overpass_time'], [
      { mmsi: 232004512, lat: 50.7612, lon: -1.2105, overpass_time: '2026-05-25 11:15:45.184000' },
      { mmsi: 235101234, lat: 50.701, lon: -1.048, overpass_time: '2026-05-25 11:15:45.184000' },
    ]);
    expect(readFileSync(again).equals(readFileSync(file))).toBe(true);
  });

  it('runs as the ais-import step through the engine on the sample upload', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ais-import-'));
    const result = await execStep({ pipeline: PIPELINE, step: 'ais-import', outDir: out });
    expect(result.metrics).toMatchObject({ format: 'user', rows: 6, positions: 5, rejects: 1, rejects_invalid_lat: 1 });
    const rejects = await readTable(join(out, 'ais', 'import', 'rejects.parquet'));
    expect(rejects[0]).toMatchObject({ location: 'user_upload.csv:7', reason: 'invalid_lat', field: 'lat', value: '91' });
  });
});

describe('UTC offsets (issue 10 item 5)', () => {
  it('an offset within ±14:00 shifts the time to UTC; any other offset is not a time', () => {
    const pad = (n: number) => String(n).padStart(2, '0');
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        fc.boolean(),
        (utcMs, offsetMin, colon) => {
          const sign = offsetMin < 0 ? '-' : '+';
          const abs = Math.abs(offsetMin);
          const local = new Date(Math.floor(utcMs / 1000) * 1000 + offsetMin * 60_000).toISOString().slice(0, 19);
          const text = `${local}${sign}${pad(Math.floor(abs / 60))}${colon ? ':' : ''}${pad(abs % 60)}`;
          expect(parseUtcTime(text)).toBe(canonicalFromMs(Math.floor(utcMs / 1000) * 1000));
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ h: fc.integer({ min: 15, max: 99 }), m: fc.integer({ min: 0, max: 99 }) }),
          fc.record({ h: fc.integer({ min: 0, max: 14 }), m: fc.integer({ min: 60, max: 99 }) }),
          fc.record({ h: fc.constant(14), m: fc.integer({ min: 1, max: 59 }) }),
        ),
        fc.constantFrom('+', '-'),
        fc.constantFrom(':', ''),
        ({ h, m }, sign, colon) => {
          expect(parseUtcTime(`2026-05-25T11:00:00${sign}${pad(h)}${colon}${pad(m)}`)).toBeUndefined();
        },
      ),
    );
  });

  it('ais-import rejects an impossible offset naming the row and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ais-offset-'));
    const file = join(dir, 'offsets.csv');
    writeFileSync(file, ['mmsi,lat,lon,overpass_time', '244660123,36.1,-5.4,2026-05-25T11:00:00+01:00', '244660124,36.2,-5.3,2026-05-25T11:00:00+25:00', ''].join('\n'));
    const result = await importFile(file);
    expect(result.positions.map((p) => [p.mmsi, p.ts_utc])).toEqual([[244660123, '2026-05-25 10:00:00.000000']]);
    expect(result.rejects.map((r) => [r.location, r.reason, r.field, r.value])).toEqual([['offsets.csv:3', 'unparseable_time', 'ts_utc', '2026-05-25T11:00:00+25:00']]);
  });
});

describe('aisstream messages', () => {
  const [positionLine, staticLine] = readFileSync(sharedData('aisstream', 'aisstream_real_messages.ndjson'), 'utf8').trim().split('\n');

  it('parses a real PositionReport (nanosecond time_utc, MMSI_String as a number)', () => {
    const parsed = parseMessage(positionLine);
    expect(parsed.kind).toBe('position');
    if (parsed.kind !== 'position') return;
    expect(parsed.position).toEqual({
      mmsi: 477995827, ts_utc: '2026-04-24 12:29:45.191749', lat: 22.36597, lon: 114.106865, sog: 0, cog: 31.5, heading: 284,
      nav_status: 15, imo: null, call_sign: null, name: 'GUO SI', vessel_type: null, source: 'aisstream',
    });
  });

  it('parses a real ShipStaticData (IMO, call sign, type, dimensions)', () => {
    const parsed = parseMessage(staticLine);
    expect(parsed).toMatchObject({ kind: 'static', data: { mmsi: 259228000, imo: 'IMO9221308', call_sign: 'LLSK', name: 'MIKAL WITH', vessel_type: 70, length_m: 67, width_m: 13 } });
  });

  it('takes MMSI_String when MMSI is absent, as a string or a number', () => {
    const envelope = JSON.parse(positionLine);
    delete envelope.MetaData.MMSI;
    envelope.MetaData.MMSI_String = '477995827';
    const parsed = parseMessage(JSON.stringify(envelope));
    expect(parsed.kind === 'position' && parsed.position.mmsi).toBe(477995827);
  });

  it('keeps a report with SOG 102.3 / heading 511 / COG 360 with those fields null, and rejects lat 91', () => {
    const kept = validateFix({ mmsi: 232000001, ts_utc: '2026-05-25 11:00:00.000000', lat: 50.7, lon: -1.2, sog: 102.3, cog: 360, heading: 511 }, 't');
    expect(kept).toMatchObject({ ok: true, nulled: ['sog', 'cog', 'heading'], position: { sog: null, cog: null, heading: null } });
    expect(validateFix({ mmsi: 232000001, ts_utc: '2026-05-25 11:00:00.000000', lat: 91, lon: 181 }, 't')).toMatchObject({ ok: false, reason: 'invalid_lat' });
    expect(validateFix({ mmsi: 232000001, ts_utc: '2026-05-25 11:00:00.000000', lat: 50, lon: 181 }, 't')).toMatchObject({ ok: false, reason: 'invalid_lon' });
    expect(parseMessage('{"MessageType": "PositionReport", "Message"')).toMatchObject({ kind: 'reject', reason: 'malformed_message' });
  });
});

describe('parsers (properties)', () => {
  it('CSV: any table written with quoting reads back field for field, with line numbers', () => {
    const field = fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', '\n', ' ', '1', 'é') });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain((width) => fc.array(fc.array(field, { minLength: width, maxLength: width }), { minLength: 1, maxLength: 20 })), (rows) => {
        const text = rows.map((r) => r.map(csvField).join(',')).join('\r\n');
        const parsed = parseCsv(text);
        expect(parsed.map((r) => r.fields)).toEqual(rows);
        let line = 1;
        rows.forEach((r, i) => {
          expect(parsed[i].line).toBe(line);
          line += r.join(',').split('\n').length;
        });
      }),
    );
  });

  it('time: canonical text round-trips through epoch milliseconds, and aisstream/DMA/ISO forms agree', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) }), (ms) => {
        const canonical = canonicalFromMs(ms);
        expect(epochMs(canonical)).toBe(ms);
        expect(parseUtcTime(canonical)).toBe(canonical);
        const iso = new Date(ms).toISOString();
        expect(parseUtcTime(iso)).toBe(canonical);
        const d = new Date(ms);
        const pad = (n: number) => String(n).padStart(2, '0');
        const dayFirst = `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ${iso.slice(11, 23)}`;
        expect(parseUtcTime(dayFirst)).toBe(canonical);
        expect(parseUtcTime(`${iso.slice(0, 10)} ${iso.slice(11, 23)}123456 +0000 UTC`)).toBe(`${canonical.slice(0, 23)}123`);
      }),
    );
    expect(parseUtcTime('2026-05-25T12:00:00+02:00')).toBe('2026-05-25 10:00:00.000000');
    expect(parseUtcTime('31/04/2026 10:00:00')).toBeUndefined();
    expect(parseUtcTime('2026-13-01 10:00:00')).toBeUndefined();
  });
});
