// The scheduler: decides what is due (fires.ts, on an injected clock), runs each fire as a normal
// build of its targets × partition tagged with the schedule's name, never two runs of one schedule
// at once, and appends one entry per fire to the ingestion log (cache/schedules/log.ndjson).
// Every build's events go to the shared stream and to cache/logs/RUN.ndjson for the UI.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, isUserError, UserError } from '../../sdk/errors.js';
import { loadPipeline, type Pipeline } from '../pipeline.js';
import { build, countOutcomes, defaultCacheDir, type BuildOptions, type BuildResult } from '../runner.js';
import { writeFileAtomic } from '../../sdk/atomic-write.js';
import { fanOut } from '../events/bus.js';
import type { DagrunEvent, EventSink, RunCounts } from '../events/types.js';
import { dueFires, upcoming, type Fire } from './fires.js';
import { tableSensor, type SensorSource } from './sensor.js';
import type { ScheduleSpec } from './spec.js';

export interface IngestionEntry {
  readonly schedule: string;
  readonly fire_at: string;
  readonly trigger: 'cron' | 'every' | 'after' | 'manual';
  readonly partition: Readonly<Record<string, string>>;
  readonly window?: Fire['window'];
  readonly run_id?: string;
  readonly started_at: string;
  readonly finished_at: string;
  readonly status: 'ok' | 'failed';
  readonly counts?: RunCounts;
  readonly manifest?: string;
  readonly error?: string;
}

export interface ScheduleStatus {
  readonly name: string;
  readonly trigger: string;
  readonly targets: readonly string[];
  readonly partition: Readonly<Record<string, string>>;
  readonly timezone: string;
  readonly catch_up: string;
  readonly enabled: boolean;
  readonly running: boolean;
  readonly last_fire?: string;
  readonly next: readonly { at: string; partition: Readonly<Record<string, string>>; window?: Fire['window'] }[];
}

export interface SchedulerOptions {
  readonly pipelineFile: string;
  readonly cacheDir?: string;
  /** The clock; tests inject one and call tick() themselves. */
  readonly now?: () => Date;
  /** A fire no older than this still runs under catch_up: none (one tick of slack). */
  readonly graceMs?: number;
  readonly sensor?: SensorSource;
  readonly onEvent?: EventSink;
  readonly jobs?: number;
  /** The effect that runs a fire; the engine's build unless a caller wraps it. */
  readonly runBuild?: (options: BuildOptions) => Promise<BuildResult>;
}

interface State {
  /** Per schedule: trigger times up to here are handled (run or dropped by catch-up). */
  last: Record<string, string>;
  /** Continuous mode and friends: runtime overrides of `enabled`. */
  enabled: Record<string, boolean>;
}

export class Scheduler {
  readonly pipeline: Pipeline;
  readonly cacheDir: string;
  private readonly now: () => Date;
  private readonly graceMs: number;
  private readonly sensor: SensorSource;
  private readonly running = new Map<string, Promise<void>>();
  private readonly stateFile: string;
  private readonly logFile: string;
  private state: State;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SchedulerOptions) {
    this.pipeline = loadPipeline(options.pipelineFile, options.cacheDir);
    this.cacheDir = options.cacheDir ?? defaultCacheDir(this.pipeline);
    this.now = options.now ?? (() => new Date());
    this.graceMs = options.graceMs ?? 60_000;
    this.sensor = options.sensor ?? tableSensor(join(this.cacheDir, 'runs'), this.pipeline.outputRoot);
    this.stateFile = join(this.cacheDir, 'schedules', 'state.json');
    this.logFile = join(this.cacheDir, 'schedules', 'log.ndjson');
    this.state = readJson<State>(this.stateFile) ?? { last: {}, enabled: {} };
  }

  get schedules(): ScheduleSpec[] {
    return Object.values(this.pipeline.schedules ?? {});
  }

  spec(name: string): ScheduleSpec {
    const spec = this.pipeline.schedules?.[name];
    if (!spec) throw new UserError('CLI', `no schedule named "${name}" (schedules: ${Object.keys(this.pipeline.schedules ?? {}).join(', ') || 'none declared'})`);
    return spec;
  }

  isEnabled(spec: ScheduleSpec): boolean {
    return this.state.enabled[spec.name] ?? spec.enabled;
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    const spec = this.spec(name);
    this.state.enabled[name] = enabled;
    // Turning a schedule on starts from now: it does not catch up what passed while it was off.
    if (enabled) this.state.last[spec.name] = this.now().toISOString();
    await this.saveState();
  }

  async list(count = 3): Promise<ScheduleStatus[]> {
    const now = this.now();
    const out: ScheduleStatus[] = [];
    for (const spec of this.schedules) {
      const windows = spec.trigger.kind === 'after' ? await this.sensor(spec) : [];
      out.push({
        name: spec.name,
        trigger: describeTrigger(spec),
        targets: spec.targets,
        partition: spec.partition,
        timezone: spec.timezone,
        catch_up: spec.catch_up,
        enabled: this.isEnabled(spec),
        running: this.running.has(spec.name),
        last_fire: this.state.last[spec.name],
        next: upcoming(spec, now, count, windows).map((f) => ({ at: f.at.toISOString(), partition: f.partition, window: f.window })),
      });
    }
    return out;
  }

  /**
   * Start what is due. A schedule still running is left alone (its fires stay due and are caught up
   * when it finishes); one seen for the first time starts from now. Returns the fires started.
   */
  async tick(): Promise<Fire[]> {
    const now = this.now();
    const started: Fire[] = [];
    let changed = false;
    for (const spec of this.schedules) {
      if (!this.isEnabled(spec) || this.running.has(spec.name)) continue;
      const since = this.state.last[spec.name];
      this.state.last[spec.name] = now.toISOString();
      changed = true;
      if (!since) continue;
      const windows = spec.trigger.kind === 'after' ? await this.sensor(spec) : [];
      const fires = dueFires(spec, new Date(since), now, this.graceMs, windows);
      if (fires.length === 0) continue;
      started.push(...fires);
      this.launch(spec, fires);
    }
    if (changed) await this.saveState();
    return started;
  }

  /** `dagrun schedule run NAME`: one fire now, whatever the trigger; waits for it. */
  async runNow(name: string): Promise<IngestionEntry> {
    const spec = this.spec(name);
    if (this.running.has(name)) throw new UserError('CLI', `schedule "${name}" is already running`);
    const at = this.now();
    const { resolvePartition } = await import('./fires.js');
    let entry: IngestionEntry | undefined;
    const done = (async () => {
      entry = await this.runFire(spec, { schedule: name, at, partition: resolvePartition(spec.partition, at, spec.timezone) }, 'manual');
    })();
    this.track(name, done);
    await done;
    return entry as IngestionEntry;
  }

  /** Every entry of the ingestion log, or one schedule's. */
  log(schedule?: string): IngestionEntry[] {
    if (!existsSync(this.logFile)) return [];
    const entries: IngestionEntry[] = [];
    for (const [i, line] of readFileSync(this.logFile, 'utf8').split('\n').entries()) {
      if (!line.trim()) continue;
      try {
        entries.push(JSON.parse(line) as IngestionEntry);
      } catch {
        throw new UserError('BAD_INPUT', `line ${i + 1} is not JSON`, this.logFile);
      }
    }
    return schedule ? entries.filter((e) => e.schedule === schedule) : entries;
  }

  runningSchedules(): string[] {
    return [...this.running.keys()];
  }

  /** Tick every `intervalMs` until stop(). */
  start(intervalMs = 15_000): void {
    const loop = (): void => {
      this.tick().catch((error) => this.options.onEvent?.({ type: 'warning', message: `scheduler: ${describeError(error)}`, time: this.now().toISOString(), run_id: 'scheduler' }));
    };
    loop();
    this.timer = setInterval(loop, intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /** Resolves when no schedule is running. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  private launch(spec: ScheduleSpec, fires: readonly Fire[]): void {
    const trigger = spec.trigger.kind;
    const chain = (async () => {
      for (const fire of fires) await this.runFire(spec, fire, trigger);
    })();
    this.track(spec.name, chain);
  }

  private track(name: string, work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.running.delete(name));
    this.running.set(name, tracked);
  }

  private async runFire(spec: ScheduleSpec, fire: Fire, trigger: IngestionEntry['trigger']): Promise<IngestionEntry> {
    const startedAt = this.now().toISOString();
    let runId: string | undefined;
    const logs = join(this.cacheDir, 'logs');
    mkdirSync(logs, { recursive: true });
    const runLog: EventSink = (event: DagrunEvent) => {
      runId ??= event.run_id;
      appendFileSync(join(logs, `${event.run_id}.ndjson`), `${JSON.stringify(event)}\n`);
    };
    let entry: IngestionEntry;
    try {
      const result = await (this.options.runBuild ?? build)({
        pipelineFile: this.options.pipelineFile,
        cacheDir: this.options.cacheDir,
        targets: spec.targets,
        partitionFilter: fire.partition,
        admitPartitionValues: true,
        sets: spec.set,
        refresh: spec.refresh,
        jobs: this.options.jobs,
        schedule: spec.name,
        onEvent: fanOut(runLog, this.options.onEvent),
      });
      entry = {
        schedule: spec.name, fire_at: fire.at.toISOString(), trigger, partition: fire.partition, window: fire.window, run_id: result.manifest.run_id,
        started_at: startedAt, finished_at: this.now().toISOString(), status: result.ok ? 'ok' : 'failed', counts: countOutcomes(result.manifest.steps),
        manifest: `runs/${result.manifest.run_id}.json`,
      };
    } catch (error) {
      // A fire that could not even start (bad partition, lock timeout) is logged, not thrown away.
      entry = { schedule: spec.name, fire_at: fire.at.toISOString(), trigger, partition: fire.partition, window: fire.window, run_id: runId, started_at: startedAt, finished_at: this.now().toISOString(), status: 'failed', error: isUserError(error) ? (error as UserError).format() : describeError(error).split('\n')[0] };
    }
    mkdirSync(join(this.cacheDir, 'schedules'), { recursive: true });
    appendFileSync(this.logFile, `${JSON.stringify(entry)}\n`);
    return entry;
  }

  private async saveState(): Promise<void> {
    await writeFileAtomic(this.stateFile, `${JSON.stringify(this.state, null, 2)}\n`);
  }
}

export function describeTrigger(spec: ScheduleSpec): string {
  const t = spec.trigger;
  if (t.kind === 'cron') return `cron "${t.cron}" (${t.timezone})`;
  if (t.kind === 'every') return `every ${t.every}`;
  return `after ${t.step}.${t.output}: at each ${t.start}${t.lead_ms ? ` minus ${t.lead_ms / 1000}s` : ''}`;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
