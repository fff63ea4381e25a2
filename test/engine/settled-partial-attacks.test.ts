// The partly settled build (settled.ts + runner.ts `carry`) attacked from outside the build: builds of
// other command lines in between (--partition, --with-fan-in), another folder sharing the cache and gc,
// a real CLI interrupted, links planted in out/, a failing upstream, a hand-edited settled file. Each
// test says which defect it would catch; each answer is checked against a build from nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { serveSettled } from '../../src/engine/settled.js';
import { fromScratch, RACY_WAIT, settledCli, settleProject, wait, type PartitionArgs } from '../helpers/settled-build.js';
import { writeDailyProject, type DailyProject } from '../helpers/daily-project.js';
import { runCli } from '../helpers/fixture.js';
import type { BuildResult } from '../../src/engine/runner.js';

const root = mkdtempSync(join(tmpdir(), 'dagrun-settled-attacks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAYS = ['2026-05-01', '2026-05-02', '2026-05-03', '2026-05-04'];
const [D1, D2, D3, D4] = DAYS;
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

function project(name: string, options: Partial<DailyProject> = {}): string {
  const dir = join(root, name);
  writeDailyProject(dir, { name: 'attacks', days: DAYS, double: true, ...options });
  return dir;
}

const input = (dir: string, day: string): string => join(dir, 'inputs', `${day}.csv`);
const setInput = (dir: string, day: string, ...rows: string[]): void => writeFileSync(input(dir, day), `id,v\n${rows.join('\n')}\n`);

/** Every file under `dir`/out, by '/'-separated path: what a build left for its user. */
function outFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(join(dir, 'out'), path).split('\\').join('/')] = readFileSync(path, 'utf8');
    }
  };
  walk(join(dir, 'out'));
  return files;
}

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
});
