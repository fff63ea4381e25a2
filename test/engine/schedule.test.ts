import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions, type BuildResult } from '../../src/engine/runner.js';
import { loadPipeline } from '../../src/engine/pipeline.js';
import { readManifest } from '../../src/engine/manifest.js';
import { Scheduler } from '../../src/engine/schedule/scheduler.js';
import { addDays, dueFires, localDate, pickCatchUp, resolvePartition, triggerTimes, upcoming } from '../../src/engine/schedule/fires.js';
import { tableSensor } from '../../src/engine/schedule/sensor.js';
import type { ScheduleSpec } from '../../src/engine/schedule/spec.js';
import type { DagrunEvent } from '../../src/engine/events/types.js';
import type { UserError } from '../../src/sdk/errors.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});
function fixture(): string {
  const dir = copyFixture('schedules');
  dirs.push(dir);
  return dir;
}
const iso = (dates: readonly Date[]): string[] => dates.map((d) => d.toISOString());
const cron = (expr: string, timezone: string, extra: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  name: 't', targets: ['x'], partition: { date: '{today}' }, timezone, trigger: { kind: 'cron', cron: expr, timezone }, catch_up: 'latest', set: {}, refresh: [], enabled: true, ...extra,
});

describe('fire times (injected clock, nothing waits)', () => {
  it('cron in Europe/London across both DST changes: a skipped 01:30 fires at the jump, a repeated one fires once', () => {
    const spec = cron('30 1 * * *', 'Europe/London');
    expect(iso(triggerTimes(spec, new Date('2026-03-27T12:00:00Z'), new Date('2026-03-30T12:00:00Z')))).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    expect(iso(triggerTimes(spec, new Date('2026-10-24T00:00:00Z'), new Date('2026-10-26T12:00:00Z')))).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // weekly Monday 06:00 New York: 10:00Z in summer, 11:00Z in winter
    expect(iso(upcoming(cron('0 6 * * MON', 'America/New_York'), new Date('2026-10-28T00:00:00Z'), 2).map((f) => f.at))).toEqual(['2026-11-02T11:00:00.000Z', '2026-11-09T11:00:00.000Z']);
  });

  it('{today} and {today-3d} are the fire time\'s date in the schedule\'s zone', () => {
    const at = new Date('2026-03-29T23:30:00Z'); // 00:30 BST on the 30th; still the 29th in UTC
    expect(localDate(at, 'Europe/London')).toBe('2026-03-30');
    expect(resolvePartition({ date: '{today}', back: '{today-3d}', ahead: '{today+2d}', fixed: 'x1' }, at, 'Europe/London')).toEqual({ date: '2026-03-30', back: '2026-03-27', ahead: '2026-04-01', fixed: 'x1' });
    expect(resolvePartition({ date: '{today}' }, at, 'UTC')).toEqual({ date: '2026-03-29' });
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(addDays('2026-01-01', -3)).toBe('2025-12-29');
  });

  it('catch-up: all runs every missed fire in order, latest the newest, none only one within the grace', () => {
    const since = new Date('2026-05-01T06:00:00Z');
    const now = new Date('2026-05-01T10:20:00Z');
    expect(iso(dueFires(cron('0 * * * *', 'UTC', { catch_up: 'all' }), since, now, 60_000).map((f) => f.at))).toEqual(['2026-05-01T07:00:00.000Z', '2026-05-01T08:00:00.000Z', '2026-05-01T09:00:00.000Z', '2026-05-01T10:00:00.000Z']);
    expect(iso(dueFires(cron('0 * * * *', 'UTC', { catch_up: 'latest' }), since, now, 60_000).map((f) => f.at))).toEqual(['2026-05-01T10:00:00.000Z']);
    expect(dueFires(cron('0 * * * *', 'UTC', { catch_up: 'none' }), since, now, 60_000)).toEqual([]);
    expect(iso(dueFires(cron('0 * * * *', 'UTC', { catch_up: 'none' }), since, new Date('2026-05-01T10:00:30Z'), 60_000).map((f) => f.at))).toEqual(['2026-05-01T10:00:00.000Z']);
    expect(pickCatchUp([], 'all', now, 0)).toEqual([]);
    // each caught-up fire builds its own day's partition
    const days = dueFires(cron('0 10 * * *', 'UTC', { catch_up: 'all', partition: { date: '{today-3d}' } }), new Date('2026-05-01T00:00:00Z'), new Date('2026-05-03T12:00:00Z'), 0).map((f) => f.partition.date);
    expect(days).toEqual(['2026-04-28', '2026-04-29', '2026-04-30']);
  });

  it('every: on multiples of the interval, so a restart does not shift it', () => {
    const spec: ScheduleSpec = { ...cron('* * * * *', 'UTC'), trigger: { kind: 'every', every: '15m', every_ms: 900_000 }, catch_up: 'all' };
    expect(iso(triggerTimes(spec, new Date('2026-05-01T10:07:00Z'), new Date('2026-05-01T10:45:00Z')))).toEqual(['2026-05-01T10:15:00.000Z', '2026-05-01T10:30:00.000Z', '2026-05-01T10:45:00.000Z']);
  });
});

describe('pipeline.yaml schedules: validated at the boundary with a location', () => {
  const bad: [string, string, RegExp][] = [
    ['cron: "0 * * * *"', 'cron: "61 * * * *"', /pipeline\.yaml:\d+:\d+: schedule "hourly": cron "61 \* \* \* \*"/],
    ['cron: "0 * * * *"', 'cron: "0 * * *"', /must have 5 fields/],
    ['timezone: Europe/London\n    catch_up: all', 'timezone: Mars/Olympus\n    catch_up: all', /unknown time zone "Mars\/Olympus"/],
    ['targets: [count]\n    partition: { date: "{today}" }\n    cron', 'targets: [nope]\n    partition: { date: "{today}" }\n    cron', /no step named "nope"/],
    ['partition: { date: "{today-3d}" }', 'partition: { date: "{yesterday}" }', /neither a plain value nor \{today\}/],
    ['every: 15m', 'every: 15m\n    cron: "0 * * * *"', /exactly one trigger/],
    ['start: start_utc', 'start: begins', /"begins" is not a column of windows.windows/],
  ];
  for (const [from, to, message] of bad) {
    it(`refuses ${to.split('\n')[0]}`, () => {
      const dir = fixture();
      const file = join(dir, 'pipeline.yaml');
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(from);
      writeFileSync(file, text.replace(from, to));
      let error: unknown;
      try {
        loadPipeline(file);
      } catch (e) {
        error = e;
      }
      expect((error as UserError).format()).toMatch(message);
      expect((error as UserError).format()).toMatch(/^[^ ]*pipeline\.yaml:\d+:\d+: /);
    });
  }
});

describe('the scheduler on a real build (injected clock)', () => {
  it('fires due cron runs as tagged builds on an undeclared {today} partition, logs each fire, and never runs one schedule twice at once', async () => {
    const dir = fixture();
    let now = new Date('2026-05-01T09:59:00Z');
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let builds = 0;
    const gatedBuild = async (options: BuildOptions): Promise<BuildResult> => {
      builds += 1;
      if (builds === 1) await gate; // the first fire is still running at the next tick
      return build(options);
    };
    const events: DagrunEvent[] = [];
    const scheduler = new Scheduler({ pipelineFile: join(dir, 'pipeline.yaml'), now: () => now, runBuild: gatedBuild, onEvent: (e) => events.push(e) });
    expect(await scheduler.tick()).toEqual([]); // first sight: starts from now, no back-fill
    now = new Date('2026-05-01T10:00:10Z');
    const fired = await scheduler.tick();
    expect(fired.filter((f) => f.schedule === 'hourly').map((f) => [f.at.toISOString(), f.partition.date])).toEqual([['2026-05-01T10:00:00.000Z', '2026-05-01']]);
    expect(scheduler.runningSchedules()).toContain('hourly');
    now = new Date('2026-05-01T12:00:10Z');
    expect((await scheduler.tick()).filter((f) => f.schedule === 'hourly')).toEqual([]); // still running: left alone
    release();
    await scheduler.idle();
    now = new Date('2026-05-01T12:00:20Z');
    const caughtUp = (await scheduler.tick()).filter((f) => f.schedule === 'hourly');
    expect(caughtUp.map((f) => f.at.toISOString())).toEqual(['2026-05-01T11:00:00.000Z', '2026-05-01T12:00:00.000Z']); // catch_up: all
    await scheduler.idle();

    const log = scheduler.log('hourly');
    expect(log.map((e) => [e.fire_at, e.status])).toEqual([['2026-05-01T10:00:00.000Z', 'ok'], ['2026-05-01T11:00:00.000Z', 'ok'], ['2026-05-01T12:00:00.000Z', 'ok']]);
    const manifest = readManifest(join(dir, 'cache', 'runs'), log[0].run_id as string);
    expect(manifest.schedule).toBe('hourly');
    expect(manifest.steps.map((s) => [s.instance, s.status])).toEqual([['windows[date=2026-05-01]', 'built'], ['count[date=2026-05-01]', 'built']]);
    expect(readManifest(join(dir, 'cache', 'runs'), log[1].run_id as string).steps.every((s) => s.status === 'cached')).toBe(true);
    expect(events.filter((e) => e.type === 'run-finished').every((e) => (e as { schedule?: string }).schedule === 'hourly')).toBe(true);
    expect(existsSync(join(dir, 'cache', 'logs', `${log[0].run_id}.ndjson`))).toBe(true);
    expect(scheduler.log('nightly')).toEqual([]);
    // state survives a restart: a new scheduler catches up what passed while "down"
    now = new Date('2026-05-01T14:30:00Z');
    const restarted = new Scheduler({ pipelineFile: join(dir, 'pipeline.yaml'), now: () => now });
    const afterRestart = (await restarted.tick()).filter((f) => f.schedule === 'hourly');
    expect(afterRestart.map((f) => f.at.toISOString())).toEqual(['2026-05-01T13:00:00.000Z', '2026-05-01T14:00:00.000Z']);
    await restarted.idle();
  });

  it('the after: sensor fires at each window of the newest built table (minus its lead), once', async () => {
    const dir = fixture();
    await build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['windows'] });
    const sensor = tableSensor(join(dir, 'cache', 'runs'), join(dir, 'out'));
    const scheduler = new Scheduler({ pipelineFile: join(dir, 'pipeline.yaml'), now: () => new Date('2024-01-01T00:00:00Z'), sensor });
    const spec = scheduler.spec('capture');
    const windows = await sensor(spec);
    expect(windows.map((w) => [w.start.toISOString(), w.end?.toISOString()])).toEqual([['2024-01-01T10:00:00.000Z', '2024-01-01T10:10:00.000Z'], ['2024-01-01T14:00:00.000Z', '2024-01-01T14:10:00.000Z']]);
    const list = await scheduler.list();
    expect(list.find((s) => s.name === 'capture')?.next.map((n) => [n.at, n.window?.start])).toEqual([['2024-01-01T09:59:00.000Z', '2024-01-01T10:00:00.000Z'], ['2024-01-01T13:59:00.000Z', '2024-01-01T14:00:00.000Z']]);
    // the capture runs during its window: due at 09:59:30, not after the window closed
    expect(dueFires(spec, new Date('2024-01-01T09:58:00Z'), new Date('2024-01-01T09:59:30Z'), 60_000, windows).map((f) => f.window?.start)).toEqual(['2024-01-01T10:00:00.000Z']);
    // a window missed while down is not captured late (catch_up defaults to none for sensors)
    expect(dueFires(spec, new Date('2024-01-01T09:00:00Z'), new Date('2024-01-01T12:00:00Z'), 60_000, windows)).toEqual([]);
    // a rebuilt table moves the windows
    await build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['windows'], sets: { windows: { hours: [3] } } });
    expect((await sensor(spec)).map((w) => w.start.toISOString())).toEqual(['2024-01-01T03:00:00.000Z']);
  });

  it('continuous mode is off until turned on, then fires on its interval; schedule list/run/log from the CLI', async () => {
    const dir = fixture();
    let now = new Date('2026-05-01T10:00:00Z');
    const scheduler = new Scheduler({ pipelineFile: join(dir, 'pipeline.yaml'), now: () => now });
    await scheduler.tick();
    now = new Date('2026-05-01T10:15:05Z');
    expect((await scheduler.tick()).map((f) => f.schedule)).not.toContain('continuous');
    await scheduler.setEnabled('continuous', true);
    now = new Date('2026-05-01T10:30:10Z');
    expect((await scheduler.tick()).filter((f) => f.schedule === 'continuous').map((f) => f.at.toISOString())).toEqual(['2026-05-01T10:30:00.000Z']);
    await scheduler.idle();

    const list = JSON.parse((await runCli(['schedule', 'list', '--json'], dir)).stdout) as { name: string; enabled: boolean; next: { at: string }[] }[];
    expect(list.map((s) => s.name)).toEqual(['hourly', 'capture', 'nightly', 'continuous']);
    expect(list.find((s) => s.name === 'continuous')?.enabled).toBe(true); // the runtime switch persists
    expect(list.find((s) => s.name === 'hourly')?.next).toHaveLength(3);
    const run = await runCli(['schedule', 'run', 'nightly', '--json'], dir);
    expect(run.code).toBe(0);
    const entry = JSON.parse(run.stdout) as { status: string; trigger: string; partition: { date: string } };
    expect(entry).toMatchObject({ status: 'ok', trigger: 'manual' });
    expect(entry.partition.date).toBe(addDays(localDate(new Date(), 'Europe/London'), -3));
    const log = JSON.parse((await runCli(['schedule', 'log', 'nightly', '--json'], dir)).stdout) as unknown[];
    expect(log).toHaveLength(1);
    expect((await runCli(['schedule', 'run', 'nope'], dir)).stderr).toMatch(/no schedule named "nope" \(schedules: hourly, capture, nightly, continuous\)/);
    expect(readdirSync(join(dir, 'cache', 'runs')).length).toBeGreaterThanOrEqual(2);
  });
});
