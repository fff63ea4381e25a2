import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { readTable } from '../../src/sdk/table-io.js';
import type { Manifest } from '../../src/engine/manifest.js';

let dir: string;
beforeAll(async () => {
  dir = copyFixture('basic');
  expect((await runCli(['build'], dir)).code).toBe(0);
  expect((await runCli(['build', '--set', 'double.factor=4'], dir)).code).toBe(0);
});
afterAll(() => removeFixture(dir));

describe('dagrun CLI', () => {
  it('every manifest validates against schemas/manifest.schema.json', () => {
    const ajv = new Ajv({ strict: false, validateFormats: false });
    const validate = ajv.compile(JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas', 'manifest.schema.json'), 'utf8')));
    const runs = readdirSync(join(dir, 'cache', 'runs'));
    expect(runs).toHaveLength(2);
    for (const run of runs) {
      const manifest = JSON.parse(readFileSync(join(dir, 'cache', 'runs', run), 'utf8'));
      expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('runs, show and diff read the manifests back; diff --json names the param and row deltas', async () => {
    const runs = JSON.parse((await runCli(['runs', '--json'], dir)).stdout) as { run_id: string; built: number; cached: number }[];
    expect(runs.map((r) => [r.built, r.cached])).toEqual([[7, 0], [4, 3]]);
    const shown = JSON.parse((await runCli(['show', runs[0].run_id.slice(0, -2), '--json'], dir)).stdout) as Manifest;
    expect(shown.run_id).toBe(runs[0].run_id);
    const diff = JSON.parse((await runCli(['diff', 'previous', 'latest', '--json'], dir)).stdout);
    expect(diff.summary.rebuilt.sort()).toEqual(['double[date=2024-01-01]', 'double[date=2024-01-02]', 'double[date=2024-01-03]', 'summary']);
    const summary = diff.steps.find((s: { instance: string }) => s.instance === 'summary');
    expect(summary.outputs[0]).toMatchObject({ name: 'totals', rows_from: 3, rows_to: 3, rows_delta: 0 });
    const human = (await runCli(['diff', 'previous', 'latest'], dir)).stdout;
    expect(human).toContain('param factor: 2 → 4');
  });

  it('lineage traces an output back through every producing step', async () => {
    const tree = JSON.parse((await runCli(['lineage', 'out/summary/totals.csv', '--json'], dir)).stdout);
    expect(tree.instance).toBe('summary');
    const doubled = tree.inputs[0].producers.map((p: { instance: string }) => p.instance);
    expect(doubled).toEqual(['double[date=2024-01-01]', 'double[date=2024-01-02]', 'double[date=2024-01-03]']);
    const make = tree.inputs[0].producers[1].inputs[0].producers[0];
    expect(make.instance).toBe('make[date=2024-01-02]');
    expect(make.inputs[0].source).toBe('file:data/seed.csv');
  });

  it('plan says what would run without running it', async () => {
    const plan = JSON.parse((await runCli(['plan', '--set', 'make.rows=2', '--json'], dir)).stdout) as { instance: string; action: string; reason: string }[];
    expect(plan.filter((p) => p.action === 'build').map((p) => p.instance)).toHaveLength(7);
    expect(plan.find((p) => p.instance === 'make[date=2024-01-01]')?.reason).toBe('param rows changed (5 → 2)');
    expect(plan.find((p) => p.instance === 'summary')?.reason).toMatch(/upstream .* would rebuild/);
    expect(readdirSync(join(dir, 'cache', 'runs'))).toHaveLength(2);
  });

  it('exec runs one step on other inputs outside the cache', async () => {
    const out = join(dir, 'exec-out');
    const result = await runCli(['exec', 'double', '--input', `numbers=file:${join(dir, 'out', 'numbers', '2024-01-03.parquet')}`, '--set', 'factor=10', '--partition', 'date=2024-01-03', '--out', out, '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const rows = await readTable(join(out, 'doubled', '2024-01-03.parquet'));
    expect(rows.map((r) => r.doubled)).toEqual([130, 140, 150, 160, 170]);
    expect(readdirSync(join(dir, 'cache', 'runs'))).toHaveLength(2);
  });

  it('usage errors are one plain line with exit 2', async () => {
    const unknown = await runCli(['frobnicate'], dir);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, 'dagrun: unknown command "frobnicate" (see dagrun --help)']);
    const step = await runCli(['build', 'nosuch'], dir);
    expect(step.code).toBe(2);
    expect(step.stderr).toContain('no step named "nosuch"');
    const partition = await runCli(['build', '--partition', 'date=1999-01-01'], dir);
    expect(partition.stderr.trim()).toBe('dagrun: --partition date=1999-01-01: not one of the declared values (2024-01-01, 2024-01-02, 2024-01-03)');
    const help = await runCli(['--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('dagrun build [STEP…]'.replace('dagrun ', ''));
  });
});
