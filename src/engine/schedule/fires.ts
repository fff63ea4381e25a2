// When schedules fire, computed, never waited for: every function takes the time as an argument, so
// tests drive them with an injected clock (DST transitions included) and nothing sleeps.
import { UserError } from '../../sdk/errors.js';
import { Cron, type CatchUp, type ScheduleSpec } from './spec.js';

/** One fire: when, and the partition its build runs on. A sensor's fire also names its window. */
export interface Fire {
  readonly schedule: string;
  readonly at: Date;
  readonly partition: Readonly<Record<string, string>>;
  readonly window?: { readonly start: string; readonly end?: string };
}

/** A capture window read from a sensor's table. */
export interface SensorWindow {
  readonly start: Date;
  readonly end?: Date;
}

/** At most this many fires are computed in one go (a year of hourly cron is 8,760). */
export const MAX_FIRES = 10_000;

/** The calendar date (YYYY-MM-DD) of `at` in `timezone`. */
export function localDate(at: Date, timezone: string): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

export function addDays(date: string, days: number): string {
  const t = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

/** `{today}`, `{today-3d}`, `{today+1d}` in the schedule's time zone at fire time; literals pass through. */
export function resolvePartition(templates: Readonly<Record<string, string>>, at: Date, timezone: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, template] of Object.entries(templates)) {
    const match = /^\{today(?:([+-])(\d+)d)?\}$/.exec(template);
    out[key] = match ? addDays(localDate(at, timezone), match[1] ? (match[1] === '-' ? -1 : 1) * Number(match[2]) : 0) : template;
  }
  return out;
}

/**
 * Trigger times in (after, until]. cron in its time zone (croner: a local time skipped by a DST
 * jump fires at the jump, a repeated one fires once); `every` on multiples of its interval since
 * the epoch (stable across restarts); a sensor at each window start minus its lead.
 */
export function triggerTimes(spec: ScheduleSpec, after: Date, until: Date, windows: readonly SensorWindow[] = []): Date[] {
  const t = spec.trigger;
  const out: Date[] = [];
  if (t.kind === 'cron') {
    const cron = new (Cron())(t.cron, { timezone: t.timezone, paused: true, mode: '5-part' });
    let previous = after;
    for (;;) {
      const next = cron.nextRun(previous);
      if (!next || next.getTime() > until.getTime()) break;
      out.push(next);
      if (out.length > MAX_FIRES) throw new UserError('CLI', `schedule "${spec.name}": more than ${MAX_FIRES} fires between ${after.toISOString()} and ${until.toISOString()}`);
      previous = next;
    }
  } else if (t.kind === 'every') {
    let k = Math.floor(after.getTime() / t.every_ms) + 1;
    for (; k * t.every_ms <= until.getTime(); k += 1) {
      out.push(new Date(k * t.every_ms));
      if (out.length > MAX_FIRES) throw new UserError('CLI', `schedule "${spec.name}": more than ${MAX_FIRES} fires between ${after.toISOString()} and ${until.toISOString()}`);
    }
  } else {
    const starts = [...new Set(windows.map((w) => w.start.getTime() - t.lead_ms))].sort((a, b) => a - b);
    for (const start of starts) if (start > after.getTime() && start <= until.getTime()) out.push(new Date(start));
  }
  return out;
}

function fireAt(spec: ScheduleSpec, at: Date, windows: readonly SensorWindow[]): Fire {
  const window = spec.trigger.kind === 'after' ? windows.find((w) => w.start.getTime() - (spec.trigger as { lead_ms: number }).lead_ms === at.getTime()) : undefined;
  return {
    schedule: spec.name,
    at,
    partition: resolvePartition(spec.partition, at, spec.timezone),
    window: window ? { start: window.start.toISOString(), end: window.end?.toISOString() } : undefined,
  };
}

/** The next `count` fires after `now` (what `schedule list` shows). */
export function upcoming(spec: ScheduleSpec, now: Date, count: number, windows: readonly SensorWindow[] = []): Fire[] {
  const horizon = spec.trigger.kind === 'after' ? new Date(8.64e15) : new Date(now.getTime() + 400 * 86_400_000);
  const times: Date[] = [];
  if (spec.trigger.kind === 'cron') {
    const cron = new (Cron())(spec.trigger.cron, { timezone: spec.trigger.timezone, paused: true, mode: '5-part' });
    let previous = now;
    while (times.length < count) {
      const next = cron.nextRun(previous);
      if (!next) break;
      times.push(next);
      previous = next;
    }
  } else if (spec.trigger.kind === 'every') {
    const every = spec.trigger.every_ms;
    const first = Math.floor(now.getTime() / every) + 1;
    for (let k = 0; k < count; k += 1) times.push(new Date((first + k) * every));
  } else times.push(...triggerTimes(spec, now, horizon, windows).slice(0, count));
  return times.map((t) => fireAt(spec, t, windows));
}

/**
 * What is due at `now`, given the last fire handled (`since`). Missed fires (the scheduler was down,
 * or the schedule was still running) are caught up per policy: `all` in order, `latest` only the
 * newest, `none` only a fire no older than `grace` (one tick).
 */
export function dueFires(spec: ScheduleSpec, since: Date, now: Date, graceMs: number, windows: readonly SensorWindow[] = []): Fire[] {
  const times = triggerTimes(spec, since, now, windows);
  return pickCatchUp(times, spec.catch_up, now, graceMs).map((t) => fireAt(spec, t, windows));
}

export function pickCatchUp(times: readonly Date[], policy: CatchUp, now: Date, graceMs: number): Date[] {
  if (times.length === 0) return [];
  if (policy === 'all') return [...times];
  const latest = times[times.length - 1];
  if (policy === 'latest') return [latest];
  return now.getTime() - latest.getTime() <= graceMs ? [latest] : [];
}
