// The settled build (src/engine/settled.ts) attacked: each test makes a change a full build would see
// and expects the settled answer to step aside — or hands it a damaged settled file and expects it to
// be ignored without a trace.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { serveSettled, settledInvocation } from '../../src/engine/settled.js';
import { build } from '../../src/engine/runner.js';
import { CLI_OPTIONS } from '../../src/engine/cli-options.js';
import { buildableFixtures } from '../helpers/build-fixture.js';

const fixture = buildableFixtures();

/** A build as the CLI asks it (recording the settled answer), with `onRecord` seeing each instance as it finishes. */
function cliBuild(dir: string, onRecord?: (instance: string) => void) {
  const argv = ['build', '--pipeline', join(dir, 'pipeline.yaml')];
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: CLI_OPTIONS });
  return build({ pipelineFile: join(dir, 'pipeline.yaml'), settle: settledInvocation(values, positionals, process.cwd(), process.env), onRecord: onRecord && ((record) => onRecord(record.instance)) });
}

async function settled(dir: string): Promise<string | undefined> {
  let out = '';
  const sink = { write: (chunk: string) => ((out += chunk), true) } as unknown as NodeJS.WritableStream;
  const answer = await serveSettled(['build', '--pipeline', join(dir, 'pipeline.yaml')], sink);
  // A handoff (only some instances changed) is for the usual build: its lock is given back here.
  if (typeof answer === 'object') answer.release();
  const code = typeof answer === 'object' ? undefined : answer;
  if (code === undefined) expect(out).toBe('');
  return code === undefined ? undefined : out;
}

/** Every file of the fixture aged past the racy window, so the next build may vouch for it. */
function age(dir: string): void {
  const old = Math.floor(Date.now() / 1000) - 60;
  const visit = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) visit(full);
      else utimesSync(full, old, old);
    }
  };
  visit(dir);
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Aged past the racy window, built twice: the settled check answers the next build. */
async function settleFixture(dir: string): Promise<void> {
  age(dir);
  await wait(2100);
  await cliBuild(dir);
  await cliBuild(dir);
  expect(await settled(dir)).toBeDefined();
}

const treeProjects: string[] = [];
afterEach(() => {
  for (const dir of treeProjects.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * One step over a whole folder (its tree fingerprint is what the settled file watches: each entry's
 * ctime, inode and size), with a link in it to a file beside it and, beside that, a file of the same
 * size and mtime with other bytes; every file's mtime in whole seconds, so touch -d puts it back exactly.
 */
function treeProject(): { dir: string; old: number } {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-settled-tree-'));
  treeProjects.push(dir);
  for (let i = 0; i < 12; i += 1) {
    mkdirSync(join(dir, 'inputs', String(i % 3)), { recursive: true });
    writeFileSync(join(dir, 'inputs', String(i % 3), `part-${i}.csv`), `id,v\n${i},${i * 7}\n`);
  }
  mkdirSync(join(dir, 'beside'));
  writeFileSync(join(dir, 'beside', 'a.csv'), 'id,v\n1,2\n');
  writeFileSync(join(dir, 'beside', 'b.csv'), 'id,v\n1,3\n');
  symlinkSync(join(dir, 'beside', 'a.csv'), join(dir, 'inputs', 'linked.csv'));
  mkdirSync(join(dir, 'steps'));
  // The step reads every CSV of the tree: a changed value changes its output, not only its key.
  writeFileSync(join(dir, 'steps', 'total.sql'), 'CREATE TABLE total AS SELECT count(*)::BIGINT AS v, sum(hash(id, v))::VARCHAR AS h FROM inputs;\n');
  writeFileSync(join(dir, 'pipeline.yaml'), `steps:\n  total:\n    sql: steps/total.sql\n    inputs:\n      inputs: "file:inputs"\n    outputs:\n      total: { path: total.csv, format: csv, columns: { v: BIGINT, h: VARCHAR } }\n`);
  const old = Math.floor(Date.now() / 1000) - 60;
  execFileSync('find', [dir, '-type', 'f', '-exec', 'touch', '-m', '-d', `@${old}`, '{}', '+']);
  return { dir, old };
}

describe('settled build, attacked', () => {
  it('an output in out/ edited while the build still ran is not vouched for: the full build restores it', async () => {
    const { dir } = fixture('basic');
    age(dir);
    await wait(2100);
    await cliBuild(dir);
    await wait(2100);
    const output = join(dir, 'out', 'numbers', '2024-01-01.parquet');
    const original = readFileSync(output);
    // The first date's output is edited as soon as its instance is done, long before the build ends.
    const again = await cliBuild(dir, (instance) => {
      if (instance === 'make[date=2024-01-01]') writeFileSync(output, 'edited while the build ran\n');
    });
    expect(again.ok).toBe(true);
    expect(await settled(dir)).toBeUndefined();
    const full = await cliBuild(dir);
    expect(full.manifest.steps.find((s) => s.instance === 'make[date=2024-01-01]')?.restored_files).toBe(1);
    expect(readFileSync(output)).toEqual(original);
  });

  it('a helper module a kernel imports indirectly (lib/, then a sibling file), edited with its size and mtime put back, is seen', async () => {
    const { dir } = fixture('basic');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'offset.ts'), 'export const OFFSET = 1;\n');
    writeFileSync(join(dir, 'steps', 'make', 'rows.ts'), "import { OFFSET } from '../../lib/offset.js';\nexport const shift = (v: number): number => v + OFFSET;\n");
    const kernel = join(dir, 'steps', 'make', 'kernel.ts');
    writeFileSync(kernel, `import { shift } from './rows.js';\n${readFileSync(kernel, 'utf8').replace('value: base + i', 'value: shift(base) + i')}`);
    await settleFixture(dir);
    const helper = join(dir, 'lib', 'offset.ts');
    const seen = statSync(helper);
    writeFileSync(helper, 'export const OFFSET = 7;\n');
    utimesSync(helper, seen.atime, seen.mtime);
    expect(await settled(dir)).toBeUndefined();
    const after = await cliBuild(dir);
    expect(after.manifest.steps.filter((s) => s.step === 'make').map((s) => s.status)).toEqual(['built', 'built', 'built']);
  });

  it('a damaged or hand-edited settled file is ignored: no crash, no manifest written, the usual build answers', async () => {
    const { dir } = fixture('basic');
    await settleFixture(dir);
    const memo = join(dir, 'cache', 'memo');
    const [name] = readdirSync(memo).filter((f) => f.startsWith('settled-'));
    const file = join(memo, name);
    const good = readFileSync(file, 'utf8');
    const parsed = JSON.parse(good) as { watched: [string, string][]; steps: Record<string, unknown>[] };
    const engine = parsed.watched.find(([path]) => path.endsWith('settled.js')) as [string, string];
    const runs = (): string[] => readdirSync(join(dir, 'cache', 'runs')).sort();
    const before = runs();
    const hostile: Record<string, string> = {
      truncated: good.slice(0, good.length >> 1),
      null: 'null',
      number: '42',
      'rows not a list': JSON.stringify({ ...parsed, steps: parsed.steps.map((s, i) => (i === 0 ? { ...s, rows: 'many' } : s)) }),
      'watched entry not a pair': JSON.stringify({ ...parsed, watched: [...parsed.watched, [7]] }),
      'run outside the runs folder': JSON.stringify({ ...parsed, steps: parsed.steps.map((s) => ({ ...s, run: '../../../../elsewhere' })) }),
      'a run the file does not watch': JSON.stringify({ ...parsed, steps: parsed.steps.map((s) => ({ ...s, run: '20200101T000000000Z-abcdef' })) }),
      'nothing watched but the engine': JSON.stringify({ ...parsed, watched: [engine] }),
    };
    for (const [what, text] of Object.entries(hostile)) {
      writeFileSync(file, text);
      expect(await settled(dir), what).toBeUndefined();
      expect(runs(), what).toEqual(before);
    }
    writeFileSync(file, good);
    expect(await settled(dir)).toBeDefined();
  });

  it.skipIf(process.platform !== 'linux')('a directory input: a same-size edit with its mtime put back by touch -d, a renamed file, a new empty file, a retargeted link — each is seen', async () => {
    const edits: Record<string, (dir: string, old: number) => void> = {
      'same-size edit, touch -d': (dir, old) => {
        const file = join(dir, 'inputs', '1', 'part-4.csv');
        writeFileSync(file, 'id,v\n4,29\n');
        execFileSync('touch', ['-m', '-d', `@${old}`, file]);
      },
      'renamed file': (dir) => renameSync(join(dir, 'inputs', '2', 'part-5.csv'), join(dir, 'inputs', '2', 'part-50.csv')),
      'new empty file': (dir, old) => {
        writeFileSync(join(dir, 'inputs', '0', 'empty.txt'), '');
        execFileSync('touch', ['-m', '-d', `@${old}`, join(dir, 'inputs', '0', 'empty.txt')]);
      },
      'link retargeted to a file of the same size and mtime': (dir) => {
        unlinkSync(join(dir, 'inputs', 'linked.csv'));
        symlinkSync(join(dir, 'beside', 'b.csv'), join(dir, 'inputs', 'linked.csv'));
      },
    };
    const projects = Object.keys(edits).map(() => treeProject());
    await wait(2100);
    const outputs: string[] = [];
    for (const { dir } of projects) {
      const first = await cliBuild(dir);
      expect(first.ok, JSON.stringify(first.manifest.steps)).toBe(true);
      expect(await settled(dir)).toMatch(/^cached  total \[total 1 rows\]\nrun \S+: 0 built, 1 cached/);
      outputs.push(readFileSync(join(dir, 'out', 'total.csv'), 'utf8'));
    }
    for (const [i, [what, edit]] of Object.entries(edits).entries()) {
      const { dir, old } = projects[i];
      edit(dir, old);
      expect(await settled(dir), what).toBeUndefined();
      const full = await cliBuild(dir);
      expect(full.manifest.steps[0].status, what).toBe('built');
      // A changed value reaches the output (the rename and the empty file change only the tree's key).
      if (what.includes('edit') || what.includes('link')) expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8'), what).not.toBe(outputs[i]);
    }
  });

  it('an input deleted while the build ran is not vouched for as absent: the full build says it is missing', async () => {
    for (const victim of ['data/seed.csv']) {
      const { dir } = fixture('basic');
      age(dir);
      await wait(2100);
      await cliBuild(dir);
      let removed = false;
      const again = await cliBuild(dir, () => {
        if (!removed) rmSync(join(dir, victim));
        removed = true;
      });
      expect(again.ok, victim).toBe(true);
      expect(await settled(dir), victim).toBeUndefined();
      await expect(cliBuild(dir), victim).rejects.toThrow(/does not exist/);
    }
  });
});
