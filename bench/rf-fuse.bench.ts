// Benchmark: rf-fuse on one simulated day of `--rows` AIS rows (default 1,000,000) with RF at the same
// ratio as the sample (~1 RF detection per 5 AIS fixes after the simulator's gaps, spoofs, decoys, TDOA
// clusters, duplicates and corrupt rows). The day is generated in tiles of 700 vessels reporting every
// ~60 s for 24 h; tile 0 is the Solent/Channel box of the original bench, further tiles sit in boxes of
// the same size beside it (a bigger day is more coastline, not 20× the ships in one box). Each tile is
// simulated and written on its own, so generating 20 M rows never holds more than one tile in memory.
//
// The step runs in a CHILD process (bench/rf-fuse-child.ts) so the figures are the whole process's:
// CPU-seconds (user + system, DuckDB's threads included) and peak RSS from its rusage. Afterwards tile 0
// is simulated again (deterministic) and the N6 rows of its vessels are scored against its truth.
// Usage: node --import tsx bench/rf-fuse.bench.ts [--rows N] [--quick] [--code DIR] [--tiles DIR]
//   --quick: 100,000 rows. --code DIR: run DIR/bench/rf-fuse-child.ts (e.g. a worktree of older code, for a ratio).
//   --tiles DIR: keep generated tiles in DIR and reuse them (a tile depends only on its index and vessel
//   count, so 5M/10M/20M runs share most of theirs); the run links the ones it needs.
//   --prepare-only: generate the tiles (into --tiles DIR) and stop, so a big run's data can be made
//   while another measurement runs.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quoteLiteral, withDb, writeTable } from '../src/sdk/table-io.js';
import { evaluate } from '../steps/rf-fuse/evaluate.js';
import { simulate, syntheticTracks, type SimResult } from '../steps/rf-fuse/simulate.js';
import { writeEntityMap, writeSimulation } from '../steps/rf-fuse/simulate-io.js';
import { DEFAULT_PARAMS, type N6Row } from '../steps/rf-fuse/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const quick = process.argv.includes('--quick');
const targetRows = Number(argValue('--rows') ?? (quick ? 100_000 : 1_000_000));
if (!Number.isFinite(targetRows) || targetRows < 1000) throw new Error(`--rows must be a number ≥ 1000 (got ${argValue('--rows')})`);
const code = resolve(argValue('--code') ?? join(here, '..'));
const date = '2026-05-25';
/** 700 vessels every ~60 s for 24 h gave 1.03 M AIS rows in the original bench. */
const ROWS_PER_VESSEL = 1_030_000 / 700;
const TILE_VESSELS = 700;
const vessels = Math.max(1, Math.round(targetRows / ROWS_PER_VESSEL));
const tiles = Math.ceil(vessels / TILE_VESSELS);

function tileSim(tile: number): { sim: SimResult; tracks: ReturnType<typeof syntheticTracks> } {
  const count = Math.min(TILE_VESSELS, vessels - tile * TILE_VESSELS);
  const col = tile % 5;
  const row = Math.floor(tile / 5);
  const bbox: [number, number, number, number] = [-2.0 + 1.4 * col, 50.0 + row, -0.8 + 1.4 * col, 50.85 + row];
  // Tile 0 is exactly the original bench's day (seeds 11/12, mmsi base, RF ids).
  const tracks = syntheticTracks({ seed: 11 + tile * 1000, date, vessels: count, hours: 24, intervalSec: 60, bbox, mmsiBase: 235_000_000 + tile * 100_000 });
  const sim = simulate(tracks, { seed: 12 + tile * 1000, rfIntervalMin: 8, rfIdPrefix: tile === 0 ? 'RF' : `RF${tile}` });
  return { sim, tracks };
}

const started = Date.now();
const root = mkdtempSync(join(tmpdir(), 'rf-bench-'));
const tileStore = argValue('--tiles') ? resolve(argValue('--tiles') as string) : join(root, 'tiles');
const day = join(...date.split('-'));
for (const kind of ['ais', 'rf', 'truth']) mkdirSync(join(root, kind, day), { recursive: true });
const entityMaps: string[] = [];
let aisRows = 0;
let rfRows = 0;
for (let tile = 0; tile < tiles; tile++) {
  const count = Math.min(TILE_VESSELS, vessels - tile * TILE_VESSELS);
  const name = `tile-${String(tile).padStart(3, '0')}-${count}.parquet`;
  const store = (kind: string) => join(tileStore, kind, name);
  if (!existsSync(store('done'))) await writeTile(tile, store);
  for (const kind of ['ais', 'rf', 'truth']) symlinkSync(store(kind), join(root, kind, day, name));
  entityMaps.push(store('entity_map'));
}
await withDb(async (db) => {
  const [{ ais, rf }] = await db.all(
    `SELECT (SELECT count(*) FROM read_parquet(${quoteLiteral(join(root, 'ais', day, '*.parquet'))})) AS ais, (SELECT count(*) FROM read_parquet(${quoteLiteral(join(root, 'rf', day, '*.parquet'))})) AS rf`,
  );
  aisRows = Number(ais);
  rfRows = Number(rf);
  await db.copyToFile(`(SELECT DISTINCT * FROM read_parquet([${entityMaps.map(quoteLiteral).join(', ')}]))`, join(root, 'entity_map.parquet'), 'parquet');
});

async function writeTile(tile: number, store: (kind: string) => string): Promise<void> {
  const { sim } = tileSim(tile);
  await writeSimulation({ ais: store('ais'), rf: store('rf'), spoofLabels: store('truth') }, sim);
  await writeEntityMap(store('entity_map'), sim.entityMap);
  await writeTable(store('done'), { tile: 'INTEGER' }, [{ tile }]);
}
console.log(`prepared ${aisRows} AIS rows, ${rfRows} RF rows in ${tiles} tile(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (process.argv.includes('--prepare-only')) {
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
}

// The child script is copied next to the code under test, so an older checkout can be measured too.
const childScript = join(code, 'bench', 'rf-fuse-child.ts');
if (!existsSync(childScript)) {
  mkdirSync(dirname(childScript), { recursive: true });
  copyFileSync(join(here, 'rf-fuse-child.ts'), childScript);
}
const out = join(root, 'out');
const resultFile = join(root, 'child-result.json');
const t0 = performance.now();
const status = await new Promise<number | null>((done) => {
  const child = spawn('nice', ['-n', '10', process.execPath, '--import', 'tsx', childScript, root, date, out, resultFile], { cwd: code, stdio: 'inherit' });
  child.on('exit', (codeValue) => done(codeValue));
});
const wallSeconds = (performance.now() - t0) / 1000;
if (status !== 0) {
  rmSync(root, { recursive: true, force: true });
  throw new Error(`rf-fuse child exited with ${status}`);
}
const child = JSON.parse(readFileSync(resultFile, 'utf8')) as { cpu_seconds: number; peak_rss_mb: number; n6_rows: number; gaps: number; gap_coverage_pct: number | null };

// Truth KPIs on tile 0 (regenerated: the simulation is deterministic).
const { sim, tracks } = tileSim(0);
const maxMmsi = 235_000_000 + 100_000;
const rows = await withDb((db) =>
  db.all(`SELECT mmsi, ts_utc, lat, lon, source_tag FROM read_parquet(${quoteLiteral(join(out, 'n6.parquet'))}) WHERE source_tag <> 'AIS' AND CAST(mmsi AS BIGINT) < ${maxMmsi}`),
);
const evaluation = evaluate(rows as unknown as N6Row[], sim, tracks, DEFAULT_PARAMS);
rmSync(root, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: 'rf-fuse',
    code: code === resolve(here, '..') ? 'this' : code,
    rows: aisRows,
    rf_rows: rfRows,
    tiles,
    n6_rows: child.n6_rows,
    seconds: Number(wallSeconds.toFixed(2)),
    cpu_seconds: child.cpu_seconds,
    peak_rss_mb: child.peak_rss_mb,
    load_avg_1m: Number(loadavg()[0].toFixed(1)),
    gaps: child.gaps,
    gap_coverage_pct: child.gap_coverage_pct,
    truth_gap_coverage: Number(evaluation.gapCoverage.toFixed(4)),
    fill_error_median_km: Number(evaluation.fillErrorMedianKm.toFixed(3)),
    spoof_precision: Number(evaluation.precision.toFixed(4)),
    spoof_recall: Number(evaluation.recall.toFixed(4)),
  }),
);
