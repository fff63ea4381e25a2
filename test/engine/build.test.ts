import { describe, expect, it } from 'vitest';
import { appendFileSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCounter } from '../../src/sdk/hash.js';
import { diffManifests, readManifest, type Manifest } from '../../src/engine/manifest.js';
import { readTable } from '../../src/sdk/table-io.js';
import { buildableFixtures } from '../helpers/build-fixture.js';

const fixture = buildableFixtures();

const statuses = (manifest: Manifest): Record<string, string> => Object.fromEntries(manifest.steps.map((s) => [s.instance, s.status]));
const outputDigests = (manifest: Manifest): Record<string, string> =>
  Object.fromEntries(manifest.steps.flatMap((s) => s.outputs.map((o) => [o.path, o.digest])));
const mtimes = (dir: string, manifest: Manifest): Record<string, number> =>
  Object.fromEntries(manifest.steps.flatMap((s) => s.outputs.map((o) => [o.path, statSync(join(dir, 'out', o.path)).mtimeMs])));

describe('build on the basic fixture', () => {
  it('a second build caches every step, rewrites no output and reads no input content', async () => {
    const { dir, run } = fixture('basic');
    const first = await run();
    expect(first.ok).toBe(true);
    expect(Object.values(statuses(first.manifest))).toEqual(Array(7).fill('built'));
    const before = mtimes(dir, first.manifest);

    const reads = readCounter.files;
    const second = await run();
    expect(readCounter.files - reads).toBe(0);
    expect(Object.values(statuses(second.manifest))).toEqual(Array(7).fill('cached'));
    expect(mtimes(dir, second.manifest)).toEqual(before);
    expect(outputDigests(second.manifest)).toEqual(outputDigests(first.manifest));
  });

  it('rebuilding from nothing gives byte-identical outputs', async () => {
    const { dir, run } = fixture('basic');
    const first = await run();
    rmSync(join(dir, 'cache'), { recursive: true });
    rmSync(join(dir, 'out'), { recursive: true });
    const again = await run();
    expect(Object.values(statuses(again.manifest))).toEqual(Array(7).fill('built'));
    expect(outputDigests(again.manifest)).toEqual(outputDigests(first.manifest));
  });

  it('--set rebuilds only that step and its dependents, and diff names them and the param', async () => {
    const { dir, run } = fixture('basic');
    await run();
    const changed = await run({ sets: { double: { factor: 3 } } });
    const s = statuses(changed.manifest);
    expect(Object.entries(s).filter(([, v]) => v === 'built').map(([k]) => k).sort()).toEqual(['double[date=2024-01-01]', 'double[date=2024-01-02]', 'double[date=2024-01-03]', 'summary']);
    expect(changed.manifest.steps.find((r) => r.instance === 'double[date=2024-01-01]')?.reason).toContain('param factor changed (2 → 3)');

    const runs = join(dir, 'cache', 'runs');
    const diff = diffManifests(readManifest(runs, 'previous'), readManifest(runs, 'latest'));
    expect(diff.summary.rebuilt.sort()).toEqual(['double[date=2024-01-01]', 'double[date=2024-01-02]', 'double[date=2024-01-03]', 'summary']);
    expect(diff.steps.filter((d) => d.params.length > 0).map((d) => [d.instance, d.params])).toEqual([
      ['double[date=2024-01-01]', [{ name: 'factor', from: 2, to: 3 }]],
      ['double[date=2024-01-02]', [{ name: 'factor', from: 2, to: 3 }]],
      ['double[date=2024-01-03]', [{ name: 'factor', from: 2, to: 3 }]],
    ]);
    const totals = await readTable(join(dir, 'out', 'summary', 'totals.csv'), 'csv');
    expect(totals.map((r) => r.total)).toEqual([195, 210, 225]);
  });

  it('an execution-only param changes no key: everything stays cached', async () => {
    const { run } = fixture('basic');
    await run();
    const again = await run({ sets: { make: { threads: 4 } } });
    expect(Object.values(statuses(again.manifest))).toEqual(Array(7).fill('cached'));
    expect(again.manifest.steps[0].params).toEqual({ rows: 5, threads: 4 });
  });

  it('editing a SQL file rebuilds that step and its dependents; plan says code changed', async () => {
    const { dir, run } = fixture('basic');
    await run();
    appendFileSync(join(dir, 'steps', 'double', 'double.sql'), '-- a comment changes the code digest\n');
    const plan = await run({ dryRun: true });
    const planned = Object.fromEntries(plan.manifest.steps.map((s) => [s.instance, s]));
    expect(planned['make[date=2024-01-01]'].status).toBe('cached');
    expect(planned['double[date=2024-01-02]'].status).toBe('would-build');
    expect(planned['double[date=2024-01-02]'].reason).toMatch(/^code changed/);
    expect(planned.summary.status).toBe('would-build');
    const rebuilt = await run();
    expect(Object.entries(statuses(rebuilt.manifest)).filter(([, v]) => v === 'built').map(([k]) => k).sort()).toEqual(['double[date=2024-01-01]', 'double[date=2024-01-02]', 'double[date=2024-01-03]']);
    // summary's inputs are byte-identical (a comment), so it is served from the cache.
    expect(statuses(rebuilt.manifest).summary).toBe('cached');
  });

  it('--partition rebuilds only that partition; other partitions keep mtime and digest', async () => {
    const { dir, run } = fixture('basic');
    const first = await run();
    const before = mtimes(dir, first.manifest);
    const one = await run({ partitionFilter: { date: '2024-01-02' }, sets: { make: { rows: 7 } } });
    expect(one.manifest.steps.map((s) => `${s.instance}:${s.status}`)).toEqual(['make[date=2024-01-02]:built', 'double[date=2024-01-02]:built']);
    const after = mtimes(dir, first.manifest);
    for (const path of Object.keys(before)) {
      if (path.includes('2024-01-02')) expect(after[path]).not.toBe(before[path]);
      else expect(after[path]).toBe(before[path]);
    }
    const rows = await readTable(join(dir, 'out', 'doubled', '2024-01-02.parquet'));
    expect(rows).toHaveLength(7);
  });
});

describe('build on the branches fixture', () => {
  it('a failing step stops only its dependents, and every failure is reported', async () => {
    const { run } = fixture('branches');
    const result = await run();
    expect(result.ok).toBe(false);
    const s = statuses(result.manifest);
    expect(s.broken).toBe('failed');
    expect(s['after-broken']).toBe('skipped');
    expect(s.independent).toBe('built');
    expect(s['tally[date=2024-03-03]']).toBe('built');
    const broken = result.manifest.steps.find((r) => r.step === 'broken');
    expect(broken?.error).toMatch(/steps\/broken\/broken\.sql: SQL statement 1 failed: .*no_such_table/);
  });

  it('a live source is captured once and pinned until --refresh', async () => {
    const { dir, run } = fixture('branches');
    await run({ targets: ['clock'] });
    const first = readFileSync(join(dir, 'out', 'clock', 'stamp.json'), 'utf8');
    const again = await run({ targets: ['clock'] });
    expect(statuses(again.manifest).clock).toBe('cached');
    expect(again.manifest.steps[0].pinned).toBe(true);
    expect(readFileSync(join(dir, 'out', 'clock', 'stamp.json'), 'utf8')).toBe(first);
    const refreshed = await run({ targets: ['clock'], refresh: ['clock'] });
    expect(statuses(refreshed.manifest).clock).toBe('built');
    expect(readFileSync(join(dir, 'out', 'clock', 'stamp.json'), 'utf8')).not.toBe(first);
  });

  it('a previous-partition input carries state forward, and one partition pulls in its predecessors', async () => {
    const { dir, run } = fixture('branches');
    const result = await run({ targets: ['tally'], partitionFilter: { date: '2024-03-03' } });
    expect(result.manifest.steps.map((s) => s.instance)).toEqual(['tally[date=2024-03-01]', 'tally[date=2024-03-02]', 'tally[date=2024-03-03]']);
    const rows = await readTable(join(dir, 'out', 'tally', '2024-03-03.parquet'));
    expect(rows).toEqual([{ day: '2024-03-03', total: 6 }]);
  });

  it('secrets in the environment never reach the manifest', async () => {
    const { dir, run } = fixture('branches');
    process.env.TEST_SERVICE_API_KEY = 'sk-very-secret-value';
    try {
      const result = await run({ targets: ['independent'], sets: { independent: { n: 4 } } });
      const text = readFileSync(result.manifestPath as string, 'utf8');
      expect(text).not.toContain('sk-very-secret-value');
      expect(existsSync(join(dir, 'out', 'independent', 'series.parquet'))).toBe(true);
    } finally {
      delete process.env.TEST_SERVICE_API_KEY;
    }
  });
});
