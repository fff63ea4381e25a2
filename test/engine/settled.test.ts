// The settled build (src/engine/settled.ts) answers `dagrun build` without planning only when a full
// build would say the same: each test changes one thing it depends on — the way a careless check would
// miss it (same size, mtime put back) — and expects the usual build to answer, and to see the change.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { main } from '../../src/engine/cli.js';
import { serveSettled } from '../../src/engine/settled.js';
import { readManifest, type StepRecord } from '../../src/engine/manifest.js';
import { acquireLock } from '../../src/engine/lock.js';
import { collectGarbage } from '../../src/engine/maintenance.js';
import { Store } from '../../src/engine/store.js';
import { runCli } from '../helpers/fixture.js';
import { writeDailyProject } from '../helpers/daily-project.js';

const root = mkdtempSync(join(tmpdir(), 'dagrun-settled-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const NAMES = ['input', 'pipeline', 'code', 'packages', 'partition', 'glob', 'set', 'output', 'action', 'shared', 'lock', 'fresh', 'tree', 'tampered', 'portable'] as const;
const projects = new Map<string, string>();

function writeProject(dir: string): void {
  // Discovered dates, each a folder read through a glob (a file added to it is an input too).
  writeDailyProject(dir, {
    name: 'settled',
    days: ['2026-01-01', '2026-01-02'],
    partition: { fromFiles: 'raw/{date}/' },
    input: { file: 'raw/{date}/a.csv', read: 'raw/{date}/*.csv' },
    copyValue: 'v * $factor',
    copyParams: { factor: '{ type: integer, default: 1 }' },
  });
  // Whole seconds: utimes puts back exactly what a Date holds, so a "same mtime" edit really has the same mtime.
  const whole = Math.floor(Date.now() / 1000) - 60;
  for (const file of ['pipeline.yaml', 'steps/copy.sql', 'steps/sum.sql', 'raw/2026-01-01/a.csv', 'raw/2026-01-02/a.csv']) utimesSync(join(dir, file), whole, whole);
}

/** One step over a whole folder (a directory input: its tree fingerprint is what is watched). */
function writeTreeProject(dir: string): void {
  for (let i = 0; i < 30; i += 1) {
    mkdirSync(join(dir, 'inputs', String(i % 3)), { recursive: true });
    writeFileSync(join(dir, 'inputs', String(i % 3), `part-${i}.csv`), `id,v\n${i},${i * 7}\n`);
  }
  mkdirSync(join(dir, 'steps'), { recursive: true });
  writeFileSync(join(dir, 'steps', 'total.sql'), 'CREATE TABLE total AS SELECT 1::BIGINT AS v;\n');
  writeFileSync(join(dir, 'pipeline.yaml'), `steps:\n  total:\n    sql: steps/total.sql\n    inputs:\n      inputs: { from: "file:inputs", format: text }\n    outputs:\n      total: { path: total.csv, format: csv, columns: { v: BIGINT } }\n`);
  const whole = Math.floor(Date.now() / 1000) - 60;
  for (let i = 0; i < 30; i += 1) utimesSync(join(dir, 'inputs', String(i % 3), `part-${i}.csv`), whole, whole);
}

// Files written less than 2 s before a build started may not show a later edit in their times, so
// that build vouches for nothing: the projects are written once, then aged past that window.
beforeAll(async () => {
  for (const name of NAMES) {
    const dir = join(root, name);
    if (name === 'tree') writeTreeProject(dir);
    else writeProject(dir);
    projects.set(name, dir);
  }
  await new Promise((r) => setTimeout(r, 2100));
});

/** The usual CLI build (it records the settled answer), its stdout, and the manifest it wrote. */
async function fullBuild(dir: string, ...args: string[]): Promise<{ code: number; out: string; steps: readonly StepRecord[] }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  let code: number;
  try {
    code = await main(['build', '--pipeline', join(dir, 'pipeline.yaml'), ...args]);
  } finally {
    spy.mockRestore();
  }
  const cache = args.includes('--cache') ? args[args.indexOf('--cache') + 1] : join(dir, 'cache');
  return { code, out, steps: readManifest(join(cache, 'runs'), 'latest').steps };
}

/** The settled answer: its stdout, or undefined when the usual build must decide. */
async function settled(dir: string, ...args: string[]): Promise<string | undefined> {
  let out = '';
  const sink = { write: (chunk: string) => ((out += chunk), true) } as unknown as NodeJS.WritableStream;
  const answer = await serveSettled(['build', '--pipeline', join(dir, 'pipeline.yaml'), ...args], sink);
  // A handoff (only some instances changed) is for the usual build: its lock is given back here.
  if (typeof answer === 'object') answer.release();
  const code = typeof answer === 'object' ? undefined : answer;
  if (code === undefined) {
    expect(out).toBe('');
    return undefined;
  }
  expect(code).toBe(0);
  return out;
}

const statuses = (steps: readonly StepRecord[]): Record<string, string> => Object.fromEntries(steps.map((s) => [s.instance, `${s.status}${s.restored_files ? `+${s.restored_files}` : ''}`]));
const allCached = { 'copy[date=2026-01-01]': 'cached', 'copy[date=2026-01-02]': 'cached', sum: 'cached' };
/** The instance lines, in order (the usual build prints each as it finishes, the settled answer in the manifest's order). */
const instanceLines = (out: string): string[] => out.split('\n').filter((line) => line && !line.startsWith('run ')).sort();

/** Edit a file keeping its size and mtime: only its ctime tells. */
function sneakyEdit(path: string, from: string, to: string): void {
  expect(to.length).toBe(from.length);
  const seen = statSync(path);
  const text = readFileSync(path, 'utf8');
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
  utimesSync(path, seen.atime, seen.mtime);
  expect(statSync(path).size).toBe(seen.size);
  expect(statSync(path).mtimeMs).toBe(seen.mtimeMs);
}

/** Built once, then the settled answer is served: the same lines, and a manifest that reads back as the full build's. */
async function settle(dir: string, ...args: string[]): Promise<void> {
  const cold = await fullBuild(dir, ...args);
  expect(cold.code).toBe(0);
  const full = await fullBuild(dir, ...args);
  expect(statuses(full.steps)).toEqual(allCached);
  const answer = await settled(dir, ...args);
  expect(answer).toBeDefined();
  expect(instanceLines(answer as string)).toEqual(instanceLines(full.out));
  expect(answer).toMatch(/^run \S+: 0 built, 3 cached, 0 failed — manifest \S+\.json$/m);
  const served = readManifest(join(args.includes('--cache') ? args[args.indexOf('--cache') + 1] : join(dir, 'cache'), 'runs'), 'latest');
  expect(served.steps.map(({ duration_ms: _, ...rest }) => rest)).toEqual(full.steps.map(({ duration_ms: _, ...rest }) => rest));
}

describe('settled build', () => {
  it('an input edited with its size and mtime put back is seen: the full build rebuilds that date', async () => {
    const dir = projects.get('input') as string;
    await settle(dir);
    sneakyEdit(join(dir, 'raw', '2026-01-02', 'a.csv'), '1,2', '1,9');
    expect(await settled(dir)).toBeUndefined();
    expect(statuses((await fullBuild(dir)).steps)).toEqual({ ...allCached, 'copy[date=2026-01-02]': 'built', sum: 'built' });
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n31\n');
    // No machine path in what it keeps.
    for (const file of readdirSync(join(dir, 'cache', 'memo'))) expect(readFileSync(join(dir, 'cache', 'memo', file), 'utf8')).not.toContain(root);
  });

  it('pipeline.yaml and step code edited the same way are seen', async () => {
    const dir = projects.get('pipeline') as string;
    await settle(dir);
    sneakyEdit(join(dir, 'pipeline.yaml'), 'default: 1', 'default: 3');
    expect(await settled(dir)).toBeUndefined();
    expect(statuses((await fullBuild(dir)).steps)).toEqual({ 'copy[date=2026-01-01]': 'built', 'copy[date=2026-01-02]': 'built', sum: 'built' });
    const code = projects.get('code') as string;
    await settle(code);
    sneakyEdit(join(code, 'steps', 'sum.sql'), 'sum(v)', 'max(v)');
    expect(await settled(code)).toBeUndefined();
    expect(statuses((await fullBuild(code)).steps)).toEqual({ ...allCached, sum: 'built' });
    expect(readFileSync(join(code, 'out', 'total.csv'), 'utf8')).toBe('v\n11\n');
  });

  it('a package.json or lock appearing in the project is seen', async () => {
    const dir = projects.get('packages') as string;
    await settle(dir);
    writeFileSync(join(dir, 'package-lock.json'), '{}\n');
    expect(await settled(dir)).toBeUndefined();
    await fullBuild(dir);
    expect(await settled(dir)).toBeUndefined(); // written just now: not vouched for until it is older than the build
  });

  it('a new partition folder is seen: the full build builds the new date', async () => {
    const dir = projects.get('partition') as string;
    await settle(dir);
    mkdirSync(join(dir, 'raw', '2026-01-03'));
    writeFileSync(join(dir, 'raw', '2026-01-03', 'a.csv'), 'id,v\n1,100\n');
    expect(await settled(dir)).toBeUndefined();
    const after = await fullBuild(dir);
    expect(statuses(after.steps)).toEqual({ ...allCached, 'copy[date=2026-01-03]': 'built', sum: 'built' });
  });

  it('a file added to a glob is seen', async () => {
    const dir = projects.get('glob') as string;
    await settle(dir);
    writeFileSync(join(dir, 'raw', '2026-01-01', 'b.csv'), 'id,v\n3,1000\n');
    expect(await settled(dir)).toBeUndefined();
    expect(statuses((await fullBuild(dir)).steps)).toEqual({ ...allCached, 'copy[date=2026-01-01]': 'built', sum: 'built' });
  });

  it('another --set is another question, and its build makes the first one stale (its outputs changed)', async () => {
    const dir = projects.get('set') as string;
    await settle(dir);
    expect(await settled(dir, '--set', 'copy.factor=2')).toBeUndefined();
    expect(statuses((await fullBuild(dir, '--set', 'copy.factor=2')).steps)).toEqual({ 'copy[date=2026-01-01]': 'built', 'copy[date=2026-01-02]': 'built', sum: 'built' });
    expect(await settled(dir)).toBeUndefined(); // out/ holds factor 2's outputs now
    expect(statuses((await fullBuild(dir)).steps)).toEqual({ 'copy[date=2026-01-01]': 'cached+1', 'copy[date=2026-01-02]': 'cached+1', sum: 'cached+1' });
    // --partition, --jobs, --json, --events: other questions or other answers, never this one's.
    expect(await settled(dir, '--partition', 'date=2026-01-01')).toBeUndefined();
    expect(await settled(dir, '--jobs', '3')).toBeUndefined();
    expect(await settled(dir, '--json')).toBeUndefined();
    expect(await settled(dir, '--events', 'ndjson')).toBeUndefined();
  });

  it('a deleted or touched output and a removed action entry are seen', async () => {
    const dir = projects.get('output') as string;
    await settle(dir);
    rmSync(join(dir, 'out', 'total.csv'));
    expect(await settled(dir)).toBeUndefined();
    expect(statuses((await fullBuild(dir)).steps)).toEqual({ ...allCached, sum: 'cached+1' });
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n24\n');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'out', 'total.csv'), later, later);
    expect(await settled(dir)).toBeUndefined();
    await fullBuild(dir);
    expect(await settled(dir)).toBeDefined();
    const action = projects.get('action') as string;
    await settle(action);
    const sum = (await fullBuild(action)).steps.find((s) => s.step === 'sum') as StepRecord;
    rmSync(join(action, 'cache', 'actions', `${(sum.cache_key as string).slice('sha256:'.length)}.json`));
    expect(await settled(action)).toBeUndefined();
    expect(statuses((await fullBuild(action)).steps)).toEqual({ ...allCached, sum: 'built' });
  });

  it('another folder sharing the cache: its changes and builds do not answer for this one; gc of a run referred to is seen', async () => {
    const dir = projects.get('shared') as string;
    const other = join(root, 'shared-other');
    cpSync(dir, other, { recursive: true });
    const cache = join(root, 'shared-cache');
    await new Promise((r) => setTimeout(r, 2100)); // the copy is new
    await settle(dir, '--cache', cache);
    await settle(other, '--cache', cache);
    writeFileSync(join(other, 'raw', '2026-01-01', 'a.csv'), 'id,v\n1,500\n');
    expect(await settled(other, '--cache', cache)).toBeUndefined();
    expect(await settled(dir, '--cache', cache)).toBeDefined(); // nothing of this folder changed
    await fullBuild(other, '--cache', cache);
    expect(await settled(dir, '--cache', cache)).toBeDefined();
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n24\n');
    // gc keeping only the last run inlines the records it refers to and drops the rest: the usual build answers.
    await collectGarbage(new Store(cache), { keepRuns: 1 });
    expect(await settled(dir, '--cache', cache)).toBeUndefined();
    expect(statuses((await fullBuild(dir, '--cache', cache)).steps)).toEqual(allCached);
  });

  it('a held cache lock: the usual build waits its turn', async () => {
    const dir = projects.get('lock') as string;
    await settle(dir);
    const release = await acquireLock(join(dir, 'cache'), 0);
    try {
      expect(await settled(dir)).toBeUndefined();
    } finally {
      release();
    }
    expect(await settled(dir)).toBeDefined();
  });

  it('a file edited while (or just before) a build ran is not vouched for by that build', async () => {
    const dir = projects.get('fresh') as string;
    await settle(dir);
    writeFileSync(join(dir, 'raw', '2026-01-01', 'a.csv'), 'id,v\n1,7\n2,10\n');
    expect(statuses((await fullBuild(dir)).steps)).toEqual({ ...allCached, 'copy[date=2026-01-01]': 'built', sum: 'built' });
    // The file changed too close to the build's start to vouch for: recorded as `racy`, which no stat equals.
    const [file] = readdirSync(join(dir, 'cache', 'memo')).filter((f) => f.startsWith('settled-'));
    const watched = new Map(JSON.parse(readFileSync(join(dir, 'cache', 'memo', file), 'utf8')).watched as [string, string][]);
    expect(watched.get('raw/2026-01-01/a.csv')).toBe('racy');
    expect(watched.get('raw/2026-01-02/a.csv')).toMatch(/^f\d+:/);
    expect(await settled(dir)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 2100));
    await fullBuild(dir);
    expect(await settled(dir)).toBeDefined();
  });

  it('a directory input: a file edited deep inside with its size and mtime put back, or added, is seen', async () => {
    const dir = projects.get('tree') as string;
    const only = { total: 'cached' };
    await fullBuild(dir);
    expect(statuses((await fullBuild(dir)).steps)).toEqual(only);
    expect(await settled(dir)).toMatch(/^cached  total \[total 1 rows\]\nrun \S+: 0 built, 1 cached/);
    sneakyEdit(join(dir, 'inputs', '2', 'part-5.csv'), '5,35', '5,36');
    expect(await settled(dir)).toBeUndefined();
    expect((await fullBuild(dir)).steps[0].status).toBe('built');
    expect(await settled(dir)).toBeUndefined(); // a file in the tree changed less than 2 s before that build
    await new Promise((r) => setTimeout(r, 2100));
    await fullBuild(dir);
    expect(await settled(dir)).toBeDefined();
    writeFileSync(join(dir, 'inputs', '1', 'new.csv'), 'id,v\n99,1\n');
    expect(await settled(dir)).toBeUndefined();
    expect((await fullBuild(dir)).steps[0].status).toBe('built');
  });

  it('a settled file names no folder of the machine: the engine outside the project is named from its own package, never by a ../ walk', async () => {
    const dir = projects.get('portable') as string;
    await settle(dir);
    const memo = join(dir, 'cache', 'memo');
    const text = readFileSync(join(memo, readdirSync(memo).find((f) => f.startsWith('settled-')) as string), 'utf8');
    const names = (JSON.parse(text) as { watched: [string, string][] }).watched.map(([name]) => name);
    expect(names.some((name) => name.startsWith('dagrun:'))).toBe(true);
    for (const name of names) expect(name).not.toMatch(/^(\.\.|\/)|\/\.\.\//);
    expect(text).not.toContain(dir);
    expect(text).not.toContain(process.cwd());
    expect(await settled(dir)).toBeDefined();
  });

  it('a settled file with one character of a run name changed is never served (its digest no longer matches); verify names it and --repair drops it', async () => {
    const dir = projects.get('tampered') as string;
    await settle(dir);
    const memo = join(dir, 'cache', 'memo');
    const name = readdirSync(memo).find((f) => f.startsWith('settled-')) as string;
    const text = readFileSync(join(memo, name), 'utf8');
    const at = text.indexOf('"run":"') + '"run":"'.length + 3;
    writeFileSync(join(memo, name), `${text.slice(0, at)}${text[at] === '0' ? '1' : '0'}${text.slice(at + 1)}`);
    expect(await settled(dir)).toBeUndefined();
    const verify = await runCli(['verify', '--json'], dir);
    expect(verify.code).toBe(1);
    expect((JSON.parse(verify.stdout) as { problems: unknown[] }).problems).toEqual([{ file: `memo/${name}`, problem: 'does not match its digest (edited or damaged)' }]);
    expect((await runCli(['verify', '--repair'], dir)).code).toBe(0);
    expect(readdirSync(memo)).not.toContain(name);
    // The usual build answers, right, and settles again.
    expect(statuses((await fullBuild(dir)).steps)).toEqual(allCached);
    expect(readManifest(join(dir, 'cache', 'runs'), 'latest').steps.every((s) => s.outputs.length === 1)).toBe(true);
    expect((await runCli(['verify'], dir)).stdout).toMatch(/^ok: /);
  });
});
