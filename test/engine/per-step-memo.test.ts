// What a build computes once per step rather than per instance (issue 17): the code, definition and
// package digests, the instance-independent part of the action key, output paths. The shortcuts must
// give exactly what the general forms give, and the per-build memo must not outlive its build.
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { digestJson, readCounter } from '../../src/sdk/hash.js';
import { actionKey, keyParts } from '../../src/engine/run-instance.js';
import { resolveUnder } from '../../src/engine/paths.js';
import { build } from '../../src/engine/runner.js';
import { readManifest } from '../../src/engine/manifest.js';
import { writeDailyProject } from '../helpers/daily-project.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 })),
})).value;

describe('per-step shortcuts equal the general forms', () => {
  it('an action key written from per-step parts is digestJson of the whole key object', () => {
    fc.assert(
      fc.property(
        fc.record({ engine: fc.string(), packages: fc.string(), definition: fc.string(), code: fc.string(), params: fc.dictionary(fc.string(), json, { maxKeys: 5 }) }),
        fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 4 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
        (shared, inputs, partition) => {
          expect(actionKey(keyParts(shared), inputs, partition)).toBe(digestJson({ ...shared, inputs, partition }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('resolveUnder(root, path) is resolve(root, path) for any path, hostile ones included', () => {
    const segment = fc.constantFrom('a', 'b.csv', '.', '..', '', '...', '.x', 'x\\y', '{date}', 'é', 'a b');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.boolean(), fc.constantFrom('/r/out', '/r/out/', '/'), (segments, absolute, root) => {
        const path = `${absolute ? '/' : ''}${segments.join('/')}`;
        expect(resolveUnder(root, path)).toBe(resolve(root, path));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the per-build memo', () => {
  function project(): { dir: string; run: () => ReturnType<typeof build> } {
    const dir = mkdtempSync(join(tmpdir(), 'dagrun-step-memo-'));
    dirs.push(dir);
    writeDailyProject(dir, { days: ['2025-01-01', '2025-01-02', '2025-01-03'], rows: (day) => [`1,${day.slice(-1)}`] });
    return { dir, run: () => build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2 }) };
  }
  const statuses = (steps: readonly { instance: string; status: string }[]): Record<string, string> => Object.fromEntries(steps.map((s) => [s.instance, s.status]));

  it('a SQL file or pipeline.yaml edited between two builds of one process rebuilds every partition of that step', async () => {
    const { dir, run } = project();
    expect((await run()).ok).toBe(true);
    const noop = await run();
    expect(Object.values(statuses(noop.manifest.steps))).toEqual(['cached', 'cached', 'cached', 'cached']);

    writeFileSync(join(dir, 'steps', 'copy.sql'), 'CREATE TABLE copied AS SELECT id, v + 1 AS v FROM raw;\n');
    const edited = await run();
    expect(statuses(edited.manifest.steps)).toEqual({ 'copy[date=2025-01-01]': 'built', 'copy[date=2025-01-02]': 'built', 'copy[date=2025-01-03]': 'built', sum: 'built' });
    expect(edited.manifest.steps[0].reasons).toEqual([{ kind: 'code-changed', file: 'steps/copy.sql' }]);
    expect(readFileSync(join(dir, 'out', 'total.csv'), 'utf8')).toBe('v\n9\n');

    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('copied: { path: "copied/{date}.csv", format: csv, columns: { id: BIGINT, v: BIGINT } }', 'copied: { path: "copied/{date}.csv", format: csv, columns: { id: BIGINT, v: DOUBLE } }'));
    const redefined = await run();
    expect(statuses(redefined.manifest.steps)['copy[date=2025-01-02]']).toBe('built');
    expect(redefined.manifest.steps[1].reasons).toEqual([{ kind: 'definition-changed' }]);
  });

  it('a plan of a pipeline never built hashes its inputs once: the next plan reads no content', async () => {
    const { dir } = project();
    const plan = (): ReturnType<typeof build> => build({ pipelineFile: join(dir, 'pipeline.yaml'), dryRun: true });
    const before = readCounter.files;
    expect(Object.values(statuses((await plan()).manifest.steps))).toEqual(['would-build', 'would-build', 'would-build', 'would-build']);
    expect(readCounter.files - before).toBe(4); // three inputs and the SQL file
    const again = readCounter.files;
    await plan();
    expect(readCounter.files - again).toBe(0);
    writeFileSync(join(dir, 'inputs', '2025-01-02.csv'), 'id,v\n1,7\n');
    const edited = readCounter.files;
    await plan();
    expect(readCounter.files - edited).toBe(1); // only the edited file
  });

  it('the compact manifest of a no-op reads back whole', async () => {
    const { dir, run } = project();
    await run();
    const noop = await run();
    const text = readFileSync(noop.manifestPath as string, 'utf8');
    expect(text.split('\n').length).toBe(2); // one line and the final newline
    // A fresh build's records and the no-op's are equal but for key order: each is a reference now.
    expect((JSON.parse(text) as { steps: { unchanged_since?: string; outputs?: unknown }[] }).steps.every((s) => s.unchanged_since !== undefined && s.outputs === undefined)).toBe(true);
    const back = readManifest(join(dir, 'cache', 'runs'), 'latest');
    expect({ ...back, steps: back.steps.map((s) => ({ ...s, unchanged_since: undefined })) }).toEqual(noop.manifest);
  });
});
