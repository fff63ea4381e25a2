// The partly settled build (settled.ts + runner.ts `carry`) attacked from outside the build: builds of
// other command lines in between (--partition, --with-fan-in), another folder sharing the cache and gc,
// a real CLI interrupted, links planted in out/, a failing upstream, a hand-edited settled file. Each
// test says which defect it would catch; each answer is checked against a build from nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, linkSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { answeredByCli, fromScratch, RACY_WAIT, settledCli, settleProject, wait, type PartitionArgs } from '../helpers/settled-build.js';
import { writeDailyProject, type DailyProject } from '../helpers/daily-project.js';
import { runCli } from '../helpers/fixture.js';
import { build, type BuildResult } from '../../src/engine/runner.js';

const root = mkdtempSync(join(tmpdir(), 'dagrun-settled-attacks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAYS = ['2026-05-01', '2026-05-02', '2026-05-03', '2026-05-04'];
const [D1, D2, D3, D4] = DAYS;

function project(name: string, options: Partial<DailyProject> = {}): string {
  const dir = join(root, name);
  writeDailyProject(dir, { name: 'attacks', days: DAYS, double: true, ...options });
  return dir;
}

const input = (dir: string, day: string): string => join(dir, 'inputs', `${day}.csv`);
const setInput = (dir: string, day: string, ...rows: string[]): void => writeFileSync(input(dir, day), `id,v\n${rows.join('\n')}\n`);

/** Every file below `folder` (a link to a file read through), by '/'-separated path, with its text. */
function filesUnder(folder: string): Record<string, string> {
  const files = readdirSync(folder, { recursive: true, withFileTypes: true }).filter((entry) => !entry.isDirectory());
  return Object.fromEntries(files.map((entry) => join(entry.parentPath, entry.name)).map((path) => [relative(folder, path).split('\\').join('/'), readFileSync(path, 'utf8')]));
}

/** Every file under `dir`/out: what a build left for its user. */
const outFiles = (dir: string): Record<string, string> => filesUnder(join(dir, 'out'));

/** out/ is what a build from nothing makes of the same project: every date, every step, the total. */
async function expectAsFromScratch(dir: string): Promise<void> {
  await fromScratch(dir);
  expect(outFiles(dir)).toEqual(outFiles(`${dir}-scratch`));
}

/** The usual build (the settled check found changes): ok, and its result. */
async function built(dir: string, args?: PartitionArgs): Promise<BuildResult> {
  const run = await settledCli(dir, args);
  if (run.answered) throw new Error('expected the usual build, got the settled answer');
  expect(run.result.ok).toBe(true);
  return run.result;
}

const statuses = (result: BuildResult): Record<string, string> => Object.fromEntries(result.manifest.steps.map((s) => [s.instance, s.status]));

describe.concurrent('partly settled build, attacked from outside', () => {
  // Would catch: a build of another command line (--partition, --with-fan-in) changing the memo, out/,
  // last-seen or action entries in a way the full build's settled file does not see, so that the full
  // build carries an instance whose output is now another version (a date served stale, a stale total).
  it('--partition and --with-fan-in builds interleaved with full builds, inputs edited between: out/ is always what a build from nothing makes', async () => {
    const dir = project('interleave');
    await settleProject(dir);
    // A renamed input: D1's and D3's files swapped by renames (same sizes; each keeps its times). And
    // one date rebuilt alone: the fan-in is left stale, so that command line leaves no settled answer.
    renameSync(input(dir, D1), join(dir, 'swap.csv'));
    renameSync(input(dir, D3), input(dir, D1));
    renameSync(join(dir, 'swap.csv'), input(dir, D3));
    setInput(dir, D2, '1,500', '2,600');
    const alone = await built(dir, { partition: { date: D2 } });
    expect(Object.keys(statuses(alone))).toEqual([`copy[date=${D2}]`, `double[date=${D2}]`]);
    expect(alone.manifest.stale_fan_in?.length).toBe(1);
    // The full build: D2's outputs changed under its settled file, D1's and D3's inputs too; D4 is carried.
    const full = await built(dir);
    expect(full.vouched).toBe(2);
    expect(statuses(full)).toMatchObject({ [`copy[date=${D1}]`]: 'built', [`copy[date=${D2}]`]: 'cached', [`copy[date=${D3}]`]: 'built', sum: 'built' });
    await expectAsFromScratch(dir);

    await wait(RACY_WAIT);
    // Another date, with its fan-in: then the full build, whose settled file saw the edits above as racy.
    setInput(dir, D3, '1,7', '2,8');
    const withFanIn = await built(dir, { partition: { date: D3 }, withFanIn: true });
    expect(statuses(withFanIn)).toMatchObject({ [`copy[date=${D3}]`]: 'built', sum: 'built' });
    const second = await built(dir);
    expect(second.vouched).toBe(2);
    expect(statuses(second)).toMatchObject({ [`copy[date=${D3}]`]: 'cached', sum: 'cached' });
    await expectAsFromScratch(dir);

    // Two dates edited, then the --with-fan-in command line again: its settled file predates both.
    setInput(dir, D1, '1,1', '2,1');
    setInput(dir, D4, '1,70', '2,80');
    const third = await built(dir, { partition: { date: D3 }, withFanIn: true });
    expect(third.vouched).toBeGreaterThan(0);
    expect(statuses(third)).toMatchObject({ [`copy[date=${D1}]`]: 'built', [`copy[date=${D4}]`]: 'built', sum: 'built' });
    await expectAsFromScratch(dir);
    // D2 back to its first bytes, rebuilt alone (its first version is cached), then the full build.
    setInput(dir, D2, '1,2', '2,11');
    await built(dir, { partition: { date: D2 } });
    await built(dir);
    await expectAsFromScratch(dir);
  });

  // Would catch: a build writing through a link planted in out/ or in place into an output hard-linked
  // outside (a file outside the project changed), keeping the link as the output (read from outside), or — a folder of outputs made a link
  // — removing the link for the date it rebuilds while the dates it carried (served without a look, their
  // stats taken through the link) are left missing from out/.
  it('an output replaced by a link (and hard-linked) to a file outside the project, a folder of outputs by a link outside: nothing is written through them, out/ holds real files again, the outside files are untouched', async () => {
    const dir = project('links');
    const outside = mkdtempSync(join(root, 'outside-'));
    await settleProject(dir);
    // A file link: D2's copy points at a file outside holding the same bytes (a content check alone would
    // keep it). A hard link: D4's copy also named outside (an output written in place would change it).
    const copied = (day: string): string => join(dir, 'out', 'copied', `${day}.csv`);
    writeFileSync(join(outside, 'copied.csv'), readFileSync(copied(D2)));
    rmSync(copied(D2));
    symlinkSync(join(outside, 'copied.csv'), copied(D2));
    linkSync(copied(D4), join(outside, 'hard.csv'));
    const outsideBytes = (): Record<string, string> => filesUnder(outside);
    let kept = outsideBytes();
    // D4's input changed: D4 is rebuilt, D2's link replaced by the real file, D1 and D3 carried.
    setInput(dir, D4, '1,40', '2,41');
    const first = await built(dir);
    expect(first.vouched).toBe(4);
    expect(outsideBytes()).toEqual(kept);
    expect(lstatSync(copied(D2)).isFile()).toBe(true);
    await expectAsFromScratch(dir);

    // A folder link: out/doubled moved outside whole (each file keeps its inode and times) and linked back.
    renameSync(join(dir, 'out', 'doubled'), join(outside, 'doubled'));
    symlinkSync(join(outside, 'doubled'), join(dir, 'out', 'doubled'));
    kept = outsideBytes();
    setInput(dir, D1, '1,10', '2,11');
    const second = await built(dir);
    expect(outsideBytes()).toEqual(kept);
    expect(lstatSync(join(dir, 'out', 'doubled')).isDirectory()).toBe(true);
    expect(readdirSync(join(dir, 'out', 'doubled')).sort()).toEqual(DAYS.map((d) => `${d}.csv`));
    // Nothing carried once a link was removed: the outputs stat'd through it are not in out/ any more.
    expect(second.vouched).toBe(0);
    await expectAsFromScratch(dir);

    // The same with no settled file (the up-to-date memo stats its outputs through the link too).
    renameSync(join(dir, 'out', 'doubled'), join(outside, 'again'));
    symlinkSync(join(outside, 'again'), join(dir, 'out', 'doubled'));
    kept = outsideBytes();
    setInput(dir, D3, '1,30', '2,31');
    expect((await build({ pipelineFile: join(dir, 'pipeline.yaml') })).ok).toBe(true);
    expect(outsideBytes()).toEqual(kept);
    expect(readdirSync(join(dir, 'out', 'doubled')).sort()).toEqual(DAYS.map((d) => `${d}.csv`));
    await expectAsFromScratch(dir);
  });

  // Would catch: one folder's settled file, memo or carried records vouching for what the other folder
  // wrote to the shared cache (last-seen, action entries, manifests are shared; out/ is not), or gc
  // --keep-runs removing a run or object a carried instance still needs; and either build or gc writing
  // anywhere but the two folders and the cache (a cache/ folder in a project, a file beside them).
  it('two folders sharing one cache through DAGRUN_CACHE, different inputs, builds alternating, gc --keep-runs 1 between: each folder\'s out/ is its own, nothing else is touched', async () => {
    const base = join(root, 'shared');
    const [a, b, cache] = ['a', 'b', 'cache'].map((name) => join(base, name));
    // D3 and D4 hold the same rows in both (same keys: one action each, shared); D1 and D2 differ.
    writeDailyProject(a, { name: 'shared', days: DAYS, double: true });
    writeDailyProject(b, { name: 'shared', days: DAYS, double: true, rows: (day, i) => (i < 2 ? [`1,${100 + i}`, `2,${200 + i}`] : [`1,${i + 1}`, `2,${i + 10}`]) });
    const beside = join(root, 'beside.txt');
    writeFileSync(beside, 'not the build\'s\n');
    const besideStat = statSync(beside);
    const env = { DAGRUN_CACHE: cache };
    const cli = async (dir: string, args: string[] = ['build']): Promise<string> => {
      const run = await runCli(args, dir, { env });
      expect(run.code, run.stderr).toBe(0);
      return run.stdout;
    };
    const answered = (dir: string): Promise<boolean> => answeredByCli(['build'], dir, { ...process.env, ...env });
    const summary = (stdout: string): string | undefined => /^run \S+: (.*) —/m.exec(stdout)?.[1];

    await cli(a);
    await cli(b);
    await wait(RACY_WAIT);
    await cli(a);
    await cli(b);
    await wait(RACY_WAIT);
    expect(await answered(a)).toBe(true);
    expect(await answered(b)).toBe(true);
    // One date edited in each folder, built in turn: each carries the dates the other did not touch.
    setInput(a, D2, '1,5', '2,5');
    expect(summary(await cli(a))).toBe('3 built, 6 cached, 0 failed');
    setInput(b, D4, '1,9', '2,9');
    expect(summary(await cli(b))).toBe('3 built, 6 cached, 0 failed');
    // gc keeps only b's last run: a's runs, memo entries and its own actions and objects go.
    await cli(a, ['gc', '--keep-runs', '1']);
    setInput(a, D3, '1,6', '2,6');
    await cli(a);
    await cli(b);
    await wait(RACY_WAIT);
    // And once more after the racy window, both settled again.
    setInput(b, D1, '1,3', '2,3');
    await cli(b);
    await cli(a);
    // The cache named by --cache instead: a command reading the pipeline keeps its memo there too.
    expect((await runCli(['status', '--cache', cache], a)).code).toBe(0);
    expect(readdirSync(base).sort()).toEqual(['a', 'b', 'cache']);
    for (const dir of [a, b]) {
      expect(existsSync(join(dir, 'cache'))).toBe(false);
      await expectAsFromScratch(dir);
    }
    expect(outFiles(a)['total.csv']).not.toBe(outFiles(b)['total.csv']);
    // Past the racy window, each settles again: gc left nothing that keeps a folder from it.
    await wait(RACY_WAIT);
    await cli(a);
    await cli(b);
    expect(await answered(a)).toBe(true);
    expect(await answered(b)).toBe(true);
    expect(statSync(beside)).toEqual(besideStat);
  });

  // Would catch: a build interrupted while the settled check holds the cache lock (before the CLI's
  // signal handler exists), or killed or interrupted mid-way through a partly settled build, leaving the
  // lock behind, a settled file that vouches for what the stopped build never finished or for outputs
  // it rewrote, or memo entries for outputs it never wrote: the rebuild would be wrong or blocked, or
  // the next no-op not settled.
  it('the real CLI interrupted by SIGINT as the settled check takes the lock, killed and interrupted mid-way through a partly settled build: the rebuild is right, no lock is left, the next no-op is settled', async () => {
    const dir = project('interrupted', { days: [...DAYS, '2026-05-05'] });
    const argv = ['build', '--jobs', '1'];
    const settledNow = (): Promise<boolean> => answeredByCli(argv, dir);
    const lock = join(dir, 'cache', 'lock');
    expect((await runCli(argv, dir)).code).toBe(0);
    await wait(RACY_WAIT);
    expect((await runCli(argv, dir)).code).toBe(0);
    await wait(RACY_WAIT);
    expect(await settledNow()).toBe(true);
    for (const day of DAYS) setInput(dir, day, '1,0', `2,${day.slice(-1)}`);
    // As soon as the lock exists: the settled check holds it for the build it hands over to.
    const early = await runCli(argv, dir, { signalOn: { after: { file: lock }, signal: 'SIGINT' } });
    expect(early.signalled).toBe(true);
    expect(early.code === 130 || early.signal === 'SIGINT').toBe(true);
    // Killed mid-way (SIGKILL: no clean-up) after the first instance built: the old settled file stays
    // behind, while out/ already holds that instance's new output.
    const killed = await runCli(argv, dir, { signalOn: { after: /^built /m, stream: 'stdout' } });
    expect(killed.signal).toBe('SIGKILL');
    // Interrupted mid-way: after the second instance built (--jobs 1: seven more to go).
    const midway = await runCli(argv, dir, { signalOn: { after: /^built /m, count: 2, stream: 'stdout', signal: 'SIGINT' } });
    expect(midway.signalled).toBe(true);
    expect(midway.code, midway.stderr).toBe(130);
    expect(midway.stderr).toMatch(/interrupted: \d+ built/);
    expect(existsSync(lock)).toBe(false);
    const again = await runCli(argv, dir);
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(lock)).toBe(false);
    await expectAsFromScratch(dir);
    await wait(RACY_WAIT);
    expect((await runCli(argv, dir)).code).toBe(0);
    expect(await settledNow()).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });

  // Would catch: a failed build leaving a settled file or memo entries that vouch for the failed date's
  // chain (its old outputs carried once its input is fixed), a skipped fan-in counted as up to date, or
  // the other dates of the failing build served stale.
  it('an upstream failure (one date\'s v text, then not two columns) while another date changes, then fixed: every date and the total are what a build from nothing makes', async () => {
    const dir = project('failure');
    await settleProject(dir);
    const settledBytes = readFileSync(input(dir, D2));
    // D2's v is text: copy reads it as its declared BIGINT and fails; D3 changes in the same build.
    setInput(dir, D2, '1,not a number');
    setInput(dir, D3, '1,30', '2,31');
    const failed = await settledCli(dir);
    if (failed.answered) throw new Error('expected the usual build');
    expect(statuses(failed.result)).toMatchObject({ [`copy[date=${D2}]`]: 'failed', [`double[date=${D2}]`]: 'skipped', [`copy[date=${D3}]`]: 'built', [`double[date=${D3}]`]: 'built', sum: 'skipped' });
    expect(failed.result.vouched).toBe(4);
    // D2 not even CSV of two columns now: copy fails again, on another error.
    setInput(dir, D2, '1,2,3', '2');
    const malformed = await settledCli(dir);
    if (malformed.answered) throw new Error('expected the usual build');
    expect(statuses(malformed.result)).toMatchObject({ [`copy[date=${D2}]`]: 'failed', [`double[date=${D2}]`]: 'skipped', sum: 'skipped' });
    // Fixed with the very bytes the settled build had: D2's first versions are cached, the total rebuilt.
    writeFileSync(input(dir, D2), settledBytes);
    const fixed = await built(dir);
    expect(statuses(fixed)).toMatchObject({ [`copy[date=${D2}]`]: 'cached', [`double[date=${D2}]`]: 'cached', sum: 'built' });
    await expectAsFromScratch(dir);
    await wait(RACY_WAIT);
    // The dates after the fix: one more changes, the rest are carried.
    setInput(dir, D4, '1,44', '2,45');
    const after = await built(dir);
    expect(after.vouched).toBeGreaterThan(0);
    await expectAsFromScratch(dir);
  });

  // The settled file is checked like the memo — a checksum against damage, not a signature against
  // someone who can write the cache. An instance made to own nothing is safe (its entries count as
  // everyone's: nothing is handed over). An instance given another date's own list was carried with its
  // old output until carry checked that an instance's own list names its outputs (runner.ts).
  it('a hand-edited settled file, its digest recomputed as the engine does: owning nothing hands nothing over; swapped own lists vouch for neither date', async () => {
    const dir = project('hostile');
    await settleProject(dir);
    const memo = join(dir, 'cache', 'memo');
    const reseal = (edit: (steps: { instance: string; own: number[] }[]) => void): void => {
      const [name] = readdirSync(memo).filter((f) => f.startsWith('settled-'));
      const value = JSON.parse(readFileSync(join(memo, name), 'utf8')) as { digest?: string; steps: { instance: string; own: number[] }[] };
      delete value.digest;
      edit(value.steps);
      const body = JSON.stringify(value);
      writeFileSync(join(memo, name), `${body.slice(0, -1)},"digest":"${createHash('sha256').update(body).digest('hex')}"}`);
    };
    const step = (steps: { instance: string; own: number[] }[], day: string): { own: number[] } => steps.find((s) => s.instance === `copy[date=${day}]`) as { own: number[] };
    reseal((steps) => (step(steps, D2).own = []));
    setInput(dir, D2, '1,20', '2,21');
    const owningNothing = await built(dir);
    expect(owningNothing.vouched).toBe(0);
    await expectAsFromScratch(dir);

    reseal((steps) => ([step(steps, D1).own, step(steps, D3).own] = [step(steps, D3).own, step(steps, D1).own]));
    const stale = readFileSync(join(dir, 'out', 'copied', `${D3}.csv`), 'utf8');
    setInput(dir, D3, '1,33', '2,34');
    const swapped = await built(dir);
    // D3's change is taken for D1's (D1 is looked at), and D3's own list no longer names its output: not carried, rebuilt.
    expect(statuses(swapped)).toMatchObject({ [`copy[date=${D1}]`]: 'cached', [`copy[date=${D3}]`]: 'built' });
    expect(swapped.vouched).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'out', 'copied', `${D3}.csv`), 'utf8')).not.toBe(stale);
    await expectAsFromScratch(dir);
  });
});
