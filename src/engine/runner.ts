// `dagrun build` and `dagrun plan`: expand steps into instances (one per partition value), then walk
// them in dependency order. Each instance computes its action key from what it consumes; a hit is
// materialised from the store, a miss runs the step. Independent instances run concurrently
// (`--jobs`), a failure skips only its dependents, and every run writes a lineage manifest.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { describeError, isUserError, UserError } from '../sdk/errors.js';
import { digestJson } from '../sdk/hash.js';
import { checkParam, loadPipeline, outputPath, type InputFormat, type Pipeline, type StepInput, type StepSpec } from './pipeline.js';
import { CorruptObject, Store, writeFileAtomic, type ActionResult, type StoredOutput } from './store.js';
import { codeDigest } from './code-digest.js';
import { KernelPool, runStep, type ResolvedInput } from './execute.js';
import { ENGINE_ROOT, ENGINE_VERSION } from './paths.js';
import { duckdbVersion, redactSecrets, type InputRecord, type Manifest, type StepRecord } from './manifest.js';
import { emitterFor, type Emit } from './events/bus.js';
import { describeReason, describeReasons, rerunReasons, type SeenState } from './events/reasons.js';
import type { DagrunEvent, EventSink, FailReason, Reason, RerunReason, RunCounts } from './events/types.js';

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
  /** The event stream (events/types.ts): every outcome of this run. */
  readonly onEvent?: EventSink;
  /** The schedule that fired this build; recorded in the manifest and on its events. */
  readonly schedule?: string;
}

export type BuildEvent = DagrunEvent;

export interface BuildResult {
  readonly manifest: Manifest;
  readonly manifestPath?: string;
  readonly ok: boolean;
}

interface Instance {
  readonly id: string;
  readonly step: StepSpec;
  readonly partitionValue?: string;
  readonly partition: Record<string, string>;
  /** Per step input (by input name), exactly the producer instances it reads, in partition order. */
  producers: Map<string, Instance[]>;
  /** Every producer instance, once (a step reading two outputs of one producer depends on it once). */
  deps: Instance[];
}

/** Per instance, what the last build saw, to explain why it runs again. */
type LastSeen = SeenState;

export function defaultCacheDir(pipeline: Pipeline): string {
  return process.env.DAGRUN_CACHE ? resolve(process.env.DAGRUN_CACHE) : join(pipeline.dir, 'cache');
}

export function instanceId(step: string, partition: Record<string, string>): string {
  const keys = Object.keys(partition);
  return keys.length === 0 ? step : `${step}[${keys.map((k) => `${k}=${partition[k]}`).join(',')}]`;
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  const pipeline = loadPipeline(options.pipelineFile, options.cacheDir ? resolve(options.cacheDir) : process.env.DAGRUN_CACHE);
  const params = resolveParams(pipeline, options.sets ?? {});
  for (const name of [...(options.targets ?? []), ...(options.refresh ?? []), ...(options.force ?? [])]) {
    if (!pipeline.steps.has(name)) throw new UserError('CLI', `no step named "${name}" (steps: ${pipeline.order.join(', ')})`);
  }
  for (const [key, value] of Object.entries(options.partitionFilter ?? {})) {
    const values = pipeline.partitions[key];
    if (!values) throw new UserError('CLI', `--partition ${key}=${value}: the pipeline declares no partition "${key}" (partitions: ${Object.keys(pipeline.partitions).join(', ') || 'none'})`);
    if (!values.includes(value)) throw new UserError('CLI', `--partition ${key}=${value}: not one of the declared values (${values.join(', ')})`);
  }
  const instances = selectInstances(pipeline, options);
  const store = new Store(options.cacheDir ? resolve(options.cacheDir) : defaultCacheDir(pipeline));
  const runId = newRunId();
  const started = new Date();
  const emit = emitterFor(options.onEvent, runId);
  const kind = options.dryRun ? 'plan' : 'build';
  emit({ type: 'run-started', kind, targets: [...(options.targets ?? [])], schedule: options.schedule });
  let pool: KernelPool | undefined;
  const release = options.dryRun ? () => undefined : await store.lock(options.lockTimeoutMs ?? 10 * 60_000, (holder) => emit({ type: 'lock-wait', holder }));
  try {
    if (!options.dryRun) await store.clearScratch();
    const lastSeenFile = join(store.root, 'last-seen.json');
    const lastSeen = readJson<Record<string, LastSeen>>(lastSeenFile) ?? {};
    const records = new Map<string, StepRecord>();
    const outputsOf = new Map<string, StoredOutput[]>();
    const semaphore = new Semaphore(Math.max(1, options.jobs ?? 2));
    pool = new KernelPool(Math.max(1, options.jobs ?? 2));
    const promises = new Map<string, Promise<StepRecord>>();

    const process_ = (instance: Instance): Promise<StepRecord> => {
      let promise = promises.get(instance.id);
      if (!promise) {
        promise = (async () => {
          const depRecords = await Promise.all(instance.deps.map(process_));
          const record = await runInstance(instance, depRecords);
          records.set(instance.id, record);
          emitOutcome(emit, record);
          return record;
        })();
        promises.set(instance.id, promise);
      }
      return promise;
    };

    const runInstance = async (instance: Instance, depRecords: StepRecord[]): Promise<StepRecord> => {
      const { step } = instance;
      const base = {
        step: step.name,
        instance: instance.id,
        partition: instance.partition,
        kind: step.kind,
        source: step.source,
      };
      const blocked = depRecords.find((r) => r.status === 'failed' || r.status === 'skipped');
      if (blocked) return { ...base, status: 'skipped', ...because({ kind: 'upstream-failed', instance: blocked.instance, status: blocked.status as 'failed' | 'skipped' }), inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: 0 };
      const pending = depRecords.find((r) => r.status === 'would-build');
      if (pending) return { ...base, status: 'would-build', ...because({ kind: 'upstream-would-build', instance: pending.instance }), inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: 0 };

      const t0 = performance.now();
      try {
        const code = await codeDigest(store, step.code, pipeline.dir);
        const inputs = await resolveInputs(pipeline, store, instance, outputsOf);
        const stepParams = params[step.name];
        // Params marked `x-execution-only: true` (worker counts and the like) do not change outputs.
        const keyParams = Object.fromEntries(Object.entries(stepParams).filter(([name]) => !step.params.find((p) => p.name === name)?.schema['x-execution-only']));
        // The definition names output schema files; their content matters too (a stricter schema must re-check).
        const schemas = await Promise.all(step.outputs.filter((o) => o.schemaFile).map(async (o) => (await store.digestOf(o.schemaFile as string)).digest));
        const definition = digestJson({ definition: step.definition, schemas });
        const packages = await packagesDigest(store);
        const key = digestJson({ engine: ENGINE_VERSION, packages, definition, code: code.digest, params: keyParams, inputs: inputs.map((i) => [i.record.name, i.record.digest]), partition: instance.partition });
        const seen: LastSeen = { key, definition, code: code.digest, params: keyParams, inputs: Object.fromEntries(inputs.map((i) => [i.record.name, i.record.digest])), engine: ENGINE_VERSION, packages };
        const common = { ...base, cache_key: key, code_digest: code.digest, code_files: code.files, params: stepParams, inputs: inputs.map((i) => i.record) };

        const forced = options.force?.includes(step.name) ?? false;
        const refreshed = step.source && (options.refresh?.includes(step.name) ?? false);
        let reasons: RerunReason[] = forced ? [{ kind: 'forced' }] : refreshed ? [{ kind: 'refresh' }] : rerunReasons(lastSeen[instance.id], seen, relative(process.cwd(), step.code));
        const action = forced || refreshed ? undefined : store.readAction(key);
        if (action) {
          try {
            const outputs = options.dryRun ? [...action.outputs] : await materialize(pipeline, store, action);
            outputsOf.set(instance.id, outputs);
            lastSeen[instance.id] = seen;
            return { ...common, status: 'cached', ...because({ kind: step.source ? 'pinned-capture' : 'unchanged' }), pinned: step.source, outputs, metrics: action.metrics, warnings: [...action.warnings], duration_ms: Math.round(performance.now() - t0) };
          } catch (error) {
            if (!(error instanceof CorruptObject)) throw error;
            await store.discard(error.digest);
            await store.dropAction(key);
            reasons = [{ kind: 'corrupt-cache', problem: error.problem, digest: error.digest }];
          }
        }
        if (options.dryRun) return { ...common, status: 'would-build', ...because(...reasons), outputs: [], metrics: {}, warnings: [], duration_ms: 0 };

        const result = await semaphore.run(() => {
          emit({ type: 'instance-started', instance: instance.id, step: step.name, partition: instance.partition, reasons });
          return execute(pipeline, store, instance, inputs, stepParams, key, runId, emit, pool as KernelPool);
        });
        outputsOf.set(instance.id, result.outputs as StoredOutput[]);
        lastSeen[instance.id] = seen;
        return { ...common, status: 'built', ...because(...reasons), pinned: step.source || undefined, outputs: [...result.outputs], metrics: result.metrics, warnings: [...result.warnings], duration_ms: Math.round(performance.now() - t0) };
      } catch (error) {
        const message = isUserError(error) ? (error as UserError).format() : describeError(error);
        return { ...base, status: 'failed', ...because({ kind: 'step-failed', code: isUserError(error) ? (error as UserError).code : undefined, message } satisfies FailReason), error: message, inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: Math.round(performance.now() - t0) };
      }
    };

    await Promise.all(instances.map(process_));
    const ordered = instances.map((i) => records.get(i.id) as StepRecord);
    const ok = ordered.every((r) => r.status !== 'failed' && r.status !== 'skipped');
    const manifest: Manifest = redactSecrets({
      $schema: 'https://dagrun.dev/schemas/manifest.schema.json',
      run_id: runId,
      kind,
      ...(options.schedule ? { schedule: options.schedule } : {}),
      status: ok ? 'ok' : 'failed',
      pipeline: { file: relative(process.cwd(), pipeline.file) || pipeline.file, name: pipeline.name, output_root: relative(pipeline.dir, pipeline.outputRoot) || '.' },
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
      },
      steps: ordered,
    });
    const finished = (manifestFile?: string): void => emit({ type: 'run-finished', kind, status: manifest.status, counts: countOutcomes(ordered), manifest: manifestFile, schedule: options.schedule });
    if (options.dryRun) {
      finished();
      return { manifest, ok };
    }
    const manifestPath = join(store.runsDir, `${runId}.json`);
    await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFileAtomic(lastSeenFile, JSON.stringify(lastSeen));
    await store.saveStatCache();
    await rm(join(store.tmpDir, runId), { recursive: true, force: true });
    finished(relative(store.root, manifestPath).split(sep).join('/'));
    return { manifest, manifestPath, ok };
  } finally {
    await pool?.close();
    release();
  }
}

/** Defaults overlaid with --set values, each checked against its param schema. */
export function resolveParams(pipeline: Pipeline, sets: Readonly<Record<string, Readonly<Record<string, unknown>>>>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [stepName, values] of Object.entries(sets)) {
    const step = pipeline.steps.get(stepName);
    if (!step) throw new UserError('PARAM_TYPE', `--set ${stepName}.…: no step named "${stepName}" (steps: ${pipeline.order.join(', ')})`);
    for (const [name, value] of Object.entries(values)) checkParam(step, name, value, `--set ${stepName}.${name}`);
  }
  for (const step of pipeline.steps.values()) {
    const values: Record<string, unknown> = {};
    for (const param of step.params) values[param.name] = sets[step.name]?.[param.name] ?? param.defaultValue;
    out[step.name] = values;
  }
  return out;
}

function selectInstances(pipeline: Pipeline, options: BuildOptions): Instance[] {
  const filter = options.partitionFilter ?? {};
  const all = new Map<string, Instance>();
  const make = (step: StepSpec, value: string | undefined): Instance => {
    const partition: Record<string, string> = step.partition && value !== undefined ? { [step.partition]: value } : {};
    const id = instanceId(step.name, partition);
    let instance = all.get(id);
    if (!instance) {
      instance = { id, step, partitionValue: value, partition, producers: new Map(), deps: [] };
      all.set(id, instance);
      for (const input of step.inputs) if (input.kind === 'step') instance.producers.set(input.name, producersOf(instance, input));
      instance.deps = [...new Set([...instance.producers.values()].flat())];
    }
    return instance;
  };
  const producersOf = (instance: Instance, input: StepInput): Instance[] => {
    const producer = pipeline.steps.get(input.step as string) as StepSpec;
    if (input.previous) {
      const values = pipeline.partitions[producer.partition as string];
      const index = values.indexOf(instance.partitionValue as string);
      return index > 0 ? [make(producer, values[index - 1])] : [];
    }
    if (!producer.partition) return [make(producer, undefined)];
    if (instance.step.partition) return [make(producer, instance.partitionValue)];
    return pipeline.partitions[producer.partition].map((value) => make(producer, value));
  };
  const targets = options.targets && options.targets.length > 0 ? options.targets : pipeline.order;
  const explicit = new Set(options.targets ?? []);
  const roots: Instance[] = [];
  for (const name of targets) {
    const step = pipeline.steps.get(name) as StepSpec;
    if (step.partition) {
      const values = filter[step.partition] ? [filter[step.partition]] : pipeline.partitions[step.partition];
      for (const value of values) roots.push(make(step, value));
    } else {
      // With a partition filter, an unpartitioned step that fans in over that partition is left out
      // unless named: rebuilding one partition touches that partition's chain only.
      if (Object.keys(filter).length > 0 && !explicit.has(name) && fansInOver(pipeline, step, Object.keys(filter))) continue;
      roots.push(make(step, undefined));
    }
  }
  // Order: pipeline order, then partition order.
  const rank = new Map(pipeline.order.map((n, i) => [n, i]));
  return [...all.values()].sort((a, b) => (rank.get(a.step.name) as number) - (rank.get(b.step.name) as number) || String(a.partitionValue).localeCompare(String(b.partitionValue)));
}

function fansInOver(pipeline: Pipeline, step: StepSpec, keys: string[], seen = new Set<string>()): boolean {
  if (seen.has(step.name)) return false;
  seen.add(step.name);
  for (const input of step.inputs) {
    if (input.kind !== 'step') continue;
    const producer = pipeline.steps.get(input.step as string) as StepSpec;
    if (producer.partition && keys.includes(producer.partition)) return true;
    if (fansInOver(pipeline, producer, keys, seen)) return true;
  }
  return false;
}

interface InputWithRecord extends ResolvedInput {
  readonly record: InputRecord;
}

async function resolveInputs(pipeline: Pipeline, store: Store, instance: Instance, outputsOf: Map<string, StoredOutput[]>): Promise<InputWithRecord[]> {
  const resolved: InputWithRecord[] = [];
  for (const input of instance.step.inputs) {
    if (input.kind === 'step') {
      const producer = pipeline.steps.get(input.step as string) as StepSpec;
      const spec = producer.outputs.find((o) => o.name === input.output);
      const producers = instance.producers.get(input.name) ?? [];
      const stored = producers.map((p) => (outputsOf.get(p.id) ?? []).find((o) => o.name === input.output) as StoredOutput).filter(Boolean);
      const files = stored.map((o) => resolve(pipeline.outputRoot, o.path));
      resolved.push({
        name: input.name,
        files,
        format: spec?.format ?? 'parquet',
        columns: spec?.columns,
        record: {
          name: input.name,
          source: `${producer.name}.${input.output}${input.previous ? ' (previous partition)' : ''}`,
          from: producers.map((p) => p.id),
          digest: stored.length === 1 ? stored[0].digest : digestJson(stored.map((o) => o.digest)),
          bytes: stored.reduce((sum, o) => sum + o.bytes, 0),
        },
      });
    } else if (input.kind === 'file') {
      resolved.push(await resolveFileInput(pipeline, store, input));
    } else {
      resolved.push({ name: input.name, files: [], format: input.format ?? 'text', uri: input.location, record: { name: input.name, source: redactUri(input.location as string), digest: digestJson(input.location), bytes: 0 } });
    }
  }
  return resolved;
}

async function resolveFileInput(pipeline: Pipeline, store: Store, input: StepInput): Promise<InputWithRecord> {
  const location = input.location as string;
  const shown = relative(pipeline.dir, location).split(sep).join('/');
  if (!existsSync(location)) {
    if (input.optional) return { name: input.name, files: [], format: input.format ?? 'parquet', columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest: digestJson(null), bytes: 0 } };
    throw new UserError('BAD_INPUT', `input "${input.name}": file:${shown} does not exist`);
  }
  if (statSync(location).isDirectory()) {
    const tree = await store.digestInputTree(location);
    return { name: input.name, files: [location], format: input.format ?? 'directory', columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest: tree.digest, bytes: tree.size, files: tree.entries.length } };
  }
  const { digest, size } = await store.digestOf(location);
  return { name: input.name, files: [location], format: input.format ?? formatFromExtension(location), columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest, bytes: size } };
}

export function formatFromExtension(path: string): InputFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.parquet') return 'parquet';
  if (ext === '.csv') return 'csv';
  if (ext === '.geojson') return 'geojson';
  if (ext === '.json') return 'json';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  return 'text';
}

function redactUri(uri: string): string {
  // Query strings can carry tokens: keep scheme, host and path only.
  try {
    const url = new URL(uri);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return uri.split('?')[0];
  }
}

async function execute(pipeline: Pipeline, store: Store, instance: Instance, inputs: InputWithRecord[], params: Record<string, unknown>, key: string, runId: string, emit: Emit, pool: KernelPool): Promise<ActionResult> {
  const { step } = instance;
  const scratch = join(store.tmpDir, runId, instance.id.replace(/[^A-Za-z0-9_.=-]/g, '_'));
  await rm(scratch, { recursive: true, force: true });
  const targets: Record<string, string> = {};
  for (const output of step.outputs) {
    const dir = join(scratch, output.name);
    await mkdir(dir, { recursive: true });
    targets[output.name] = output.format === 'directory' ? join(dir, 'tree') : join(dir, basename(output.path.replaceAll(`{${step.partition}}`, instance.partitionValue ?? '')));
  }
  const result = await runStep(step, inputs, params, instance.partition, targets, {
    log: (message) => emit({ type: 'log', instance: instance.id, message }),
    progress: (done, total) => emit({ type: 'progress', instance: instance.id, done, total }),
  }, pipeline.dir, pool);
  const outputs: StoredOutput[] = [];
  for (const output of step.outputs) {
    const finalPath = relative(pipeline.outputRoot, outputPath(pipeline, step, output, instance.partitionValue)).split(sep).join('/');
    if (output.format === 'directory') {
      const tree = await store.ingestTree(targets[output.name]);
      outputs.push({ name: output.name, path: finalPath, kind: 'tree', digest: tree.digest, bytes: tree.size, files: tree.files });
    } else {
      const file = await store.ingestFile(targets[output.name]);
      outputs.push({ name: output.name, path: finalPath, kind: 'file', digest: file.digest, bytes: file.size, rows: result.rows[output.name] });
    }
  }
  const action: ActionResult = { key, step: step.name, partition: instance.partition, outputs, metrics: result.metrics, warnings: result.warnings, source: step.source, run_id: runId };
  await store.writeAction(action);
  await materialize(pipeline, store, action);
  await rm(scratch, { recursive: true, force: true });
  return action;
}

async function materialize(pipeline: Pipeline, store: Store, action: ActionResult): Promise<StoredOutput[]> {
  for (const output of action.outputs) {
    const target = resolve(pipeline.outputRoot, output.path);
    if (output.kind === 'tree') await store.materializeTree(output.digest, target);
    else await store.materializeFile(output.digest, target);
  }
  return [...action.outputs];
}

/** A record's reasons: the structured form, and the sentence rendered from it in one place. */
function because(...reasons: Reason[]): { reason: string; reasons: Reason[] } {
  return { reason: describeReasons(reasons), reasons };
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
      emit({ type: 'instance-cached', ...at, reason: reasons[0]?.kind === 'pinned-capture' ? { kind: 'pinned-capture' } : { kind: 'unchanged' } });
      break;
    case 'would-build':
      emit({ type: 'instance-would-build', ...at, reasons: reasons as RerunReason[] });
      break;
    case 'failed':
      emit({ type: 'instance-failed', ...at, reason: (reasons[0] as FailReason | undefined) ?? { kind: 'step-failed', message: record.error ?? describeReason({ kind: 'step-failed', message: '' }) }, duration_ms: record.duration_ms });
      break;
    case 'skipped': {
      const reason = reasons[0];
      if (reason?.kind === 'upstream-failed') emit({ type: 'instance-skipped', ...at, reason });
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
 * Library versions (DuckDB, geotiff, satellite.js …) change what steps produce: the engine's lock
 * file, digested through the stat cache, enters every action key.
 */
async function packagesDigest(store: Store): Promise<string> {
  const lock = join(ENGINE_ROOT, 'package-lock.json');
  return existsSync(lock) ? (await store.digestOf(lock)).digest : `engine ${ENGINE_VERSION}`;
}

export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('.', '');
  // Only to tell apart runs started in the same millisecond; node:crypto's first use costs ~50 ms.
  const suffix = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  return `${stamp}-${suffix}`;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.queue.shift()?.();
    }
  }
}
