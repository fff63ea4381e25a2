// publish-transits: the transit-reconcile lifecycle into PostgreSQL/PostGIS (DATABASE_URL, a secret).
// A source step: it writes to a database outside the cache, so its report is a capture, pinned like
// other captures; a new lifecycle (a new input digest) publishes again, `--refresh publish-transits`
// re-publishes the same one. Without DATABASE_URL it publishes nothing and says so.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import pg from 'pg';
import { StepError } from '../../src/sdk/errors.js';
import { digestFile } from '../../src/sdk/hash.js';
import type { Kernel, KernelContext } from '../../src/sdk/kernel-api.js';
import { readTable } from '../../src/sdk/table-io.js';
import { parseChokepoints } from '../transit-reconcile/chokepoints.js';
import { assertTransitConstraints, fromTableRow, toTableRow } from '../transit-reconcile/transits.js';
import { loadMigrations, migrate, STORE_LOCK_KEY } from './migrate.js';
import { currentPublication, logJob, recordPublication, refreshWeekly, upsertChokepoints, upsertRows, type UpsertCounts } from './store.js';
import { DARK_EVENTS, SAR_DETECTIONS, VESSEL_TRANSITS } from './tables.js';

/** Parse DATABASE_URL without ever echoing it; returns the parts to scrub from error messages. */
export function checkDatabaseUrl(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StepError('DATABASE_URL is not a URL (expected postgres://user:password@host:port/database)', 'environment DATABASE_URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new StepError(`DATABASE_URL must be a postgres:// or postgresql:// URL, not ${parsed.protocol}//`, 'environment DATABASE_URL');
  return [url, decodeURIComponent(parsed.password), parsed.password, decodeURIComponent(parsed.username), parsed.username, parsed.host, parsed.hostname].filter((s) => s.length >= 3);
}

export function scrub(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
  return out;
}

async function writeReport(ctx: KernelContext, report: Record<string, unknown>): Promise<void> {
  await mkdir(dirname(ctx.outputs.report), { recursive: true });
  await writeFile(ctx.outputs.report, `${JSON.stringify(report, null, 2)}\n`);
}

const kernel: Kernel = async (ctx) => {
  const partition = ctx.partition.date ?? '';
  const url = ctx.secret('DATABASE_URL');
  if (!url) {
    const reason = 'no DATABASE_URL in the environment: nothing published (set it, then `dagrun build --refresh publish-transits`)';
    ctx.warn(reason);
    ctx.metric('status', 'skipped');
    await writeReport(ctx, { status: 'skipped', reason, partition });
    return;
  }
  const secrets = checkDatabaseUrl(url);

  const corridors = parseChokepoints(await readFile(ctx.inputs.chokepoints, 'utf8'), 'chokepoints');
  const transitsFile = ctx.inputs.transits;
  const transits = (await readTable(transitsFile)).map(fromTableRow);
  assertTransitConstraints(transits, 'transits', new Set(corridors.map((c) => c.id)));
  const snapshot = (await digestFile(transitsFile)).digest;
  const migrations = await loadMigrations(ctx.inputs.migrations);
  // Optional SAR inputs: the day's CFAR clusters (for the monitor's log row) and the dark-fleet sweep.
  const optional = async (name: string) => {
    const file = ctx.inputFiles[name]?.[0] ?? ctx.inputs[name];
    return file ? readTable(file) : null;
  };
  const detections = await optional('detections');
  const darkEvents = await optional('dark_events');
  const sarDetections = await optional('sar_detections');
  // transit-predict's run log: the predictor's own figures for its log row (else the lifecycle's).
  const predictionRuns = await optional('runs');
  const withTimes = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));

  const client = new pg.Client({
    connectionString: url,
    application_name: 'dagrun publish-transits',
    connectionTimeoutMillis: Number(ctx.params.connect_timeout_s) * 1000,
    statement_timeout: Number(ctx.params.statement_timeout_s) * 1000,
  });
  // An idle client error (server shutdown) must not crash the worker; the next query reports it.
  client.on('error', () => undefined);
  try {
    try {
      await client.connect();
    } catch (error) {
      throw new StepError(`cannot connect to the database in DATABASE_URL: ${scrub((error as Error).message, secrets)}`, 'environment DATABASE_URL');
    }
    const schema = await migrate(client, migrations);
    if (schema.applied.length > 0) ctx.log(`applied migrations ${schema.applied.join(', ')}`);

    const started = ctx.now();
    await client.query('BEGIN');
    let report: Record<string, unknown>;
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [STORE_LOCK_KEY]);
      const chokepoints = await upsertChokepoints(client, corridors);
      const published = await currentPublication(client);
      // Partitions are dates: a snapshot of an earlier date than the one in the database is stale.
      const stale = published !== null && partition < published.partition;
      let transitCounts: UpsertCounts = { rows: transits.length, inserted: 0, updated: 0, unchanged: 0, deleted: 0 };
      if (!stale) {
        transitCounts = await upsertRows(client, VESSEL_TRANSITS, transits.map(toTableRow), { keepOnly: true });
        await recordPublication(client, { partition, snapshot }, started);
      }
      const sarTables: Record<string, UpsertCounts> = {};
      if (darkEvents) sarTables.dark_events = await upsertRows(client, DARK_EVENTS, withTimes(darkEvents));
      if (sarDetections) sarTables.sar_detections = await upsertRows(client, SAR_DETECTIONS, withTimes(sarDetections));
      const weeklyRows = await refreshWeekly(client);
      const finished = ctx.now();
      const changed = transitCounts.inserted + transitCounts.updated + transitCounts.deleted > 0;
      const status = stale ? 'stale' : 'published';
      const common = { startedAt: started, finishedAt: finished, partition } as const;
      const newPredictions = transits.filter((t) => t.status !== 'dark_transit').length;
      const predictor = predictionRuns
        ? {
            counts: { rows: predictionRuns.reduce((n, r) => n + Number(r.predictions), 0) },
            detail: { snapshot, runs: predictionRuns.length, first_run: predictionRuns[0]?.run_at ?? null, last_run: predictionRuns[predictionRuns.length - 1]?.run_at ?? null, lifecycle_rows: newPredictions },
          }
        : { counts: { rows: newPredictions }, detail: { snapshot } };
      await logJob(client, { ...common, source: 'populate_predicted_transits', status: changed ? 'ok' : 'unchanged', ...predictor });
      await logJob(client, { ...common, source: 'reconcile_vessel_transits', status: changed ? 'ok' : 'unchanged', counts: transitCounts, detail: { snapshot, stale, unchanged: transitCounts.unchanged } });
      await logJob(client, { ...common, source: 'refresh_mv_chokepoint_transits_weekly', status: 'ok', counts: { rows: weeklyRows } });
      if (detections) {
        const scenes = new Set(detections.map((d) => d.scene_id)).size;
        await logJob(client, { ...common, source: 'monitor_corridor_sar', status: 'ok', counts: { rows: detections.length }, detail: { scenes, in_corridors: detections.filter((d) => d.chokepoint_id !== null).length } });
      }
      if (sarTables.sar_detections) {
        const c = sarTables.sar_detections;
        await logJob(client, { ...common, source: 'verify_dark_fleet_sar', status: c.inserted + c.updated > 0 ? 'ok' : 'unchanged', counts: c, detail: { dark_events: darkEvents?.length ?? 0 } });
      }
      await client.query('COMMIT');
      report = {
        status,
        reason: stale ? `the database holds the lifecycle of ${published?.partition}, newer than ${partition}: vessel_transits left as it is` : changed ? 'rows written' : 'already up to date',
        partition,
        snapshot,
        schema_version: schema.current,
        migrations_applied: schema.applied,
        tables: { chokepoints, vessel_transits: transitCounts, ...sarTables },
        weekly_rows: weeklyRows,
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    ctx.metric('status', String(report.status));
    ctx.metric('transits_inserted', countsOf(report).inserted);
    ctx.metric('transits_updated', countsOf(report).updated);
    ctx.metric('transits_deleted', countsOf(report).deleted);
    await writeReport(ctx, report);
  } catch (error) {
    if (error instanceof StepError) throw error;
    throw new StepError(scrub((error as Error).message ?? String(error), secrets), 'database');
  } finally {
    await client.end().catch(() => undefined);
  }
};

function countsOf(report: Record<string, unknown>): UpsertCounts {
  return (report.tables as { vessel_transits: UpsertCounts }).vessel_transits;
}

export default kernel;
