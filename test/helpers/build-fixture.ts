// Fixture copies a test file builds in-process: each comes with `run` (a build of its pipeline.yaml)
// and is removed after each test.
import { afterEach } from 'vitest';
import { join } from 'node:path';
import { build, type BuildOptions } from '../../src/engine/runner.js';
import { copyFixture, removeFixture } from './fixture.js';

export type BuildableFixture = { dir: string; run: (options?: Partial<BuildOptions>) => ReturnType<typeof build> };

/** Call once at the top of a test file; the function it returns copies a fixture for one test. */
export function buildableFixtures(): (name: string) => BuildableFixture {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) removeFixture(dir);
  });
  return (name) => {
    const dir = copyFixture(name);
    dirs.push(dir);
    return { dir, run: (options = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), ...options }) };
  };
}
