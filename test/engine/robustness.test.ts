import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
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
  it('SIGKILL at points across a build never leaves state a later build trusts wrongly', async () => {
    const clean = fresh();
    expect((await runCli(['build'], clean)).code).toBe(0);
    const expected = outputDigests(latest(clean));

    // Each kill is tied to the build's own progress (the Nth "building" line, then a delay), not to a
    // wall-clock timer, so it lands mid-build however loaded the machine is. Fresh param values always
    // have seven steps to build; a repeated value resumes from what the killed build left behind.
    const trials = [
      { rows: 5, clearOut: true, start: 2, delayMs: 100 }, // while the make kernels run
      { rows: 6, clearOut: false, start: 5, delayMs: 0 }, // as the SQL steps start
      { rows: 5, clearOut: false, start: 1, delayMs: 0 }, // resume rows=5
      { rows: 7, clearOut: true, start: 4, delayMs: 200 }, // while make outputs are stored and copied out
      { rows: 7, clearOut: false, start: 1, delayMs: 0 }, // resume rows=7
      { rows: 5, clearOut: false, start: 1, delayMs: 30 }, // resume rows=5 again
    ];
    const dir = fresh();
    let signalled = 0;
    let killed = 0;
    for (const trial of trials) {
      if (trial.clearOut) rmSync(join(dir, 'out'), { recursive: true, force: true });
      const args = ['build', '--verbose', ...(trial.rows === 5 ? [] : ['--set', `make.rows=${trial.rows}`])];
      const result = await runCli(args, dir, { signalOn: { after: /^building /m, count: trial.start, delayMs: trial.delayMs } });
      if (result.signalled) signalled += 1;
      if (result.signal === 'SIGKILL') killed += 1;
      else expect(result.code, result.stderr).toBe(0);
    }
    // Every fresh-value trial has a step left to build after its trigger, so at least those three die. A
    // kill sent as a resumed build was finishing may find it gone (exit 0, checked above): not every signal kills.
    expect(killed).toBeLessThanOrEqual(signalled);
    expect(killed).toBeGreaterThanOrEqual(3);
    const final = await runCli(['build'], dir);
    expect(final.code, final.stderr).toBe(0);
    const manifest = latest(dir);
    expect(outputDigests(manifest)).toEqual(expected);
    expect(await onDisk(dir, manifest)).toEqual(expected);
    const verify = await runCli(['verify', '--json'], dir);
    expect(JSON.parse(verify.stdout).corrupt).toEqual([]);
    // Eight CLI builds: on a loaded 2-core machine this takes longer than the default 120 s.
  }, 300_000);

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
