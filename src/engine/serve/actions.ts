// The UI's actions, each a build on the engine: batch (targets × partition × --set), prune by AIS (the
// index step with its two tolerances), chip from file (the upload bound to ais-import, whose positions
// feed stac-search → chip → gate → index), and continuous mode (an `every:` schedule on or off).
// One action build at a time; its events go to the shared stream and cache/logs/RUN.ndjson.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { describeError, isUserError, UserError } from '../../sdk/errors.js';
import { fanOut } from '../events/bus.js';
import type { DagrunEvent, EventSink } from '../events/types.js';
import { build, type BuildOptions } from '../runner.js';
import type { Scheduler } from '../schedule/scheduler.js';

export interface ActionsOptions {
  readonly pipelineFile: string;
  readonly cacheDir?: string;
  /** The resolved cache folder (uploads and logs live there). */
  readonly storeDir: string;
  readonly scheduler: Scheduler;
  readonly onEvent?: EventSink;
  readonly jobs?: number;
}

export interface Started {
  readonly action: string;
  readonly run_id: string;
}

interface Active {
  readonly action: string;
  readonly run_id: string;
  readonly started_at: string;
}

const UPLOAD_TYPES = new Set(['.csv', '.xlsx']);

export class Actions {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly running = new Map<string, Active>();

  constructor(private readonly options: ActionsOptions) {}

  active(): Active[] {
    return [...this.running.values()];
  }

  async idle(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  batch(body: Record<string, unknown>): Promise<Started> {
    const targets = stringList(body.targets, 'targets');
    const partition = stringMap(body.partition, 'partition');
    const sets = (body.set ?? {}) as Record<string, Record<string, unknown>>;
    if (typeof sets !== 'object' || Array.isArray(sets)) throw new UserError('CLI', 'set: an object STEP → { PARAM: value }');
    return this.start('batch', { targets, partitionFilter: partition, sets });
  }

  prune(body: Record<string, unknown>): Promise<Started> {
    const time = Number(body.time_min);
    const distance = Number(body.distance_m);
    if (!(time > 0) || !(distance > 0)) throw new UserError('CLI', 'prune: time_min and distance_m must be numbers above 0');
    return this.start('prune', { targets: ['index'], sets: { index: { prune_time_tolerance_min: time, prune_distance_tolerance_m: distance } } });
  }

  /** Save the upload under cache/uploads (by digest) and build the chip chain on it. */
  chipFromFile(filename: string, bytes: Buffer): Promise<Started> {
    const ext = extname(filename).toLowerCase();
    if (!UPLOAD_TYPES.has(ext)) throw new UserError('BAD_INPUT', `upload "${filename}": only .csv and .xlsx tables (mmsi, lat, lon[, overpass_time])`);
    if (bytes.length === 0) throw new UserError('BAD_INPUT', `upload "${filename}" is empty`);
    const dir = join(this.options.storeDir, 'uploads');
    mkdirSync(dir, { recursive: true });
    const name = `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}${ext}`;
    const path = join(dir, name);
    writeFileSync(path, bytes);
    appendFileSync(join(dir, 'uploads.ndjson'), `${JSON.stringify({ file: name, original: filename.replace(/[^\w.-]/g, '_'), bytes: bytes.length, at: new Date().toISOString() })}\n`);
    return this.start('chip-from-file', {
      targets: ['index'],
      bind: { 'ais-import.file': `file:${path}`, 'stac-search.positions': 'ais-import.positions' },
    });
  }

  async continuous(body: Record<string, unknown>): Promise<{ schedule: string; enabled: boolean }> {
    const scheduler = this.options.scheduler;
    const name = typeof body.schedule === 'string' ? body.schedule : scheduler.schedules.find((s) => s.trigger.kind === 'every')?.name;
    if (!name) throw new UserError('CLI', 'no `every:` schedule is declared for continuous mode');
    const enabled = body.enabled === true;
    await scheduler.setEnabled(name, enabled);
    return { schedule: name, enabled };
  }

  /** Queue a build; resolves with its run id as soon as it starts (the build goes on). */
  private start(action: string, options: Partial<BuildOptions>): Promise<Started> {
    return new Promise<Started>((resolveStarted, rejectStarted) => {
      let runId: string | undefined;
      const logs = join(this.options.storeDir, 'logs');
      mkdirSync(logs, { recursive: true });
      const watch: EventSink = (event: DagrunEvent) => {
        appendFileSync(join(logs, `${event.run_id}.ndjson`), `${JSON.stringify(event)}\n`);
        if (event.type === 'run-started' && !runId) {
          runId = event.run_id;
          this.running.set(runId, { action, run_id: runId, started_at: event.time });
          resolveStarted({ action, run_id: runId });
        }
      };
      const job = this.queue.then(async () => {
        try {
          await build({ pipelineFile: this.options.pipelineFile, cacheDir: this.options.cacheDir, jobs: this.options.jobs, ...options, onEvent: fanOut(watch, this.options.onEvent) });
        } catch (error) {
          if (!runId) rejectStarted(error);
          else this.options.onEvent?.({ type: 'warning', message: `${action}: ${isUserError(error) ? (error as UserError).format() : describeError(error).split('\n')[0]}`, time: new Date().toISOString(), run_id: runId });
        } finally {
          if (runId) this.running.delete(runId);
        }
      });
      this.queue = job;
    });
  }
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new UserError('CLI', `${what}: a list of step names`);
  return value as string[];
}

function stringMap(value: unknown, what: string): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) throw new UserError('CLI', `${what}: an object KEY → value`);
  return value as Record<string, string>;
}
