// The flagship: the root pipeline.yaml on the embedded sample, and the sample's own generator.
import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from './helpers/paths.js';
import { runCli } from './helpers/fixture.js';
import { Store } from '../src/engine/store.js';
import type { Manifest } from '../src/engine/manifest.js';
import { readTable } from '../src/sdk/table-io.js';
import { checkRelease } from '../scripts/check-release.js';

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
  }, 600_000);

  it('scripts/check-release finds the built sample consistent, and names each tampered file', async () => {
    const release = join(scratch, 'release');
    cpSync(join(PROJECT_ROOT, 'out'), release, { recursive: true });
    const clean = await checkRelease(release);
    expect(clean.problems).toEqual([]);
    expect(clean.chips).toBeGreaterThan(0);
    expect(clean.items).toBe(clean.chips);
    // in place, each item's derived_from link resolves to the sample's Sentinel-2 item and is checked
    expect((await checkRelease(join(PROJECT_ROOT, 'out'))).problems).toEqual([]);

    const rows = await readTable(join(release, 'indexes', 'tiles.parquet'));
    const [first, second] = rows.map((r) => ({ id: String(r.chip_id), tif: String(r.path) }));
    rmSync(join(release, first.tif.replace(/\.tif$/, '.json')));
    const itemPath = join(release, 'indexes', 'stac', 'items', `${second.id}.json`);
    const item = JSON.parse(readFileSync(itemPath, 'utf8'));
    item.properties.split = item.properties.split === 'train' ? 'test' : 'train';
    item.assets.thumbnail.href = '../../../../outside.jpg';
    writeFileSync(itemPath, JSON.stringify(item));
    if (rows.length > 2) {
      // a derived_from link to something that is not the scene's item, inside the release
      const thirdPath = join(release, 'indexes', 'stac', 'items', `${String(rows[2].chip_id)}.json`);
      const third = JSON.parse(readFileSync(thirdPath, 'utf8'));
      third.links.find((l: { rel: string }) => l.rel === 'derived_from').href = '../collection.json';
      writeFileSync(thirdPath, JSON.stringify(third));
    }
    item.links = item.links.filter((l: { rel: string }) => l.rel !== 'derived_from');
    writeFileSync(itemPath, JSON.stringify(item));
    writeFileSync(join(release, 'indexes', 'stac', 'items', 'ffffffffffffffff.json'), '{}');
    const report = await checkRelease(release);
    const messages = report.problems.map((p) => `${p.file}: ${p.message}`);
    expect(messages).toContainEqual(expect.stringMatching(new RegExp(`^${first.tif.replace(/\.tif$/, '.json')}: sidecar unreadable`)));
    expect(messages).toContainEqual(`indexes/stac/items/${second.id}.json: split ${item.properties.split} but the index row says ${item.properties.split === 'train' ? 'test' : 'train'}`);
    expect(messages).toContainEqual(`indexes/stac/items/${second.id}.json: asset thumbnail href ../../../../outside.jpg leaves the release folder`);
    expect(messages).toContainEqual('indexes/stac/items/ffffffffffffffff.json: STAC item ffffffffffffffff has no row in indexes/tiles.parquet');
    expect(messages).toContainEqual(`indexes/stac/items/${second.id}.json: 0 derived_from links (one expected: the Sentinel-2 item ${String(rows[1].scene_id)})`);
    if (rows.length > 2) expect(messages).toContainEqual(`indexes/stac/items/${String(rows[2].chip_id)}.json: derived_from href ../collection.json is not the STAC item ${String(rows[2].scene_id)} (id maritime-s2-ship-chips)`);
    // the command: exit 1 with problems, 2 for a folder that is not a release
    const script = join(PROJECT_ROOT, 'scripts', 'check-release.ts');
    expect(spawnSync(process.execPath, ['--import', 'tsx', script, release], { cwd: PROJECT_ROOT, encoding: 'utf8' }).status).toBe(1);
    const notRelease = spawnSync(process.execPath, ['--import', 'tsx', script, 'docs'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect([notRelease.status, notRelease.stderr.trim()]).toEqual([2, 'docs: no indexes/tiles.parquet — not a dagrun chip release']);
  });

  // Last: it rebuilds gate and index in out/, which the tests above read as the plain sample build.
  it('with no chip through the gate, index still builds with zero rows of its declared types', async () => {
    const env = { DAGRUN_CACHE: join(scratch, 'cache') };
    // No chip passes the gate: index must still build, with zero rows of its declared types
    // (issue 10 item 3: the empty tiles table's GEOMETRY column was written as BLOB).
    const none = await runCli(['build', 'index', '--set', 'gate.min_water_center_frac=1', '--json'], PROJECT_ROOT, { env });
    expect(none.code, none.stdout.slice(-3000) + none.stderr).toBe(0);
    const gated = JSON.parse(none.stdout) as Manifest;
    const index = gated.steps.find((s) => s.step === 'index');
    expect(index?.status).toBe('built');
    expect(index?.outputs.find((o) => o.name === 'tiles')?.rows).toBe(0);
    expect(gated.steps.filter((s) => s.step === 'gate').every((s) => s.status === 'built' && s.outputs[0].rows! > 0)).toBe(true);
  }, 600_000);
});
