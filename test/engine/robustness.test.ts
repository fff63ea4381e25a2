import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../../src/sdk/random.js';
import { DIGEST_PREFIX } from '../../src/sdk/hash.js';
import { readManifest, type Manifest } from '../../src/engine/manifest.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});
const fresh = (): string => {
  const dir = copyFixture('basic');
  dirs.push(dir);
  return dir;
};
const latest = (dir: string): Manifest => readManifest(join(dir, 'cache', 'runs'), 'latest');
const outputDigests = (manifest: Manifest): Record<string, string> =>
  Object.fromEntries(manifest.steps.flatMap((s) => s.outputs.map((o) => [o.path, o.digest])));

/** Digests of the files actually on disk under out/, via a clean `dagrun verify`-independent hash. */
async function onDisk(dir: string, manifest: Manifest): Promise<Record<string, string>> {
  const { digestFile } = await import('../../src/sdk/hash.js');
  const out: Record<string, string> = {};
  for (const path of Object.keys(outputDigests(manifest))) out[path] = (await digestFile(join(dir, 'out', path))).digest;
  return out;
}

describe('crash safety and concurrency', () => {
  it('SIGKILL at random points never leaves state a later build trusts wrongly', async () => {
    const clean = fresh();
    expect((await runCli(['build'], clean)).code).toBe(0);
    const expected = outputDigests(latest(clean));

    const dir = fresh();
    const random = seededRandom(20261121);
    let killed = 0;
    for (let trial = 0; trial < 6; trial += 1) {
      // Vary what the build has to do: sometimes from scratch, sometimes a param change.
      if (trial % 3 === 0) rmSync(join(dir, 'out'), { recursive: true, force: true });
      const args = trial % 2 === 0 ? ['build'] : ['build', '--set', `make.rows=${5 + trial}`];
      const result = await runCli(args, dir, { killAfterMs: Math.floor(150 + random() * 2500) });
      if (result.signal === 'SIGKILL') killed += 1;
    }
    expect(killed).toBeGreaterThan(2);
    const final = await runCli(['build'], dir);
    expect(final.code, final.stderr).toBe(0);
    const manifest = latest(dir);
    expect(outputDigests(manifest)).toEqual(expected);
    expect(await onDisk(dir, manifest)).toEqual(expected);
    const verify = await runCli(['verify', '--json'], dir);
    expect(JSON.parse(verify.stdout).corrupt).toEqual([]);
  });

  it('two builds started at once on one cache both end correct', async () => {
    const clean = fresh();
    await runCli(['build'], clean);
    const expected = outputDigests(latest(clean));

    const dir = fresh();
    const [a, b] = await Promise.all([runCli(['build', '--json'], dir), runCli(['build', '--json'], dir)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const statuses = [JSON.parse(a.stdout), JSON.parse(b.stdout)].map((m: Manifest) => m.steps.map((s) => s.status));
    // One did the work while the other waited for the lock, then found everything cached.
    expect(statuses.map((s) => s.every((x) => x === 'cached')).sort()).toEqual([false, true]);
    expect(outputDigests(latest(dir))).toEqual(expected);
    expect(await onDisk(dir, latest(dir))).toEqual(expected);
    expect(JSON.parse((await runCli(['verify', '--json'], dir)).stdout).corrupt).toEqual([]);
  });
});

describe('corrupt cache objects', () => {
  const flipAByte = (path: string): void => {
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(path, bytes);
  };
  const objectPath = (dir: string, digest: string): string => join(dir, 'cache', 'objects', digest.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 2), digest.slice(DIGEST_PREFIX.length + 2));

  it('verify names the corrupt object, and the next build rebuilds instead of serving it', async () => {
    const dir = fresh();
    await runCli(['build'], dir);
    const manifest = latest(dir);
    const target = manifest.steps.find((s) => s.instance === 'double[date=2024-01-02]')?.outputs[0];
    if (!target) throw new Error('fixture changed');
    flipAByte(objectPath(dir, target.digest));

    const verify = await runCli(['verify'], dir);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(target.digest);

    rmSync(join(dir, 'out', target.path));
    const rebuilt = await runCli(['build', '--json'], dir);
    expect(rebuilt.code).toBe(0);
    const record = (JSON.parse(rebuilt.stdout) as Manifest).steps.find((s) => s.instance === 'double[date=2024-01-02]');
    expect(record?.status).toBe('built');
    expect(record?.outputs[0].digest).toBe(target.digest);
  });

  it('without verify, a corrupt object found while materialising is dropped and rebuilt', async () => {
    const dir = fresh();
    await runCli(['build'], dir);
    const target = latest(dir).steps.find((s) => s.instance === 'make[date=2024-01-03]')?.outputs[0];
    if (!target) throw new Error('fixture changed');
    flipAByte(objectPath(dir, target.digest));
    rmSync(join(dir, 'out', target.path));
    const rebuilt = await runCli(['build', '--json'], dir);
    const record = (JSON.parse(rebuilt.stdout) as Manifest).steps.find((s) => s.instance === 'make[date=2024-01-03]');
    expect(record?.status).toBe('built');
    expect(record?.reason).toMatch(/corrupt in the store/);
    expect((await onDisk(dir, latest(dir)))[target.path]).toBe(target.digest);
  });

  it('gc drops what no kept manifest references, and what is kept still serves', async () => {
    const dir = fresh();
    await runCli(['build'], dir);
    await runCli(['build', '--set', 'make.rows=9'], dir);
    const objects = (): number => readdirSync(join(dir, 'cache', 'objects')).flatMap((p) => readdirSync(join(dir, 'cache', 'objects', p))).length;
    const before = objects();
    const gc = await runCli(['gc', '--keep-runs', '1', '--json'], dir);
    expect(gc.code).toBe(0);
    const report = JSON.parse(gc.stdout);
    expect(report.objects_removed).toBeGreaterThan(0);
    expect(objects()).toBe(before - report.objects_removed);
    rmSync(join(dir, 'out'), { recursive: true });
    const again = await runCli(['build', '--set', 'make.rows=9', '--json'], dir);
    expect((JSON.parse(again.stdout) as Manifest).steps.every((s) => s.status === 'cached')).toBe(true);
    expect(existsSync(join(dir, 'out', 'summary', 'totals.csv'))).toBe(true);
  });
});
