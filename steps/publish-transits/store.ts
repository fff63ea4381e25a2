// The transit store in PostgreSQL: idempotent upserts keyed by id (a row whose values are equal is
// not written, so its xmin stays), deletion of rows a newer lifecycle snapshot no longer holds,
// chokepoints as PostGIS geometries, the matview refresh and one ingestion_logs row per job.
import type pg from 'pg';
import { StepError } from '../../src/sdk/errors.js';
import type { Corridor } from '../transit-reconcile/chokepoints.js';

export type PgType = 'uuid' | 'text' | 'bigint' | 'integer' | 'double precision' | 'timestamptz' | 'boolean';

export interface TableSpec {
  /** Table in schema public. */
  readonly table: string;
  /** Every column with its PostgreSQL type, `id` first (the conflict key). */
  readonly columns: Readonly<Record<string, PgType>>;
}

export interface UpsertCounts {
  rows: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

const BATCH = 2_000;
const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** A constraint or type error from the database, with the table and the offending values. */
export function describePgError(error: unknown, table: string): StepError {
  const e = error as { message?: string; constraint?: string; detail?: string; code?: string };
  const parts = [e.message ?? String(error)];
  if (e.constraint && !(e.message ?? '').includes(e.constraint)) parts.push(`constraint ${e.constraint}`);
  if (e.detail) parts.push(e.detail);
  return new StepError(parts.join(' — '), `database table public.${table}`);
}

/**
 * Insert new rows and update changed ones; equal rows are left alone. With `keepOnly`, rows whose id
 * is not among `rows` are deleted (the table then equals `rows`).
 */
export async function upsertRows(client: pg.ClientBase, spec: TableSpec, rows: readonly Record<string, unknown>[], options: { keepOnly?: boolean } = {}): Promise<UpsertCounts> {
  const names = Object.keys(spec.columns);
  if (names[0] !== 'id') throw new Error(`${spec.table}: the first column must be id`);
  const list = names.map(ident).join(', ');
  const recordType = names.map((n) => `${ident(n)} ${spec.columns[n]}`).join(', ');
  const rest = names.slice(1);
  const target = `public.${ident(spec.table)}`;
  const sql = `INSERT INTO ${target} (${list})
    SELECT ${list} FROM jsonb_to_recordset($1::jsonb) AS x(${recordType})
    ON CONFLICT (id) DO UPDATE SET ${rest.map((n) => `${ident(n)} = EXCLUDED.${ident(n)}`).join(', ')}
    WHERE (${rest.map((n) => `${target}.${ident(n)}`).join(', ')}) IS DISTINCT FROM (${rest.map((n) => `EXCLUDED.${ident(n)}`).join(', ')})
    RETURNING (xmax = 0) AS inserted`;
  const counts: UpsertCounts = { rows: rows.length, inserted: 0, updated: 0, unchanged: 0, deleted: 0 };
  for (let start = 0; start < rows.length; start += BATCH) {
    const batch = rows.slice(start, start + BATCH).map((row) => Object.fromEntries(names.map((n) => [n, row[n] ?? null])));
    let result: pg.QueryResult;
    try {
      result = await client.query(sql, [JSON.stringify(batch)]);
    } catch (error) {
      throw describePgError(error, spec.table);
    }
    for (const r of result.rows) (r.inserted ? counts.inserted++ : counts.updated++);
  }
  counts.unchanged = rows.length - counts.inserted - counts.updated;
  if (options.keepOnly) {
    try {
      const deleted = await client.query(`DELETE FROM ${target} WHERE id <> ALL($1::uuid[])`, [rows.map((r) => r.id)]);
      counts.deleted = deleted.rowCount ?? 0;
    } catch (error) {
      throw describePgError(error, spec.table);
    }
  }
  return counts;
}

/** The corridors as PostGIS polygons (SRID 4326); equal geometries are not rewritten. */
export async function upsertChokepoints(client: pg.ClientBase, corridors: readonly Corridor[]): Promise<UpsertCounts> {
  const rows = corridors.map((c) => ({
    id: c.id,
    name: c.name,
    bidirectional: c.bidirectional,
    corridor: { type: 'Polygon', coordinates: c.polygon },
    entry_zone: { type: 'Polygon', coordinates: c.entryZone.polygon },
    exit_zone: { type: 'Polygon', coordinates: c.exitZone.polygon },
  }));
  const geom = (column: string) => `ST_SetSRID(ST_GeomFromGeoJSON(x.${column}), 4326)`;
  let result: pg.QueryResult;
  try {
    result = await client.query(
      `INSERT INTO public.chokepoints (id, name, bidirectional, corridor, entry_zone, exit_zone)
       SELECT x.id, x.name, x.bidirectional, ${geom('corridor')}, ${geom('entry_zone')}, ${geom('exit_zone')}
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, name text, bidirectional boolean, corridor jsonb, entry_zone jsonb, exit_zone jsonb)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, bidirectional = EXCLUDED.bidirectional,
         corridor = EXCLUDED.corridor, entry_zone = EXCLUDED.entry_zone, exit_zone = EXCLUDED.exit_zone
       WHERE (chokepoints.name, chokepoints.bidirectional, ST_AsEWKB(chokepoints.corridor), ST_AsEWKB(chokepoints.entry_zone), ST_AsEWKB(chokepoints.exit_zone))
             IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.bidirectional, ST_AsEWKB(EXCLUDED.corridor), ST_AsEWKB(EXCLUDED.entry_zone), ST_AsEWKB(EXCLUDED.exit_zone))
       RETURNING (xmax = 0) AS inserted`,
      [JSON.stringify(rows)],
    );
  } catch (error) {
    throw describePgError(error, 'chokepoints');
  }
  const inserted = result.rows.filter((r) => r.inserted).length;
  const updated = result.rows.length - inserted;
  return { rows: rows.length, inserted, updated, unchanged: rows.length - inserted - updated, deleted: 0 };
}

export interface Publication {
  partition: string;
  snapshot: string;
}

export async function currentPublication(client: pg.ClientBase): Promise<Publication | null> {
  const { rows } = await client.query('SELECT partition, snapshot FROM public.transit_publication');
  return rows.length === 0 ? null : { partition: rows[0].partition, snapshot: rows[0].snapshot };
}

export async function recordPublication(client: pg.ClientBase, publication: Publication, at: Date): Promise<void> {
  await client.query(
    `INSERT INTO public.transit_publication (singleton, partition, snapshot, published_at) VALUES (true, $1, $2, $3)
     ON CONFLICT (singleton) DO UPDATE SET partition = EXCLUDED.partition, snapshot = EXCLUDED.snapshot, published_at = EXCLUDED.published_at
     WHERE (transit_publication.partition, transit_publication.snapshot) IS DISTINCT FROM (EXCLUDED.partition, EXCLUDED.snapshot)`,
    [publication.partition, publication.snapshot, at.toISOString()],
  );
}

export const JOB_SOURCES = ['populate_predicted_transits', 'monitor_corridor_sar', 'reconcile_vessel_transits', 'verify_dark_fleet_sar', 'refresh_mv_chokepoint_transits_weekly'] as const;
export type JobSource = (typeof JOB_SOURCES)[number];

export interface JobLog {
  source: JobSource;
  startedAt: Date;
  finishedAt: Date;
  status: 'ok' | 'unchanged' | 'error';
  partition: string | null;
  counts?: Partial<UpsertCounts>;
  detail?: Record<string, unknown>;
}

export async function logJob(client: pg.ClientBase, log: JobLog): Promise<void> {
  const c = log.counts ?? {};
  await client.query(
    `INSERT INTO public.ingestion_logs (source, started_at, finished_at, status, partition, rows_in, rows_inserted, rows_updated, rows_deleted, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
    [log.source, log.startedAt.toISOString(), log.finishedAt.toISOString(), log.status, log.partition, c.rows ?? 0, c.inserted ?? 0, c.updated ?? 0, c.deleted ?? 0, JSON.stringify(log.detail ?? {})],
  );
}

export async function refreshWeekly(client: pg.ClientBase): Promise<number> {
  await client.query('SELECT public.refresh_mv_chokepoint_transits_weekly()');
  const { rows } = await client.query('SELECT count(*)::int AS n FROM public.mv_chokepoint_transits_weekly');
  return rows[0].n as number;
}
