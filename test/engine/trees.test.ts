import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from '../../src/engine/runner.js';
import { DIGEST_PREFIX } from '../../src/sdk/hash.js';
import { copyFixture, removeFixture } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});
const fixture = (): string => {
  const dir = copyFixture('trees');
  dirs.push(dir);
  return dir;
};
const run = (dir: string, nested = false) => build({ pipelineFile: join(dir, 'pipeline.yaml'), sets: nested ? { lister: { nested: true } } : {} });

describe('directory inputs and outputs', () => {
  it('a symlink inside a directory input counts by its target content', async () => {
    const dir = fixture();
    mkdirSync(join(dir, 'outside'));
    writeFileSync(join(dir, 'outside', 'linked.txt'), 'v1');
    symlinkSync(join(dir, 'outside', 'linked.txt'), join(dir, 'data', 'b.txt'));
    expect((await run(dir)).manifest.steps[0].status).toBe('built');
    expect(readFileSync(join(dir, 'out', 'listing', 'f1.txt'), 'utf8')).toBe('v1');
    writeFileSync(join(dir, 'outside', 'linked.txt'), 'v2 changed');
    const again = await run(dir);
    expect(again.manifest.steps[0].status).toBe('built');
    expect(again.manifest.steps[0].reason).toBe('input data changed');
    expect(readFileSync(join(dir, 'out', 'listing', 'f1.txt'), 'utf8')).toBe('v2 changed');
  });

  it('a tree whose file becomes a directory materialises, and back', async () => {
    const dir = fixture();
    await run(dir);
    expect(readFileSync(join(dir, 'out', 'listing', 'f0.txt'), 'utf8')).toBe('alpha\n');
    const nested = await run(dir, true);
    expect(nested.ok, nested.manifest.steps[0].error).toBe(true);
    expect(readFileSync(join(dir, 'out', 'listing', 'f0.txt', 'inner.txt'), 'utf8')).toBe('alpha\n');
    const flat = await run(dir);
    expect(flat.manifest.steps[0].status).toBe('cached');
    expect(readFileSync(join(dir, 'out', 'listing', 'f0.txt'), 'utf8')).toBe('alpha\n');
  });

  it('a tree object missing from the store is rebuilt, not a failure', async () => {
    const dir = fixture();
    const first = await run(dir);
    const tree = first.manifest.steps[0].outputs[0].digest;
    rmSync(join(dir, 'cache', 'objects', tree.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 2), tree.slice(DIGEST_PREFIX.length + 2)));
    const again = await run(dir);
    expect(again.ok).toBe(true);
    expect(again.manifest.steps[0].status).toBe('built');
    expect(again.manifest.steps[0].reason).toMatch(/missing in the store/);
    expect(again.manifest.steps[0].outputs[0].digest).toBe(tree);
  });
});
