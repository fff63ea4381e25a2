// thin.sql on real AIS (Solent receiver log, GFW Danube 10 days, Houston MarineCadastre): every seed 002
// rule as an invariant, checked against an independent TypeScript reading of the rules.
import { describe, expect, it, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { withDb, type Db } from '../../src/sdk/table-io.js';
import { haversineKm } from '../../lib/geo/sphere.js';
import { seededRandom } from '../../src/sdk/random.js';
import { AIS_COLUMNS, type AisPosition } from '../../lib/maritime/ais.js';
import { sharedData } from '../helpers/paths.js';
import { importFile, runThin, THIN_DEFAULTS } from './helpers/ais.js';
import { classify, compareFixes, requiredKeeps } from './helpers/thin-reference.js';

const FILES = {
  solent: sharedData('ais', 'solent_ais_20160112_stonesoup.csv'),
  danube: sharedData('ais', 'gfw_pipe-gaps_ssvid243042594_10days_2024-01.csv'),
  houston: sharedData('ais', 'marinecadastre_2022-01-03_houston_galveston.csv'),
};

interface ThinRow extends AisPosition {
  movement_state: string;
  voyage_id: number;
  segment_distance_km: number | null;
}

const TS_TEXT = `strftime(ts_utc, '%Y-%m-%d %H:%M:%S.%f')`;

async function thinRows(positions: readonly AisPosition[], params = THIN_DEFAULTS): Promise<ThinRow[]> {
  return withDb(async (db) => {
    await db.createTable('positions', AIS_COLUMNS, positions as never);
    await runThin(db, params);
    const columns = Object.keys(AIS_COLUMNS).map((c) => (c === 'ts_utc' ? `${TS_TEXT} AS ts_utc` : c));
    return (await db.all(`SELECT ${columns.join(', ')}, movement_state, voyage_id, segment_distance_km FROM thinned`)) as unknown as ThinRow[];
  });
}

/** The thinned table exactly as the engine would write it (ORDER BY ALL, fixed row groups), hashed. */
async function thinnedDigest(db: Db, dir: string): Promise<string> {
  await runThin(db);
  const file = join(dir, `thinned-${Math.random().toString(36).slice(2)}.parquet`);
  await db.copyToFile('thinned', file, 'parquet');
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

const key = (p: AisPosition): string => JSON.stringify([p.mmsi, p.ts_utc, p.lat, p.lon, p.sog, p.cog, p.heading, p.nav_status, p.imo, p.call_sign, p.name, p.vessel_type, p.source]);

describe.each(Object.entries(FILES))('thin on real AIS: %s', (label, file) => {
  let input: AisPosition[];
  let output: ThinRow[];
  beforeAll(async () => {
    input = (await importFile(file)).positions;
    output = await thinRows(input);
  });

  it('keeps a subset of the input rows, unchanged', () => {
    const available = new Map<string, number>();
    for (const p of input) available.set(key(p), (available.get(key(p)) ?? 0) + 1);
    for (const row of output) {
      const k = key(row);
      expect(available.get(k) ?? 0, `output row not in input: ${k}`).toBeGreaterThan(0);
      available.set(k, (available.get(k) as number) - 1);
    }
  });

  it('keeps exactly the fixes the seed 002 rules require (bucket, day and voyage first/last)', () => {
    const classified = classify(input, THIN_DEFAULTS);
    const required = requiredKeeps(classified);
    const expected = new Map<string, number>();
    for (const [mmsi, keeps] of required) {
      const list = classified.get(mmsi) ?? [];
      for (const index of keeps.keys()) expected.set(key(list[index].p), (expected.get(key(list[index].p)) ?? 0) + 1);
    }
    const actual = new Map<string, number>();
    for (const row of output) actual.set(key(row), (actual.get(key(row)) ?? 0) + 1);
    // Equal fixes are interchangeable, so compare distinct rows.
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  });

  it('always keeps each vessel’s first and last fix of every UTC day', () => {
    const bounds = new Map<string, [string, string]>();
    for (const p of input) {
      const k = `${p.mmsi}|${(p.ts_utc as string).slice(0, 10)}`;
      const b = bounds.get(k);
      if (!b) bounds.set(k, [p.ts_utc as string, p.ts_utc as string]);
      else bounds.set(k, [p.ts_utc! < b[0] ? (p.ts_utc as string) : b[0], p.ts_utc! > b[1] ? (p.ts_utc as string) : b[1]]);
    }
    const kept = new Set(output.map((r) => `${r.mmsi}|${r.ts_utc}`));
    for (const [k, [first, last]] of bounds) {
      const mmsi = k.split('|')[0];
      expect(kept.has(`${mmsi}|${first}`), `${k} first ${first}`).toBe(true);
      expect(kept.has(`${mmsi}|${last}`), `${k} last ${last}`).toBe(true);
    }
  });

  it('keeps the first and last fix of every (vessel, movement state, time bucket)', () => {
    const interval = { fast: 10, slow: 15, anchored: 60 } as const;
    const groups = new Map<string, { first: AisPosition; last: AisPosition }>();
    for (const p of input) {
      // SOG is present in these files, so the state is the seed's plain SOG rule.
      expect(p.sog).not.toBeNull();
      const state = p.sog! < 0.5 ? 'anchored' : p.sog! < 10 ? 'slow' : 'fast';
      const bucket = Math.floor(Date.parse(`${p.ts_utc!.replace(' ', 'T')}Z`) / 1000 / (interval[state] * 60));
      const k = `${p.mmsi}|${state}|${bucket}`;
      const g = groups.get(k);
      if (!g) groups.set(k, { first: p, last: p });
      else {
        if (compareFixes(p, g.first) < 0) g.first = p;
        if (compareFixes(p, g.last) > 0) g.last = p;
      }
    }
    const kept = new Set(output.map(key));
    for (const [k, g] of groups) {
      expect(kept.has(key(g.first)), `first of ${k}`).toBe(true);
      expect(kept.has(key(g.last)), `last of ${k}`).toBe(true);
    }
    // And the state the SQL reports is the one the rule gives.
    for (const row of output) expect(row.movement_state).toBe(row.sog! < 0.5 ? 'anchored' : row.sog! < 10 ? 'slow' : 'fast');
  });

  it('recomputes segment_distance_km as the haversine from the previous kept fix of the vessel', () => {
    const byVessel = new Map<number, ThinRow[]>();
    for (const r of output) byVessel.set(r.mmsi, [...(byVessel.get(r.mmsi) ?? []), r]);
    for (const rows of byVessel.values()) {
      rows.sort(compareFixes);
      expect(rows[0].segment_distance_km).toBeNull();
      for (let i = 1; i < rows.length; i++) {
        expect(rows[i].segment_distance_km).toBeCloseTo(haversineKm(rows[i - 1].lat, rows[i - 1].lon, rows[i].lat, rows[i].lon), 9);
      }
    }
  });

  it('reduces the rows as seed 002 expects of coastal data', () => {
    const reduction = 1 - output.length / input.length;
    console.log(`thin ${label}: ${input.length} → ${output.length} rows (${(reduction * 100).toFixed(1)} % fewer)`);
    // Houston covers only 25 minutes of the day, so the daily first/last keepers weigh more there.
    expect(reduction).toBeGreaterThan(label === 'houston' ? 0.75 : 0.85);
  });
});

describe('daily first/last with buckets that do not align to the UTC day', () => {
  // With the seed's 10/15/60 min intervals every bucket boundary is also a day boundary, so the daily
  // rule is implied by the bucket rule; a 1000 min anchored interval makes buckets span midnight.
  const odd = { ...THIN_DEFAULTS, anchor_interval_min: 1000, slow_interval_min: 45, fast_interval_min: 25 };
  it('keeps exactly the required fixes, including each day\'s first and last, on the 10-day Danube track', async () => {
    const input = (await importFile(FILES.danube)).positions;
    const output = await thinRows(input, odd);
    const classified = classify(input, odd);
    const expected = new Set<string>();
    for (const [mmsi, keeps] of requiredKeeps(classified)) for (const i of keeps.keys()) expected.add(key((classified.get(mmsi) ?? [])[i].p));
    expect(new Set(output.map(key))).toEqual(expected);
    const days = new Map<string, string[]>();
    for (const p of input) days.set(p.ts_utc!.slice(0, 10), [...(days.get(p.ts_utc!.slice(0, 10)) ?? []), p.ts_utc!]);
    const kept = new Set(output.map((r) => r.ts_utc));
    expect(days.size).toBe(10);
    for (const times of days.values()) {
      times.sort();
      expect(kept.has(times[0])).toBe(true);
      expect(kept.has(times[times.length - 1])).toBe(true);
    }
  });
});

describe('thin is independent of input order', () => {
  it('unsorted MarineCadastre rows give the same bytes as the time-sorted rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thin-order-'));
    const input = (await importFile(FILES.houston)).positions;
    const sorted = [...input].sort((a, b) => a.mmsi - b.mmsi || compareFixes(a, b));
    expect(sorted.map(key)).not.toEqual(input.map(key)); // the file really is unsorted
    const digest = (rows: AisPosition[]) => withDb(async (db) => {
      await db.createTable('positions', AIS_COLUMNS, rows as never);
      return thinnedDigest(db, dir);
    });
    expect(await digest(input)).toBe(await digest(sorted));
  });

  it('property: shuffling the input rows never changes the thinned output digest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thin-shuffle-'));
    const solent = (await importFile(FILES.solent)).positions;
    // Ten vessels' worth of dense fixes, plus exact copies of some rows (equal rows must not matter).
    const vessels = [...new Set(solent.map((p) => p.mmsi))].slice(0, 10);
    const base = solent.filter((p) => vessels.includes(p.mmsi));
    const rows = [...base, ...base.filter((_, i) => i % 97 === 0)];
    const reference = await withDb(async (db) => {
      await db.createTable('positions', AIS_COLUMNS, rows as never);
      return thinnedDigest(db, dir);
    });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const random = seededRandom(seed);
        const shuffled = [...rows];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        const digest = await withDb(async (db) => {
          await db.createTable('positions', AIS_COLUMNS, shuffled as never);
          return thinnedDigest(db, dir);
        });
        expect(digest).toBe(reference);
      }),
      { numRuns: 8 },
    );
  });
});

describe('voyages', () => {
  const fix = (ts: string, lat: number, lon: number, sog: number): AisPosition => ({
    mmsi: 211000001, ts_utc: ts, lat, lon, sog, cog: 90, heading: 90, nav_status: 0, imo: null, call_sign: null, name: null, vessel_type: null, source: 'test',
  });

  it('starts a new voyage after a reporting gap longer than voyage_gap_hours, keeping both boundary fixes', async () => {
    const rows = [
      ...Array.from({ length: 30 }, (_, i) => fix(`2026-05-25 0${Math.floor(i / 10)}:${String((i % 10) * 5).padStart(2, '0')}:00.000000`, 50.7, -1.2 + i * 0.001, 0.1)),
      ...Array.from({ length: 30 }, (_, i) => fix(`2026-05-25 1${Math.floor(i / 10)}:${String((i % 10) * 5).padStart(2, '0')}:00.000000`, 50.7, -1.1 + i * 0.001, 0.1)),
    ];
    const out = (await thinRows(rows)).sort(compareFixes);
    const times = out.map((r) => r.ts_utc!.slice(11, 16));
    // Last fix before the 7 h 15 min gap and the first after it are kept; voyage ids 1 then 2.
    expect(times).toContain('02:45');
    expect(times).toContain('10:00');
    expect(out.find((r) => r.ts_utc!.startsWith('2026-05-25 02:45'))?.voyage_id).toBe(1);
    expect(out.find((r) => r.ts_utc!.startsWith('2026-05-25 10:00'))?.voyage_id).toBe(2);
    // With a longer voyage_gap_hours there is one voyage.
    const single = await thinRows(rows, { ...THIN_DEFAULTS, voyage_gap_hours: 8 });
    expect(new Set(single.map((r) => r.voyage_id))).toEqual(new Set([1]));
  });

  it('classifies a fix without SOG by the speed implied from the previous fix', async () => {
    const noSog = (ts: string, lat: number, lon: number): AisPosition => ({ ...fix(ts, lat, lon, 0), sog: null });
    const rows = [
      noSog('2026-05-25 10:00:00.000000', 50.7, -1.2),
      noSog('2026-05-25 10:01:00.000000', 50.7, -1.2), // still: anchored
      noSog('2026-05-25 10:02:00.000000', 50.7, -1.19), // 0.7 km in a minute ≈ 23 kn: fast
      noSog('2026-05-25 10:03:00.000000', 50.7, -1.189), // 0.07 km ≈ 2.3 kn: slow
    ];
    const out = (await thinRows(rows)).sort(compareFixes);
    expect(out.map((r) => r.movement_state)).toEqual(['anchored', 'anchored', 'fast', 'slow']);
    const reference = classify(rows, THIN_DEFAULTS).get(211000001)!.map((c) => c.state);
    expect(reference).toEqual(['anchored', 'anchored', 'fast', 'slow']);
  });

  it('starts a new voyage at an implausible jump (implied speed above max_plausible_kn)', async () => {
    const rows = [
      fix('2026-05-25 10:00:00.000000', 50.7, -1.2, 12),
      fix('2026-05-25 10:01:00.000000', 50.7, -1.195, 12),
      fix('2026-05-25 10:02:00.000000', 50.9, -1.19, 12), // 22 km in a minute
      fix('2026-05-25 10:03:00.000000', 50.9, -1.185, 12),
    ];
    const out = (await thinRows(rows)).sort(compareFixes);
    expect(out.map((r) => r.voyage_id)).toEqual([1, 1, 2, 2]);
  });
});

describe('thin step through the engine', () => {
  it('writes the same bytes as the SQL run directly, with the declared columns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thin-step-'));
    const positions = join(dir, 'positions.parquet');
    const { writeTable } = await import('../../src/sdk/table-io.js');
    const { execStep } = await import('../../src/engine/exec.js');
    const { PROJECT_ROOT } = await import('../helpers/paths.js');
    const input = (await importFile(FILES.solent)).positions;
    await writeTable(positions, AIS_COLUMNS, input as never);
    const result = await execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'thin', inputs: { positions: `file:${positions}` }, partition: { date: '2016-01-12' }, outDir: join(dir, 'out') });
    expect(result.rows.thinned).toBe(777);
    const direct = await withDb(async (db) => {
      await db.run(`CREATE VIEW positions AS SELECT * FROM read_parquet('${positions}')`);
      return thinnedDigest(db, dir);
    });
    expect(createHash('sha256').update(readFileSync(result.outputs.thinned)).digest('hex')).toBe(direct);
    // A param override reaches the SQL: a coarser fast interval keeps fewer rows.
    const coarse = await execStep({ pipeline: join(PROJECT_ROOT, 'pipeline.yaml'), step: 'thin', inputs: { positions: `file:${positions}` }, partition: { date: '2016-01-12' }, outDir: join(dir, 'coarse'), params: { fast_interval_min: 60 } });
    expect(coarse.rows.thinned).toBeLessThan(777);
  });
});
