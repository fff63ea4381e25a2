// Partitions at scale (issue 17), side by side with Snakemake 7.21 (Debian's `snakemake`):
//  per date a 10-row CSV, a copy step, a ×2 step, then a fan-in sum over all dates; dagrun steps are
//  DuckDB SQL with `file:inputs/{date}.csv`, Snakemake's rules are cp/awk. Both with 2 jobs.
//  For N = 7 and N = 365: cold build, no-op, rebuild after one date's input changed.
//  Then: `dagrun plan` over 3,650 instances (365 dates × 10 chained steps), and a no-op over one
//  directory input of 100,000 files against `git status --porcelain` on the same tree.
// Every figure is CPU-seconds (user+sys of the process and its children, from /usr/bin/time) and
// wall seconds, each with the command that produced it.
// Usage: node --import tsx bench/partitions.bench.ts [--quick] [--tree]   (--quick: N = 7 and 30, 10,000 files;
//   --tree: only the no-op over the 100,000-file tree, `npm run bench -- partitions --tree`)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../src/sdk/random.js';
import { writeDailyInputs, writeDailyProject } from '../test/helpers/daily-project.js';

const quick = process.argv.includes('--quick');
const treeOnly = process.argv.includes('--tree');
const sizes = treeOnly ? [] : quick ? [7, 30] : [7, 365];
const bigFiles = quick ? 10_000 : 100_000;
const repeats = 3;
const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench', '.work', 'partitions');
const cli = join(root, 'bin', 'dagrun.js');

interface Timing {
  wall: number;
  cpu: number;
  command: string;
}

/** Run a command under /usr/bin/time: wall and user+sys CPU seconds, children included. */
function timed(command: string, args: string[], cwd: string): Timing {
  const result = spawnSync('/usr/bin/time', ['-f', '%e %U %S', command, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  const last = result.stderr.trim().split('\n').pop() as string;
  const [wall, user, sys] = last.split(' ').map(Number);
  return { wall, cpu: user + sys, command: `${command === process.execPath ? 'node' : command} ${args.map((a) => a.replace(root, '')).join(' ')}` };
}

/** The median (by CPU-seconds: the machine is shared, wall follows its load) of repeated runs, `prepare` run before each. */
function median(run: () => Timing, prepare: () => void = () => undefined, times = repeats): Timing {
  return side([{ run, prepare }], times)[0];
}

/**
 * Several commands measured side by side: round after round, each once, so a change in the machine's
 * load falls on all of them alike. The median of each by CPU-seconds, with its median wall.
 */
function side(commands: readonly { run: () => Timing; prepare?: () => void }[], times = repeats): Timing[] {
  const results: Timing[][] = commands.map(() => []);
  for (let i = 0; i < times; i += 1) {
    commands.forEach((c, k) => {
      c.prepare?.();
      results[k].push(c.run());
    });
  }
  const mid = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return results.map((runs) => ({ cpu: mid(runs.map((r) => r.cpu)), wall: mid(runs.map((r) => r.wall)), command: runs[0].command }));
}

function ensureSnakemake(): boolean {
  if (spawnSync('snakemake', ['--version'], { stdio: 'ignore' }).status === 0) return true;
  process.stderr.write('snakemake missing: installing Debian\'s package\n');
  spawnSync('apt-get', ['install', '-y', '-qq', 'snakemake'], { stdio: 'inherit' });
  return spawnSync('snakemake', ['--version'], { stdio: 'ignore' }).status === 0;
}

function dates(n: number): string[] {
  const start = Date.parse('2025-01-01T00:00:00Z');
  return Array.from({ length: n }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10));
}

/** Ten seeded (id, v) rows per date, the same for the same number of dates. */
function benchRows(days: readonly string[]): (day: string) => string[] {
  const random = seededRandom(days.length);
  return () => Array.from({ length: 10 }, (_, i) => `${i},${Math.floor(random() * 1000)}`);
}

function writeInputs(dir: string, days: string[]): void {
  writeDailyInputs(dir, days, benchRows(days));
}

function dagrunProject(dir: string, days: string[]): void {
  rmSync(dir, { recursive: true, force: true });
  writeDailyProject(dir, { name: 'partitions-bench', days, rows: benchRows(days), double: true });
}

function snakemakeProject(dir: string, days: string[]): void {
  rmSync(dir, { recursive: true, force: true });
  writeInputs(dir, days);
  writeFileSync(
    join(dir, 'Snakefile'),
    `DATES = ${JSON.stringify(days)}

rule all:
    input: "out/total.csv"

rule copy:
    input: "inputs/{date}.csv"
    output: "out/copied/{date}.csv"
    shell: "cp {input} {output}"

rule double:
    input: "out/copied/{date}.csv"
    output: "out/doubled/{date}.csv"
    shell: "awk -F, 'NR==1{{print; next}} {{print $1 \\",\\" $2*2}}' {input} > {output}"

rule sum:
    input: expand("out/doubled/{date}.csv", date=DATES)
    output: "out/total.csv"
    shell: "awk -F, 'FNR>1{{s+=$2}} END{{print \\"v\\"; print s}}' {input} > {output}"
`,
  );
}

/** Change one date's input (content and a later mtime), the same way for both tools. */
function touchOneDate(dir: string, day: string, round: number): void {
  const path = join(dir, 'inputs', `${day}.csv`);
  writeFileSync(path, `id,v\n${Array.from({ length: 10 }, (_, i) => `${i},${round * 10 + i}`).join('\n')}\n`);
  const later = new Date(Date.now() + 1000 * (round + 1));
  utimesSync(path, later, later);
}

const ratio = (a: Timing, b: Timing): { cpu: number; wall: number } => ({ cpu: Number((a.cpu / b.cpu).toFixed(2)), wall: Number((a.wall / b.wall).toFixed(2)) });
const show = (t: Timing): string => `${t.cpu.toFixed(2)} CPU-s, ${t.wall.toFixed(2)} s wall  [${t.command}]`;

const haveSnakemake = !treeOnly && ensureSnakemake();
const dagrun = (dir: string, ...args: string[]): Timing => timed(process.execPath, [cli, ...args], dir);
const snakemake = (dir: string): Timing => timed('snakemake', ['--cores', '2', '--quiet', 'all'], dir);
const nodeBare = median(() => timed(process.execPath, ['-e', '0'], work), () => mkdirSync(work, { recursive: true }), 5);
const report: Record<string, unknown> = { node_e_0: nodeBare };
/** Print each figure as soon as it is measured (a full run takes minutes); the JSON report comes last. */
const say = (...text: string[]): void => {
  for (const line of text) console.log(line);
};
say(`node -e 0: ${show(nodeBare)}`);

/** Each size's projects, for the alternating one-date rebuilds after the per-size figures. */
const rebuilders: { n: number; dagrun: () => Timing; touchDagrun: () => void; snakemake?: () => Timing; touchSnakemake?: () => void }[] = [];
for (const n of sizes) {
  const days = dates(n);
  const d = join(work, `dagrun-${n}`);
  const s = join(work, `snakemake-${n}`);
  dagrunProject(d, days);
  const mid = days[Math.floor(n / 2)];
  let round = 0;
  let sRound = 0;
  const build = (): Timing => dagrun(d, 'build', '--jobs', '2');
  if (haveSnakemake) snakemakeProject(s, days);
  // Cold builds once each (dagrun, then Snakemake right after); no-ops and one-date rebuilds side by side.
  const cold = build();
  const sCold = haveSnakemake ? snakemake(s) : undefined;
  const [noop, sNoop] = side([{ run: build }, ...(haveSnakemake ? [{ run: () => snakemake(s) }] : [])]);
  // Five rounds: a one-date rebuild is short, and the machine is shared.
  const [rebuild, sRebuild] = side([{ run: build, prepare: () => touchOneDate(d, mid, (round += 1)) }, ...(haveSnakemake ? [{ run: () => snakemake(s), prepare: () => touchOneDate(s, mid, (sRound += 1)) }] : [])], 5);
  rebuilders.push({ n, dagrun: build, touchDagrun: () => touchOneDate(d, mid, (round += 1)), ...(haveSnakemake ? { snakemake: () => snakemake(s), touchSnakemake: () => touchOneDate(s, mid, (sRound += 1)) } : {}) });
  const entry: Record<string, unknown> = { dagrun: { cold, noop, rebuild } };
  say(`N=${n} dagrun cold:    ${show(cold)}`, `N=${n} dagrun no-op:   ${show(noop)}`, `N=${n} dagrun rebuild: ${show(rebuild)}`);
  if (sCold && sNoop && sRebuild) {
    entry.snakemake = { cold: sCold, noop: sNoop, rebuild: sRebuild };
    entry.ratio = { cold: ratio(cold, sCold), noop: ratio(noop, sNoop), rebuild: ratio(rebuild, sRebuild) };
    say(
      `N=${n} snakemake cold:    ${show(sCold)}`,
      `N=${n} snakemake no-op:   ${show(sNoop)}`,
      `N=${n} snakemake rebuild: ${show(sRebuild)}`,
      `N=${n} dagrun/snakemake CPU (wall): cold ${ratio(cold, sCold).cpu} (${ratio(cold, sCold).wall}), no-op ${ratio(noop, sNoop).cpu} (${ratio(noop, sNoop).wall}), rebuild ${ratio(rebuild, sRebuild).cpu} (${ratio(rebuild, sRebuild).wall})`,
    );
  }
  say(`N=${n} dagrun no-op / node -e 0: ${(noop.cpu / nodeBare.cpu).toFixed(2)} CPU (${(noop.wall / nodeBare.wall).toFixed(2)} wall)`);
  report[`n${n}`] = entry;
}
const [small, large] = sizes.map((n) => (report[`n${n}`] as { dagrun: { rebuild: Timing } }).dagrun.rebuild);
if (small && large) say(`dagrun rebuild-1-of-${sizes[1]} / rebuild-1-of-${sizes[0]}, each size's own rounds: ${(large.cpu / small.cpu).toFixed(2)} CPU (${(large.wall / small.wall).toFixed(2)} wall)`);
// The sizes' rounds above are minutes apart, and this machine's speed drifts over minutes (Snakemake's
// own no-op at 365 / at 7 was 1.08 in one run, 1.61 in the next): the ratio that matters comes from rounds in which both
// sizes (and Snakemake's, alongside) rebuild one date each, one after the other.
if (rebuilders.length === 2) {
  const commands = rebuilders.flatMap((r) => [{ run: r.dagrun, prepare: r.touchDagrun }, ...(r.snakemake && r.touchSnakemake ? [{ run: r.snakemake, prepare: r.touchSnakemake }] : [])]);
  const timings = side(commands, 9);
  const [d7, d365] = haveSnakemake ? [timings[0], timings[2]] : [timings[0], timings[1]];
  const [s7, s365] = haveSnakemake ? [timings[1], timings[3]] : [];
  say(`alternating rounds (9): dagrun rebuild N=${sizes[0]} ${show(d7)}`, `alternating rounds (9): dagrun rebuild N=${sizes[1]} ${show(d365)}`);
  say(`dagrun rebuild-1-of-${sizes[1]} / rebuild-1-of-${sizes[0]}, alternating rounds: ${(d365.cpu / d7.cpu).toFixed(2)} CPU (${(d365.wall / d7.wall).toFixed(2)} wall)`);
  if (s7 && s365) say(`snakemake rebuild-1-of-${sizes[1]} / rebuild-1-of-${sizes[0]}, same rounds: ${(s365.cpu / s7.cpu).toFixed(2)} CPU (${(s365.wall / s7.wall).toFixed(2)} wall); dagrun/snakemake at ${sizes[1]}: ${(d365.cpu / s365.cpu).toFixed(2)} CPU`);
  report.rebuild_alternating = { rounds: 9, dagrun: { [`n${sizes[0]}`]: d7, [`n${sizes[1]}`]: d365 }, ...(s7 && s365 ? { snakemake: { [`n${sizes[0]}`]: s7, [`n${sizes[1]}`]: s365 } } : {}) };
}

// ---------- plan over 3,650 instances ----------
if (!treeOnly) {
  const days = dates(quick ? 30 : 365);
  const dir = join(work, 'plan');
  rmSync(dir, { recursive: true, force: true });
  writeInputs(dir, days);
  mkdirSync(join(dir, 'steps'), { recursive: true });
  writeFileSync(join(dir, 'steps', 'pass.sql'), 'CREATE TABLE o AS SELECT * FROM i;\n');
  const steps = Array.from({ length: 10 }, (_, k) =>
    `  s${k}:\n    sql: steps/pass.sql\n    partition: date\n    inputs:\n      i: ${k === 0 ? '"file:inputs/{date}.csv"' : `s${k - 1}.o`}\n    outputs:\n      o: { path: "s${k}/{date}.csv", format: csv, columns: { id: BIGINT, v: BIGINT } }\n`,
  ).join('');
  writeFileSync(join(dir, 'pipeline.yaml'), `partitions:\n  date: { from: "${days[0]}", to: "${days[days.length - 1]}" }\nsteps:\n${steps}`);
  dagrun(dir, 'validate'); // the memo: plan measures planning, not YAML parsing
  const plan = median(() => dagrun(dir, 'plan', '--json'));
  say(`plan of ${days.length * 10} instances: ${show(plan)}; minus node -e 0: ${(plan.wall - nodeBare.wall).toFixed(2)} s wall`);
  report.plan = { instances: days.length * 10, ...plan };
}

// ---------- no-op over a 100,000-file directory input ----------
{
  const dir = join(work, `tree-${bigFiles}`);
  if (!existsSync(join(dir, '.git'))) {
    rmSync(dir, { recursive: true, force: true });
    const random = seededRandom(bigFiles);
    for (let i = 0; i < bigFiles; i += 1) {
      const sub = join(dir, 'inputs', String(i % 100).padStart(2, '0'));
      if (i < 100) mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, `part-${String(i).padStart(6, '0')}.csv`), `id,v\n${i},${Math.floor(random() * 1000)}\n`);
    }
    mkdirSync(join(dir, 'steps'), { recursive: true });
    // The step only has to depend on the tree (its key covers every file); it reads none of them.
    writeFileSync(join(dir, 'steps', 'total.sql'), 'CREATE TABLE total AS SELECT 1::BIGINT AS files;\n');
    writeFileSync(join(dir, 'pipeline.yaml'), `steps:\n  total:\n    sql: steps/total.sql\n    inputs:\n      inputs: { from: "file:inputs", format: text }\n    outputs:\n      total: { path: total.csv, format: csv, columns: { files: BIGINT } }\n`);
    writeFileSync(join(dir, '.gitignore'), 'cache/\nout/\n');
    execFileSync('git', ['init', '-q'], { cwd: dir });
    execFileSync('git', ['add', '-A'], { cwd: dir });
    execFileSync('git', ['-c', 'user.email=bench@dagrun', '-c', 'user.name=bench', 'commit', '-qm', 'bench tree'], { cwd: dir });
  }
  rmSync(join(dir, 'cache'), { recursive: true, force: true });
  rmSync(join(dir, 'out'), { recursive: true, force: true });
  const cold = dagrun(dir, 'build');
  // node -e 0 in the same rounds: the machine's load falls on the start-up figure subtracted alike.
  const [noop, git, bare] = side([{ run: () => dagrun(dir, 'build') }, { run: () => timed('git', ['status', '--porcelain'], dir) }, { run: () => timed(process.execPath, ['-e', '0'], dir) }], 9);
  say(
    `${bigFiles}-file tree: dagrun cold ${show(cold)}`,
    `${bigFiles}-file tree: dagrun no-op ${show(noop)}`,
    `${bigFiles}-file tree: git status --porcelain ${show(git)}`,
    `${bigFiles}-file tree: no-op / git status: ${(noop.cpu / git.cpu).toFixed(2)} CPU (${(noop.wall / git.wall).toFixed(2)} wall); start-up subtracted (minus node -e 0, ${bare.cpu.toFixed(2)} CPU-s): ${((noop.cpu - bare.cpu) / git.cpu).toFixed(2)} CPU`,
  );
  report.tree = { files: bigFiles, cold, noop, git_status: git, node_e_0: bare };
}

console.log(JSON.stringify(report));
