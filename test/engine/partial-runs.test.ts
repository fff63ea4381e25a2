// What a partial run (`--partition`) tells the user (issue 11): diff against a full run names the one
// real change and each run's --set values, instances only one run has are "not in this run"; fan-in
// steps left stale by a partition rebuild are reported, and --with-fan-in rebuilds them.
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions } from '../../src/engine/runner.js';
import { diffManifests, formatDiff, readManifest, type Manifest } from '../../src/engine/manifest.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

function fixture(): { dir: string; run: (options?: Partial<BuildOptions>) => ReturnType<typeof build> } {
  const dir = copyFixture('basic');
  dirs.push(dir);
  return { dir, run: (options = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), ...options }) };
}

const statuses = (manifest: Manifest): Record<string, string> => Object.fromEntries(manifest.steps.map((s) => [s.instance, s.status]));

describe('partial runs', () => {
  it('diff between a full run and a --partition run: the one change, each run\'s --set, the rest "not in this run"', async () => {
    const { dir, run } = fixture();
    await run();
    await run({ partitionFilter: { date: '2024-01-02' }, sets: { double: { factor: 3 } } });
    const runs = join(dir, 'cache', 'runs');
    const diff = diffManifests(readManifest(runs, 'previous'), readManifest(runs, 'latest'));
    expect(diff.summary.changed).toEqual(['double[date=2024-01-02]']);
    expect(diff.summary.not_in_to.sort()).toEqual(['double[date=2024-01-01]', 'double[date=2024-01-03]', 'make[date=2024-01-01]', 'make[date=2024-01-03]', 'summary']);
    expect(diff.runs[1]).toMatchObject({ partition: { date: '2024-01-02' }, set: { double: { factor: 3 } } });
    const text = formatDiff(diff);
    // Before: every instance absent from the partial run was "removed", each param → null, each output → ∅.
    expect(text).not.toMatch(/null|∅/);
    expect(text.split('\n').length).toBeLessThanOrEqual(8);
    expect(text).toContain('--partition date=2024-01-02 --set double.factor=3');
    expect(text).toContain('param factor: 2 → 3');
    expect(text).toContain('5 instance(s) not in one of the runs');
    const all = formatDiff(diff, true);
    expect(all).toContain(`· summary: not in run ${diff.to}`);
    const cli = await runCli(['diff', 'previous', 'latest', '--json'], dir);
    expect(JSON.parse(cli.stdout).steps.map((s: { instance: string }) => s.instance)).toEqual(['double[date=2024-01-02]']);
    expect((await runCli(['diff', 'previous', 'latest', '--all'], dir)).stdout).toContain('· make[date=2024-01-01]: not in run');
  });

  it('a partition rebuild says the fan-in step is stale (build and plan); --with-fan-in rebuilds it', async () => {
    const { dir, run } = fixture();
    await run();
    const plan = await runCli(['plan', '--partition', 'date=2024-01-02', '--set', 'make.rows=7'], dir);
    expect(plan.stdout).toContain('stale   summary: stale — partition date=2024-01-02 changed; run `dagrun build summary` (or build with --with-fan-in)');
    const partial = await run({ partitionFilter: { date: '2024-01-02' }, sets: { make: { rows: 7 } } });
    expect(statuses(partial.manifest).summary).toBeUndefined();
    expect(partial.manifest.stale_fan_in).toEqual([{ instance: 'summary', partition: 'date=2024-01-02', reason: expect.stringContaining('run `dagrun build summary`') }]);
    // A later partial run that changes nothing still says so: the fan-in is stale until rebuilt.
    const again = await run({ partitionFilter: { date: '2024-01-02' }, sets: { make: { rows: 7 } } });
    expect(Object.values(statuses(again.manifest))).not.toContain('built');
    expect(again.manifest.stale_fan_in?.map((s) => s.instance)).toEqual(['summary']);
    const fanIn = await run({ partitionFilter: { date: '2024-01-02' }, sets: { make: { rows: 7 } }, withFanIn: true });
    expect(statuses(fanIn.manifest).summary).toBe('built');
    expect(fanIn.manifest.stale_fan_in).toBeUndefined();
    // Back on the defaults the other way round: summary is stale again, and says so.
    const back = await run({ partitionFilter: { date: '2024-01-02' } });
    expect(back.manifest.stale_fan_in?.map((s) => s.instance)).toEqual(['summary']);
  });

  it('status says, without building, what is missing, edited by hand or stale upstream; a build says how many files it restored', async () => {
    const { dir, run } = fixture();
    await run();
    await run({ partitionFilter: { date: '2024-01-02' }, sets: { make: { rows: 7 } } });
    rmSync(join(dir, 'out', 'numbers', '2024-01-01.parquet'));
    appendFileSync(join(dir, 'out', 'doubled', '2024-01-03.parquet'), 'edited by hand');
    const status = JSON.parse((await runCli(['status', '--json'], dir)).stdout) as { instance: string; state: string; problems: string[] }[];
    const state = Object.fromEntries(status.map((s) => [s.instance, s.state]));
    expect(state).toEqual({
      'make[date=2024-01-01]': 'missing', 'make[date=2024-01-02]': 'ok', 'make[date=2024-01-03]': 'ok',
      'double[date=2024-01-01]': 'ok', 'double[date=2024-01-02]': 'ok', 'double[date=2024-01-03]': 'modified',
      summary: 'stale',
    });
    expect(status.find((s) => s.instance === 'summary')?.problems[0]).toMatch(/^upstream double\.doubled \(double\[date=2024-01-01\], double\[date=2024-01-02\], double\[date=2024-01-03\]\) changed since it was built; run `dagrun build summary`$/);
    expect(status.find((s) => s.instance === 'make[date=2024-01-01]')?.problems).toEqual(['numbers/2024-01-01.parquet is missing']);

    // Back to the defaults: everything is cached; the deleted and edited files and date 2's rows=7 outputs are put back.
    const rebuilt = await runCli(['build'], dir);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).not.toMatch(/^built/m);
    expect(rebuilt.stdout).toContain('restored 4 file(s) in out/ that were deleted or edited by hand (make[date=2024-01-01]: 1, make[date=2024-01-02]: 1, double[date=2024-01-02]: 1, double[date=2024-01-03]: 1)');
    const after = JSON.parse((await runCli(['status', '--json'], dir)).stdout) as { state: string }[];
    expect(after.every((s) => s.state === 'ok')).toBe(true);
  });
});
