// Relocatable cache benchmark (issue 11): the sample built cold in folder A, then in folder B with A's
// cache copied over. Goal: zero steps run in B. Reported side by side with B built cold (no cache):
// steps run, wall and CPU seconds (the CLI's own process tree: user + sys of the children, from bash's `times`).
// Usage: node --import tsx bench/portable.bench.ts [--quick]   (--quick is the same: the sample is small)
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'bin', 'dagrun.js');
const PARTS = ['pipeline.yaml', 'package.json', 'tsconfig.json', 'steps', 'lib', 'src/sdk', 'schemas', 'datasets/sample', 'datasets/chokepoints'];

function project(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `dagrun-bench-${name}-`));
  for (const part of PARTS) cpSync(join(root, part), join(dir, part), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

interface Measured {
  wall: number;
  cpu: number;
  built: number;
  cached: number;
}

/** One `dagrun build --json` in `cwd`: wall seconds, CPU seconds of the process tree, steps built and cached. */
function buildIn(cwd: string): Measured {
  const t0 = performance.now();
  const result = spawnSync('bash', ['-c', `"${process.execPath}" "${cli}" build --json > build.json; status=$?; times >&2; exit $status`], { cwd, encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (result.status !== 0) throw new Error(`build in ${cwd} failed (${result.status}): ${result.stderr}`);
  // `times` prints the shell's user/sys, then its children's: "0m1.234s 0m0.567s".
  const children = result.stderr.trim().split('\n').at(-1) as string;
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  const manifest = JSON.parse(spawnSync('cat', ['build.json'], { cwd, encoding: 'utf8' }).stdout) as { steps: { status: string }[] };
  return { wall, cpu: seconds[0] + seconds[1], built: manifest.steps.filter((s) => s.status === 'built').length, cached: manifest.steps.filter((s) => s.status === 'cached').length };
}

const a = project('a');
const b = project('b');
const cold = project('cold');
try {
  const builtA = buildIn(a);
  cpSync(join(a, 'cache'), join(b, 'cache'), { recursive: true });
  const copied = buildIn(b);
  const baseline = buildIn(cold);
  const row = (name: string, m: Measured): string => `${name.padEnd(36)} ${String(m.built).padStart(5)} ${String(m.cached).padStart(6)} ${m.wall.toFixed(2).padStart(8)} ${m.cpu.toFixed(2).padStart(8)}`;
  console.log(`${'build'.padEnd(36)} ${'built'.padStart(5)} ${'cached'.padStart(6)} ${'wall s'.padStart(8)} ${'cpu s'.padStart(8)}`);
  console.log(row('A, cold', builtA));
  console.log(row("B, with A's cache copied over", copied));
  console.log(row('B, cold (baseline, no cache)', baseline));
  console.log(`steps run in B with A's cache: ${copied.built} (goal 0); wall ${(copied.wall / baseline.wall).toFixed(3)}x, cpu ${(copied.cpu / baseline.cpu).toFixed(3)}x of a cold build`);
  if (copied.built !== 0) process.exitCode = 1;
} finally {
  for (const dir of [a, b, cold]) rmSync(dir, { recursive: true, force: true });
}
