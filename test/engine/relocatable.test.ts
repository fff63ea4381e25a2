// Relocatable builds (issue 11): the sample built in two folders with separate caches gives the same
// bytes and the same action keys, nothing written names the folder, and a moved checkout is served
// entirely from its cache and can still cut chips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { digestFile } from '../../src/sdk/hash.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { runCli, type CliResult } from '../helpers/fixture.js';
import { copySampleProject } from '../helpers/sample-project.js';

function files(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(root, join(dir, e.name)) : [join(dir, e.name).slice(root.length + 1)])).sort();
}

async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of files(dir)) out[file] = (await digestFile(join(dir, file))).digest;
  return out;
}

function latestManifest(project: string): Manifest {
  const runs = readdirSync(join(project, 'cache', 'runs')).filter((f) => f.endsWith('.json')).sort();
  return JSON.parse(readFileSync(join(project, 'cache', 'runs', runs.at(-1) as string), 'utf8')) as Manifest;
}

const keysOf = (m: Manifest): Record<string, string | undefined> => Object.fromEntries(m.steps.map((s) => [s.instance, s.cache_key]));

let a: string;
let b: string;
let moved: string;
let builtA: CliResult;
let builtB: CliResult;
beforeAll(async () => {
  a = copySampleProject('dagrun-reloc-a-');
  b = copySampleProject('dagrun-reloc-b-');
  builtA = await runCli(['build', '--json'], a);
  builtB = await runCli(['build'], b);
}, 600_000);
afterAll(() => {
  for (const dir of [a, b, moved]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('relocatable builds', () => {
  it('the sample built in two folders with separate caches: every output digest and every action key equal', async () => {
    expect(builtA.code, builtA.stderr).toBe(0);
    expect(builtB.code, builtB.stderr).toBe(0);
    const [outA, outB] = [await digests(join(a, 'out')), await digests(join(b, 'out'))];
    expect(Object.keys(outA).length).toBeGreaterThan(100);
    expect(outB).toEqual(outA);
    expect(keysOf(latestManifest(b))).toEqual(keysOf(latestManifest(a)));
    expect(readdirSync(join(b, 'cache', 'actions')).sort()).toEqual(readdirSync(join(a, 'cache', 'actions')).sort());
  });

  it('no output, object, manifest, action entry or CLI line names the folder', () => {
    for (const [project, result] of [[a, builtA], [b, builtB]] as const) {
      expect(result.stdout + result.stderr).not.toContain(project);
      for (const area of ['out', 'cache/objects', 'cache/actions', 'cache/runs']) {
        for (const file of files(join(project, area))) {
          expect(readFileSync(join(project, area, file), 'latin1').includes(project), `${area}/${file} names ${project}`).toBe(false);
        }
      }
    }
    // The stac matches carry relative asset hrefs; the chip sidecars repeat them.
    const sidecar = files(join(a, 'out', 'chips')).find((f) => f.endsWith('.json') && !f.endsWith('.geojson')) as string;
    const hrefs = Object.values((JSON.parse(readFileSync(join(a, 'out', 'chips', sidecar), 'utf8')) as { assets: Record<string, { href: string }> }).assets).map((x) => x.href);
    expect(hrefs.length).toBeGreaterThan(0);
    for (const href of hrefs) expect(href).toMatch(/^datasets\/sample\/scene\//);
  });

  it('a moved checkout runs zero steps, verifies clean, and cuts chips at a new size from the relative hrefs', async () => {
    moved = `${a}-moved`;
    renameSync(a, moved);
    const noop = await runCli(['build', '--json'], moved);
    expect(noop.code, noop.stderr).toBe(0);
    const manifest = JSON.parse(noop.stdout) as Manifest;
    expect(manifest.steps.filter((s) => s.status !== 'cached').map((s) => `${s.instance}: ${s.status} (${s.reason})`)).toEqual([]);
    expect(noop.stdout).not.toContain(moved);
    const verify = await runCli(['verify', '--json'], moved);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout).corrupt).toEqual([]);

    // Before the fix the hrefs were absolute paths into the old folder: every chip failed with ENOENT.
    const resized = await runCli(['build', 'chip', '--partition', 'date=2026-05-25', '--set', 'chip.size_px=128', '--json'], moved);
    expect(resized.code, resized.stdout + resized.stderr).toBe(0);
    const chip = (JSON.parse(resized.stdout) as Manifest).steps.find((s) => s.instance === 'chip[date=2026-05-25]');
    expect(chip?.status).toBe('built');
    expect(chip?.metrics.chips_failed).toBe(0);
    expect(Number(chip?.metrics.chips_ok)).toBeGreaterThan(0);
    expect(statSync(join(moved, 'out', 'chips', '2026-05-25')).isDirectory()).toBe(true);
  });
});
