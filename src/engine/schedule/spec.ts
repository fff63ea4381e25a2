// `schedules:` in pipeline.yaml, normalised once at the boundary: every name, template, cron
// expression and time zone is checked here with its file:line:col, so the scheduler only ever sees
// valid specs (and the memoised pipeline carries them as plain data).
import { createRequire } from 'node:module';
import { UserError } from '../../sdk/errors.js';

export type CatchUp = 'latest' | 'all' | 'none';

export type Trigger =
  | { readonly kind: 'cron'; readonly cron: string; readonly timezone: string }
  | { readonly kind: 'every'; readonly every: string; readonly every_ms: number }
  /** A sensor: fire at the start of each window listed in a step's output table. */
  | { readonly kind: 'after'; readonly step: string; readonly output: string; readonly start: string; readonly end?: string; readonly lead_ms: number };

export interface ScheduleSpec {
  readonly name: string;
  readonly description?: string;
  readonly targets: readonly string[];
  /** Partition key → template: a literal value, `{today}`, `{today-3d}`, `{today+1d}`. */
  readonly partition: Readonly<Record<string, string>>;
  /** Time zone `{today}` is read in (and cron's). */
  readonly timezone: string;
  readonly trigger: Trigger;
  readonly catch_up: CatchUp;
  readonly set: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly refresh: readonly string[];
  /** Off: listed and runnable by name, but the scheduler does not fire it (continuous mode off). */
  readonly enabled: boolean;
}

export interface RawSchedule {
  description?: string;
  targets: string[];
  partition?: Record<string, string>;
  cron?: string;
  every?: string;
  after?: { output: string; start: string; end?: string; lead?: string };
  timezone?: string;
  catch_up?: CatchUp;
  set?: Record<string, unknown>;
  refresh?: string[];
  enabled?: boolean;
}

/** What the loader knows about steps, enough to check a schedule's names. */
export interface StepsView {
  readonly steps: ReadonlyMap<string, { readonly source: boolean; readonly partition?: string; readonly outputs: readonly { readonly name: string; readonly columns?: Readonly<Record<string, string>> }[] }>;
  readonly partitions: Readonly<Record<string, readonly string[]>>;
}

const TEMPLATE = /^\{today(?:([+-])(\d{1,4})d)?\}$/;
const PLAIN_VALUE = /^[A-Za-z0-9_.=-]+$/;
const DURATION = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/;

export function normaliseSchedules(raw: Record<string, RawSchedule> | undefined, view: StepsView, locate: (path: readonly (string | number)[]) => string): Record<string, ScheduleSpec> {
  const out: Record<string, ScheduleSpec> = {};
  for (const [name, schedule] of Object.entries(raw ?? {})) {
    const where = (...path: (string | number)[]): string => locate(['schedules', name, ...path]);
    for (const [i, target] of schedule.targets.entries()) {
      if (!view.steps.has(target)) throw new UserError('SCHEMA', `schedule "${name}": no step named "${target}" (steps: ${[...view.steps.keys()].join(', ')})`, where('targets', i));
    }
    for (const [i, step] of (schedule.refresh ?? []).entries()) {
      if (!view.steps.get(step)?.source) throw new UserError('SCHEMA', `schedule "${name}": refresh names "${step}", which is not a source step`, where('refresh', i));
    }
    const timezone = schedule.timezone ?? 'UTC';
    if (!isTimeZone(timezone)) throw new UserError('SCHEMA', `schedule "${name}": unknown time zone "${timezone}" (an IANA name such as Europe/London, or UTC)`, where('timezone'));
    const partition: Record<string, string> = {};
    for (const [key, template] of Object.entries(schedule.partition ?? {})) {
      if (!view.partitions[key]) throw new UserError('SCHEMA', `schedule "${name}": the pipeline declares no partition "${key}" (partitions: ${Object.keys(view.partitions).join(', ') || 'none'})`, where('partition', key));
      if (!TEMPLATE.test(template) && !PLAIN_VALUE.test(template)) throw new UserError('SCHEMA', `schedule "${name}": partition ${key}: "${template}" is neither a plain value nor {today}, {today-Nd}, {today+Nd}`, where('partition', key));
      partition[key] = template;
    }
    for (const target of schedule.targets) {
      const key = view.steps.get(target)?.partition;
      if (key && !partition[key]) throw new UserError('SCHEMA', `schedule "${name}": target "${target}" is partitioned by ${key}: give partition: { ${key}: "{today}" } (or a value)`, where('targets'));
    }
    const triggers = (['cron', 'every', 'after'] as const).filter((k) => schedule[k] !== undefined);
    if (triggers.length !== 1) throw new UserError('SCHEMA', `schedule "${name}" needs exactly one trigger of cron:, every:, after: (has ${triggers.length ? triggers.join(', ') : 'none'})`, where());
    let trigger: Trigger;
    if (schedule.cron !== undefined) {
      checkCron(schedule.cron, timezone, `schedule "${name}"`, where('cron'));
      trigger = { kind: 'cron', cron: schedule.cron, timezone };
    } else if (schedule.every !== undefined) {
      const ms = durationMs(schedule.every);
      if (ms === undefined || ms < 1000) throw new UserError('SCHEMA', `schedule "${name}": every: "${schedule.every}" is not a duration of at least 1s (30s, 15m, 1h, 1d)`, where('every'));
      trigger = { kind: 'every', every: schedule.every, every_ms: ms };
    } else {
      const after = schedule.after as NonNullable<RawSchedule['after']>;
      const [stepName, outputName] = after.output.split('.');
      const step = view.steps.get(stepName);
      const output = step?.outputs.find((o) => o.name === outputName);
      if (!output) throw new UserError('SCHEMA', `schedule "${name}": after.output "${after.output}" is not a declared step.output`, where('after', 'output'));
      for (const field of ['start', 'end'] as const) {
        const column = after[field];
        if (column !== undefined && output.columns && !(column in output.columns)) throw new UserError('SCHEMA', `schedule "${name}": after.${field}: "${column}" is not a column of ${after.output} (${Object.keys(output.columns).join(', ')})`, where('after', field));
      }
      const lead = after.lead === undefined ? 0 : durationMs(after.lead);
      if (lead === undefined) throw new UserError('SCHEMA', `schedule "${name}": after.lead "${after.lead}" is not a duration (30s, 15m, 1h)`, where('after', 'lead'));
      trigger = { kind: 'after', step: stepName, output: outputName, start: after.start, end: after.end, lead_ms: lead };
    }
    out[name] = {
      name,
      description: schedule.description,
      targets: [...schedule.targets],
      partition,
      timezone,
      trigger,
      // Windows and intervals in the past cannot be lived again: sensors and `every` skip what was missed.
      catch_up: schedule.catch_up ?? (trigger.kind === 'cron' ? 'latest' : 'none'),
      set: nestSets(schedule.set ?? {}, name, view, where),
      refresh: [...(schedule.refresh ?? [])],
      enabled: schedule.enabled ?? true,
    };
  }
  return out;
}

/** `set: { "thin.fast_interval_min": 5 }` or `set: { thin: { fast_interval_min: 5 } }`. */
function nestSets(raw: Record<string, unknown>, name: string, view: StepsView, where: (...p: (string | number)[]) => string): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(raw)) {
    const dot = key.indexOf('.');
    const entries: [string, string, unknown][] = dot > 0 ? [[key.slice(0, dot), key.slice(dot + 1), value]] : value && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value).map(([p, v]) => [key, p, v]) : [];
    if (entries.length === 0 && dot <= 0) throw new UserError('SCHEMA', `schedule "${name}": set: "${key}" must be STEP.PARAM or STEP: { PARAM: value }`, where('set', key));
    for (const [step, param, v] of entries) {
      if (!view.steps.has(step)) throw new UserError('SCHEMA', `schedule "${name}": set names no step "${step}"`, where('set', key));
      (out[step] ??= {})[param] = v;
    }
  }
  return out;
}

export function durationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd']);
}

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

type CronClass = typeof import('croner').Cron;
let cronClass: CronClass | undefined;
/** croner, loaded on first use (a memoised pipeline and most commands never need it). */
export function Cron(): CronClass {
  cronClass ??= (createRequire(import.meta.url)('croner') as typeof import('croner')).Cron;
  return cronClass;
}

function checkCron(expression: string, timezone: string, what: string, where: string): void {
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5) throw new UserError('SCHEMA', `${what}: cron "${expression}" must have 5 fields (minute hour day-of-month month day-of-week), not ${fields}`, where);
  try {
    new (Cron())(expression, { timezone, paused: true, mode: '5-part' });
  } catch (error) {
    throw new UserError('SCHEMA', `${what}: cron "${expression}": ${(error as Error).message}`, where);
  }
}
