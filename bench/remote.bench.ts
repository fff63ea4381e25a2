// Remote cache benchmark (issue 12, part a): a no-op build from a cold local cache against a warm
// remote (a private nginx on loopback, Bazel HTTP layout) versus a local no-op build, each a fresh
// `dagrun build` process. Synthetic pipeline: P partitions of a kernel writing a tree of 4 files
// (256 KiB each) plus one fan-in step. Reports the median wall time, CPU seconds (user + sys, from
// /usr/bin/time) and the bytes fetched from the remote.
// Usage: node --import tsx bench/remote.bench.ts [--quick]   (--quick: 12 partitions, 3 repeats)
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx } from '../test/helpers/servers.js';

const quick = process.argv.includes('--quick');
const partitions = quick ? 12 : 60;
const repeats = quick ? 3 : 5;
const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench', '.work', 'remote');
const cli = join(root, 'bin', 'dagrun.js');

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'steps'), { recursive: true });
writeFileSync(
  join(work, 'steps', 'gen.ts'),
  `import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
// Four 256 KiB files of hash-chained bytes per partition (incompressible, deterministic).
export default async (ctx: { partition: Record<string, string>; outputs: Record<string, string> }) => {
  mkdirSync(ctx.outputs.blobs, { recursive: true });
  let state = Buffer.from(ctx.partition.part);
  for (let f = 0; f < 4; f += 1) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < 8192; i += 1) chunks.push((state = createHash('sha256').update(state).digest()));
    writeFileSync(join(ctx.outputs.blobs, 'f' + f + '.bin'), Buffer.concat(chunks));
  }
};
`,
);
writeFileSync(join(work, 'steps', 'count.sql'), "CREATE TABLE count AS SELECT count(*) AS partitions FROM (SELECT 1);\n");
const values = Array.from({ length: partitions }, (_, i) => `p${String(i).padStart(2, '0')}`);
writeFileSync(
  join(work, 'pipeline.yaml'),
  `pipeline: remote-bench
output_root: out
partitions:
  part:
    values: [${values.join(', ')}]
steps:
  gen:
    kernel: steps/gen.ts
    partition: part
    outputs:
      blobs: { path: 'blobs/{part}', format: directory }
`,
);

interface Sample {
  wall: number;
  cpu: number;
  fetched: number;
  built: number;
}

function dagrun(args: string[], env: Record<string, string> = {}): Sample {
  const result = spawnSync('/usr/bin/time', ['-f', '%e %U %S', process.execPath, cli, 'build', '--json', ...args], { cwd: work, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`dagrun build ${args.join(' ')} failed: ${result.stderr}`);
  const [wall, user, sys] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  const document = JSON.parse(result.stdout) as { steps: { status: string }[]; remote_cache?: { bytes_fetched: number } };
  return { wall, cpu: user + sys, fetched: document.remote_cache?.bytes_fetched ?? 0, built: document.steps.filter((s) => s.status === 'built').length };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const nginx = await startNginx();
try {
  // Warm the remote (and the local cache) once.
  const warm = dagrun(['--remote-cache', nginx.url]);
  if (warm.built !== partitions) throw new Error(`warm-up built ${warm.built} of ${partitions}`);

  const local: Sample[] = [];
  const remote: Sample[] = [];
  for (let i = 0; i < repeats; i += 1) {
    // Interleaved, so load changes on the shared machine hit both alike.
    local.push(dagrun([]));
    rmSync(join(work, 'cache'), { recursive: true, force: true });
    rmSync(join(work, 'out'), { recursive: true, force: true });
    const cold = dagrun(['--remote-cache', nginx.url, '--remote-mode', 'read']);
    if (cold.built !== 0) throw new Error(`cold-local build ran ${cold.built} steps`);
    remote.push(cold);
  }
  const l = { wall: median(local.map((s) => s.wall)), cpu: median(local.map((s) => s.cpu)) };
  const r = { wall: median(remote.map((s) => s.wall)), cpu: median(remote.map((s) => s.cpu)), fetched: median(remote.map((s) => s.fetched)) };
  console.log(`partitions: ${partitions} (${partitions * 4} files, ${((partitions * 4 * 256) / 1024).toFixed(1)} MiB of outputs), repeats: ${repeats}, medians`);
  console.log(`local no-op build:                      wall ${l.wall.toFixed(2)} s, CPU ${l.cpu.toFixed(2)} s, fetched 0 bytes`);
  console.log(`cold local cache, warm remote (nginx):  wall ${r.wall.toFixed(2)} s, CPU ${r.cpu.toFixed(2)} s, fetched ${r.fetched} bytes (${(r.fetched / 1048576).toFixed(1)} MiB)`);
  console.log(`ratio cold-local-warm-remote / local no-op: wall ${(r.wall / l.wall).toFixed(2)}x, CPU ${(r.cpu / l.cpu).toFixed(2)}x`);
} finally {
  await nginx.stop();
}
