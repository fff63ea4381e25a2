// Hosts kernel runs in a worker thread. The worker stays up for the whole build so module loading
// (tsx, DuckDB's native library) is paid once per worker, not once per step. The parent sends
// `{ id, job }`; the worker answers with `{ id, event }` messages, ending in `done` or `failed`.
import { parentPort } from 'node:worker_threads';
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Kernel, KernelContext } from '../sdk/kernel-api.js';
import { redactorFor } from '../sdk/redact.js';
import { ItemOutcomes, MAX_FAILED_FRACTION } from '../sdk/items.js';

/** Failed items shown one warning each; the rest are counted in one. */
const ITEM_WARNINGS = 20;
import { projectRelative, projectResolve } from '../sdk/project-paths.js';

export interface KernelJob {
  readonly kernel: string;
  readonly step: string;
  readonly source: boolean;
  readonly inputs: Record<string, string>;
  readonly inputFiles: Record<string, string[]>;
  readonly outputs: Record<string, string>;
  readonly params: Record<string, unknown>;
  readonly partition: Record<string, string>;
  /** The pipeline folder: stored paths are relative to it. */
  readonly projectDir: string;
  /**
   * The parent's environment at the time the job starts, for source steps only: a pooled worker's
   * own process.env is a copy taken when the worker started, so it would miss later changes.
   */
  readonly env?: Record<string, string | undefined>;
}

export type WorkerEvent =
  | { type: 'log' | 'warn'; message: string }
  | { type: 'progress'; done: number; total?: number }
  | { type: 'metric'; name: string; value: number | string }
  | { type: 'done' }
  | { type: 'failed'; name: string; message: string; where?: string; code?: string; stack?: string };

export interface WorkerMessage {
  readonly id: number;
  readonly event: WorkerEvent;
}

// Compiled (an installed dagrun): kernels that import dagrun/sdk get this engine's own sdk when their
// project does not have dagrun installed. From source, steps import src/sdk/ by relative path.
if (import.meta.url.endsWith('.js')) {
  const sdk = (name: string): string => new URL(`../sdk/${name}.js`, import.meta.url).href;
  register(new URL('./sdk-resolve-hook.js', import.meta.url).href, { data: { targets: { 'dagrun/sdk': sdk('index'), 'dagrun/testing': sdk('testing') } } });
}

async function loadKernel(path: string): Promise<Kernel> {
  const module: Record<string, unknown> = path.endsWith('.ts')
    ? ((await (await import('tsx/esm/api')).tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>)
    : ((await import(pathToFileURL(path).href)) as Record<string, unknown>);
  const candidate = typeof module.default === 'function' ? module.default : (module.default as Record<string, unknown> | undefined)?.default;
  if (typeof candidate !== 'function') throw new Error(`${path} has no default export function (a Kernel)`);
  return candidate as Kernel;
}

async function run(id: number, job: KernelJob): Promise<void> {
  // Every secret a kernel reads is scrubbed from what it reports (logs, warnings, metrics, errors),
  // so a credential can reach neither a manifest nor a cache entry nor a log line.
  const secrets = new Set<string>();
  const scrub = redactorFor(secrets);
  const post = (event: WorkerEvent): void => parentPort?.postMessage({ id, event } satisfies WorkerMessage);
  const send = (event: WorkerEvent): void => {
    if (secrets.size === 0) return post(event);
    if (event.type === 'log' || event.type === 'warn') return post({ ...event, message: scrub(event.message) });
    if (event.type === 'metric') return post({ ...event, name: scrub(event.name), value: typeof event.value === 'string' ? scrub(event.value) : event.value });
    if (event.type === 'failed') return post({ ...event, message: scrub(event.message), where: event.where && scrub(event.where), stack: event.stack && scrub(event.stack) });
    return post(event);
  };
  const items = new ItemOutcomes();
  const ctx: KernelContext = {
    step: job.step,
    inputs: job.inputs,
    inputFiles: job.inputFiles,
    outputs: job.outputs,
    params: job.params,
    partition: job.partition,
    log: (message) => send({ type: 'log', message }),
    warn: (message) => send({ type: 'warn', message }),
    progress: (done, total) => send({ type: 'progress', done, total }),
    metric: (name, value) => send({ type: 'metric', name, value }),
    itemDone: (count = 1) => items.succeeded(count),
    itemFailed: (item, reason) => {
      items.fail(item, reason);
      if (items.failed <= ITEM_WARNINGS) send({ type: 'warn', message: `${item} failed: ${reason}` });
    },
    secret: (name) => {
      if (!job.source) throw new Error(`step "${job.step}" is not a source step; only source steps may read secrets (${name})`);
      const value = (job.env ?? process.env)[name];
      if (value) secrets.add(value);
      return value;
    },
    redact: scrub,
    now: () => {
      if (!job.source) throw new Error(`step "${job.step}" is not a source step; only source steps may read the clock`);
      return new Date();
    },
    relativePath: (path) => projectRelative(job.projectDir, path),
    resolvePath: (path) => projectResolve(job.projectDir, path),
  };
  try {
    const kernel = await loadKernel(job.kernel);
    await kernel(ctx);
    if (items.total > 0) {
      if (items.failed > ITEM_WARNINGS) send({ type: 'warn', message: `${items.failed - ITEM_WARNINGS} more item(s) failed` });
      send({ type: 'metric', name: 'items_done', value: items.done });
      send({ type: 'metric', name: 'items_failed', value: items.failed });
      const tolerated = job.params[MAX_FAILED_FRACTION];
      const verdict = items.verdict(typeof tolerated === 'number' ? tolerated : undefined);
      if (verdict) {
        send({ type: 'failed', name: 'StepError', message: verdict, where: job.step });
        return;
      }
    }
    send({ type: 'done' });
  } catch (error) {
    const e = error as Error & { where?: string; code?: string };
    send({ type: 'failed', name: e?.name ?? 'Error', message: e?.message ?? String(error), where: e?.where, code: e?.code, stack: e?.stack });
  }
}

parentPort?.on('message', (message: { id: number; job: KernelJob }) => {
  void run(message.id, message.job);
});
