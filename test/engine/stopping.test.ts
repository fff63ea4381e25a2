// A build that has to stop early stops cleanly: on a full disk (injected through the store's IO seam:
// a disk with so many bytes left, failing with ENOSPC as node does) and on SIGINT/SIGTERM (a real
// CLI process, signalled once the slow kernel has said it is running). Either way: one sentence,
// nothing more starts, scratch removed, lock released, the manifest of what finished, and the next
// build resumes from what was stored.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from '../../src/engine/runner.js';
import { nodeIO, type StoreIO } from '../../src/engine/store.js';
import { STOPPED_WHILE_RUNNING } from '../../src/engine/run-instance.js';
import type { Manifest, StepRecord } from '../../src/engine/manifest.js';
import { UserError } from '../../src/sdk/errors.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});
const fixture = (): string => {
  const dir = copyFixture('stopping');
  dirs.push(dir);
  return dir;
};

/**
 * A disk with `free` bytes left. A write that does not fit fails with ENOSPC the way node reports it;
 * with `staysFull`, every write after the first failure fails too (nothing frees space on it).
 */
function diskWith(free: number, staysFull = false): StoreIO {
  let left = free;
  let full = false;
  const take = (bytes: number, path: string, syscall: string): void => {
    if ((full && staysFull) || bytes > left) {
      full = true;
      throw Object.assign(new Error(`ENOSPC: no space left on device, ${syscall} '${path}'`), { code: 'ENOSPC', errno: -28, syscall, path });
    }
    left -= bytes;
  };
  return {
    writeFile: async (path, data) => {
      take(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength, path, 'write');
      await nodeIO.writeFile(path, data);
    },
    copyFile: async (source, target, mode) => {
      take(statSync(source).size, target, 'copyfile');
      await nodeIO.copyFile(source, target, mode);
    },
  };
}

async function stoppedWith(promise: Promise<unknown>): Promise<UserError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  return error as UserError;
}

const runsOf = (dir: string): string[] => (existsSync(join(dir, 'cache', 'runs')) ? readdirSync(join(dir, 'cache', 'runs')) : []);
const statuses = (steps: readonly StepRecord[]): Record<string, string> => Object.fromEntries(steps.map((s) => [s.step, s.status]));
const SENTENCE = /^no space left on the device holding (.+\/) \((?:[\d.]+ (?:bytes|KiB|MiB|GiB|TiB) free; )?(what finished is in (.+)|no manifest could be written)\): freed (\d+) bytes of scratch; nothing built was lost$/;

function expectCleanedUp(dir: string): void {
  expect(existsSync(join(dir, 'cache', 'lock'))).toBe(false);
  expect(readdirSync(join(dir, 'cache', 'tmp'))).toEqual([]);
}

describe('a full disk', () => {
  it('stops the build with one sentence: the folder, the scratch freed, the manifest of what finished; the next build loses nothing', async () => {
    const dir = fixture();
    const pipelineFile = join(dir, 'pipeline.yaml');
    // 20 kB left: quick's small files fit, copying slow's 50 kB result into out/ does not.
    const sets = { slow: { wait_ms: 0, bytes: 50_000, spill: 30_000 } };
    const error = await stoppedWith(build({ pipelineFile, sets, jobs: 1, storeIO: diskWith(20_000) }));
    expect(error.code).toBe('DISK_FULL');
    const m = SENTENCE.exec(error.message);
    expect(m, error.message).not.toBeNull();
    const [, folder, , manifestFile, freed] = m as RegExpExecArray;
    expect(folder).toBe(`${relative(process.cwd(), join(dir, 'cache'))}/`);
    // slow's scratch (its 30 kB of working data) went once its outputs were stored, before the copy into
    // out/ failed: nothing was left to free (the kernel-ENOSPC test below frees a scratch left behind).
    expect(Number(freed)).toBe(0);
    expect(error.message).not.toContain(process.cwd());
    expectCleanedUp(dir);

    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    expect(statuses(manifest.steps)).toEqual({ quick: 'built', slow: 'failed', after: 'skipped' });
    expect(manifest.steps[1].error).toContain('ENOSPC');
    expect(manifest.steps[2].reasons).toEqual([{ kind: 'not-started', why: 'disk-full' }]);

    // Space again: quick and slow were stored before the copy failed, so only `after` runs.
    const again = await build({ pipelineFile, sets, jobs: 1 });
    expect(statuses(again.manifest.steps)).toEqual({ quick: 'cached', slow: 'cached', after: 'built' });
    expect(statSync(join(dir, 'out', 'slow.json')).size).toBe(50_000);
  });

  it('a disk with no room even for the manifest: the sentence says so, scratch is removed, the lock released', async () => {
    const dir = fixture();
    const error = await stoppedWith(build({ pipelineFile: join(dir, 'pipeline.yaml'), sets: { slow: { wait_ms: 0 } }, jobs: 1, storeIO: diskWith(0, true) }));
    expect(error.code).toBe('DISK_FULL');
    expect(error.message).toMatch(SENTENCE);
    expect(error.message).toContain('no manifest could be written');
    expect(runsOf(dir)).toEqual([]);
    expectCleanedUp(dir);
    const again = await build({ pipelineFile: join(dir, 'pipeline.yaml'), sets: { slow: { wait_ms: 0 } }, jobs: 1 });
    expect(statuses(again.manifest.steps)).toEqual({ quick: 'built', slow: 'built', after: 'built' });
  });

  it("a kernel's own write hitting ENOSPC stops the build the same way (the error crosses the worker)", async () => {
    const dir = fixture();
    const error = await stoppedWith(build({ pipelineFile: join(dir, 'pipeline.yaml'), sets: { slow: { wait_ms: 0, spill: 5000, enospc: true } }, jobs: 1 }));
    expect(error.code).toBe('DISK_FULL');
    const m = SENTENCE.exec(error.message) as RegExpExecArray;
    expect(m, error.message).not.toBeNull();
    expect(Number(m[4])).toBeGreaterThanOrEqual(5000);
    expectCleanedUp(dir);
    const manifest = JSON.parse(readFileSync(m[3], 'utf8')) as Manifest;
    expect(statuses(manifest.steps)).toEqual({ quick: 'built', slow: 'failed', after: 'skipped' });
  });

  it('the CLI prints the sentence without a stack and exits 1', async () => {
    const dir = fixture();
    const result = await runCli(['build', '--set', 'slow.wait_ms=0', '--set', 'slow.enospc=true'], dir);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr.trim()).toMatch(/^dagrun: no space left on the device holding cache\/ \(.*what finished is in cache\/runs\/[^ ]+\.json\): freed \d+ bytes of scratch; nothing built was lost$/);
    expect(result.stderr).not.toMatch(/node:internal|\n\s+at /);
  });
});

describe('SIGINT and SIGTERM', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-build: the kernel is stopped, nothing more starts, exit 130, lock and scratch gone, the next build resumes`, async () => {
      const dir = fixture();
      // Signalled once the slow kernel has written its output and working data and said it is running (it then waits ten minutes).
      const result = await runCli(['build', '--verbose', '--jobs', '1', '--set', 'slow.spill=4096'], dir, { signalOn: { after: /^\[slow\] slow started$/m, signal } });
      expect(result.signalled, result.stderr).toBe(true);
      expect(result.signal).toBeNull(); // handled: the process exited by itself
      expect(result.code, result.stderr).toBe(130);
      const [run] = runsOf(dir);
      expect(result.stderr.trim().split('\n').at(-1)).toBe(`dagrun: interrupted: 1 built, 1 not started (1 stopped while running); what finished is in cache/runs/${run}`);
      expectCleanedUp(dir);
      expect(existsSync(join(dir, 'out', 'slow.json'))).toBe(false);

      const manifest = JSON.parse(readFileSync(join(dir, 'cache', 'runs', run), 'utf8')) as Manifest;
      expect(statuses(manifest.steps)).toEqual({ quick: 'built', slow: 'failed', after: 'skipped' });
      expect(manifest.steps[1].error).toBe(STOPPED_WHILE_RUNNING);
      expect(manifest.steps[2].reasons).toEqual([{ kind: 'not-started', why: 'interrupted' }]);

      const again = await runCli(['build', '--json', '--set', 'slow.wait_ms=0', '--set', 'slow.spill=4096'], dir);
      expect(again.code, again.stderr).toBe(0);
      expect(statuses((JSON.parse(again.stdout) as Manifest).steps)).toEqual({ quick: 'cached', slow: 'built', after: 'built' });
    });
  }

  it('a signal before anything ran: nothing starts, exit 130', async () => {
    const dir = fixture();
    const controller = new AbortController();
    controller.abort();
    const error = await stoppedWith(build({ pipelineFile: join(dir, 'pipeline.yaml'), signal: controller.signal }));
    expect(error.code).toBe('INTERRUPTED');
    expect(error.message).toMatch(/^interrupted: 0 built, 3 not started; what finished is in .+\.json$/);
    expectCleanedUp(dir);
  });
});
