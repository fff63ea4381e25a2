// `dagrun worker`: one process of a fleet serving a pipeline's BullMQ queue. It runs from its own
// checkout (any folder, any machine) and sees the client's project only through the job and the
// remote cache: it refuses a job whose step code, definition, library versions or engine differ
// from its checkout's, fetches the inputs (re-hashed), runs the step with the engine's own code,
// and uploads the result (objects, then the action entry) before it reports the job done.
import { hostname } from 'node:os';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { describeError, isUserError, UserError } from '../../sdk/errors.js';
import { digestJson, shortDigest } from '../../sdk/hash.js';
import { relativiser } from '../../sdk/project-paths.js';
import { loadPipeline, type Pipeline } from '../pipeline.js';
import { Store } from '../store.js';
import { KernelPool, type ResolvedInput } from '../execute.js';
import { codeDigest, type PackageCache } from '../code-digest.js';
import { openCache, type Cache } from '../cache/tiered.js';
import { resolveRemoteSettings } from '../cache/config.js';
import { ENGINE_VERSION } from '../paths.js';
import { definitionDigest } from '../run-instance.js';
import { defaultCacheDir } from '../runner.js';
import { runInScratch } from './local.js';
import { queueName, type JobProgress, type RedisTarget, type StepJobData, type StepJobResult } from './redis.js';
import type { InputFormat } from '../pipeline.js';

export interface WorkerOptions {
  readonly pipelineFile: string;
  readonly redis: RedisTarget;
  readonly concurrency?: number;
  /** This worker's local store (objects it fetched and made); default: the pipeline's cache folder + `-worker`. */
  readonly cacheDir?: string;
  readonly remoteCache?: string;
  /** Shown on every job it runs and every failure it reports; default host-pid. */
  readonly id?: string;
  /** How long a job's lock lasts without renewal (a killed worker's job is taken over after about this long). */
  readonly lockMs?: number;
  readonly onMessage?: (line: string) => void;
}

export interface RunningWorker {
  readonly id: string;
  readonly queue: string;
  close(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const pipeline = loadPipeline(options.pipelineFile);
  const id = options.id ?? `${hostname()}-${process.pid}`;
  const remote = resolveRemoteSettings({ remote: options.remoteCache }, pipeline.cache);
  if (!remote) throw new UserError('CLI', 'dagrun worker needs the remote cache the clients use (--remote-cache URL, DAGRUN_REMOTE_CACHE or pipeline cache.remote)');
  if (remote.mode !== 'read-write') throw new UserError('CLI', `dagrun worker uploads results: the remote cache must be read-write, not ${remote.mode}`);
  const store = new Store(options.cacheDir ?? `${defaultCacheDir(pipeline)}-worker`);
  const say = options.onMessage ?? (() => {});
  // A cache per job: the tiered cache gives up on a remote that fails twice for the rest of a build,
  // which for a long-lived worker would be for ever.
  const openJobCache = (): Promise<Cache> => openCache(store, remote, (message) => say(`warning: ${message}`));
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const pool = new KernelPool(concurrency);
  const packages: PackageCache = new Map();
  const name = queueName(pipeline.name);
  const lockDuration = options.lockMs ?? 30_000;
  const worker = new Worker(name, (job: Job) => runJob(job, { pipeline, store, openCache: openJobCache, pool, packages, id }), {
    connection: { ...options.redis.options, maxRetriesPerRequest: null },
    concurrency,
    lockDuration,
    stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
    // A job whose worker vanished is handed on; a loaded machine's late lock renewal counts as a stall too.
    maxStalledCount: 3,
  });
  worker.on('error', (error) => say(`warning: ${options.redis.shown}: ${error.message}`));
  worker.on('failed', (job, error) => say(`failed ${(job?.data as StepJobData | undefined)?.instance ?? job?.id}: ${error.message.split('\n')[0]}`));
  worker.on('completed', (job) => say(`done ${(job.data as StepJobData).instance}`));
  await worker.waitUntilReady();
  return {
    id,
    queue: name,
    async close() {
      await worker.close();
      await pool.close();
    },
  };
}

interface WorkerContext {
  readonly pipeline: Pipeline;
  readonly store: Store;
  readonly openCache: () => Promise<Cache>;
  readonly pool: KernelPool;
  readonly packages: PackageCache;
  readonly id: string;
}

async function runJob(job: Job, ctx: WorkerContext): Promise<StepJobResult> {
  const { pipeline, store, pool, id } = ctx;
  const data = job.data as StepJobData;
  const report = (progress: JobProgress): void => void job.updateProgress(progress).catch(() => {});
  report({ type: 'started', worker: id });
  const refuse = (why: string): never => {
    throw new UnrecoverableError(`worker ${id} refuses ${data.instance}: ${why} — run the worker on the client's commit (same steps, same lock file, same engine)`);
  };
  if (data.v !== 1) refuse(`the job has format ${String(data.v)}, this engine reads format 1`);
  if (data.pipeline !== pipeline.name) refuse(`the job is for pipeline "${data.pipeline}", this checkout holds "${pipeline.name}"`);
  if (data.engine !== ENGINE_VERSION) refuse(`the job was made by engine ${data.engine}, this worker runs ${ENGINE_VERSION}`);
  const step = pipeline.steps.get(data.step) ?? refuse(`this checkout has no step "${data.step}"`);
  const code = await codeDigest(store, step.code, pipeline.dir, step.kind, ctx.packages);
  if (code.digest !== data.code) refuse(`its checkout's code of step ${step.name} is ${shortDigest(code.digest)}, the job needs ${shortDigest(data.code)}`);
  if (definitionDigest(step) !== data.definition) refuse(`its pipeline.yaml defines step ${step.name} differently (${shortDigest(definitionDigest(step))}, the job needs ${shortDigest(data.definition)})`);
  if (digestJson(code.packages) !== data.packages) refuse(`its installed library versions for step ${step.name} differ from the client's`);

  const scratch = join(store.tmpDir, 'jobs', `${safe(id)}.${safe(String(job.id))}`);
  const portable = relativiser(pipeline.dir);
  const cache = await ctx.openCache();
  try {
    await cache.fetch(data.inputs.flatMap((input) => input.objects));
    const inputs: ResolvedInput[] = [];
    for (const input of data.inputs) {
      const files: string[] = [];
      for (const [index, object] of input.objects.entries()) {
        // Each file keeps its name (kernels and DuckDB look at extensions) in a folder of its own.
        const target = join(scratch, 'inputs', safe(input.name), String(index), object.name);
        await mkdir(join(target, '..'), { recursive: true });
        if (object.kind === 'tree') await store.materializeTree(object.digest, target, scratch);
        else await store.materializeFile(object.digest, target, scratch);
        files.push(target);
      }
      inputs.push({ name: input.name, files, format: input.format as InputFormat, columns: input.columns, uri: input.uri });
    }
    const partitionValue = step.partition ? data.partition[step.partition] : undefined;
    const instance = { id: data.instance, step, partition: data.partition, partitionValue, producers: new Map(), deps: [] };
    const action = await runInScratch(pipeline, store, instance, inputs, data.params, data.key, data.run_id, {
      log: (message) => report({ type: 'log', message }),
      progress: (done, total) => report({ type: 'progress', done, total }),
    }, pool);
    await cache.publish(action);
    return { worker: id };
  } catch (error) {
    const message = isUserError(error) ? (error as UserError).format() : error instanceof Error ? error.message : describeError(error);
    // Reported once, by the client: a failed step is not retried (the same inputs fail the same way).
    throw new UnrecoverableError(`${portable(message)} (on worker ${id})`);
  } finally {
    await cache.finish();
    await rm(scratch, { recursive: true, force: true });
  }
}

function safe(text: string): string {
  return text.replace(/[^A-Za-z0-9_.=-]/g, '_');
}
