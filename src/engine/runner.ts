// `dagrun build` and `dagrun plan`: expand steps into instances (one per partition value), then walk
// them in dependency order. Each instance computes its action key from what it consumes; a hit is
// materialised from the store, a miss runs the step. Independent instances run concurrently
// (`--jobs`), a failure skips only its dependents, and every run writes a lineage manifest.
import { readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { UserError } from '../sdk/errors.js';
import { checkParam, coerceParam, loadPipeline, outputPath, SAFE_PARTITION_VALUE, type OutputSpec, type Pipeline } from './pipeline.js';
import { replaceLinkedOutputFolders, Store, type StoreIO, type StoredOutput } from './store.js';
import { bytesBelow, diskFullError, isDiskFull, type StopWhy } from './stopping.js';
import { LocalExecutor } from './executors/local.js';
import { parseRedisUrl } from './executors/redis.js';
import type { Executor } from './executors/types.js';
import { ENGINE_VERSION, resolveUnder } from './paths.js';
import { duckdbVersion, latestManifest, redactSecrets, referToUnchanged, type Manifest, type StepRecord } from './manifest.js';
import { emitterFor, type Emit } from './events/bus.js';
import { bindInputs } from './bind.js';
import { describeReason } from './events/reasons.js';
import type { DagrunEvent, EventSink, FailReason, Reason, RerunReason, RunCounts, SkipReason } from './events/types.js';
import { instanceId, leftOutFanIns, selectInstances, type Instance } from './instances.js';
import { FileInputs, checkFileInputs } from './inputs.js';
import { because, runInstance, stepDigests, STOPPED_WHILE_RUNNING, type LastSeen } from './run-instance.js';
import { Semaphore } from './semaphore.js';
import { openCache, type Cache, type CacheReport } from './cache/tiered.js';
import { resolveRemoteSettings } from './cache/config.js';
import type { RemoteMode } from './cache/remote.js';
import { relativiser } from '../sdk/project-paths.js';
import { Captures } from './captures.js';
import { UpToDateMemo } from './up-to-date.js';
import { newRunId } from './run-id.js';
import { forgetSettled, recordSettled, settledChanges, treeKey, type Invocation, type SettledChanges, type SettledDependencies, type SettledHandoff } from './settled.js';
import { discoverPartitions, isGlob } from './templates.js';
import type { PackageCache } from './code-digest.js';
import type { TreeFingerprint } from './tree-fingerprint.js';

export { newRunId };

export interface BuildOptions {
  readonly pipelineFile: string;
  readonly cacheDir?: string;
  /** Steps to build (with what they need); all when empty. */
  readonly targets?: readonly string[];
  readonly partitionFilter?: Readonly<Record<string, string>>;
  /** step → param → value (from --set). */
  readonly sets?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly jobs?: number;
  readonly refresh?: readonly string[];
  readonly force?: readonly string[];
  /** Plan only: decide what would run and why; run nothing, write nothing. */
  readonly dryRun?: boolean;
  readonly lockTimeoutMs?: number;
  /** Aborted on SIGINT/SIGTERM: nothing more starts, running kernels stop, the build ends INTERRUPTED. */
  readonly signal?: AbortSignal;
  /** The store's file writes (tests inject a full disk here). */
  readonly storeIO?: StoreIO;
  /** Remote cache URL (http(s):// Bazel layout or s3://) and mode; else DAGRUN_REMOTE_CACHE, else pipeline.yaml. */
  readonly remoteCache?: string;
  readonly remoteMode?: RemoteMode;
  /** The event stream (events/types.ts): every outcome of this run. */
  readonly onEvent?: EventSink;
  /** Called with each instance's record as soon as it is decided (the CLI prints its line then). */
  readonly onRecord?: (record: StepRecord) => void;
  /** The schedule that fired this build; recorded in the manifest and on its events. */
  readonly schedule?: string;
  /** With --partition: also rebuild the fan-in steps that read every partition. */
  readonly withFanIn?: boolean;
  /** A `partitionFilter` value the pipeline does not declare joins its partition for this build (schedules' `{today}`). */
  readonly admitPartitionValues?: boolean;
  /** `STEP.INPUT` → `file:PATH` or `STEP.OUTPUT`: rewire inputs for this build (bind.ts). */
  readonly bind?: Readonly<Record<string, string>>;
  /** The command line that asked for this build, when the settled path may answer it again (settled.ts). */
  readonly settle?: Invocation;
  /** What the settled check found for that command line, and the cache lock it took (released by the build). */
  readonly settledHandoff?: SettledHandoff;
  /** Where missed instances run: this machine's worker pool (default), or BullMQ workers via `redis`. */
  readonly executor?: 'local' | 'bullmq';
  /** redis://[user:password@]host:port[/db] of the BullMQ executor; else DAGRUN_REDIS. */
  readonly redis?: string;
}

export type BuildEvent = DagrunEvent;

export interface BuildResult {
  readonly manifest: Manifest;
  readonly manifestPath?: string;
  readonly ok: boolean;
  /** What the remote cache did, when one is configured. */
  readonly remote?: CacheReport;
  /** How many instances the last settled build vouched for, served without a look (settled.ts). */
  readonly vouched?: number;
}

export function defaultCacheDir(pipeline: Pipeline): string {
  return process.env.DAGRUN_CACHE ? resolve(process.env.DAGRUN_CACHE) : join(pipeline.dir, 'cache');
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  try {
    return await buildWithOptions(options);
  } finally {
    // The settled check's lock is this build's to give back, also when it stops before taking it over (a bad
    // --partition, a missing input file). Giving it back twice is harmless: only a lock still ours is removed.
    options.settledHandoff?.release();
  }
}

async function buildWithOptions(options: BuildOptions): Promise<BuildResult> {
  const pipeline = bindInputs(admitPartitionValues(loadPipeline(options.pipelineFile, options.cacheDir ? resolve(options.cacheDir) : process.env.DAGRUN_CACHE), options.admitPartitionValues ? options.partitionFilter : undefined), options.bind);
  const params = resolveParams(pipeline, options.sets ?? {});
  for (const name of [...(options.targets ?? []), ...(options.refresh ?? []), ...(options.force ?? [])]) {
    if (!pipeline.steps.has(name)) throw new UserError('CLI', `no step named "${name}" (steps: ${pipeline.order.join(', ')})`);
  }
  for (const name of options.refresh ?? []) {
    const sources = pipeline.order.filter((n) => pipeline.steps.get(n)?.source);
    if (!pipeline.steps.get(name)?.source) throw new UserError('CLI', `--refresh ${name}: "${name}" is not a source step, so there is no capture to refresh (source steps: ${sources.join(', ') || 'none'}; use --force ${name} to rebuild it)`);
  }
  for (const [key, value] of Object.entries(options.partitionFilter ?? {})) {
    const values = pipeline.partitions[key];
    if (!values) throw new UserError('CLI', `--partition ${key}=${value}: the pipeline declares no partition "${key}" (partitions: ${Object.keys(pipeline.partitions).join(', ') || 'none'})`);
    if (!values.includes(value)) throw new UserError('CLI', `--partition ${key}=${value}: not one of the declared values (${values.join(', ')})`);
  }
  const instances = selectInstances(pipeline, options);
  const store = new Store(options.cacheDir ? resolve(options.cacheDir) : defaultCacheDir(pipeline), options.storeIO);
  // The settled check's lock when it found what changed for this very command line and cache: nothing changed since.
  const given = options.settledHandoff;
  const handoff = given && !options.dryRun && options.settle?.text === given.invocation.text && resolve(given.invocation.cacheDir) === resolve(store.root) ? given : undefined;
  if (given && !handoff) given.release();
  const fileInputs = new FileInputs(pipeline);
  // The files of instances the settled check vouches for are there as the last build saw them.
  checkFileInputs(pipeline, handoff ? instances.filter((i) => !handoff.changes.untouched.has(i.id)) : instances, fileInputs);
  const runId = newRunId();
  const started = new Date();
  const emit = emitterFor(options.onEvent, runId);
  const kind = options.dryRun ? 'plan' : 'build';
  emit({ type: 'run-started', kind, targets: [...(options.targets ?? [])], schedule: options.schedule, total: instances.length });
  let local: LocalExecutor | undefined;
  let executor: Executor | undefined;
  let cache: Cache | undefined;
  const remoteSettings = resolveRemoteSettings({ remote: options.remoteCache, mode: options.remoteMode }, pipeline.cache);
  const distributed = options.executor === 'bullmq' && !options.dryRun;
  const redis = distributed ? parseRedisUrl(options.redis ?? process.env.DAGRUN_REDIS) : undefined;
  if (distributed && remoteSettings?.mode !== 'read-write') throw new UserError('CLI', `--executor bullmq: workers and this client exchange inputs and results through the remote cache, so it needs one in read-write mode (${remoteSettings ? `it is ${remoteSettings.mode}` : 'none is configured: --remote-cache URL'})`);
  const release = options.dryRun ? () => undefined : handoff ? handoff.release : await store.lock(options.lockTimeoutMs ?? 10 * 60_000, (holder) => emit({ type: 'lock-wait', holder }));
  // Why the build is stopping early, once it is: nothing more starts after that.
  let stop: StopWhy | undefined;
  const onAbort = (): void => {
    stop ??= 'interrupted';
    // Closing the executors stops what runs: the local pool terminates its kernels' workers (failing
    // them), a distributed build stops waiting for its jobs (a worker finishing one still uploads it).
    void executor?.close();
    if (executor !== local) void local?.close();
  };
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) onAbort();
  try {
    if (!options.dryRun) await store.clearScratch();
    // A folder of outputs that is a link is removed before anything is served unchanged (store.ts): the
    // outputs below it are then missing, so the memo restores them; a carried one would not be looked at.
    const unlinked = !options.dryRun && replaceLinkedOutputFolders(pipeline.outputRoot, outputFolders(pipeline, instances));
    cache = await openCache(store, remoteSettings, (message) => emit({ type: 'warning', message }));
    const lastSeenFile = join(store.root, 'last-seen.json');
    const lastSeenText = readText(lastSeenFile);
    const lastSeen = parseOr<Record<string, LastSeen>>(lastSeenText, {});
    // Partition values some earlier build saw: an instance of any other value is a new partition (data landed).
    const knownPartitions = new Set(Object.keys(lastSeen).map((id) => id.slice(id.indexOf('['))).filter((p) => p.startsWith('[')));
    const newPartition = (instance: Instance): string | undefined => {
      if (instance.partitionValue === undefined || knownPartitions.size === 0) return undefined; // a first build: nothing is "new"
      const label = instanceId('', instance.partition); // "[date=…]"
      return knownPartitions.has(label) ? undefined : label.slice(1, -1);
    };
    const records = new Map<string, StepRecord>();
    const outputsOf = new Map<string, StoredOutput[]>();
    local = new LocalExecutor(Math.max(1, options.jobs ?? 2));
    // Distributed: every ready instance is enqueued at once (workers bound the concurrency) unless --jobs says otherwise.
    // BullMQ and its Redis client are loaded only by distributed builds.
    executor = redis ? await (await import('./executors/bullmq.js')).BullmqExecutor.open(redis, pipeline.name, cache, local, Math.max(1, options.jobs ?? 1000)) : local;
    const semaphore = new Semaphore(executor.slots);
    // The up-to-date memo serves unchanged instances of local builds (a plan writes nothing; a remote cache or executor is consulted the usual way).
    const memo = options.dryRun || remoteSettings || distributed ? undefined : new UpToDateMemo(store, pipeline.file, pipeline.outputRoot, ENGINE_VERSION);
    const context = { pipeline, store, params, options, runId, emit, lastSeen, outputsOf, semaphore, executor, cache, fileInputs, newPartition, captures: new Captures(store), packages: new Map(), stepDigests: new Map(), memo, stopped: () => stop };
    const promises = new Map<string, Promise<StepRecord>>();
    // What the last settled build of this command line still vouches for (settled.ts): when only some
    // instances' own files changed, the others are their memo entries, served without a look.
    const vouched = memo && options.settle ? (handoff?.changes ?? settledChanges(options.settle)) : undefined;
    const carried = new Set<string>();
    // How the settled file names a file under out/ (settled.ts watchedName).
    const outFolder = relative(pipeline.dir, pipeline.outputRoot).split(sep).join('/');
    const outPrefix = outFolder ? `${outFolder}/` : '';
    const carry = (instance: Instance): StepRecord | undefined => {
      const vouch = vouched?.untouched.get(instance.id);
      if (!vouch || stop || unlinked || lastSeen[instance.id]?.key !== vouch.key || !instance.deps.every((dep) => carried.has(dep.id))) return undefined;
      const remembered = memo?.carry(instance.id, vouch.key, vouch.run);
      // The settled file is trusted like the memo (a checksum, not a signature): an own list that does not
      // name the instance's outputs (hand-edited, or written wrong) vouches for nothing.
      if (!remembered || !remembered.outputs.every((o) => vouch.own.includes(`${outPrefix}${o.path}`))) return undefined;
      carried.add(instance.id);
      outputsOf.set(instance.id, [...remembered.outputs]);
      // Object.assign, not a spread: ~5× cheaper on a cold process for 728 records parsed from JSON.
      return Object.assign({}, remembered, { status: 'cached', reason: UNCHANGED.reason, reasons: UNCHANGED.reasons, outputs: remembered.outputs.slice(), warnings: remembered.warnings.slice(), duration_ms: 0 }) as StepRecord;
    };

    const process_ = (instance: Instance): Promise<StepRecord> => {
      let promise = promises.get(instance.id);
      if (!promise) {
        promise = (async () => {
          const depRecords = await Promise.all(instance.deps.map(process_));
          const record = carry(instance) ?? (await runInstance(context, instance, depRecords));
          // A full disk stays full: start nothing more.
          if (record.status === 'failed' && isDiskFull(record.error)) stop ??= 'disk-full';
          return settle(instance, record);
        })();
        promises.set(instance.id, promise);
      }
      return promise;
    };
    const settle = (instance: Instance, record: StepRecord): StepRecord => {
      records.set(instance.id, record);
      emitOutcome(emit, record);
      options.onRecord?.(record);
      return record;
    };

    // What the last settled build still vouches for is carried first, in one synchronous pass in the
    // pipeline's step order (upstream first): no promise per carried instance (728 at 365 dates).
    if (vouched && vouched.untouched.size > 0) {
      const rank = new Map(pipeline.order.map((name, i) => [name, i]));
      for (const instance of [...instances].sort((a, b) => (rank.get(a.step.name) ?? 0) - (rank.get(b.step.name) ?? 0))) {
        const record = carry(instance);
        if (record) promises.set(instance.id, Promise.resolve(settle(instance, record)));
      }
    }
    await Promise.all(instances.map(process_));
    const ordered = instances.map((i) => records.get(i.id) as StepRecord);
    const ok = ordered.every((r) => r.status !== 'failed' && r.status !== 'skipped');
    const remote = await cache.finish();
    // A plan saves what it hashed too (the stat cache is a cache, its shards replaced atomically): a plan
    // of a pipeline never built otherwise re-reads every input each time.
    await store.saveStatCache();
    const staleFanIn = await staleFanIns(pipeline, options, ordered);
    // Nothing in a manifest names the machine's folders: files are named relative to the pipeline folder.
    const portable = relativiser(pipeline.dir);
    // A record the memo served is as an earlier manifest stored it, already portable: only the others
    // are stringified and rewritten (at 365 partitions doing them all cost more than the rest of the manifest).
    const rewrittenSteps = portableCopy(portable, ordered.filter((r) => !memo?.served.has(r.instance)));
    let nextRewritten = 0;
    const steps = ordered.map((r) => (memo?.served.has(r.instance) ? r : rewrittenSteps[nextRewritten++]));
    const manifest: Manifest = redactSecrets({ ...portableCopy(portable, {
      $schema: 'https://dagrun.dev/schemas/manifest.schema.json',
      run_id: runId,
      kind,
      ...(options.schedule ? { schedule: options.schedule } : {}),
      status: ok ? 'ok' : 'failed',
      pipeline: { file: relative(pipeline.dir, pipeline.file).split(sep).join('/'), name: pipeline.name, output_root: relative(pipeline.dir, pipeline.outputRoot).split(sep).join('/') || '.' },
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      versions: { engine: ENGINE_VERSION, node: process.version, duckdb: await duckdbVersion() },
      options: {
        targets: [...(options.targets ?? [])],
        partition: { ...(options.partitionFilter ?? {}) },
        set: options.sets ?? {},
        jobs: options.jobs ?? 2,
        refresh: [...(options.refresh ?? [])],
        force: [...(options.force ?? [])],
        ...(remote ? { remote_cache: { url: remote.remote, mode: remote.mode } } : {}),
        ...(options.bind ? { bind: Object.fromEntries(Object.entries(options.bind).map(([input, source]) => [input, source.startsWith('file:') ? `file:${relative(pipeline.dir, resolve(pipeline.dir, source.slice(5))).split(sep).join('/')}` : source])) } : {}),
      },
      steps: [] as StepRecord[],
      ...(staleFanIn.length > 0 ? { stale_fan_in: staleFanIn } : {}),
    } satisfies Manifest), steps });
    const finished = (manifestFile?: string): void => emit({ type: 'run-finished', kind, status: manifest.status, counts: countOutcomes(ordered), manifest: manifestFile, schedule: options.schedule });
    if (options.dryRun) {
      finished();
      return { manifest, ok, remote };
    }
    const manifestPath = join(store.runsDir, `${runId}.json`);
    let manifestWritten = false;
    // A stopped build removes its scratch first: on a full disk that is what makes room for the manifest.
    let freed = 0;
    if (stop) {
      freed = bytesBelow(store.tmpDir);
      await store.clearScratch();
    }
    try {
      // Compact (at 365 partitions the manifest is ~1 MB and indenting it cost more than the no-op's own
      // work), and an instance unchanged since an earlier run is a reference to it, not a copy
      // (readManifest expands it).
      // The previous manifest is read only for cached records the memo did not serve.
      const previous = manifest.steps.some((r) => r.status === 'cached' && !memo?.served.has(r.instance)) ? latestManifest(store.runsDir) : undefined;
      const written = referToUnchanged(manifest.steps, previous, memo?.served);
      await store.writeFileAtomic(manifestPath, `${JSON.stringify({ ...manifest, steps: written })}\n`);
      manifestWritten = true;
      await memo?.update(manifest.steps, written, runId);
      const lastSeenNow = JSON.stringify(lastSeen);
      if (lastSeenNow !== lastSeenText) await store.writeFileAtomic(lastSeenFile, lastSeenNow);
      await store.saveStatCache();
      if (options.settle) {
        const qualifies = !stop && ok && !remoteSettings && !distributed && staleFanIn.length === 0;
        // Every step's code digest (one whose instances were all carried had it taken by no one): the
        // package.json files its imports resolve to and the places a local import was looked for first
        // are what it depends on too, or a new package version or a file appearing there goes unseen.
        const steps = [...new Map(instances.map((i) => [i.step.name, i.step])).values()];
        const digests = qualifies ? await Promise.all(steps.map((step) => stepDigests(context, step))).catch(() => undefined) : undefined;
        const dependencies = digests ? settledDependencies(pipeline, store, options, instances, manifest.steps, written, runId, fileInputs, context.packages, digests.flatMap((d) => d.code.absent), vouched && { changes: vouched, carried }) : undefined;
        // A build that cannot be answered again from its records leaves no settled answer behind for its command line.
        if (dependencies) recordSettled({ invocation: options.settle, pipelineDir: pipeline.dir, startedMs: started.getTime(), manifest, written, dependencies, unchangedReason: describeReason({ kind: 'unchanged' }) });
        else forgetSettled(options.settle);
      }
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      stop ??= 'disk-full';
    }
    if (stop) {
      // Scratch is all a stopped build leaves behind: measure it, remove it, then say what happened.
      freed += bytesBelow(store.tmpDir);
      await store.clearScratch();
      finished(manifestWritten ? relative(store.root, manifestPath).split(sep).join('/') : undefined);
      if (stop === 'disk-full') throw await diskFullError(store.root, pipeline.outputRoot, freed, manifestWritten ? relative(process.cwd(), manifestPath) : undefined);
      const count = (status: string): number => ordered.filter((r) => r.status === status).length;
      const stopped = ordered.filter((r) => r.status === 'failed' && r.error === STOPPED_WHILE_RUNNING).length;
      throw new UserError('INTERRUPTED', `interrupted: ${count('built')} built, ${count('skipped')} not started${stopped > 0 ? ` (${stopped} stopped while running)` : ''}; ${manifestWritten ? `what finished is in ${relative(process.cwd(), manifestPath)}` : 'no manifest could be written'}`);
    }
    await rm(join(store.tmpDir, runId), { recursive: true, force: true });
    finished(relative(store.root, manifestPath).split(sep).join('/'));
    return { manifest, manifestPath, ok, remote, vouched: carried.size };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (executor !== local) await executor?.close();
    await local?.close();
    await cache?.finish();
    release();
  }
}

const UNCHANGED = because({ kind: 'unchanged' });

/**
 * Everything a build's result depended on, for the settled path (settled.ts); undefined when it cannot
 * be answered from its records: a source step (live data), a remote input, a directory output, --refresh/--force, rebound inputs, a schedule, a fan-in the partition filter left out.
 */
function settledDependencies(pipeline: Pipeline, store: Store, options: BuildOptions, instances: readonly Instance[], records: readonly StepRecord[], written: readonly StepRecord[], runId: string, fileInputs: FileInputs, packages: PackageCache, absentCode: readonly string[], vouched?: { changes: SettledChanges; carried: ReadonlySet<string> }): SettledDependencies | undefined {
  if (options.refresh?.length || options.force?.length || options.bind || options.admitPartitionValues || options.schedule) return undefined;
  if (leftOutFanIns(pipeline, options).length > 0) return undefined;
  const trees = new Map<string, TreeFingerprint>();
  const sources = new Set<string>([pipeline.file, join(pipeline.dir, 'package.json'), join(pipeline.dir, 'package-lock.json')]);
  const read = new Set<string>([pipeline.file]);
  // What every instance depends on (pipeline, code, schemas, packages, listed folders): a change to it is
  // never one instance's own, even when that instance also reads it as a file input (settled.ts).
  const shared = new Set<string>(sources);
  const products = new Set<string>();
  const outputs = new Map<string, string>();
  const steps = new Set<string>();
  const owned = new Map<string, string[]>();
  // What the instances this build looked at may have written: stat'd again, never taken as verified at the start.
  const rewritten = new Set<string>();
  const byId = new Map(instances.map((instance) => [instance.id, instance]));
  // A carried instance's own entries are the last settled file's, verified at the start (settled.ts):
  // kept by name, not worked out again (at 365 partitions most of this function's work).
  const kept = new Map<string, readonly string[]>();
  for (const [i, record] of records.entries()) {
    if ((record.status !== 'built' && record.status !== 'cached') || record.source || !record.cache_key) return undefined;
    if (record.outputs.some((o) => o.kind !== 'file') || record.inputs.some((input) => input.from === undefined && !input.source.startsWith('file:'))) return undefined;
    const carried = vouched?.carried.has(record.instance) ? vouched.changes.untouched.get(record.instance) : undefined;
    if (!steps.has(record.step)) {
      steps.add(record.step);
      for (const file of record.code_files ?? []) read.add(resolve(pipeline.dir, file)), shared.add(resolve(pipeline.dir, file));
      for (const output of pipeline.steps.get(record.step)?.outputs ?? []) if (output.schemaFile) read.add(output.schemaFile), shared.add(output.schemaFile);
    }
    if (carried) {
      kept.set(record.instance, carried.own);
      continue;
    }
    // What is this instance's own: a change to it leaves the other instances vouched for (settled.ts).
    const own: string[] = [];
    const instance = byId.get(record.instance) as Instance;
    for (const input of instance.step.inputs) {
      if (input.kind !== 'file') continue;
      const location = fileInputs.expand(instance.step, input, instance.partition);
      if (isGlob(location)) {
        for (const file of fileInputs.locate(instance.step, input, instance.partition).matches ?? []) sources.add(file), read.add(file), own.push(file);
        continue;
      }
      // Stat'd if resolving it did not (a plain file shared by every partition).
      const info = fileInputs.stat(location);
      if (info?.isDirectory()) {
        const tree = store.inputTreeFingerprint(location);
        if (!tree) return undefined;
        trees.set(location, tree);
        own.push(treeKey(location));
      } else {
        sources.add(location);
        if (info) read.add(location);
        own.push(location);
      }
    }
    for (const output of record.outputs) {
      const path = resolveUnder(pipeline.outputRoot, output.path);
      products.add(path);
      outputs.set(path, output.digest);
      rewritten.add(path);
      own.push(path);
    }
    const action = store.actionPath(record.cache_key);
    const run = join(store.runsDir, `${written[i].unchanged_since ?? runId}.json`);
    products.add(action);
    products.add(run);
    own.push(action, run);
    rewritten.add(action);
    rewritten.add(run);
    owned.set(record.instance, own);
  }
  // What the file inputs depended on, asked only now: the folders a glob lists are watched too (a file
  // added to one is a new input of that instance); a carried instance's are kept from the last settled file.
  const files = fileInputs.watched();
  for (const dir of files.trees) {
    const tree = store.inputTreeFingerprint(dir);
    if (!tree) return undefined;
    trees.set(dir, tree);
  }
  for (const path of files.paths) sources.add(path);
  for (const path of files.listed) shared.add(path);
  for (const path of files.found) read.add(path);
  for (const path of read) sources.add(path);
  // Where each package version was read from, and each place Node looked first and found nothing.
  for (const folder of packages.keys()) sources.add(join(folder, 'package.json')), shared.add(join(folder, 'package.json'));
  // Where a kernel's local import was looked for before the file it resolved to: a file appearing there is used instead.
  for (const path of absentCode) sources.add(path), shared.add(path);
  for (const [key, template] of Object.entries(pipeline.discovered ?? {})) discoverPartitions(pipeline.dir, template, key, (path) => (sources.add(path), shared.add(path)));
  for (const [instance, own] of owned) owned.set(instance, own.filter((path) => !shared.has(path)));
  // The stat cache holds each output's stat as the build wrote or checked it: any later edit shows.
  const outputsIntact = (): boolean => [...outputs].every(([path, digest]) => {
    const info = statSync(path, { bigint: true, throwIfNoEntry: false });
    return info !== undefined && store.knownDigest(path, info)?.digest === digest;
  });
  return { sources, read, products, trees, outputsIntact, owned, ...(vouched ? { verified: { stats: vouched.changes.verified, except: rewritten } } : {}), ...(vouched && kept.size > 0 ? { kept: { own: kept, stats: keptStats(vouched.changes, kept) } } : {}) };
}

/** The folders the instances' outputs go to: one per output when its folder does not vary by partition (731 paths → 3 at 365 dates). */
function outputFolders(pipeline: Pipeline, instances: readonly Instance[]): Set<string> {
  const folders = new Set<string>();
  const fixed = new Set<OutputSpec>();
  for (const instance of instances) {
    for (const output of instance.step.outputs) {
      if (fixed.has(output)) continue;
      if (!instance.step.partition || !dirname(output.path).includes(`{${instance.step.partition}}`)) fixed.add(output);
      folders.add(dirname(outputPath(pipeline, instance.step, output, instance.partitionValue)));
    }
  }
  return folders;
}

/**
 * The verified stats a partly settled build keeps from the last settled file: its carried instances'
 * own entries and the shared ones. An entry only a looked-at instance owned is dropped (worked out
 * again if still its own: an old action entry of a rebuilt date is no one's).
 */
function keptStats(changes: SettledChanges, kept: ReadonlyMap<string, readonly string[]>): Map<string, string> {
  const carried = new Set<string>();
  for (const own of kept.values()) for (const name of own) carried.add(name);
  const stats = new Map<string, string>();
  for (const [name, stat] of changes.verified) if (carried.has(name) || !changes.owned.has(name)) stats.set(name, stat);
  return stats;
}

/**
 * After a partition-filtered build (or plan), the fan-in steps it left out (e.g. `index`, reading
 * every date) that are now out of date: planned as they would be by `dagrun plan STEP`, without the filter.
 */
async function staleFanIns(pipeline: Pipeline, options: BuildOptions, records: readonly StepRecord[]): Promise<StaleFanIn[]> {
  // Planned even when this run built nothing: an earlier partition rebuild may have left it stale.
  const fanIns = leftOutFanIns(pipeline, options);
  if (fanIns.length === 0) return [];
  if (records.some((r) => r.status === 'failed' || r.status === 'skipped')) return [];
  const partition = Object.entries(options.partitionFilter ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const plan = await build({ pipelineFile: options.pipelineFile, cacheDir: options.cacheDir, targets: fanIns, sets: options.sets, jobs: options.jobs, dryRun: true, remoteCache: 'off' });
  const store = new Store(options.cacheDir ? resolve(options.cacheDir) : defaultCacheDir(pipeline));
  const stale: StaleFanIn[] = [];
  for (const record of plan.manifest.steps) {
    if (!fanIns.includes(record.step)) continue;
    // Cached means a build would only restore it: stale still when out/ holds another version.
    const outdated = record.status === 'would-build' || (record.status === 'cached' && !(await outputsInPlace(pipeline, store, record)));
    if (outdated) stale.push({ instance: record.instance, partition, reason: `stale — partition ${partition} changed; run \`dagrun build ${record.step}\` (or build with --with-fan-in)` });
  }
  return stale;
}

/** Whether every output of a record is in out/ as recorded (through the stat cache: no content read when unchanged). */
async function outputsInPlace(pipeline: Pipeline, store: Store, record: StepRecord): Promise<boolean> {
  for (const output of record.outputs) {
    const path = resolve(pipeline.outputRoot, output.path);
    try {
      const digest = output.kind === 'tree' ? (await store.digestTree(path)).digest : (await store.digestOf(path)).digest;
      if (digest !== output.digest) return false;
    } catch {
      return false;
    }
  }
  return true;
}

export interface StaleFanIn {
  readonly instance: string;
  /** The partition filter of the run that left it stale. */
  readonly partition: string;
  readonly reason: string;
}

/** The pipeline with extra partition values (kept sorted, so `previous: true` still finds the day before). */
function admitPartitionValues(pipeline: Pipeline, values: Readonly<Record<string, string>> | undefined): Pipeline {
  if (!values) return pipeline;
  const partitions: Record<string, readonly string[]> = { ...pipeline.partitions };
  for (const [key, value] of Object.entries(values)) {
    if (!partitions[key] || partitions[key].includes(value)) continue;
    if (!SAFE_PARTITION_VALUE.test(value)) throw new UserError('CLI', `partition ${key}=${value}: a partition value must be a plain name (letters, digits, _ . = -)`);
    partitions[key] = [...partitions[key], value].sort();
  }
  return { ...pipeline, partitions, locate: pipeline.locate };
}

/** Defaults overlaid with --set values, each checked against its param schema. */
export function resolveParams(pipeline: Pipeline, sets: Readonly<Record<string, Readonly<Record<string, unknown>>>>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [stepName, values] of Object.entries(sets)) {
    const step = pipeline.steps.get(stepName);
    if (!step) throw new UserError('PARAM_TYPE', `--set ${stepName}.…: no step named "${stepName}" (steps: ${pipeline.order.join(', ')})`);
    for (const [name, value] of Object.entries(values)) checkParam(step, name, coerceParam(step, name, value), `--set ${stepName}.${name}`);
  }
  for (const step of pipeline.steps.values()) {
    const values: Record<string, unknown> = {};
    // Compared (and keyed) after coercion: a value equal to the default is the default.
    for (const param of step.params) values[param.name] = coerceParam(step, param.name, sets[step.name]?.[param.name] ?? param.defaultValue);
    out[step.name] = values;
  }
  return out;
}

/** The event that reports one instance's outcome (plus its pinned capture and warnings). */
function emitOutcome(emit: Emit, record: StepRecord): void {
  const at = { instance: record.instance, step: record.step, partition: record.partition };
  const reasons = (record.reasons ?? []) as Reason[];
  switch (record.status) {
    case 'built':
      emit({ type: 'instance-built', ...at, reasons: reasons as RerunReason[], duration_ms: record.duration_ms, rows: Object.fromEntries(record.outputs.filter((o) => o.rows !== undefined).map((o) => [o.name, o.rows as number])) });
      break;
    case 'cached':
      emit({ type: 'instance-cached', ...at, reason: reasons[0]?.kind === 'pinned-capture' || reasons[0]?.kind === 'remote-hit' ? reasons[0] : { kind: 'unchanged' } });
      break;
    case 'would-build':
      emit({ type: 'instance-would-build', ...at, reasons: reasons as RerunReason[] });
      break;
    case 'failed':
      emit({ type: 'instance-failed', ...at, reason: (reasons[0] as FailReason | undefined) ?? { kind: 'step-failed', message: record.error ?? describeReason({ kind: 'step-failed', message: '' }) }, duration_ms: record.duration_ms });
      break;
    case 'skipped': {
      const reason = reasons[0];
      if (reason?.kind === 'upstream-failed' || reason?.kind === 'not-started') emit({ type: 'instance-skipped', ...at, reason: reason as SkipReason });
      break;
    }
  }
  if (record.pinned && (record.status === 'built' || record.status === 'cached')) emit({ type: 'capture-pinned', ...at, reused: record.status === 'cached' });
  if (record.status === 'built') for (const message of record.warnings) emit({ type: 'warning', instance: record.instance, message });
}

export function countOutcomes(records: readonly StepRecord[]): RunCounts {
  const count = (status: string): number => records.filter((r) => r.status === status).length;
  return { built: count('built'), cached: count('cached'), failed: count('failed'), skipped: count('skipped'), would_build: count('would-build') };
}


/**
 * `value` with every mention of the pipeline folder made relative. Parsed back only when something
 * was rewritten: at 365 partitions the manifest is ~1 MB and usually names no machine path.
 */
function portableCopy<T>(portable: (text: string) => string, value: T): T {
  const text = JSON.stringify(value);
  const rewritten = portable(text);
  return rewritten === text ? value : (JSON.parse(rewritten) as T);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function parseOr<T>(text: string | undefined, fallback: T): T {
  try {
    return text === undefined ? fallback : (JSON.parse(text) as T);
  } catch {
    return fallback;
  }
}
