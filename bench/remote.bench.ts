// Remote cache benchmark (issue 12, part a): a no-op build from a cold local cache against a warm
// remote (a private nginx on loopback, Bazel HTTP layout) versus a local no-op build, each a fresh
// `dagrun build` process. Synthetic pipeline: P partitions of a kernel writing a tree of 4 files
// (256 KiB each) plus one fan-in step. Reports the median wall time, CPU seconds (user + sys, from
// /usr/bin/time) and the bytes fetched from the remote.
// Usage: node --import tsx bench/remote.bench.ts [--quick] [--part=a|b]   (--quick: 12 partitions, 3 repeats)
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

function dagrun(args: string[], env: Record<string, string> = {}, cwd = work): Sample {
  const result = spawnSync('/usr/bin/time', ['-f', '%e %U %S', process.execPath, cli, 'build', '--json', ...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`dagrun build ${args.join(' ')} failed: ${result.stderr}`);
  const [wall, user, sys] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  const document = JSON.parse(result.stdout) as { steps: { status: string }[]; remote_cache?: { bytes_fetched: number } };
  return { wall, cpu: user + sys, fetched: document.remote_cache?.bytes_fetched ?? 0, built: document.steps.filter((s) => s.status === 'built').length };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// --part=a or --part=b runs one part (default both).
const parts = process.argv.find((arg) => arg.startsWith('--part='))?.slice('--part='.length) ?? 'ab';
if (parts.includes('a')) {
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
}

// ---------- (b) distributed execution: 1 vs 2 BullMQ workers vs --executor local ----------
// P partitions of a CPU-bound kernel (a SHA-256 chain, tiny output), each configuration from a fresh
// local cache and a fresh remote lane so every instance runs. Workers are `dagrun worker` processes
// (concurrency 1 each) in a copy of the project in another folder; private redis-server + nginx.
// CPU = client + workers (user + sys, threads included, from /proc/PID/stat).
const { startRedis } = await import('../test/helpers/servers.js');
const { cpSync, readFileSync } = await import('node:fs');
const { spawn } = await import('node:child_process');
const cpuWork = join(root, 'bench', '.work', 'remote-cpu');
const workerDir = join(root, 'bench', '.work', 'remote-cpu-worker');
rmSync(cpuWork, { recursive: true, force: true });
rmSync(workerDir, { recursive: true, force: true });
mkdirSync(join(cpuWork, 'steps'), { recursive: true });
const rounds = quick ? 60_000 : 300_000;
writeFileSync(
  join(cpuWork, 'steps', 'burn.ts'),
  `import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
// CPU-bound: a SHA-256 chain of ${rounds} rounds per partition; a 32-byte output.
export default async (ctx: { partition: Record<string, string>; outputs: Record<string, string> }) => {
  let state = Buffer.from(ctx.partition.part);
  for (let i = 0; i < ${rounds}; i += 1) state = createHash('sha256').update(state).digest();
  mkdirSync(ctx.outputs.hash, { recursive: true });
  writeFileSync(join(ctx.outputs.hash, 'h.bin'), state);
};
`,
);
writeFileSync(
  join(cpuWork, 'pipeline.yaml'),
  `pipeline: remote-cpu-bench
output_root: out
partitions:
  part:
    values: [${Array.from({ length: 60 }, (_, i) => `p${String(i).padStart(2, '0')}`).join(', ')}]
steps:
  burn:
    kernel: steps/burn.ts
    partition: part
    outputs:
      hash: { path: 'hash/{part}', format: directory }
`,
);
cpSync(cpuWork, workerDir, { recursive: true });

const ticks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, clock ticks (100/s)
};

const [redis, cacheServer] = parts.includes('b') ? await Promise.all([startRedis(), startNginx()]) : [undefined, undefined];
let lane = 0;
if (redis && cacheServer) try {
  const run = async (workers: number): Promise<{ wall: number; cpu: number }> => {
    lane += 1;
    const remote = `${cacheServer.url}/cpu${lane}`;
    rmSync(join(cpuWork, 'cache'), { recursive: true, force: true });
    rmSync(join(cpuWork, 'out'), { recursive: true, force: true });
    const procs = [];
    for (let w = 0; w < workers; w += 1) {
      const child = spawn(process.execPath, [cli, 'worker', '--redis', `${redis.url}/${lane}`, '--remote-cache', remote, '--worker-id', `w${w + 1}`, '--cache', join(workerDir, `cache-w${w + 1}-${lane}`)], { cwd: workerDir, stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise<void>((ready) => child.stdout.on('data', (d: Buffer) => d.toString().includes('serving queue') && ready()));
      procs.push(child);
    }
    const before = procs.map((p) => ticks(p.pid as number));
    const args = workers === 0 ? [] : ['--executor', 'bullmq', '--redis', `${redis.url}/${lane}`, '--remote-cache', remote];
    const client = dagrun(args, {}, cpuWork);
    if (client.built !== 60) throw new Error(`built ${client.built} of 60`);
    const workerCpu = procs.reduce((sum, p, i) => sum + (ticks(p.pid as number) - before[i]) / 100, 0);
    await Promise.all(procs.map((p) => new Promise((gone) => (p.once('exit', gone), p.kill('SIGTERM')))));
    return { wall: client.wall, cpu: client.cpu + workerCpu };
  };
  const samples: Record<string, { wall: number; cpu: number }[]> = { local: [], one: [], two: [] };
  for (let i = 0; i < (quick ? 1 : 3); i += 1) {
    samples.local.push(await run(0));
    samples.one.push(await run(1));
    samples.two.push(await run(2));
  }
  const m = (key: string) => ({ wall: median(samples[key].map((s) => s.wall)), cpu: median(samples[key].map((s) => s.cpu)) });
  const [l, one, two] = [m('local'), m('one'), m('two')];
  console.log(`\n(b) 60 partitions × SHA-256 chain of ${rounds} rounds, ${samples.local.length} interleaved repeat(s), medians; CPU = client + workers`);
  console.log(`--executor local (--jobs 2):   wall ${l.wall.toFixed(2)} s, CPU ${l.cpu.toFixed(2)} s`);
  console.log(`bullmq, 1 worker:              wall ${one.wall.toFixed(2)} s, CPU ${one.cpu.toFixed(2)} s`);
  console.log(`bullmq, 2 workers:             wall ${two.wall.toFixed(2)} s, CPU ${two.cpu.toFixed(2)} s`);
  console.log(`ratios vs 1 worker: 2 workers wall ${(one.wall / two.wall).toFixed(2)}x faster; local wall ${(one.wall / l.wall).toFixed(2)}x faster`);
  console.log(`ratios vs local: 2 workers wall ${(two.wall / l.wall).toFixed(2)}x, CPU ${(two.cpu / l.cpu).toFixed(2)}x`);
} finally {
  await Promise.all([redis.stop(), cacheServer.stop()]);
}
