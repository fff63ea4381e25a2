// Command-line habits a new user expects: found from a subfolder, --version, --refresh only for sources.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

describe('cli habits', () => {
  it('finds pipeline.yaml in a parent folder, as git finds .git', async () => {
    const dir = copyFixture('basic');
    dirs.push(dir);
    const result = await runCli(['validate', '--json'], join(dir, 'steps', 'make'));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).steps).toEqual(['make', 'double', 'summary']);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await runCli(['--version'], PROJECT_ROOT);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`dagrun ${version}\n`);
  });

  it('--refresh on a step that is not a source is a user error naming the source steps', async () => {
    const dir = copyFixture('branches');
    dirs.push(dir);
    const nonSource = 'tally';   // branches: clock and keycheck are its source steps
    const result = await runCli(['plan', '--refresh', nonSource], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`--refresh ${nonSource}: "${nonSource}" is not a source step.*source steps: clock, keycheck`));
  });
});
