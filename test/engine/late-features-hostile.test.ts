// Issue 10 item 4: the engine attacked on features that landed after items 1–16 (discovered
// partitions and the pipeline memo, `file:` globs, capture bundles). Each test fails without its fix.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { build } from '../../src/engine/runner.js';
import { isUserError } from '../../src/sdk/errors.js';
import { writeDailyProject, type DailyProject } from '../helpers/daily-project.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The project one level down, so "outside it" is a folder of this test too. */
function projectDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'dagrun-late-'));
  dirs.push(root);
  return join(root, 'project');
}

function project(pipeline: string, files: Record<string, string>): string {
  const dir = projectDir();
  for (const [path, text] of Object.entries({ 'pipeline.yaml': pipeline, ...files })) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('discovered partitions', () => {
  // A date of ".." would put its output at out/../copied.csv: the folder holding out/.
  const DISCOVERED: DailyProject = {
    name: 'discovered',
    days: ['1'],
    rows: () => ['1,2'],
    partition: { fromFiles: 'inputs/day{date}.csv' },
    input: { file: 'inputs/day{date}.csv' },
    copied: '{date}/copied.csv',
    sum: false,
  };
  it('a file whose name gives ".." (inputs/day...csv) is not a partition, whether the pipeline is parsed or read from its memo', async () => {
    const dir = projectDir();
    writeDailyProject(dir, DISCOVERED);
    const run = () => build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect((await run()).ok).toBe(true); // writes the pipeline memo
    writeFileSync(join(dir, 'inputs', 'day...csv'), 'id,v\n9,9\n');
    const memoised = await run();
    expect(memoised.ok, JSON.stringify(memoised.manifest.steps.map((s) => s.error))).toBe(true);
    expect(memoised.manifest.steps.map((s) => s.instance)).toEqual(['copy[date=1]']);
    rmSync(join(dir, 'cache', 'pipelines'), { recursive: true });
    expect((await run()).manifest.steps.map((s) => s.instance)).toEqual(['copy[date=1]']);
    expect(readdirSync(join(dir, '..'))).toEqual(['project']);
    expect(existsSync(join(dir, 'copied.csv'))).toBe(false);
  });
});

describe('file: globs', () => {
  const PIPELINE = `pipeline: globs
steps:
  count:
    sql: steps/count.sql
    inputs:
      raw: { from: "file:data/**/*.csv", columns: { id: BIGINT, v: BIGINT } }
    outputs:
      n: { path: n.csv, format: csv, columns: { n: BIGINT } }
`;
  it('a link loop under `**` is a located error naming the link, not the same files 40 levels deep', async () => {
    const dir = project(PIPELINE, { 'data/sub/a.csv': 'id,v\n1,2\n', 'steps/count.sql': 'CREATE TABLE n AS SELECT count(*)::BIGINT AS n FROM raw;\n' });
    symlinkSync('..', join(dir, 'data', 'sub', 'loop'));
    const error = await build({ pipelineFile: join(dir, 'pipeline.yaml') }).catch((e: unknown) => e);
    expect(isUserError(error)).toBe(true);
    expect((error as Error).message).toBe('input "count.raw": file:data/**/*.csv: sub/loop is a symbolic link to a folder that contains it (a link loop)');
    expect((error as { where?: string }).where).toMatch(/pipeline\.yaml:6:/);
    // Without the loop, a linked folder of data is read through (inputs follow links), once.
    rmSync(join(dir, 'data', 'sub', 'loop'));
    mkdirSync(join(dir, '..', 'shared'));
    writeFileSync(join(dir, '..', 'shared', 'b.csv'), 'id,v\n3,4\n');
    symlinkSync(join(dir, '..', 'shared'), join(dir, 'data', 'linked'));
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(result.manifest.steps[0].inputs[0]).toMatchObject({ files: 2 });
    expect(readFileSync(join(dir, 'out', 'n.csv'), 'utf8')).toBe('n\n2\n');
  });
});
