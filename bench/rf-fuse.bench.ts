// Benchmark: rf-fuse on one simulated day of ~1,000,000 AIS rows and ~200,000 RF detections
// (700 generated vessels reporting every ~60 s for 24 h in the Solent/Channel box, run through the RF
// simulator: gaps, spoofs, decoys, TDOA clusters, duplicates and corrupt rows). Times the whole
// partition (runRfFuse: SQL cleaning + resolution, spoof check, Viterbi gap fill, N6/audit/KPI
// writing), then scores it against the simulator's truth. `--quick`: 70 vessels (~100k AIS rows).
// Usage: node --import tsx bench/rf-fuse.bench.ts [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quoteLiteral, withDb } from '../src/sdk/table-io.js';
import { evaluate } from '../steps/rf-fuse/evaluate.js';
import { runRfFuse } from '../steps/rf-fuse/run.js';
import { simulate, syntheticTracks } from '../steps/rf-fuse/simulate.js';
import { writeEntityMap, writeSimulationDay } from '../steps/rf-fuse/simulate-io.js';
import { DEFAULT_PARAMS, type N6Row } from '../steps/rf-fuse/types.js';

const quick = process.argv.includes('--quick');
const vessels = quick ? 70 : 700;
const date = '2026-05-25';

const started = Date.now();
const tracks = syntheticTracks({ seed: 11, date, vessels, hours: 24, intervalSec: 60 });
const sim = simulate(tracks, { seed: 12, rfIntervalMin: 8 });
const root = mkdtempSync(join(tmpdir(), 'rf-bench-'));
await writeSimulationDay(root, date, sim);
await writeEntityMap(join(root, 'entity_map.parquet'), sim.entityMap);
const prepareSeconds = (Date.now() - started) / 1000;
console.log(`prepared ${sim.ais.length} AIS rows, ${sim.rf.length} RF rows in ${prepareSeconds.toFixed(1)} s`);

const out = join(root, 'out');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const { kpi } = await runRfFuse(
  { ais: join(root, 'ais'), rf: join(root, 'rf'), entityMap: join(root, 'entity_map.parquet'), labels: join(root, 'truth') },
  { fused: join(out, 'n6.parquet'), kpi: join(out, 'kpi.json'), audit: join(out, 'audit.parquet') },
  date,
  DEFAULT_PARAMS,
);
const fuseSeconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
// The machine may be shared: report CPU time and load next to wall time.
const load = (await import('node:os')).loadavg()[0];
const memoryMb = Math.round(process.memoryUsage().rss / 1e6);

const rows = await withDb((db) => db.all(`SELECT mmsi, ts_utc, lat, lon, source_tag FROM read_parquet(${quoteLiteral(join(out, 'n6.parquet'))}) WHERE source_tag <> 'AIS'`));
const evaluation = evaluate(rows as unknown as N6Row[], sim, tracks, DEFAULT_PARAMS);
rmSync(root, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: 'rf-fuse',
    quick,
    ais_rows: sim.ais.length,
    rf_rows: sim.rf.length,
    n6_rows: kpi.output.rows,
    seconds: Number(fuseSeconds.toFixed(2)),
    cpu_seconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    ais_rows_per_s: Math.round(sim.ais.length / fuseSeconds),
    load_avg_1m: Number(load.toFixed(1)),
    cores: (await import('node:os')).cpus().length,
    rss_mb: memoryMb,
    gaps: kpi.gap_fill.gaps,
    gap_coverage_pct: kpi.gap_fill.gap_coverage_pct,
    truth_gap_coverage: Number(evaluation.gapCoverage.toFixed(4)),
    fill_error_median_km: Number(evaluation.fillErrorMedianKm.toFixed(3)),
    spoof_precision: Number(evaluation.precision.toFixed(4)),
    spoof_recall: Number(evaluation.recall.toFixed(4)),
  }),
);
