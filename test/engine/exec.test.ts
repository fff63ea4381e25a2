import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execStep } from '../../src/engine/exec.js';
import { copyFixture, removeFixture } from '../helpers/fixture.js';

const dir = copyFixture('branches');
afterAll(() => removeFixture(dir));

describe('execStep', () => {
  it('a source step sees the environment as it is when the job starts, not when the worker started', async () => {
    const warnings: string[] = [];
    const run = async (out: string): Promise<unknown> => {
      const result = await execStep({ pipeline: join(dir, 'pipeline.yaml'), step: 'keycheck', outDir: join(dir, out) });
      warnings.push(...result.warnings);
      return JSON.parse(readFileSync(result.outputs.seen, 'utf8'));
    };
    delete process.env.DAGRUN_TEST_KEY;
    expect(await run('a')).toEqual({ has_key: false, key_length: 0 });
    process.env.DAGRUN_TEST_KEY = 'k-123456789';
    try {
      expect(await run('b')).toEqual({ has_key: true, key_length: 11 });
      expect(warnings).toEqual(['connected with ***']);
    } finally {
      delete process.env.DAGRUN_TEST_KEY;
    }
  });

  it('a step not marked as a source may not read the clock', async () => {
    await expect(execStep({ pipeline: join(dir, 'pipeline.yaml'), step: 'sneaky', outDir: join(dir, 'c') })).rejects.toThrow('step "sneaky" is not a source step; only source steps may read the clock');
  });
});
