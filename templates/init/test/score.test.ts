// Run with `npm test` (node's test runner through tsx). The pure function is tested directly; the
// whole step through the real engine with execStep, exactly as `dagrun exec` runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTable } from 'dagrun/sdk';
import { execStep } from 'dagrun/testing';
import { score } from '../steps/score/kernel.ts';

test('score averages per station and flags means above the threshold', () => {
  assert.deepEqual(score([{ station: 'a', value: 4 }, { station: 'a', value: 8 }, { station: 'b', value: 20 }], 10), [
    { station: 'a', readings: 2, mean: 6, above: false },
    { station: 'b', readings: 1, mean: 20, above: true },
  ]);
});

test('the score step on a small table, through the engine', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'score-'));
  try {
    const clean = join(dir, 'clean.parquet');
    await writeTable(clean, { station: 'VARCHAR', day: 'DATE', value: 'DOUBLE' }, [{ station: 'x', day: '2026-01-01', value: 30 }, { station: 'x', day: '2026-01-02', value: 40 }]);
    const result = await execStep({ pipeline: 'pipeline.yaml', step: 'score', inputs: { clean: `file:${clean}` }, outDir: join(dir, 'out') });
    assert.equal(result.rows.scores, 1);
    assert.equal(readFileSync(result.outputs.scores, 'utf8'), 'station,readings,mean,above\nx,2,35.0,true\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
