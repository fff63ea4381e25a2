// The up-to-date memos (cache/memo/*.json) and remote-inputs.json are checked by `dagrun verify` like
// every other cache file: parsed, shape-checked, what they name checked, each problem named by its
// file; `--repair` drops them, and the next build is right (a dropped memo only costs a re-check).
// A damaged memo is never served: its digest no longer matches, so the build checks the usual way.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { build } from '../../src/engine/runner.js';
import type { StepRecord } from '../../src/engine/manifest.js';
import { digestBytes } from '../../src/sdk/hash.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { writeDailyProject } from '../helpers/daily-project.js';
import { startNginx, type Nginx } from '../helpers/servers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-vmemo-'));
  dirs.push(dir);
  writeDailyProject(dir, { name: 'memo', days: ['d1', 'd2'], partition: 'values', copyValue: 'v * 2' });
  return dir;
}

const run = async (dir: string) => build({ pipelineFile: join(dir, 'pipeline.yaml') });
const digests = (steps: readonly StepRecord[]): Record<string, string[]> => Object.fromEntries(steps.map((s) => [s.instance, s.outputs.map((o) => o.digest)]));
const statuses = (steps: readonly StepRecord[]): Record<string, string> => Object.fromEntries(steps.map((s) => [s.instance, s.status]));

/** Built, then two no-ops: the memo now serves every instance. Returns the true output digests and the memo's path. */
async function settled(dir: string): Promise<{ truth: Record<string, string[]>; memo: string; keys: Record<string, string> }> {
  const first = await run(dir);
  await run(dir);
  const third = await run(dir);
  expect(statuses(third.manifest.steps)).toEqual({ 'copy[date=d1]': 'cached', 'copy[date=d2]': 'cached', sum: 'cached' });
  const memoDir = join(dir, 'cache', 'memo');
  const files = readdirSync(memoDir);
  expect(files).toHaveLength(1);
  return { truth: digests(first.manifest.steps), memo: join(memoDir, files[0]), keys: Object.fromEntries(first.manifest.steps.map((s) => [s.instance, s.cache_key as string])) };
}

/** The memo's text with one character of copy[date=d1]'s output digest changed (its input digest stays). */
function flipOutputDigest(text: string, digest: string): string {
  const at = text.indexOf(`"digest":"${digest}","kind":"file","name":"copied"`) + '"digest":"sha256:'.length + 7;
  expect(at).toBeGreaterThan(30);
  return `${text.slice(0, at)}${text[at] === '0' ? '1' : '0'}${text.slice(at + 1)}`;
}

const problemsOf = async (dir: string): Promise<{ code: number | null; byFile: Record<string, string> }> => {
  const verify = await runCli(['verify', '--json'], dir);
  const report = JSON.parse(verify.stdout) as { problems: { file: string; problem: string }[] };
  return { code: verify.code, byFile: Object.fromEntries(report.problems.map((p) => [p.file, p.problem])) };
};

describe('up-to-date memos', () => {
  it('a memo with a flipped output digest is not served: the manifest keeps the true digests', async () => {
    const dir = project();
    const { truth, memo } = await settled(dir);
    writeFileSync(memo, flipOutputDigest(readFileSync(memo, 'utf8'), truth['copy[date=d1]'][0]));
    const after = await run(dir);
    expect(after.ok).toBe(true);
    expect(digests(after.manifest.steps)).toEqual(truth);
    expect(statuses(after.manifest.steps)).toEqual({ 'copy[date=d1]': 'cached', 'copy[date=d2]': 'cached', sum: 'cached' });
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n48\n');
  });

  it('verify names a truncated, an edited, an emptied and a forged memo and one naming a missing action entry; --repair drops them and the next build is right', async () => {
    const dir = project();
    const { truth, memo, keys } = await settled(dir);
    const original = readFileSync(memo, 'utf8');
    const memoDir = join(dir, 'cache', 'memo');
    writeFileSync(memo, flipOutputDigest(original, truth['copy[date=d1]'][0]));
    writeFileSync(join(memoDir, 'truncated.json'), original.slice(0, original.length >> 1));
    writeFileSync(join(memoDir, 'empty.json'), '{}');
    // Consistent in itself (its digest recomputed), but its record disagrees with the action entry.
    const parsed = JSON.parse(original) as { version: number; engine: string; entries: Record<string, { record: { outputs: { digest: string }[] } }> };
    parsed.entries['copy[date=d2]'].record.outputs[0].digest = truth['copy[date=d1]'][0];
    const body = JSON.stringify(parsed.entries);
    writeFileSync(join(memoDir, 'forged.json'), `${JSON.stringify({ version: parsed.version, engine: parsed.engine, digest: digestBytes(body) }).slice(0, -1)},"entries":${body}}`);
    // An intact memo whose entry for sum names an action entry that is gone.
    writeFileSync(join(memoDir, 'stale.json'), original);
    rmSync(join(dir, 'cache', 'actions', `${keys.sum.slice('sha256:'.length)}.json`));

    const { code, byFile } = await problemsOf(dir);
    expect(code).toBe(1);
    const own = `memo/${memo.split('/').pop() as string}`;
    expect(byFile).toEqual({
      [own]: 'does not match its digest (edited or damaged)',
      'memo/truncated.json': expect.stringMatching(/^does not parse/),
      'memo/empty.json': 'lacks "version" or "engine"',
      'memo/forged.json': `entry copy[date=d2] holds outputs that differ from its action entry ${keys['copy[date=d2]']}`,
      'memo/stale.json': `entry sum names action entry ${keys.sum}, which is missing or broken`,
    });
    const human = await runCli(['verify'], dir);
    expect(human.stdout).toContain('memo/empty.json: lacks "version" or "engine"');
    expect(human.stdout).not.toContain(dir);

    const repair = await runCli(['verify', '--repair'], dir);
    expect(repair.code, repair.stderr).toBe(0);
    expect(readdirSync(memoDir)).toEqual([]);
    expect((await runCli(['verify'], dir)).stdout).toMatch(/^ok: /);
    const rebuilt = await run(dir);
    expect(statuses(rebuilt.manifest.steps)).toEqual({ 'copy[date=d1]': 'cached', 'copy[date=d2]': 'cached', sum: 'built' });
    expect(digests(rebuilt.manifest.steps)).toEqual(truth);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n48\n');
  });

  it('an entry naming a run whose manifest is broken is named; gc prunes the entries of the runs and entries it removes, so verify stays ok', async () => {
    const dir = project();
    const { memo } = await settled(dir);
    const runs = readdirSync(join(dir, 'cache', 'runs')).sort();
    const runsDir = join(dir, 'cache', 'runs');
    const firstRun = readFileSync(join(runsDir, runs[0]), 'utf8');
    writeFileSync(join(runsDir, runs[0]), '{}');
    const { byFile } = await problemsOf(dir);
    expect(byFile[`memo/${memo.split('/').pop() as string}`]).toMatch(new RegExp(`^entry \\S+ names run ${runs[0].replace('.json', '')}, whose manifest is missing or broken$`));
    writeFileSync(join(runsDir, runs[0]), firstRun);
    expect((await runCli(['gc', '--keep-runs', '1'], dir)).code).toBe(0);
    const after = await problemsOf(dir);
    expect(after).toEqual({ code: 0, byFile: {} });
    expect(statuses((await run(dir)).manifest.steps)).toEqual({ 'copy[date=d1]': 'cached', 'copy[date=d2]': 'cached', sum: 'cached' });
  });
});

describe('remote-inputs.json (nginx)', () => {
  let nginx: Nginx;
  beforeAll(async () => {
    nginx = await startNginx();
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('garbage is named by verify and dropped by --repair; a build never crashes on a JSON value of the wrong shape', async () => {
    const folder = join(nginx.root, '..', 'data');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'seed.csv'), 'seed\n100\n');
    const dir = copyFixture('basic');
    dirs.push(dir);
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('seed: file:data/seed.csv', `seed: ${nginx.url.replace('/cache', '/data/seed.csv')}`));
    const make = () => build({ pipelineFile: file, targets: ['make'], partitionFilter: { date: '2024-01-01' } });
    const first = await make();
    expect(first.ok).toBe(true);
    const records = join(dir, 'cache', 'remote-inputs.json');
    expect(Object.keys(JSON.parse(readFileSync(records, 'utf8')) as object)).toHaveLength(1);

    for (const garbage of ['null', '[1]', '"x"', '{"sha256:00": "../../../../etc/passwd"}']) {
      writeFileSync(records, garbage);
      const again = await make();
      expect(again.ok, garbage).toBe(true);
      expect(again.manifest.steps[0].outputs).toEqual(first.manifest.steps[0].outputs);
    }

    writeFileSync(records, '{"sha256:00": 5}');
    expect((await problemsOf(dir)).byFile).toEqual({ 'remote-inputs.json': '1 of 1 entries are not digest → digest' });
    writeFileSync(records, '{garbage');
    expect((await problemsOf(dir)).byFile).toEqual({ 'remote-inputs.json': expect.stringMatching(/^does not parse/) });
    expect((await runCli(['verify', '--repair'], dir)).code).toBe(0);
    expect(existsSync(records)).toBe(false);
    rmSync(join(dir, 'out'), { recursive: true });
    const rebuilt = await make();
    expect(rebuilt.ok).toBe(true);
    expect(rebuilt.manifest.steps[0].outputs).toEqual(first.manifest.steps[0].outputs);
    expect(existsSync(records)).toBe(true);
  });
});
