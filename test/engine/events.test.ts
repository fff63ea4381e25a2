import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { build } from '../../src/engine/runner.js';
import { Store } from '../../src/engine/store.js';
import { EventBus, fanOut } from '../../src/engine/events/bus.js';
import { describeReason, rerunReasons } from '../../src/engine/events/reasons.js';
import { eventLine, terminalReporter } from '../../src/engine/events/logging.js';
import { verifyRun } from '../../src/engine/events/maintenance-runs.js';
import type { DagrunEvent, Reason } from '../../src/engine/events/types.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});
function fixture(name: string): string {
  const dir = copyFixture(name);
  dirs.push(dir);
  return dir;
}

const OUTCOMES = new Set(['instance-built', 'instance-cached', 'instance-failed', 'instance-skipped', 'instance-would-build']);

describe('the event stream of a build', () => {
  it('opens and closes the run, reports each instance once, and carries structured rerun reasons', async () => {
    const dir = fixture('basic');
    const events: DagrunEvent[] = [];
    const first = await build({ pipelineFile: join(dir, 'pipeline.yaml'), onEvent: (e) => events.push(e) });
    expect(events[0]).toMatchObject({ type: 'run-started', kind: 'build', run_id: first.manifest.run_id });
    const last = events.at(-1) as Extract<DagrunEvent, { type: 'run-finished' }>;
    expect(last).toMatchObject({ type: 'run-finished', status: 'ok', counts: { built: 7, cached: 0, failed: 0, skipped: 0 } });
    expect(last.manifest).toMatch(/^runs\/.*\.json$/); // relative to the cache: no machine path
    expect(events.every((e) => e.run_id === first.manifest.run_id && !Number.isNaN(Date.parse(e.time)))).toBe(true);
    const outcomes = events.filter((e) => OUTCOMES.has(e.type)).map((e) => (e as { instance: string }).instance);
    expect(outcomes.sort()).toEqual(first.manifest.steps.map((s) => s.instance).sort());
    // every built instance was announced before it finished
    for (const id of outcomes) expect(events.findIndex((e) => e.type === 'instance-started' && e.instance === id)).toBeLessThan(events.findIndex((e) => e.type === 'instance-built' && e.instance === id));

    events.length = 0;
    const second = await build({ pipelineFile: join(dir, 'pipeline.yaml'), sets: { double: { factor: 3 } }, onEvent: (e) => events.push(e) });
    const built = events.find((e) => e.type === 'instance-built' && e.instance === 'double[date=2024-01-01]') as Extract<DagrunEvent, { type: 'instance-built' }>;
    expect(built.reasons).toEqual([{ kind: 'param-changed', name: 'factor', from: 2, to: 3 }]);
    expect(events.find((e) => e.type === 'instance-cached' && e.instance === 'make[date=2024-01-01]')).toMatchObject({ reason: { kind: 'unchanged' } });
    const record = second.manifest.steps.find((s) => s.instance === 'double[date=2024-01-01]');
    expect(record?.reasons).toEqual([{ kind: 'param-changed', name: 'factor', from: 2, to: 3 }]);
    expect(record?.reason).toBe('param factor changed (2 → 3)');
  });

  it('a failure is data on the failed instance and a structured skip on its dependents', async () => {
    const dir = fixture('branches');
    const events: DagrunEvent[] = [];
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['after-broken'], onEvent: (e) => events.push(e) });
    expect(result.ok).toBe(false);
    const failed = events.find((e) => e.type === 'instance-failed') as Extract<DagrunEvent, { type: 'instance-failed' }>;
    expect(failed.instance).toBe('broken');
    expect(failed.reason.message).toMatch(/no_such_table/);
    expect(events.find((e) => e.type === 'instance-skipped')).toMatchObject({ instance: 'after-broken', reason: { kind: 'upstream-failed', instance: 'broken', status: 'failed' } });
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', status: 'failed', counts: { failed: 1, skipped: 1 } });
    expect(result.manifest.steps.find((s) => s.instance === 'after-broken')?.reasons).toEqual([{ kind: 'upstream-failed', instance: 'broken', status: 'failed' }]);
  });

  it('a pinned source capture is reported as pinned when built and when reused', async () => {
    const dir = fixture('branches');
    const seen: DagrunEvent[] = [];
    await build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['clock'], onEvent: (e) => seen.push(e) });
    await build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['clock'], onEvent: (e) => seen.push(e) });
    expect(seen.filter((e) => e.type === 'capture-pinned').map((e) => (e as { reused: boolean }).reused)).toEqual([false, true]);
    expect(seen.find((e) => e.type === 'instance-cached')).toMatchObject({ reason: { kind: 'pinned-capture' } });
  });

  it('plan --json carries the structured reasons; --events ndjson streams every event as one JSON line', async () => {
    const dir = fixture('basic');
    const built = await runCli(['build', '--events', 'ndjson'], dir);
    expect(built.code).toBe(0);
    const lines = built.stderr.trim().split('\n').map((l) => JSON.parse(l) as DagrunEvent);
    expect(lines[0].type).toBe('run-started');
    expect(lines.at(-1)?.type).toBe('run-finished');
    expect(lines.filter((e) => e.type === 'instance-built')).toHaveLength(7);
    expect(built.stderr).not.toContain(dir); // no absolute machine path in the stream

    const plan = JSON.parse((await runCli(['plan', '--set', 'make.rows=2', '--json'], dir)).stdout) as { instance: string; reasons: Reason[] }[];
    expect(plan.find((p) => p.instance === 'make[date=2024-01-02]')?.reasons).toEqual([{ kind: 'param-changed', name: 'rows', from: 5, to: 2 }]);
    expect(plan.find((p) => p.instance === 'summary')?.reasons).toEqual([{ kind: 'upstream-would-build', instance: 'double[date=2024-01-01]' }]);
    expect((await runCli(['build', '--events', 'xml'], dir)).stderr).toMatch(/--events takes "ndjson"/);
  });

  it('verify reports each corrupt object as a warning and ends failed', async () => {
    const dir = fixture('basic');
    await build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['make'], partitionFilter: { date: '2024-01-01' } });
    const store = new Store(join(dir, 'cache'));
    const objects: string[] = [];
    for await (const o of store.allObjects()) objects.push(o.path);
    writeFileSync(objects[0], 'tampered');
    const events: DagrunEvent[] = [];
    const report = await verifyRun(store, 1000, (e) => events.push(e));
    expect(report.corrupt).toHaveLength(1);
    // One warning per problem: the object, and the action entry that names it.
    expect(report.problems).toHaveLength(2);
    expect(events.map((e) => e.type)).toEqual(['run-started', ...Array(objects.length).fill('progress'), 'warning', 'warning', 'run-finished']);
    expect(events.at(-1)).toMatchObject({ kind: 'verify', status: 'failed' });
    await verifyRun(store, 1000, undefined, true);
    expect(readdirSync(join(dir, 'cache', 'corrupt'))).toHaveLength(1);
  });
});

describe('reasons and consumers', () => {
  it('every reason renders to a non-empty sentence without "undefined"', () => {
    const reason = fc.oneof(
      fc.constantFrom<Reason>({ kind: 'no-previous-result' }, { kind: 'cache-entry-missing' }, { kind: 'packages-changed' }, { kind: 'definition-changed' }, { kind: 'partition-changed' }, { kind: 'forced' }, { kind: 'refresh' }, { kind: 'outside-cache' }, { kind: 'unchanged' }, { kind: 'pinned-capture' }),
      fc.record({ kind: fc.constant('param-changed' as const), name: fc.string({ minLength: 1 }), from: fc.jsonValue(), to: fc.jsonValue() }),
      fc.record({ kind: fc.constant('input-changed' as const), name: fc.string({ minLength: 1 }) }),
      fc.record({ kind: fc.constant('code-changed' as const), file: fc.string({ minLength: 1 }) }),
      fc.record({ kind: fc.constant('upstream-failed' as const), instance: fc.string({ minLength: 1 }), status: fc.constantFrom('failed' as const, 'skipped' as const) }),
    );
    fc.assert(fc.property(reason, (r) => {
      const text = describeReason(r);
      return text.length > 0 && !text.includes('undefined');
    }));
  });

  it('rerunReasons names each change, and an unset param reads "unset"', () => {
    const seen = { key: 'a', definition: 'd', code: 'c', params: { x: 1 }, inputs: { i: 'sha256:1' }, engine: '1' };
    expect(rerunReasons(undefined, seen, 'k.ts')).toEqual([{ kind: 'no-previous-result' }]);
    expect(rerunReasons(seen, seen, 'k.ts')).toEqual([{ kind: 'cache-entry-missing' }]);
    const now = { ...seen, key: 'b', code: 'c2', params: { y: 2 }, inputs: { i: 'sha256:2' } };
    const reasons = rerunReasons(seen, now, 'k.ts');
    expect(reasons.map((r) => r.kind)).toEqual(['code-changed', 'param-changed', 'param-changed', 'input-changed']);
    expect(reasons.map(describeReason)).toContain('param y changed (null → 2)');
  });

  it('a throwing consumer does not stop the others; the bus replays one run', () => {
    const bus = new EventBus(3);
    const got: string[] = [];
    bus.subscribe(() => {
      throw new Error('broken consumer');
    });
    bus.subscribe((e) => got.push(e.run_id));
    const sink = fanOut(() => {
      throw new Error('x');
    }, bus.emit) as (e: DagrunEvent) => void;
    for (const run of ['a', 'b', 'a', 'a']) sink({ type: 'log', message: 'm', time: '2026-01-01T00:00:00.000Z', run_id: run });
    expect(got).toEqual(['a', 'b', 'a', 'a']);
    expect(bus.replay().length).toBe(3); // bounded history
    expect(bus.replay('a').length).toBe(2);
  });

  it('the terminal reporter always shows a lock wait, and log lines only with --verbose', () => {
    const out: string[] = [];
    const writer = { write: (t: string) => out.push(t), isTTY: false };
    const base = { time: '2026-01-01T10:00:00.000Z', run_id: 'r' };
    terminalReporter(writer, false)({ ...base, type: 'lock-wait', holder: 'pid 1 on h' });
    terminalReporter(writer, false)({ ...base, type: 'log', instance: 'x', message: 'hello' });
    expect(out).toEqual(['waiting for the cache lock held by pid 1 on h…\n']);
    terminalReporter(writer, true)({ ...base, type: 'log', instance: 'x', message: 'hello' });
    expect(out.at(-1)).toBe('[x] hello\n');
    expect(eventLine({ ...base, type: 'instance-skipped', instance: 'b', step: 'b', partition: {}, reason: { kind: 'upstream-failed', instance: 'a', status: 'failed' } })).toBe('10:00:00 skipped b — upstream a failed');
  });
});
