// Versioned schema migrations: NNNN_name.sql files applied in order, each in the same transaction as
// its row in public.dagrun_schema_migrations, under an advisory lock so two publishers cannot race.
// Re-applying is a no-op; a migration edited after it was applied, or a database ahead of the code,
// is an error that names the file.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { digestBytes } from '../../src/sdk/hash.js';
import { StepError } from '../../src/sdk/errors.js';

export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Serialises schema changes and publications across processes (any 64-bit constant of ours). */
export const STORE_LOCK_KEY = 7_204_811_004;

/** The migrations in `dir`, in version order; a badly named file or a duplicate version is an error. */
export async function loadMigrations(dir: string, label = 'migrations'): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    const match = FILE_NAME.exec(name);
    if (!match) throw new StepError('a migration file must be named NNNN_name.sql (lower-case name)', `${label}/${name}`);
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new StepError(`duplicate migration version ${match[1]}`, `${label}/${name}`);
    const sql = await readFile(join(dir, name), 'utf8');
    migrations.push({ version, name: match[2], file: `${label}/${name}`, sql, checksum: digestBytes(sql) });
  }
  if (migrations.length === 0) throw new StepError('holds no NNNN_name.sql migration', label);
  return migrations;
}

export interface MigrationResult {
  applied: number[];
  current: number;
}

/** Apply what is missing, in order. Takes the store lock for the duration of each transaction. */
export async function migrate(client: pg.ClientBase, migrations: readonly Migration[]): Promise<MigrationResult> {
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [STORE_LOCK_KEY]);
    const exists = (await client.query("SELECT to_regclass('public.dagrun_schema_migrations') IS NOT NULL AS present")).rows[0].present as boolean;
    if (!exists)
      await client.query(`CREATE TABLE public.dagrun_schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const recorded = new Map<number, { name: string; checksum: string }>(
      (await client.query('SELECT version, name, checksum FROM public.dagrun_schema_migrations')).rows.map((r) => [Number(r.version), { name: r.name, checksum: r.checksum }]),
    );
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...recorded.keys()].filter((v) => !known.has(v)).sort((a, b) => a - b);
    if (unknown.length > 0)
      throw new StepError(`the database has migration ${unknown.map((v) => String(v).padStart(4, '0')).join(', ')} that these files do not (published by newer code?)`, 'database dagrun_schema_migrations');
    for (const migration of migrations) {
      const done = recorded.get(migration.version);
      if (done) {
        if (done.checksum !== migration.checksum)
          throw new StepError(`was changed after it was applied (applied ${done.checksum.slice(0, 19)}…, file ${migration.checksum.slice(0, 19)}…): add a new migration instead`, migration.file);
        continue;
      }
      try {
        await client.query(migration.sql);
      } catch (error) {
        throw new StepError(`failed: ${(error as Error).message}`, migration.file);
      }
      await client.query('INSERT INTO public.dagrun_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [migration.version, migration.name, migration.checksum]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  return { applied, current: Math.max(...migrations.map((m) => m.version)) };
}
