// publish-transits against a private PostgreSQL 15 + PostGIS cluster (initdb in a temp dir, random
// loopback port): migrations, every constraint violated on purpose, RLS as anon / authenticated /
// a service-role login, the RPC, the matview, idempotency (row count and xmin), promotion in place,
// stale snapshots, two publishers at once, and the step without DATABASE_URL.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execStep } from '../../src/engine/exec.js';
import type { StepError } from '../../src/sdk/errors.js';
import { readTable, withDb } from '../../src/sdk/table-io.js';
import { loadMigrations, migrate } from '../../steps/publish-transits/migrate.js';
import { loadTransits, queryTransits } from '../../steps/transit-reconcile/tables.js';
import { fromTableRow, type TransitRow } from '../../steps/transit-reconcile/transits.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { startPostgres, type PrivatePostgres } from '../helpers/postgres.js';
import { detectionsParquet, SAMPLE_DETECTIONS_CSV } from './transit-helpers.js';

const pipeline = join(PROJECT_ROOT, 'pipeline.yaml');
const MIGRATIONS = join(PROJECT_ROOT, 'steps/publish-transits/migrations');
const work = mkdtempSync(join(tmpdir(), 'publish-transits-'));
let db: PrivatePostgres;
let day1: string;
let day2: string;
let weekly2: string;

async function reconcileDay(date: string, previous?: string): Promise<{ transits: string; weekly: string }> {
  const result = await execStep({ pipeline, step: 'transit-reconcile', via: ['transit-predict'], partition: { date }, outDir: join(work, 'tr'), inputs: { detections: `file:${await detectionsParquet(SAMPLE_DETECTIONS_CSV, join(work, 'sample-detections.parquet'))}`, ...(previous ? { previous: `file:${previous}` } : {}) } });
  const copy = join(work, `vessel_transits_${date}.parquet`);
  cpSync(result.outputs.vessel_transits, copy);
  const weekly = join(work, `weekly_${date}.parquet`);
  cpSync(result.outputs.weekly, weekly);
  return { transits: copy, weekly };
}

async function publish(date: string, transits: string, url: string | undefined, outDir = join(work, 'pub')) {
  const saved = process.env.DATABASE_URL;
  if (url === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = url;
  try {
    const result = await execStep({ pipeline, step: 'publish-transits', partition: { date }, outDir, inputs: { transits: `file:${transits}` } });
    return { ...result, report: JSON.parse(readFileSync(result.outputs.report, 'utf8')) };
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
}

async function sarChain(date: string): Promise<Record<string, string>> {
  const out = join(work, 'sar');
  const search = await execStep({ pipeline, step: 'sar-search', via: ['transit-predict'], partition: { date }, outDir: out });
  const detect = await execStep({ pipeline, step: 'sar-detect', partition: { date }, outDir: out, inputs: { scenes: `file:${search.outputs.scenes}` } });
  const sweep = await execStep({ pipeline, step: 'verify-dark-fleet-sar', partition: { date }, outDir: out, inputs: { detections: `file:${detect.outputs.detections}` } });
  return { detections: detect.outputs.detections, ...sweep.outputs };
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const superuser = <T>(fn: (client: pg.Client) => Promise<T>) => withClient(db.url, fn);

async function dbTransits(): Promise<TransitRow[]> {
  return superuser(async (c) => (await c.query('SELECT * FROM public.vessel_transits ORDER BY id')).rows.map(fromTableRow));
}
async function parquetTransits(file: string): Promise<TransitRow[]> {
  return (await readTable(file)).map(fromTableRow).sort((a, b) => (a.id < b.id ? -1 : 1));
}
async function xmins(): Promise<Record<string, string>> {
  return superuser(async (c) => Object.fromEntries((await c.query('SELECT id::text, xmin::text FROM public.vessel_transits')).rows.map((r) => [r.id, r.xmin])));
}

beforeAll(async () => {
  db = await startPostgres();
  const first = await reconcileDay('2026-05-25');
  day1 = first.transits;
  const second = await reconcileDay('2026-05-26', day1);
  day2 = second.transits;
  weekly2 = second.weekly;
  // A login that publishes with service_role's rights only (no superuser, not the owner).
  await superuser((c) => c.query("CREATE ROLE publisher LOGIN PASSWORD 'pw-Publisher-7'"));
});
afterAll(() => {
  db?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('publish-transits without a database', () => {
  it('is skipped with a clear status and a warning, and touches nothing', async () => {
    const result = await publish('2026-05-25', day1, undefined, join(work, 'nodb'));
    expect(result.report.status).toBe('skipped');
    expect(result.report.reason).toMatch(/no DATABASE_URL/);
    expect(result.warnings.join('\n')).toMatch(/no DATABASE_URL/);
    expect(result.metrics.status).toBe('skipped');
  });

  it('refuses a URL that is not postgres:// without echoing it', async () => {
    await expect(publish('2026-05-25', day1, 'mysql://root:hunter2-secret@example/db')).rejects.toThrow(/postgres:\/\/ or postgresql:\/\//);
    await expect(publish('2026-05-25', day1, 'mysql://root:hunter2-secret@example/db')).rejects.not.toThrow(/hunter2/);
  });

  it('a refused connection names DATABASE_URL but not its host, port, user or password', async () => {
    const bad = `postgres://someone:s3cret-Pass@127.0.0.1:${db.port + 1 === 65536 ? 1 : db.port + 1}/postgres`;
    const error = await publish('2026-05-25', day1, bad).catch((e: Error) => e);
    expect(String((error as Error).message)).toMatch(/cannot connect to the database in DATABASE_URL/);
    for (const part of ['s3cret-Pass', 'someone', `127.0.0.1:${db.port + 1}`]) expect(String((error as Error).message)).not.toContain(part);
  });
});

describe('publish-transits on a private PostgreSQL', () => {
  it('applies the migrations once and the database then equals the partition lifecycle row for row', async () => {
    const first = await publish('2026-05-25', day1, db.url);
    expect(first.report).toMatchObject({ status: 'published', migrations_applied: [1], schema_version: 1 });
    const rows = await parquetTransits(day1);
    expect(rows.length).toBeGreaterThan(0);
    expect(first.report.tables.vessel_transits).toEqual({ rows: rows.length, inserted: rows.length, updated: 0, unchanged: 0, deleted: 0 });
    expect(await dbTransits()).toEqual(rows);
    const chokepoints = await superuser(async (c) => (await c.query("SELECT id, ST_SRID(corridor) AS srid, GeometryType(entry_zone) AS kind, ST_IsValid(exit_zone) AS valid FROM public.chokepoints ORDER BY id")).rows);
    expect(chokepoints.map((r) => r.id)).toEqual(['bab-el-mandeb', 'cape-agulhas', 'hormuz', 'suez-s']);
    expect(chokepoints.every((r) => r.srid === 4326 && r.kind === 'POLYGON' && r.valid)).toBe(true);
  });

  it('re-publishing changes nothing: no migration, same row count, every xmin unchanged', async () => {
    const before = await xmins();
    const chokepointXmins = await superuser(async (c) => (await c.query('SELECT id, xmin::text FROM public.chokepoints ORDER BY id')).rows);
    const again = await publish('2026-05-25', day1, db.url);
    expect(again.report.migrations_applied).toEqual([]);
    expect(again.report.tables.vessel_transits).toMatchObject({ inserted: 0, updated: 0, deleted: 0 });
    expect(again.report.tables.chokepoints).toMatchObject({ inserted: 0, updated: 0 });
    expect(await xmins()).toEqual(before);
    expect(await superuser(async (c) => (await c.query('SELECT id, xmin::text FROM public.chokepoints ORDER BY id')).rows)).toEqual(chokepointXmins);
    const migrations = await superuser(async (c) => (await c.query('SELECT version, name FROM public.dagrun_schema_migrations')).rows);
    expect(migrations).toEqual([{ version: 1, name: 'transit_store' }]);
  });

  it('a later partition promotes rows in place (same ids), leaves equal rows untouched, and equals its parquet', async () => {
    const before = await xmins();
    const rows1 = await parquetTransits(day1);
    const rows2 = await parquetTransits(day2);
    const result = await publish('2026-05-26', day2, db.url);
    expect(result.report.status).toBe('published');
    expect(await dbTransits()).toEqual(rows2);
    const after = await xmins();
    for (const row of rows1) {
      const later = rows2.find((r) => r.id === row.id) as TransitRow;
      const equal = JSON.stringify(later) === JSON.stringify(row);
      expect(after[row.id] === before[row.id], `${row.id} ${row.status} → ${later.status}`).toBe(equal);
    }
    const changed = rows1.filter((r) => JSON.stringify(rows2.find((x) => x.id === r.id)) !== JSON.stringify(r)).length;
    expect(result.report.tables.vessel_transits).toEqual({ rows: rows2.length, inserted: rows2.length - rows1.length, updated: changed, unchanged: rows1.length - changed, deleted: 0 });
  });

  it('an older partition published after a newer one is stale and rolls nothing back', async () => {
    const before = await xmins();
    const result = await publish('2026-05-25', day1, db.url);
    expect(result.report.status).toBe('stale');
    expect(await xmins()).toEqual(before);
    expect(await dbTransits()).toEqual(await parquetTransits(day2));
  });

  it('a row the newer lifecycle no longer holds is deleted, so the table equals the snapshot', async () => {
    const rows2 = await parquetTransits(day2);
    const trimmed = join(work, 'trimmed.parquet');
    const keep = rows2.filter((r) => r.status !== 'cancelled');
    expect(keep.length).toBeLessThan(rows2.length);
    await withDb(async (duck) => {
      await loadTransits(duck, keep);
      await duck.copyToFile('transits', trimmed, 'parquet', ['id']);
    });
    const result = await publish('2026-05-26', trimmed, db.url);
    expect(result.report.tables.vessel_transits.deleted).toBe(rows2.length - keep.length);
    expect(await dbTransits()).toEqual(keep);
    await publish('2026-05-26', day2, db.url);
    expect(await dbTransits()).toEqual(rows2);
  });

  it('the matview equals the step weekly output; ingestion_logs has one row per job per run', async () => {
    const weekly = await readTable(weekly2);
    const view = await superuser(async (c) => (await c.query("SELECT chokepoint_id, to_char(week_start, 'YYYY-MM-DD') AS week_start, status, n::int AS n, median_eta_delta_hours, sample_ids FROM public.mv_chokepoint_transits_weekly ORDER BY 1, 2, 3")).rows);
    expect(view).toEqual(
      weekly.map((w) => ({
        chokepoint_id: w.chokepoint_id,
        week_start: String(w.week_start).slice(0, 10),
        status: w.status,
        n: Number(w.n),
        median_eta_delta_hours: w.median_eta_delta_hours === null ? null : expect.closeTo(w.median_eta_delta_hours as number, 9),
        sample_ids: w.sample_ids,
      })),
    );
    const logs = await superuser(async (c) => (await c.query('SELECT source, count(*)::int AS n FROM public.ingestion_logs GROUP BY 1 ORDER BY 1')).rows);
    const runs = logs.find((l) => l.source === 'reconcile_vessel_transits')?.n;
    expect(runs).toBeGreaterThanOrEqual(6);
    expect(logs).toEqual(['populate_predicted_transits', 'reconcile_vessel_transits', 'refresh_mv_chokepoint_transits_weekly'].map((source) => ({ source, n: runs })));
    const unchanged = await superuser(async (c) => (await c.query("SELECT count(*)::int AS n FROM public.ingestion_logs WHERE source = 'reconcile_vessel_transits' AND status = 'unchanged'")).rows[0].n);
    expect(unchanged).toBeGreaterThanOrEqual(1);
  });

  it('get_chokepoint_transits equals the step query, runs for anon, and defaults to the last 14 days', async () => {
    const rows2 = await parquetTransits(day2);
    const expected = await withDb(async (duck) => {
      await loadTransits(duck, rows2);
      return queryTransits(duck, { chokepoint: 'bab-el-mandeb', fromMs: Date.parse('2026-05-12T00:00:00Z'), toMs: Date.parse('2026-05-27T00:00:00Z') });
    });
    expect(expected.length).toBeGreaterThan(0);
    const viaRpc = await superuser(async (c) => {
      await c.query('BEGIN');
      await c.query('SET LOCAL ROLE anon');
      const { rows } = await c.query("SELECT id::text FROM public.get_chokepoint_transits('bab-el-mandeb', '2026-05-12T00:00:00Z', '2026-05-27T00:00:00Z')");
      await c.query('ROLLBACK');
      return rows.map((r) => r.id);
    });
    expect(viaRpc).toEqual(expected.map((r) => r.id));
    // Defaults: [now() − 14 days, now()).
    const ids = await superuser(async (c) => {
      await c.query('BEGIN');
      const insert = `INSERT INTO public.vessel_transits (id, predicted_imo, chokepoint_id, predicted_eta, eta_uncertainty_hours, status)
                      VALUES ($1, $2, 'hormuz', now() - $3::interval, 2, 'predicted')`;
      await c.query(insert, ['00000000-0000-5000-8000-000000000001', '9100001', '1 day']);
      await c.query(insert, ['00000000-0000-5000-8000-000000000002', '9100002', '15 days']);
      await c.query(insert, ['00000000-0000-5000-8000-000000000003', '9100003', '-1 day']);
      await c.query('SET LOCAL ROLE authenticated');
      const { rows } = await c.query("SELECT id::text FROM public.get_chokepoint_transits('hormuz')");
      await c.query('ROLLBACK');
      return rows.map((r) => r.id);
    });
    expect(ids).toEqual(['00000000-0000-5000-8000-000000000001']);
    const definer = await superuser(async (c) => (await c.query("SELECT prosecdef, array(SELECT r.rolname FROM pg_roles r WHERE has_function_privilege(r.oid, p.oid, 'EXECUTE') AND r.rolname IN ('anon','authenticated','service_role') ORDER BY 1)::text[] AS roles FROM pg_proc p WHERE proname = 'get_chokepoint_transits'")).rows[0]);
    expect(definer).toEqual({ prosecdef: true, roles: ['anon', 'authenticated', 'service_role'] });
  });
});

describe('the SAR side in the store', () => {
  it('dark_events and sar_detections are upserted (FK satisfied), the monitor and sweep log a row each, re-publishing changes nothing', async () => {
    const sar = await sarChain('2026-05-26');
    const url = db.urlFor('postgres', undefined, 'sar');
    await superuser((c) => c.query('CREATE DATABASE sar'));
    const predicted = await execStep({ pipeline, step: 'transit-predict', partition: { date: '2026-05-26' }, outDir: join(work, 'predict') });
    const inputs = { transits: `file:${day2}`, detections: `file:${sar.detections}`, dark_events: `file:${sar.dark_events}`, sar_detections: `file:${sar.sar_detections}`, runs: `file:${predicted.outputs.runs}` };
    const run = async () => {
      process.env.DATABASE_URL = url;
      try {
        const result = await execStep({ pipeline, step: 'publish-transits', partition: { date: '2026-05-26' }, outDir: join(work, 'pub-sar'), inputs });
        return JSON.parse(readFileSync(result.outputs.report, 'utf8'));
      } finally {
        delete process.env.DATABASE_URL;
      }
    };
    const first = await run();
    expect(first.tables.dark_events).toMatchObject({ rows: 4, inserted: 4 });
    expect(first.tables.sar_detections).toMatchObject({ rows: 1, inserted: 1 });
    const stored = await withClient(url, async (c) => (await c.query('SELECT d.vessel_imo, e.risk_tier, d.detection_method, d.pixel_detection_count > 20 AS big FROM public.sar_detections d JOIN public.dark_events e ON e.id = d.dark_event_id')).rows);
    expect(stored).toEqual([{ vessel_imo: '9800002', risk_tier: 'high', detection_method: 'sentinel-1-cfar-v1', big: true }]);
    const second = await run();
    expect(second.tables.dark_events).toMatchObject({ inserted: 0, updated: 0 });
    expect(second.tables.sar_detections).toMatchObject({ inserted: 0, updated: 0 });
    const logs = await withClient(url, async (c) => (await c.query("SELECT source, status, rows_in, rows_inserted FROM public.ingestion_logs WHERE source IN ('monitor_corridor_sar', 'verify_dark_fleet_sar') ORDER BY id")).rows);
    expect(logs).toEqual([
      { source: 'monitor_corridor_sar', status: 'ok', rows_in: 2, rows_inserted: 0 },
      { source: 'verify_dark_fleet_sar', status: 'ok', rows_in: 1, rows_inserted: 1 },
      { source: 'monitor_corridor_sar', status: 'ok', rows_in: 2, rows_inserted: 0 },
      { source: 'verify_dark_fleet_sar', status: 'unchanged', rows_in: 1, rows_inserted: 0 },
    ]);
    // The predictor's row counts its own predictions over its 24 replayed runs.
    const predictor = await withClient(url, async (c) => (await c.query("SELECT rows_in, detail FROM public.ingestion_logs WHERE source = 'populate_predicted_transits' ORDER BY id LIMIT 1")).rows[0]);
    expect(predictor.rows_in).toBe(predicted.metrics.predictions);
    expect(predictor.rows_in).toBeGreaterThan(0);
    expect(predictor.detail).toMatchObject({ runs: 24, first_run: '2026-05-26T01:00:00.000Z', last_run: '2026-05-27T00:00:00.000Z' });
  });
});

describe('row-level security', () => {
  const asRole = (role: string, sql: string, params: unknown[] = []) =>
    superuser(async (c) => {
      await c.query('BEGIN');
      try {
        await c.query(`SET LOCAL ROLE ${role}`);
        return (await c.query(sql, params)).rows;
      } finally {
        await c.query('ROLLBACK');
      }
    });

  it('anon reads transits, corridors and the matview; every write is refused', async () => {
    expect((await asRole('anon', 'SELECT count(*)::int AS n FROM public.vessel_transits'))[0].n).toBe((await parquetTransits(day2)).length);
    expect((await asRole('anon', 'SELECT count(*)::int AS n FROM public.chokepoints'))[0].n).toBe(4);
    expect((await asRole('anon', 'SELECT count(*)::int AS n FROM public.mv_chokepoint_transits_weekly'))[0].n).toBeGreaterThan(0);
    const denied = /permission denied|row-level security/;
    await expect(asRole('anon', "UPDATE public.vessel_transits SET status = 'missed'")).rejects.toThrow(denied);
    await expect(asRole('anon', 'DELETE FROM public.vessel_transits')).rejects.toThrow(denied);
    await expect(asRole('anon', "INSERT INTO public.chokepoints (id, name, bidirectional, corridor, entry_zone, exit_zone) SELECT 'x', 'x', true, corridor, entry_zone, exit_zone FROM public.chokepoints LIMIT 1")).rejects.toThrow(denied);
    await expect(asRole('anon', 'SELECT * FROM public.dark_events')).rejects.toThrow(denied);
    await expect(asRole('anon', 'SELECT public.refresh_mv_chokepoint_transits_weekly()')).rejects.toThrow(denied);
  });

  it('authenticated reads the dark-fleet tables but cannot write; service_role writes', async () => {
    expect(await asRole('authenticated', 'SELECT * FROM public.sar_detections')).toEqual([]);
    await expect(asRole('authenticated', "DELETE FROM public.vessel_transits WHERE status = 'cancelled'")).rejects.toThrow(/permission denied/);
    const deleted = await asRole('service_role', "DELETE FROM public.vessel_transits WHERE status = 'cancelled' RETURNING id");
    expect(deleted.length).toBeGreaterThan(0); // rolled back by asRole
  });

  it('a login with only service_role rights publishes through the step (migrations already applied)', async () => {
    await superuser((c) => c.query('GRANT service_role TO publisher'));
    const before = await xmins();
    const result = await publish('2026-05-26', day2, db.urlFor('publisher', 'pw-Publisher-7'));
    expect(result.report).toMatchObject({ status: 'published', migrations_applied: [] });
    expect(await xmins()).toEqual(before);
    expect(JSON.stringify(result)).not.toContain('pw-Publisher-7');
    await superuser((c) => c.query('REVOKE service_role FROM publisher'));
    await expect(publish('2026-05-26', day2, db.urlFor('publisher', 'pw-Publisher-7'))).rejects.toThrow(/permission denied/);
  });
});

describe('constraints, tried one by one', () => {
  const base = {
    id: '00000000-0000-5000-8000-0000000000aa',
    predicted_imo: '9100009',
    chokepoint_id: 'hormuz',
    predicted_eta: '2026-05-25T10:00:00Z',
    eta_uncertainty_hours: 2,
    status: 'predicted',
    confirmed_at: null,
    confirmed_via: null,
    sar_scene_id: null,
    pixel_match_lat: null,
    pixel_match_lon: null,
    match_confidence: null,
  };
  const insertTransit = (row: Record<string, unknown>) =>
    superuser(async (c) => {
      await c.query('BEGIN');
      try {
        const columns = Object.keys(row);
        await c.query(`INSERT INTO public.vessel_transits (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
        return 'inserted';
      } catch (error) {
        return (error as { constraint?: string; code?: string }).constraint ?? (error as Error).message;
      } finally {
        await c.query('ROLLBACK');
      }
    });

  it('accepts a valid predicted row and a valid dark_transit row', async () => {
    expect(await insertTransit(base)).toBe('inserted');
    expect(await insertTransit({ ...base, predicted_imo: null, predicted_eta: null, eta_uncertainty_hours: null, status: 'dark_transit', sar_scene_id: 'S1A_X', pixel_match_lat: 26.5, pixel_match_lon: 56.3 })).toBe('inserted');
  });

  it.each([
    ['dark_transit without a scene', { predicted_imo: null, status: 'dark_transit', pixel_match_lat: 26.5, pixel_match_lon: 56.3 }, 'vessel_transits_dark_shape'],
    ['dark_transit without a pixel', { predicted_imo: null, status: 'dark_transit', sar_scene_id: 'S1A_X', pixel_match_lat: 26.5 }, 'vessel_transits_dark_shape'],
    ['dark_transit with predicted_imo', { status: 'dark_transit', sar_scene_id: 'S1A_X', pixel_match_lat: 26.5, pixel_match_lon: 56.3 }, 'vessel_transits_dark_shape'],
    ['predicted without predicted_imo', { predicted_imo: null }, 'vessel_transits_predicted_shape'],
    ['missed without predicted_eta', { predicted_eta: null, status: 'missed', confirmed_at: '2026-05-30T00:00:00Z' }, 'vessel_transits_predicted_shape'],
    ['eta_uncertainty_hours below 1', { eta_uncertainty_hours: 0.5 }, 'vessel_transits_eta_uncertainty_floor'],
    ['match_confidence above 1', { match_confidence: 1.01 }, 'vessel_transits_match_confidence_range'],
    ['match_confidence below 0', { match_confidence: -0.01 }, 'vessel_transits_match_confidence_range'],
    ['an unknown status', { status: 'sunk', confirmed_at: '2026-05-25T11:00:00Z' }, 'vessel_transits_status_check'],
    ['confirmed without confirmed_via', { status: 'confirmed', confirmed_at: '2026-05-25T11:00:00Z' }, 'vessel_transits_confirmed_via_shape'],
    ['confirmed_via on a missed row', { status: 'missed', confirmed_at: '2026-05-25T11:00:00Z', confirmed_via: 'ais_reappear' }, 'vessel_transits_confirmed_via_shape'],
    ['sar_pixel without a scene', { status: 'confirmed', confirmed_at: '2026-05-25T11:00:00Z', confirmed_via: 'sar_pixel' }, 'vessel_transits_sar_evidence'],
    ['predicted with confirmed_at', { confirmed_at: '2026-05-25T11:00:00Z' }, 'vessel_transits_confirmed_at_shape'],
    ['an unknown confirmed_via', { status: 'confirmed', confirmed_at: '2026-05-25T11:00:00Z', confirmed_via: 'rumour' }, 'vessel_transits_confirmed_via_check'],
    ['an unknown chokepoint', { chokepoint_id: 'panama' }, 'vessel_transits_chokepoint_id_fkey'],
    ['a course of 360', { last_known_course: 360 }, 'vessel_transits_last_known_course_check'],
    ['a pixel count of 0', { pixel_detection_count: 0 }, 'vessel_transits_pixel_detection_count_check'],
  ])('refuses %s', async (_label, change, constraint) => {
    expect(await insertTransit({ ...base, ...change })).toBe(constraint);
  });

  it('the unique partial indexes refuse a second prediction of the same key and a second dark pixel', async () => {
    const result = await superuser(async (c) => {
      await c.query('BEGIN');
      try {
        const existing = (await c.query("SELECT * FROM public.vessel_transits WHERE status = 'dark_transit' LIMIT 1")).rows[0];
        const predicted = (await c.query("SELECT * FROM public.vessel_transits WHERE status <> 'dark_transit' LIMIT 1")).rows[0];
        const tries: string[] = [];
        for (const [sql, params] of [
          ["INSERT INTO public.vessel_transits (id, predicted_imo, chokepoint_id, predicted_eta, eta_uncertainty_hours, status, confirmed_at, confirmed_via) VALUES (gen_random_uuid(), $1, $2, $3, 1, 'missed', now(), NULL)", [predicted.predicted_imo, predicted.chokepoint_id, predicted.predicted_eta]],
          ["INSERT INTO public.vessel_transits (id, chokepoint_id, status, sar_scene_id, pixel_match_lat, pixel_match_lon) VALUES (gen_random_uuid(), $1, 'dark_transit', $2, $3, $4)", [existing.chokepoint_id, existing.sar_scene_id, existing.pixel_match_lat, existing.pixel_match_lon]],
        ] as const) {
          await c.query('SAVEPOINT s');
          try {
            await c.query(sql, [...params]);
            tries.push('inserted');
          } catch (error) {
            tries.push((error as { constraint?: string }).constraint ?? (error as Error).message);
          }
          await c.query('ROLLBACK TO SAVEPOINT s');
        }
        // The same pixel as a predicted row's SAR match is allowed: the index is partial.
        await c.query("INSERT INTO public.vessel_transits (id, predicted_imo, chokepoint_id, predicted_eta, eta_uncertainty_hours, status, confirmed_at, confirmed_via, sar_scene_id, pixel_match_lat, pixel_match_lon) VALUES (gen_random_uuid(), '9199999', $1, now(), 1, 'confirmed', now(), 'sar_pixel', $2, $3, $4)", [existing.chokepoint_id, existing.sar_scene_id, existing.pixel_match_lat, existing.pixel_match_lon]);
        tries.push('partial ok');
        return tries;
      } finally {
        await c.query('ROLLBACK');
      }
    });
    expect(result).toEqual(['vessel_transits_predicted_uniq', 'vessel_transits_dark_uniq', 'partial ok']);
  });

  it('sar_detections: FK to dark_events cascades on delete; its checks hold; ingestion_logs sources are the seed names', async () => {
    const outcome = await superuser(async (c) => {
      await c.query('BEGIN');
      const tryQuery = async (sql: string, params: unknown[] = []) => {
        await c.query('SAVEPOINT s');
        try {
          await c.query(sql, params);
          await c.query('RELEASE SAVEPOINT s');
          return 'ok';
        } catch (error) {
          await c.query('ROLLBACK TO SAVEPOINT s');
          return (error as { constraint?: string }).constraint ?? (error as Error).message;
        }
      };
      try {
        const event = '00000000-0000-5000-8000-0000000000e1';
        const detection = (id: string, over: Record<string, unknown> = {}) => {
          const row = { id, dark_event_id: event, vessel_imo: '9100001', scene_id: 'S1A_X', scene_acquired_at: '2026-05-25T03:00:00Z', detection_lat: 12.6, detection_lon: 43.3, distance_to_expected_nm: 1.5, cfar_score: 9.5, mean_confidence: 0.6, max_confidence: 0.9, ship_size_estimate: 120, pixel_detection_count: 14, detection_method: 'sentinel-1-cfar-v1', ...over };
          const columns = Object.keys(row);
          return tryQuery(`INSERT INTO public.sar_detections (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
        };
        const results: Record<string, string> = {};
        results.orphan = await detection('00000000-0000-5000-8000-0000000000d0');
        results.event = await tryQuery("INSERT INTO public.dark_events (id, vessel_imo, dark_since, last_known_lat, last_known_lon, risk_tier, risk_score) VALUES ($1, '9100001', '2026-05-24T00:00:00Z', 12.5, 43.4, 'critical', 0.92)", [event]);
        results.badTier = await tryQuery("INSERT INTO public.dark_events (id, vessel_imo, dark_since, last_known_lat, last_known_lon, risk_tier, risk_score) VALUES (gen_random_uuid(), '1', now(), 0, 0, 'extreme', 0.5)");
        results.noVessel = await tryQuery("INSERT INTO public.dark_events (id, dark_since, last_known_lat, last_known_lon, risk_tier, risk_score) VALUES (gen_random_uuid(), now(), 0, 0, 'high', 0.5)");
        results.ok = await detection('00000000-0000-5000-8000-0000000000d1');
        results.meanAboveMax = await detection('00000000-0000-5000-8000-0000000000d2', { detection_lat: 12.7, mean_confidence: 0.95 });
        results.method = await detection('00000000-0000-5000-8000-0000000000d3', { detection_lat: 12.8, detection_method: 'eyeball' });
        results.twice = await detection('00000000-0000-5000-8000-0000000000d4');
        results.badSource = await tryQuery("INSERT INTO public.ingestion_logs (source, started_at, finished_at, status) VALUES ('aishub', now(), now(), 'ok')");
        results.backwards = await tryQuery("INSERT INTO public.ingestion_logs (source, started_at, finished_at, status) VALUES ('monitor_corridor_sar', now(), now() - interval '1 s', 'ok')");
        await c.query('DELETE FROM public.dark_events WHERE id = $1', [event]);
        results.cascaded = String((await c.query('SELECT count(*)::int AS n FROM public.sar_detections WHERE dark_event_id = $1', [event])).rows[0].n);
        return results;
      } finally {
        await c.query('ROLLBACK');
      }
    });
    expect(outcome).toEqual({
      orphan: 'sar_detections_dark_event_id_fkey',
      event: 'ok',
      badTier: 'dark_events_risk_tier_check',
      noVessel: 'dark_events_vessel',
      ok: 'ok',
      meanAboveMax: 'sar_detections_confidence_order',
      method: 'sar_detections_detection_method_check',
      twice: 'sar_detections_once',
      badSource: 'ingestion_logs_source_check',
      backwards: 'ingestion_logs_time_order',
      cascaded: '0',
    });
  });
});

describe('migrations', () => {
  it('an edited migration, an unknown applied version and a badly named file are errors naming the file', async () => {
    const dir = mkdtempSync(join(work, 'mig-'));
    cpSync(MIGRATIONS, dir, { recursive: true });
    const file = join(dir, '0001_transit_store.sql');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- edited\n`);
    await superuser(async (c) => {
      const edited = await migrate(c, await loadMigrations(dir)).catch((e: StepError) => e.format());
      expect(edited).toMatch(/^migrations\/0001_transit_store.sql: was changed after it was applied/);
      await c.query("INSERT INTO public.dagrun_schema_migrations (version, name, checksum) VALUES (99, 'future', 'x')");
      try {
        expect(await migrate(c, await loadMigrations(MIGRATIONS)).catch((e: StepError) => e.format())).toMatch(/dagrun_schema_migrations: the database has migration 0099/);
      } finally {
        await c.query('DELETE FROM public.dagrun_schema_migrations WHERE version = 99');
      }
      expect((await migrate(c, await loadMigrations(MIGRATIONS))).applied).toEqual([]);
    });
    writeFileSync(join(dir, 'two.sql'), 'SELECT 1');
    await expect(loadMigrations(dir)).rejects.toThrow(/NNNN_name.sql/);
  });

  it('two publishers at once on a fresh database: one applies the schema, both succeed, the table equals the snapshot', async () => {
    await superuser((c) => c.query('CREATE DATABASE twin'));
    const url = db.urlFor('postgres', undefined, 'twin');
    const [a, b] = await Promise.all([publish('2026-05-26', day2, url, join(work, 'twin-a')), publish('2026-05-26', day2, url, join(work, 'twin-b'))]);
    expect([a.report.migrations_applied, b.report.migrations_applied].sort()).toEqual([[], [1]]);
    const rows = await withClient(url, async (c) => (await c.query('SELECT * FROM public.vessel_transits ORDER BY id')).rows.map(fromTableRow));
    expect(rows).toEqual(await parquetTransits(day2));
  });
});
