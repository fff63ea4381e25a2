// No command prints the machine's folders, and nothing in the cache names them: every command's
// output (text and --json, success and error) is searched for the absolute fixture folder, and the
// pipeline memo is keyed and stored without it, so a moved checkout hits it.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline } from '../../src/engine/pipeline.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

describe('no absolute path in any output', () => {
  it('validate, plan, build, runs, show, diff, lineage, status, verify, gc, captures, schedule list, and their errors', async () => {
    const dir = copyFixture('basic');
    dirs.push(dir);
    mkdirSync(join(dir, 'sub'));
    const commands: { args: string[]; cwd?: string; code?: number }[] = [
      { args: ['validate'] },
      // From a subfolder: pipeline.yaml is found in the parent.
      { args: ['validate'], cwd: join(dir, 'sub') },
      { args: ['plan'] },
      { args: ['build'] },
      { args: ['build', '--json', '--set', 'make.rows=6'] },
      { args: ['runs'] },
      { args: ['show', 'latest'] },
      { args: ['diff', 'previous', 'latest'] },
      { args: ['lineage', 'out/summary/totals.csv'] },
      { args: ['status'] },
      { args: ['verify', '--json'] },
      { args: ['gc', '--keep-runs', '1'] },
      { args: ['captures'] },
      { args: ['schedule', 'list'] },
      { args: ['build', '--pipeline', 'missing.yaml'], code: 2 },
      { args: ['build', '--pipeline', 'sub'], code: 2 },
      { args: ['show', 'no-such-run'], code: 2 },
      { args: ['lineage', 'out/none.csv'], code: 2 },
    ];
    for (const { args, cwd, code } of commands) {
      const result = await runCli(args, cwd ?? dir);
      const where = `dagrun ${args.join(' ')}: ${result.stdout}\n${result.stderr}`;
      if (code === undefined) expect(result.code, where).toBe(0);
      else expect(result.code, where).toBe(code);
      expect(result.stdout, where).not.toContain(dir);
      expect(result.stderr, where).not.toContain(dir);
    }
    // A pipeline file with an error names itself relative to the working folder, line and column.
    writeFileSync(join(dir, 'pipeline.yaml'), `${readFileSync(join(dir, 'pipeline.yaml'), 'utf8')}\n  broken: { sql: 3 }\n`);
    const broken = await runCli(['validate'], join(dir, 'sub'));
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/\.\.\/pipeline\.yaml:\d+:\d+/);
    expect(broken.stderr).not.toContain(dir);
    // Eighteen CLI runs: room for a loaded 2-core machine.
  }, 600_000);
});

describe('the pipeline memo', () => {
  it('names no machine folder, and a moved checkout hits the same memo', () => {
    const dir = copyFixture('basic');
    dirs.push(dir);
    const first = loadPipeline(join(dir, 'pipeline.yaml'));
    const memos = join(dir, 'cache', 'pipelines');
    const [memo] = readdirSync(memos);
    expect(readdirSync(memos)).toHaveLength(1);
    expect(readFileSync(join(memos, memo), 'utf8')).not.toContain(dir);

    const moved = `${dir}-moved`;
    renameSync(dir, moved);
    dirs.push(moved);
    const again = loadPipeline(join(moved, 'pipeline.yaml'));
    // The same memo served it (no second one written), with every path under the new folder.
    expect(readdirSync(join(moved, 'cache', 'pipelines'))).toEqual([memo]);
    expect(again.dir).toBe(moved);
    expect(again.file).toBe(join(moved, 'pipeline.yaml'));
    expect(again.outputRoot).toBe(join(moved, 'out'));
    for (const step of again.steps.values()) expect(step.code.startsWith(`${moved}/`), step.code).toBe(true);
    expect(again.order).toEqual(first.order);
    expect(JSON.stringify([...again.steps.values()])).not.toContain(dir + '/');
  });

  it('a memo is not shared by two files with the same text under different names', () => {
    const dir = copyFixture('basic');
    dirs.push(dir);
    writeFileSync(join(dir, 'other.yaml'), readFileSync(join(dir, 'pipeline.yaml')));
    loadPipeline(join(dir, 'pipeline.yaml'));
    const other = loadPipeline(join(dir, 'other.yaml'));
    expect(other.file).toBe(join(dir, 'other.yaml'));
    expect(readdirSync(join(dir, 'cache', 'pipelines'))).toHaveLength(2);
  });
});
