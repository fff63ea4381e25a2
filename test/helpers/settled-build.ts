// The settled build as bin/dagrun.js runs it, for the tests of the settled and partly settled build
// (test/engine/settled-partial*.test.ts): the check first, then the usual build with what it handed over.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { build, type BuildResult } from '../../src/engine/runner.js';
import { invocationFor, serveSettled } from '../../src/engine/settled.js';
import { PROJECT_ROOT } from './paths.js';

/** Past the racy window: a build vouches only for files that changed more than 2 s before it started. */
export const RACY_WAIT = 2100;
export const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

/** A partition-filtered command line: `--partition KEY=VALUE` (each), `--with-fan-in`. */
export interface PartitionArgs {
  readonly partition?: Readonly<Record<string, string>>;
  readonly withFanIn?: boolean;
}

/** `dagrun build` in `dir` as bin/dagrun.js runs it: answered by the settled check, or the usual build with its handoff. */
export async function settledCli(dir: string, { partition, withFanIn }: PartitionArgs = {}): Promise<{ answered: true } | { answered: false; result: BuildResult }> {
  const argv = ['build', '--pipeline', join(dir, 'pipeline.yaml'), ...Object.entries(partition ?? {}).flatMap(([key, value]) => ['--partition', `${key}=${value}`]), ...(withFanIn ? ['--with-fan-in'] : [])];
  const answer = await serveSettled(argv, sink);
  if (typeof answer === 'number') return { answered: true };
  const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), partitionFilter: partition, withFanIn, settle: invocationFor(argv), settledHandoff: answer });
  return { answered: false, result };
}

/** Built, then built again past the racy window, so the settled file vouches for everything: the next check answers. */
export async function settleProject(dir: string): Promise<void> {
  await settledCli(dir);
  await wait(RACY_WAIT);
  await settledCli(dir);
  await wait(RACY_WAIT);
  expect((await settledCli(dir)).answered).toBe(true);
}

/** The same project built from nothing in a sibling folder: what `file` under out/ must hold. */
export async function fromScratch(dir: string, file = 'total.csv'): Promise<string> {
  const other = `${dir}-scratch`;
  rmSync(other, { recursive: true, force: true });
  cpSync(dir, other, { recursive: true, filter: (path) => !/[/\\](cache|out)$/.test(path) });
  await build({ pipelineFile: join(other, 'pipeline.yaml') });
  return readFileSync(join(other, 'out', file), 'utf8');
}

/**
 * Whether bin/dagrun.js, run as `dagrun ARGV` in `cwd`, would be answered by the settled check now
 * (it then is: its manifest is written). Asked of the compiled module the CLI loads: a settled file
 * names the engine file that wrote it, and the CLI's is dist/'s.
 */
export async function answeredByCli(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const compiled = (await import(pathToFileURL(join(PROJECT_ROOT, 'dist', 'src', 'engine', 'settled.js')).href)) as typeof import('../../src/engine/settled.js');
  const answer = await compiled.serveSettled(argv, sink, cwd, env);
  if (typeof answer === 'object') answer.release();
  return answer === 0;
}
