// Engine benchmark (issue 2):
//  1. No-op build of a pipeline whose input is a directory of 10,000 files, against `node -e 0` and
//     `git status` on the same tree (median of repeated runs, each a fresh process).
//  2. Cold hashing throughput of a 1 GiB file: dagrun's SHA-256 digestFile against `sha256sum`,
//     with the page cache dropped between runs where the machine allows it, else warm for both.
// Usage: node --import tsx bench/engine.bench.ts [--quick]   (--quick: 2,000 files, 256 MiB)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, existsSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { digestFile } from '../src/sdk/hash.js';
import { seededRandom } from '../src/sdk/random.js';

const quick = process.argv.includes('--quick');
const fileCount = quick ? 2_000 : 10_000;
const hashBytes = (quick ? 256 : 1024) * 1024 * 1024;
const repeats = quick ? 3 : 7;
const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench', '.work', 'engine');
const cli = join(root, 'bin', 'dagrun.js');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timeCommand(command: string, args: string[], cwd: string): number {
  const times: number[] = [];
  for (let i = 0; i < repeats; i += 1) {
    const t0 = performance.now();
    const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    times.push(performance.now() - t0);
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  }
  return median(times);
}

// ---------- 1. no-op build over many input files ----------
rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'inputs'), { recursive: true });
mkdirSync(join(work, 'steps'), { recursive: true });
const random = seededRandom(10_000);
for (let i = 0; i < fileCount; i += 1) {
  const dir = join(work, 'inputs', String(i % 100).padStart(2, '0'));
  if (i < 100) mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `part-${String(i).padStart(5, '0')}.csv`), `id,value\n${i},${random().toFixed(6)}\n`);
}
writeFileSync(join(work, 'steps', 'total.sql'), 'CREATE TABLE total AS SELECT count(*) AS files, sum(value) AS value FROM inputs;\n');
writeFileSync(
  join(work, 'pipeline.yaml'),
  `pipeline: noop-bench
steps:
  total:
    sql: steps/total.sql
    inputs:
      inputs: file:inputs
    outputs:
      total: { path: total.parquet, format: parquet, columns: { files: BIGINT, value: DOUBLE } }
`,
);
writeFileSync(join(work, '.gitignore'), 'cache/\nout/\n');
execFileSync('git', ['init', '-q'], { cwd: work });
execFileSync('git', ['add', '-A'], { cwd: work });
execFileSync('git', ['-c', 'user.email=bench@dagrun', '-c', 'user.name=bench', 'commit', '-qm', 'bench tree'], { cwd: work });

const cold = performance.now();
const first = spawnSync(process.execPath, [cli, 'build'], { cwd: work, encoding: 'utf8' });
const coldMs = performance.now() - cold;
if (first.status !== 0) throw new Error(`cold build failed: ${first.stderr}`);
const noop = timeCommand(process.execPath, [cli, 'build'], work);
const nodeBare = timeCommand(process.execPath, ['-e', '0'], work);
const gitStatus = timeCommand('git', ['status', '--porcelain'], work);

// ---------- 2. hashing throughput ----------
const big = join(root, 'bench', '.work', 'hash-1gib.bin');
if (!existsSync(big)) {
  const fd = openSync(big, 'w');
  const chunk = Buffer.alloc(8 * 1024 * 1024);
  const fill = seededRandom(1);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(Math.floor(fill() * 2 ** 32), i);
  for (let written = 0; written < hashBytes; written += chunk.length) writeSync(fd, chunk);
  closeSync(fd);
}
// Dropping the page cache (a root-only, machine-wide write) happens only when asked: --drop-caches.
// Without it the hashing figures are warm-cache figures, and the result says so.
const dropCaches = (): boolean => process.argv.includes('--drop-caches') && spawnSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' }).status === 0;
const cacheDropped = dropCaches();
let t0 = performance.now();
await digestFile(big);
const digestMs = performance.now() - t0;
dropCaches();
t0 = performance.now();
execFileSync('sha256sum', [big], { stdio: 'ignore' });
const shaMs = performance.now() - t0;
const mb = hashBytes / (1024 * 1024);

const result = {
  files: fileCount,
  cold_build_ms: Math.round(coldMs),
  noop_build_ms: Math.round(noop),
  node_e_0_ms: Math.round(nodeBare),
  git_status_ms: Math.round(gitStatus),
  noop_vs_git_status: Number((noop / gitStatus).toFixed(2)),
  noop_vs_node_e_0: Number((noop / nodeBare).toFixed(2)),
  hash_mib: mb,
  page_cache_dropped: cacheDropped,
  digest_mb_s: Math.round(mb / (digestMs / 1000)),
  sha256sum_mb_s: Math.round(mb / (shaMs / 1000)),
  hash_speedup_vs_sha256sum: Number((shaMs / digestMs).toFixed(2)),
};
console.log(JSON.stringify(result));
