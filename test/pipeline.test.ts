// The flagship: the root pipeline.yaml on the embedded sample, and the sample's own generator.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from './helpers/paths.js';
import { runCli } from './helpers/fixture.js';
import { Store } from '../src/engine/store.js';
import type { Manifest } from '../src/engine/manifest.js';

const scratch = mkdtempSync(join(tmpdir(), 'dagrun-pipeline-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the embedded sample', () => {
  it('the generator reproduces the committed datasets/sample byte for byte', async () => {
    const root = join(scratch, 'regenerated');
    // Generators read their siblings' outputs (e.g. the scene reads the AIS stream) from the same root.
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'scripts', 'make-sample.ts'), '--root', root], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const store = new Store(join(scratch, 'store'));
    const committed = await store.digestTree(join(PROJECT_ROOT, 'datasets', 'sample'));
    const regenerated = await store.digestTree(join(root, 'datasets', 'sample'));
    expect(regenerated.entries.map((e) => [e.path, e.digest])).toEqual(committed.entries.map((e) => [e.path, e.digest]));
    // Regenerating every dataset (two 1000×1000 scenes of ten bands among them) takes ~15 s alone and far
    // longer beside the rest of the suite on 2 cores.
  }, 600_000);

  it('npx dagrun build runs every step of pipeline.yaml, then a rebuild is all cached', async () => {
    const env = { DAGRUN_CACHE: join(scratch, 'cache') };
    const cold = await runCli(['build', '--json'], PROJECT_ROOT, { env });
    expect(cold.code, cold.stdout.slice(-3000) + cold.stderr).toBe(0);
    const first = JSON.parse(cold.stdout) as Manifest;
    const steps = new Set(first.steps.map((s) => s.step));
    for (const step of ['tle-fetch', 'predict', 'ais-capture', 'thin', 'stac-search', 'chip', 'gate', 'index', 'rf-fuse', 'transit-reconcile']) expect(steps).toContain(step);
    expect(first.steps.every((s) => s.status === 'built')).toBe(true);

    const warm = await runCli(['build', '--json'], PROJECT_ROOT, { env });
    const second = JSON.parse(warm.stdout) as Manifest;
    expect(second.steps.map((s) => s.status).every((s) => s === 'cached')).toBe(true);
    const digests = (m: Manifest): string[] => m.steps.flatMap((s) => s.outputs.map((o) => `${o.path}=${o.digest}`));
    expect(digests(second)).toEqual(digests(first));
  });
});
