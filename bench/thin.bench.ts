// Benchmark: thin.sql on 10,000,000 generated AIS rows (20,000 vessels × 500 fixes every ~30 s, i.e.
// about 4 h of track each, mid-range of AIS reporting rates (2 s – 2 min); rows in shuffled order) against a bare DuckDB `row_number() OVER (PARTITION BY mmsi ORDER BY ts_utc)`
// pass over the same table, run side by side in the same DuckDB instance. Both materialise their
// result as a table. `--quick`: 1,000,000 rows (2,000 vessels).
// Usage: node --import tsx bench/thin.bench.ts [--quick]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withDb, type Db } from '../src/sdk/table-io.js';

const quick = process.argv.includes('--quick');
const vessels = quick ? 2_000 : 20_000;
const fixesPerVessel = 500;
// Rounds alternate baseline and thin, so each ratio compares runs made under the same machine load.
const rounds = quick ? 5 : 3;
const THIN_SQL = readFileSync(fileURLToPath(new URL('../steps/thin/thin.sql', import.meta.url)), 'utf8');
const PARAMS: Record<string, number> = {
  fast_sog_threshold_knots: 10, anchor_sog_threshold_knots: 0.5, fast_interval_min: 10, slow_interval_min: 15, anchor_interval_min: 60, voyage_gap_hours: 6, max_plausible_kn: 60,
};

async function generate(db: Db): Promise<void> {
  // Each vessel alternates anchored / slow / fast spells of ~100 fixes, reporting every 30 ± 0.5 s.
  await db.run(`
    CREATE TABLE positions AS
    WITH grid AS (
      SELECT v, i FROM range(${vessels}) t(v), range(${fixesPerVessel}) s(i)
    )
    SELECT
      (230000000 + v)::BIGINT AS mmsi,
      TIMESTAMP '2026-05-25 00:00:00' + to_microseconds((i * 30 + (v % 3600)) * 1000000 + (hash(v, i) % 1000000)::BIGINT - 500000) AS ts_utc,
      50.0 + (v % 200) * 0.01 + i * 0.00007 + (hash(v, i, 1) % 100) * 1e-6 AS lat,
      -2.0 + (v // 200) * 0.01 + i * 0.00005 + (hash(v, i, 2) % 100) * 1e-6 AS lon,
      CASE ((i // 100) + v) % 3 WHEN 0 THEN 0.1 WHEN 1 THEN 6.0 ELSE 14.0 END + (hash(v, i, 3) % 10) * 0.03 AS sog,
      (hash(v, i, 4) % 3600) / 10.0 AS cog,
      (hash(v, i, 5) % 360)::DOUBLE AS heading,
      0::INTEGER AS nav_status,
      NULL::VARCHAR AS imo, NULL::VARCHAR AS call_sign, NULL::VARCHAR AS name, 70::INTEGER AS vessel_type,
      'bench' AS source
    FROM grid
    ORDER BY hash(v, i, 6)
  `);
}

async function runThin(db: Db): Promise<void> {
  const extracted = await db.connection.extractStatements(THIN_SQL);
  for (let i = 0; i < extracted.count; i++) {
    const prepared = await extracted.prepare(i);
    for (let p = 1; p <= prepared.parameterCount; p++) {
      const value = PARAMS[prepared.parameterName(p)];
      if (Number.isInteger(value)) prepared.bindBigInt(p, BigInt(value));
      else prepared.bindDouble(p, value);
    }
    await prepared.run();
  }
}

async function dropThinTables(db: Db): Promise<void> {
  for (const t of ['thinned', 'kept_ord', 'classified', 'fixes']) await db.run(`DROP TABLE IF EXISTS ${t}`);
}

/** Wall seconds, and CPU seconds of the whole process (DuckDB's threads included): CPU time is the
 * steadier figure when other work shares the machine. */
const cpu: number[][] = [];
const timed = async (fn: () => Promise<void>): Promise<number> => {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(cpuStart);
  cpu.push([(used.user + used.system) / 1e6]);
  return (performance.now() - start) / 1000;
};
const lastCpu = (): number => cpu[cpu.length - 1][0];

const figures = await withDb(async (db) => {
  const generateSeconds = await timed(() => generate(db));
  const rows = Number((await db.all('SELECT count(*) AS n FROM positions'))[0].n);
  const baseline: number[] = [];
  const thin: number[] = [];
  const baselineCpu: number[] = [];
  const thinCpu: number[] = [];
  let kept = 0;
  for (let round = 0; round < rounds; round++) {
    baseline.push(await timed(() => db.run('CREATE OR REPLACE TEMP TABLE numbered AS SELECT *, row_number() OVER (PARTITION BY mmsi ORDER BY ts_utc) AS rn FROM positions')));
    baselineCpu.push(lastCpu());
    await db.run('DROP TABLE numbered');
    thin.push(await timed(() => runThin(db)));
    thinCpu.push(lastCpu());
    kept = Number((await db.all('SELECT count(*) AS n FROM thinned'))[0].n);
    await dropThinTables(db);
  }
  const best = (xs: number[]) => Math.min(...xs);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratios = thin.map((t, i) => t / baseline[i]);
  return {
    bench: 'thin',
    mode: quick ? 'quick' : 'full',
    rows,
    vessels,
    thinned_rows: kept,
    reduction: Number((1 - kept / rows).toFixed(4)),
    generate_s: Number(generateSeconds.toFixed(2)),
    row_number_s: baseline.map((x) => Number(x.toFixed(2))),
    thin_s: thin.map((x) => Number(x.toFixed(2))),
    ratio_per_round: ratios.map((r) => Number(r.toFixed(2))),
    ratio_median: Number(median(ratios).toFixed(2)),
    ratio_best_of_each: Number((best(thin) / best(baseline)).toFixed(2)),
    row_number_cpu_s: baselineCpu.map((x) => Number(x.toFixed(2))),
    thin_cpu_s: thinCpu.map((x) => Number(x.toFixed(2))),
    cpu_ratio_median: Number(median(thinCpu.map((t, i) => t / baselineCpu[i])).toFixed(2)),
  };
});
console.log(JSON.stringify(figures));
