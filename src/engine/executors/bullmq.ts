// The BullMQ executor (client side): every instance that missed the cache becomes one job on the
// pipeline's queue in Redis. Before it is enqueued its input files are shared on the remote cache;
// a worker (worker.ts) fetches them, runs the step and uploads the result; the client then takes
// the result from the remote cache like a remote hit (re-hashed) and materialises it.
//
// Failures: a step failure is the job's failure (reported once: jobs are not retried); a worker that
// dies mid-job is BullMQ's stalled job, moved back to the queue for another worker; a lost Redis
// connection fails every job in flight and every later one at once, so the build ends instead of
// waiting, and what finished is already on the remote cache for the next build.
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { UserError } from '../../sdk/errors.js';
import { ENGINE_VERSION } from '../paths.js';
import { StoppedWhileRunning } from '../stopping.js';
import { treeBytes, type Store } from '../store.js';
import { writeFileAtomic } from '../../sdk/atomic-write.js';
import type { Cache, ObjectRef } from '../cache/tiered.js';
import { materialize, type LocalExecutor } from './local.js';
import { queueName, type JobInput, type JobProgress, type RedisTarget, type StepJobData, type StepJobResult } from './redis.js';
import type { Execution, ExecutionRequest, Executor } from './types.js';

/** A step failure as a worker reported it; the message names the worker. */
export class RemoteStepError extends UserError {
  constructor(message: string) {
    super('STEP', message);
  }
}

interface Waiter {
  readonly instance: string;
  readonly emit: ExecutionRequest['emit'];
  resolve(result: StepJobResult): void;
  reject(error: Error): void;
}

export class BullmqExecutor implements Executor {
  readonly name = 'bullmq' as const;
  private readonly waiters = new Map<string, Waiter>();
  private lost: UserError | undefined;
  private nextJob = 0;

  private constructor(
    readonly slots: number,
    private readonly redis: RedisTarget,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    /** The watch connection first, then the queue's and the events reader's. */
    private readonly sockets: readonly Redis[],
    private readonly cache: Cache,
    private readonly local: LocalExecutor,
  ) {}

  /** Connect (failing clearly when Redis does not answer) and start listening for job outcomes. */
  static async open(redis: RedisTarget, pipelineName: string, cache: Cache, local: LocalExecutor, slots: number): Promise<BullmqExecutor> {
    // The watch connection never reconnects: its end is the signal that Redis went away mid-build.
    const watch = new Redis({ ...redis.options, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
    watch.on('error', () => {});
    try {
      await watch.connect();
    } catch (error) {
      watch.disconnect();
      throw new UserError('NETWORK', `Redis at ${redis.shown} does not answer (${(error as Error).message})`);
    }
    // Outcomes are read from the events stream starting now (Redis time), so a job that finishes
    // before the first read is not missed.
    const [seconds] = await watch.time();
    // Our own connections (not BullMQ's), so that a build that lost Redis can drop them at once.
    const connect = (): Redis => new Redis({ ...redis.options, maxRetriesPerRequest: null, retryStrategy: (times: number) => (times > 3 ? null : 200 * times) }).on('error', () => {});
    const sockets = [connect(), connect()];
    const queue = new Queue(queueName(pipelineName), { connection: sockets[0] });
    const events = new QueueEvents(queueName(pipelineName), { connection: sockets[1], lastEventId: `${Number(seconds) * 1000}-0` });
    queue.on('error', () => {});
    events.on('error', () => {});
    const executor = new BullmqExecutor(slots, redis, queue, events, [watch, ...sockets], cache, local);
    watch.on('end', () => executor.connectionLost());
    events.on('completed', ({ jobId, returnvalue }) => executor.settle(jobId, (w) => w.resolve(parseResult(returnvalue))));
    events.on('failed', ({ jobId, failedReason }) => executor.settle(jobId, (w) => w.reject(new RemoteStepError(failedReason))));
    events.on('progress', ({ jobId, data }) => executor.relay(jobId, data as JobProgress));
    await events.waitUntilReady();
    return executor;
  }

  async run(request: ExecutionRequest): Promise<Execution> {
    // Live sources record what only this machine sees now; their captures stay local (captures.ts).
    if (request.instance.step.source) return this.local.run(request);
    const { pipeline, store, instance, key, emit } = request;
    this.throwIfLost();
    const inputs: JobInput[] = [];
    const objects: ObjectRef[] = [];
    for (const input of request.inputs) {
      const refs = await Promise.all(input.files.map((file) => storeObject(store, file)));
      objects.push(...refs);
      inputs.push({ name: input.name, format: input.format, columns: input.columns, uri: input.uri, objects: refs });
    }
    await this.cache.share(objects);
    const data: StepJobData = {
      v: 1, pipeline: pipeline.name, step: instance.step.name, instance: instance.id, partition: instance.partition, key, run_id: request.runId,
      engine: ENGINE_VERSION, code: request.digests.code, definition: request.digests.definition, packages: request.digests.packages,
      params: request.params, inputs,
    };
    // Our own job id, known before the job exists: its outcome cannot arrive before we listen for it.
    const jobId = `${request.runId}.${(this.nextJob += 1)}`;
    const outcome = new Promise<StepJobResult>((resolve, reject) => this.waiters.set(jobId, { instance: instance.id, emit, resolve, reject }));
    try {
      this.throwIfLost();
      await Promise.race([this.queue.add('step', data, { jobId, removeOnComplete: true, removeOnFail: true, attempts: 1 }), outcome]);
    } catch (error) {
      this.waiters.delete(jobId);
      throw this.lost ?? error;
    }
    const { worker } = await outcome;
    // The worker uploaded objects, then the entry: take it like a remote hit, every object re-hashed.
    const found = await this.cache.lookup(key, request.expected);
    if (!found.action) throw new UserError('NETWORK', `worker ${worker} finished ${instance.id}, but its result is not usable from the remote cache${found.problem ? ` (${found.problem})` : ''}`);
    await materialize(pipeline, store, found.action);
    return { action: found.action, shared: true };
  }

  async close(): Promise<void> {
    for (const waiter of this.waiters.values()) waiter.reject(new StoppedWhileRunning());
    this.waiters.clear();
    // After losing Redis there is nothing to say goodbye to (and BullMQ's close would wait for it).
    if (!this.lost) await Promise.allSettled([this.queue.close(), this.events.close()]);
    for (const socket of this.sockets) socket.disconnect();
  }

  private throwIfLost(): void {
    if (this.lost) throw this.lost;
  }

  private connectionLost(): void {
    if (this.lost) return;
    this.lost = new UserError('NETWORK', `lost the connection to Redis at ${this.redis.shown} mid-build; this build stops (results already finished are on the remote cache: build again to resume)`);
    for (const waiter of this.waiters.values()) waiter.reject(this.lost);
    this.waiters.clear();
  }

  private settle(jobId: string, how: (waiter: Waiter) => void): void {
    const waiter = this.waiters.get(jobId);
    if (!waiter) return;
    this.waiters.delete(jobId);
    how(waiter);
  }

  private relay(jobId: string, data: JobProgress): void {
    const waiter = this.waiters.get(jobId);
    if (!waiter || !data || typeof data !== 'object') return;
    if (data.type === 'started') waiter.emit({ type: 'log', instance: waiter.instance, message: `running on worker ${data.worker}` });
    else if (data.type === 'log') waiter.emit({ type: 'log', instance: waiter.instance, message: data.message });
    else if (data.type === 'progress') waiter.emit({ type: 'progress', instance: waiter.instance, done: data.done, total: data.total });
  }
}

function parseResult(value: unknown): StepJobResult {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  const worker = (parsed as Partial<StepJobResult> | null)?.worker;
  return { worker: typeof worker === 'string' ? worker : 'unknown' };
}

/**
 * One input file (or directory) as an object of the local store, so it can be shared: a step's output
 * already is one; a plain file is copied in once (the stat cache makes its digest free next time).
 */
async function storeObject(store: Store, path: string): Promise<ObjectRef> {
  const name = basename(path);
  if ((await stat(path)).isDirectory()) {
    const tree = await store.digestTree(path);
    for (const entry of tree.entries) await ensureObject(store, join(path, ...entry.path.split('/')), entry.digest);
    const target = store.objectPath(tree.digest);
    if (!(await exists(target))) await writeFileAtomic(target, treeBytes(tree.entries));
    return { name, kind: 'tree', digest: tree.digest, bytes: tree.size };
  }
  const { digest, size } = await store.digestOf(path);
  await ensureObject(store, path, digest);
  return { name, kind: 'file', digest, bytes: size };
}

async function ensureObject(store: Store, path: string, digest: string): Promise<void> {
  if (await exists(store.objectPath(digest))) return;
  const temp = join(store.tmpDir, 'share', `${process.pid}.${Math.random().toString(36).slice(2)}`);
  await mkdir(dirname(temp), { recursive: true });
  await copyFile(path, temp);
  // ingestFile re-hashes the copy: the object holds what was read, whatever the file became since.
  await store.ingestFile(temp);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
