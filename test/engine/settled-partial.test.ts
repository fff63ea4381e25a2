// A partly settled build (src/engine/settled.ts + runner.ts): when only some instances' own files
// changed since the last settled build of a command line, the settled check hands the usual build
// which ones (and the cache lock), and every instance whose own files and upstream are untouched is
// served as its memo entry without a look. Each test checks the answer against a build that looks at
// everything, and attacks what the shortcut trusts: racy edits, two dates at once, a shared file, a
// deleted output, a damaged memo, a missing input, the lock handed over, the real CLI.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { build, type BuildResult } from '../../src/engine/runner.js';
import { main } from '../../src/engine/cli.js';
import { invocationFor, serveSettled } from '../../src/engine/settled.js';
import { fromScratch, RACY_WAIT, settledCli, settleProject, wait } from '../helpers/settled-build.js';
import { readManifest, type StepRecord } from '../../src/engine/manifest.js';
import { acquireLock } from '../../src/engine/lock.js';
import { runCli } from '../helpers/fixture.js';
import { writeDailyProject } from '../helpers/daily-project.js';

const root = mkdtempSync(join(tmpdir(), 'dagrun-settled-partial-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAYS = ['2026-02-01', '2026-02-02', '2026-02-03', '2026-02-04'];
function project(name: string): string {
  const dir = join(root, name);
  writeDailyProject(dir, { name: 'partial', days: DAYS, double: true });
  return dir;
}

const cli = settledCli;
const settle = settleProject;

async function built(dir: string): Promise<BuildResult> {
  const run = await cli(dir);
  if (run.answered) throw new Error('expected the usual build, got the settled answer');
  expect(run.result.ok).toBe(true);
  return run.result;
}

const statuses = (steps: readonly StepRecord[]): Record<string, string> => Object.fromEntries(steps.map((s) => [s.instance, `${s.status}${s.restored_files ? `+${s.restored_files}` : ''}`]));
/** Records without what differs per run (as JSON holds them: no undefined fields). */
const perRunAside = (steps: readonly StepRecord[]): unknown[] => (JSON.parse(JSON.stringify(steps)) as StepRecord[]).map(({ status: _s, reason: _r, reasons: _rs, duration_ms: _d, restored_files: _f, unchanged_since: _u, ...rest }) => rest);
const cached = (except: Record<string, string> = {}): Record<string, string> => ({ ...Object.fromEntries([...DAYS.map((d) => `copy[date=${d}]`), ...DAYS.map((d) => `double[date=${d}]`), 'sum'].map((i) => [i, 'cached'])), ...except });

/** Every record as a build that looks at everything sees it (no settle: no shortcut), and out/'s bytes. */
async function lookedAtEverything(dir: string): Promise<{ steps: readonly StepRecord[]; total: string }> {
  const result = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
  expect(result.vouched).toBe(0);
  return { steps: result.manifest.steps, total: readFileSync(join(dir, 'out', 'total.csv'), 'utf8') };
}

/** The command line's settled file, with the watched entries by name and each instance's own entries by name. */
function settledFileOf(dir: string): { watched: Record<string, string>; steps: Record<string, unknown> } {
  const memo = join(dir, 'cache', 'memo');
  const files = readdirSync(memo).filter((f) => f.startsWith('settled-'));
  expect(files).toHaveLength(1);
  const settled = JSON.parse(readFileSync(join(memo, files[0]), 'utf8')) as { watched: [string, string][]; steps: { instance: string; own: number[] }[] };
  return {
    watched: Object.fromEntries(settled.watched),
    steps: Object.fromEntries(settled.steps.map(({ own, ...step }) => [step.instance, { ...step, own: own.map((i) => settled.watched[i][0]).sort() }])),
  };
}

describe('partly settled build', () => {
  it('one date changed: its instances and the fan-in are looked at, the other dates are vouched for; a second date changed at once with the first still racy', async () => {
    const dir = project('one-date');
    await settle(dir);
    writeFileSync(join(dir, 'inputs', '2026-02-02.csv'), 'id,v\n1,500\n2,700\n');
    const first = await built(dir);
    expect(statuses(first.manifest.steps)).toEqual(cached({ 'copy[date=2026-02-02]': 'built', 'double[date=2026-02-02]': 'built', sum: 'built' }));
    expect(first.vouched).toBe(6);
    // The manifest as written (references to the runs that hold the records) reads back as the build returned it.
    expect(perRunAside(readManifest(join(dir, 'cache', 'runs'), 'latest').steps)).toEqual(perRunAside(first.manifest.steps));
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));

    // At once: 02-02 changed less than 2 s before that build (racy: looked at again), 02-03 changes now.
    writeFileSync(join(dir, 'inputs', '2026-02-03.csv'), 'id,v\n1,5\n2,9\n');
    const second = await built(dir);
    expect(statuses(second.manifest.steps)).toEqual(cached({ 'copy[date=2026-02-03]': 'built', 'double[date=2026-02-03]': 'built', sum: 'built' }));
    expect(second.vouched).toBe(4);
    const truth = await lookedAtEverything(dir);
    expect(perRunAside(second.manifest.steps)).toEqual(perRunAside(truth.steps));
    expect(truth.total).toBe(await fromScratch(dir));
  });

  it('a shared file changed (a step\'s code): nothing is handed over, everything is looked at', async () => {
    const dir = project('shared');
    await settle(dir);
    writeFileSync(join(dir, 'inputs', '2026-02-01.csv'), 'id,v\n1,2\n2,3\n');
    writeFileSync(join(dir, 'steps', 'double.sql'), readFileSync(join(dir, 'steps', 'double.sql'), 'utf8').replace('v * 2', 'v * 3'));
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    expect(await serveSettled(['build', '--pipeline', join(dir, 'pipeline.yaml')], sink)).toBeUndefined();
    const result = await built(dir);
    expect(result.vouched).toBe(0);
    expect(statuses(result.manifest.steps)).toEqual(cached({ 'copy[date=2026-02-01]': 'built', ...Object.fromEntries(DAYS.map((d) => [`double[date=${d}]`, 'built'])), sum: 'built' }));
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
  });

  it('an untouched date\'s output deleted: that instance is looked at and restored, its dependents looked at, the rest vouched for', async () => {
    const dir = project('output');
    await settle(dir);
    const output = join(dir, 'out', 'copied', '2026-02-04.csv');
    const bytes = readFileSync(output, 'utf8');
    rmSync(output);
    writeFileSync(join(dir, 'inputs', '2026-02-01.csv'), 'id,v\n1,40\n2,41\n');
    const result = await built(dir);
    expect(statuses(result.manifest.steps)).toEqual(cached({ 'copy[date=2026-02-01]': 'built', 'double[date=2026-02-01]': 'built', 'copy[date=2026-02-04]': 'cached+1', sum: 'built' }));
    expect(result.vouched).toBe(4);
    expect(readFileSync(output, 'utf8')).toBe(bytes);
  });

  it('a damaged or missing memo: nothing is served without a look, and the answer is the same', async () => {
    for (const damage of ['truncate', 'remove'] as const) {
      const dir = project(`memo-${damage}`);
      await settle(dir);
      const memoDir = join(dir, 'cache', 'memo');
      const [memo] = readdirSync(memoDir).filter((f) => !f.startsWith('settled-'));
      if (damage === 'remove') rmSync(join(memoDir, memo));
      else writeFileSync(join(memoDir, memo), readFileSync(join(memoDir, memo), 'utf8').slice(0, 200));
      writeFileSync(join(dir, 'inputs', '2026-02-03.csv'), 'id,v\n1,1\n2,1\n');
      const result = await built(dir);
      expect(result.vouched).toBe(0);
      expect(statuses(result.manifest.steps)).toEqual(cached({ 'copy[date=2026-02-03]': 'built', 'double[date=2026-02-03]': 'built', sum: 'built' }));
      expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
    }
  });

  it('an untouched date\'s input deleted: the build names the missing file and out/ keeps every output', async () => {
    const dir = project('missing');
    await settle(dir);
    const before = readdirSync(join(dir, 'out', 'doubled')).sort();
    rmSync(join(dir, 'inputs', '2026-02-02.csv'));
    writeFileSync(join(dir, 'inputs', '2026-02-03.csv'), 'id,v\n1,8\n2,8\n');
    const answer = await serveSettled(['build', '--pipeline', join(dir, 'pipeline.yaml')], { write: () => true } as unknown as NodeJS.WritableStream);
    expect(typeof answer).toBe('object');
    await expect(build({ pipelineFile: join(dir, 'pipeline.yaml'), settle: invocationFor(['build', '--pipeline', join(dir, 'pipeline.yaml')]), settledHandoff: answer as Exclude<typeof answer, number | undefined> })).rejects.toThrow(/inputs\/2026-02-02\.csv does not exist/);
    expect(readdirSync(join(dir, 'out', 'doubled')).sort()).toEqual(before);
    expect(existsSync(join(dir, 'cache', 'lock'))).toBe(false);
  });

  it('the handed-over lock: held from the check to the build, released by a build of another command line or a CLI that fails first', async () => {
    const dir = project('lock');
    await settle(dir);
    const cache = join(dir, 'cache');
    writeFileSync(join(dir, 'inputs', '2026-02-04.csv'), 'id,v\n1,3\n2,3\n');
    const argv = ['build', '--pipeline', join(dir, 'pipeline.yaml')];
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    // Held: another build cannot take the cache between the check and the build it hands over to.
    const handoff = await serveSettled(argv, sink);
    if (typeof handoff !== 'object') throw new Error('expected a handoff');
    await expect(acquireLock(cache, 0)).rejects.toThrow();
    // A CLI that fails before building (a bad --partition) gives it back.
    expect(await main([...argv, '--partition', 'date=1999-01-01'], handoff)).not.toBe(0);
    (await acquireLock(cache, 0))();
    // Handed to a build of another command line (another --jobs): given back, that build takes the lock itself and looks at everything.
    const again = await serveSettled(argv, sink);
    if (typeof again !== 'object') throw new Error('expected a handoff');
    const other = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 3, settle: invocationFor([...argv, '--jobs', '3']), settledHandoff: again });
    expect(other.ok).toBe(true);
    expect(other.vouched).toBe(0);
    expect(existsSync(join(cache, 'lock'))).toBe(false);
  });

  it('an untouched date\'s input is a symlink retargeted to a file of the same size and mtime: that date is looked at and rebuilt', async () => {
    const dir = project('symlink');
    const input = join(dir, 'inputs', '2026-02-03.csv');
    writeFileSync(join(dir, 'a.csv'), 'id,v\n1,11\n2,22\n');
    writeFileSync(join(dir, 'b.csv'), 'id,v\n1,77\n2,88\n');
    const seen = statSync(join(dir, 'a.csv'));
    utimesSync(join(dir, 'b.csv'), seen.atime, seen.mtime);
    rmSync(input);
    symlinkSync(join(dir, 'a.csv'), input);
    await settle(dir);
    symlinkSync(join(dir, 'b.csv'), `${input}.next`);
    renameSync(`${input}.next`, input);
    writeFileSync(join(dir, 'inputs', '2026-02-01.csv'), 'id,v\n1,2\n2,2\n');
    const result = await built(dir);
    expect(statuses(result.manifest.steps)).toEqual(cached({ 'copy[date=2026-02-01]': 'built', 'double[date=2026-02-01]': 'built', 'copy[date=2026-02-03]': 'built', 'double[date=2026-02-03]': 'built', sum: 'built' }));
    expect(result.vouched).toBe(4);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
  });

  it('a build that fails halfway (one date\'s input unreadable) leaves no settled answer and no lock; the fixed input then builds the right total', async () => {
    const dir = project('fails');
    await settle(dir);
    writeFileSync(join(dir, 'inputs', '2026-02-02.csv'), 'id,v\n1,not a number\n');
    const failed = await cli(dir);
    if (failed.answered) throw new Error('expected the usual build');
    expect(failed.result.ok).toBe(false);
    // The bad date fails (where the text meets a number), the others are untouched by it.
    const failures = failed.result.manifest.steps.filter((step) => step.status === 'failed').map((step) => step.instance);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((instance) => instance.includes('2026-02-02'))).toBe(true);
    expect(readdirSync(join(dir, 'cache', 'memo')).filter((f) => f.startsWith('settled-'))).toEqual([]);
    expect(existsSync(join(dir, 'cache', 'lock'))).toBe(false);
    writeFileSync(join(dir, 'inputs', '2026-02-02.csv'), 'id,v\n1,5\n2,6\n');
    await built(dir);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
  });

  it('the settled file it writes (the carried instances\' entries kept from the last one) says what one written after looking at everything says: plain and globbed inputs', async () => {
    for (const input of [undefined, { file: 'raw/{date}/part.csv', read: 'raw/{date}/*.csv' }]) {
      const dir = join(root, `kept-${input ? 'glob' : 'plain'}`);
      writeDailyProject(dir, { name: 'partial', days: DAYS, double: true, input });
      await settle(dir);
      writeFileSync(join(dir, (input?.file ?? 'inputs/{date}.csv').replace('{date}', '2026-02-03')), 'id,v\n1,5\n');
      await wait(RACY_WAIT); // no entry racy: both files then hold every stat
      expect((await built(dir)).vouched).toBe(6);
      const partly = settledFileOf(dir);
      // Nothing changed since: a build given no handoff finds nothing to carry and looks at everything.
      const whole = await build({ pipelineFile: join(dir, 'pipeline.yaml'), settle: invocationFor(['build', '--pipeline', join(dir, 'pipeline.yaml')]) });
      expect(whole.vouched).toBe(0);
      const looked = settledFileOf(dir);
      expect(partly.watched).toEqual(looked.watched);
      expect(partly.steps).toEqual(looked.steps);
      // And it still answers: a file added to an untouched date's glob folder is that date's new input.
      if (input) {
        writeFileSync(join(dir, 'raw', '2026-02-01', 'late.csv'), 'id,v\n9,1000\n');
        const late = await built(dir);
        expect(statuses(late.manifest.steps)['copy[date=2026-02-01]']).toBe('built');
        expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
      }
    }
  });

  it('through the real CLI: one date changed, the right total, no lock left behind', async () => {
    const dir = project('real-cli');
    await settle(dir);
    writeFileSync(join(dir, 'inputs', '2026-02-01.csv'), 'id,v\n1,1000\n2,2000\n');
    const run = await runCli(['build'], dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^run \S+: 3 built, 6 cached, 0 failed/m);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe(await fromScratch(dir));
    expect(existsSync(join(dir, 'cache', 'lock'))).toBe(false);
  });
});
