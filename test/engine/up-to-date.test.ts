// The up-to-date memo (src/engine/up-to-date.ts) may only ever answer what the full check would:
// each test changes one thing the memo could overlook and compares the build with what it must be.
import { afterEach, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { build, type BuildOptions } from '../../src/engine/runner.js';
import { readManifest, type StepRecord } from '../../src/engine/manifest.js';
import { collectGarbage } from '../../src/engine/maintenance.js';
import { Store } from '../../src/engine/store.js';
import { UpToDateMemo } from '../../src/engine/up-to-date.js';
import { ENGINE_VERSION } from '../../src/engine/paths.js';
import { dailyPipeline, writeDailyProject, type DailyProject } from '../helpers/daily-project.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** copy's execution-only threads param: a changed default must not change any key. */
const memoProject = (threads = 1): DailyProject => ({
  name: 'memo',
  days: ['d1', 'd2', 'd3'],
  partition: 'values',
  copyParams: { threads: `{ type: integer, minimum: 1, default: ${threads}, x-execution-only: true }` },
});

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-memo-'));
  dirs.push(dir);
  writeDailyProject(dir, memoProject());
  return dir;
}

const run = async (dir: string, extra: Partial<BuildOptions> = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2, ...extra });
const statuses = (steps: readonly StepRecord[]): Record<string, string> => Object.fromEntries(steps.map((s) => [s.instance, `${s.status}${s.restored_files ? `+${s.restored_files}` : ''}`]));
const allCached = { 'copy[date=d1]': 'cached', 'copy[date=d2]': 'cached', 'copy[date=d3]': 'cached', sum: 'cached' };

/** Build, then no-op twice: the second no-op is the one the memo serves. */
async function settled(dir: string): Promise<void> {
  await run(dir);
  await run(dir);
  expect(statuses((await run(dir)).manifest.steps)).toEqual(allCached);
}

/** Whether the memo, as the last build left it, would serve this record: the probe the build itself uses. */
function wouldServe(dir: string, record: StepRecord, parts?: string): boolean {
  const store = new Store(join(dir, 'cache'));
  const memo = new UpToDateMemo(store, join(dir, 'pipeline.yaml'), join(dir, 'out'), ENGINE_VERSION);
  const memoDir = join(dir, 'cache', 'memo');
  const remembered = (JSON.parse(readFileSync(join(memoDir, readdirSync(memoDir)[0]), 'utf8')) as { entries: Record<string, { parts: string }> }).entries[record.instance]?.parts;
  const { step, instance, partition, kind, source, code_digest, code_files, params, inputs } = record;
  const served = memo.serve({ step, instance, partition, kind, source, code_digest, code_files, params, inputs }, parts ?? remembered ?? 'none');
  if (served) expect(served.key).toBe(record.cache_key);
  return served !== undefined;
}

describe('up-to-date memo', () => {
  it('serves a settled no-op: its manifest refers to the run that holds each record, which reads back whole', async () => {
    const dir = project();
    const first = await run(dir);
    await run(dir);
    const third = await run(dir);
    for (const record of third.manifest.steps) expect(wouldServe(dir, record)).toBe(true);
    // Other key parts (code, definition, key params, packages), another input digest or source: not served.
    const copy = third.manifest.steps[0];
    expect(wouldServe(dir, copy, 'sha256:other')).toBe(false);
    expect(wouldServe(dir, { ...copy, inputs: [{ ...copy.inputs[0], digest: 'sha256:other' }] })).toBe(false);
    expect(wouldServe(dir, { ...copy, inputs: [{ ...copy.inputs[0], source: 'file:inputs/elsewhere.csv' }] })).toBe(false);
    expect(wouldServe(dir, { ...copy, partition: { date: 'd9' } })).toBe(false);
    const onDisk = JSON.parse(readFileSync(third.manifestPath as string, 'utf8')) as { steps: StepRecord[] };
    expect(onDisk.steps.every((s) => s.unchanged_since !== undefined && s.outputs === undefined)).toBe(true);
    const back = readManifest(join(dir, 'cache', 'runs'), 'latest');
    expect(back.steps.map((s) => s.outputs)).toEqual(first.manifest.steps.map((s) => s.outputs));
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n39\n');
    // No machine path in the memo.
    const memoDir = join(dir, 'cache', 'memo');
    for (const f of readdirSync(memoDir)) expect(readFileSync(join(memoDir, f), 'utf8')).not.toContain(dir);
  });

  it('a touched output (same bytes, new mtime) stays cached; an edit with size and mtime put back is restored', async () => {
    const dir = project();
    await settled(dir);
    const target = join(dir, 'out', 'copied', 'd2.csv');
    const original = readFileSync(target, 'utf8');
    const later = new Date(Date.now() + 5000);
    utimesSync(target, later, later);
    expect(statuses((await run(dir)).manifest.steps)).toEqual(allCached);
    expect(readFileSync(target, 'utf8')).toBe(original);
    await run(dir);
    // Same size, mtime restored: only ctime tells.
    const seen = statSync(target);
    writeFileSync(target, original.replace('1,2', '1,7'));
    utimesSync(target, seen.atime, seen.mtime);
    expect(statSync(target).size).toBe(seen.size);
    expect(statuses((await run(dir)).manifest.steps)).toEqual({ ...allCached, 'copy[date=d2]': 'cached+1' });
    expect(readFileSync(target, 'utf8')).toBe(original);
  });

  it('a deleted output is put back; a removed action entry rebuilds its instance', async () => {
    const dir = project();
    await settled(dir);
    rmSync(join(dir, 'out', 'total.csv'));
    expect(statuses((await run(dir)).manifest.steps)).toEqual({ ...allCached, sum: 'cached+1' });
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n39\n');
    await run(dir);
    const sum = (await run(dir)).manifest.steps.find((s) => s.step === 'sum') as StepRecord;
    rmSync(join(dir, 'cache', 'actions', `${(sum.cache_key as string).slice('sha256:'.length)}.json`));
    expect(statuses((await run(dir)).manifest.steps)).toEqual({ ...allCached, sum: 'built' });
  });

  it('a removed cache object with its output deleted too rebuilds (the object is not trusted from the memo)', async () => {
    const dir = project();
    await settled(dir);
    const store = new Store(join(dir, 'cache'));
    const record = (await run(dir)).manifest.steps.find((s) => s.instance === 'copy[date=d1]') as StepRecord;
    rmSync(store.objectPath(record.outputs[0].digest));
    rmSync(join(dir, 'out', 'copied', 'd1.csv'));
    const after = await run(dir);
    expect(statuses(after.manifest.steps)['copy[date=d1]']).toBe('built');
    expect(after.manifest.steps.find((s) => s.instance === 'copy[date=d1]')?.reasons?.[0]).toMatchObject({ kind: 'corrupt-cache' });
    expect(existsSync(join(dir, 'out', 'copied', 'd1.csv'))).toBe(true);
  });

  it('an input edited with its size and mtime put back, new code, and a new execution-only param are all seen', async () => {
    const dir = project();
    await settled(dir);
    const input = join(dir, 'inputs', 'd3.csv');
    const seen = statSync(input);
    writeFileSync(input, readFileSync(input, 'utf8').replace('1,3', '1,4'));
    utimesSync(input, seen.atime, seen.mtime);
    expect(statuses((await run(dir)).manifest.steps)).toEqual({ ...allCached, 'copy[date=d3]': 'built', sum: 'built' });
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n40\n');
    await run(dir);
    // Code: the same bytes' length, another statement.
    writeFileSync(join(dir, 'steps', 'copy.sql'), 'CREATE TABLE copied AS SELECT id, v+0 AS v FROM raw;\n');
    expect(Object.values(statuses((await run(dir)).manifest.steps)).filter((s) => s === 'built')).toHaveLength(3);
    await run(dir);
    // Not in the key, but in the record: the manifest must show the new value.
    writeFileSync(join(dir, 'pipeline.yaml'), dailyPipeline(memoProject(3)));
    const withThreads = await run(dir);
    expect(statuses(withThreads.manifest.steps)).toEqual(allCached);
    expect(withThreads.manifest.steps.filter((s) => s.step === 'copy').map((s) => s.params.threads)).toEqual([3, 3, 3]);
    expect(readManifest(join(dir, 'cache', 'runs'), 'latest').steps.filter((s) => s.step === 'copy').map((s) => s.params.threads)).toEqual([3, 3, 3]);
  });

  it('new code built for one partition only: the other partitions are rebuilt by the next full build, not served', async () => {
    const dir = project();
    await settled(dir);
    writeFileSync(join(dir, 'steps', 'copy.sql'), 'CREATE TABLE copied AS SELECT id, v * 3 AS v FROM raw;\n');
    const one = await run(dir, { partitionFilter: { date: 'd1' } });
    expect(statuses(one.manifest.steps)).toEqual({ 'copy[date=d1]': 'built' });
    await run(dir, { partitionFilter: { date: 'd1' } }); // d1 cached now: remembered with the new key parts
    const all = await run(dir);
    expect(statuses(all.manifest.steps)).toEqual({ 'copy[date=d1]': 'cached', 'copy[date=d2]': 'built', 'copy[date=d3]': 'built', sum: 'built' });
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n117\n');
  });

  it('gc --keep-runs 1 drops the run the memo refers to: the next build still writes a manifest that reads back whole', async () => {
    const dir = project();
    await settled(dir);
    await collectGarbage(new Store(join(dir, 'cache')), { keepRuns: 1 });
    const after = await run(dir);
    expect(statuses(after.manifest.steps)).toEqual(allCached);
    const back = readManifest(join(dir, 'cache', 'runs'), 'latest');
    expect(back.steps.map((s) => s.outputs)).toEqual(after.manifest.steps.map((s) => s.outputs));
    await collectGarbage(new Store(join(dir, 'cache')), { keepRuns: 1 });
    expect(readManifest(join(dir, 'cache', 'runs'), 'latest').steps.every((s) => s.outputs.length === 1)).toBe(true);
  });

  it('another folder sharing the cache keeps its own memo: a change there is not hidden by this one', async () => {
    const dir = project();
    const other = mkdtempSync(join(tmpdir(), 'dagrun-memo-other-'));
    dirs.push(other);
    cpSync(dir, other, { recursive: true });
    const cacheDir = join(dir, 'shared-cache');
    for (let i = 0; i < 3; i += 1) {
      await run(dir, { cacheDir });
      await run(other, { cacheDir });
    }
    writeFileSync(join(other, 'inputs', 'd1.csv'), 'id,v\n1,100\n2,200\n');
    const changed = await run(other, { cacheDir });
    expect(statuses(changed.manifest.steps)).toEqual({ ...allCached, 'copy[date=d1]': 'built', sum: 'built' });
    expect(readFileSync(join(other, 'out', 'total.csv'), 'utf8')).toBe('v\n328\n');
    expect(statuses((await run(dir, { cacheDir })).manifest.steps)).toEqual(allCached);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n39\n');
  });
});
