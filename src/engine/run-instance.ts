// One instance of a step: compute its action key from what it consumes, serve a cached result
// (materialised from the store) or run the step, and return its manifest record with its reasons.
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { describeError, isUserError, UserError } from '../sdk/errors.js';
import { canonicalJson, digestBytes, digestJson } from '../sdk/hash.js';
import { relativiser } from '../sdk/project-paths.js';
import { outputPath, semanticSchema, type Pipeline } from './pipeline.js';
import { CorruptObject, type ActionResult, type Store, type StoredOutput } from './store.js';
import { NotStarted, StoppedWhileRunning, type StopWhy } from './stopping.js';
import { codeDigest, type CodeDigest, type PackageCache } from './code-digest.js';
import { captureProblem, type CaptureRecord, type Captures } from './captures.js';
import type { Executor } from './executors/types.js';
import { materialize } from './executors/local.js';
import { ENGINE_VERSION, resolveUnder } from './paths.js';
import type { StepRecord } from './manifest.js';
import type { Emit } from './events/bus.js';
import { describeReasons, rerunReasons, type SeenState } from './events/reasons.js';
import type { FailReason, Reason, RerunReason } from './events/types.js';
import type { Instance } from './instances.js';
import { resolveInputs, type FileInputs, type InputWithRecord } from './inputs.js';
import type { Semaphore } from './semaphore.js';
import type { BuildOptions } from './runner.js';
import type { Cache, ExpectedOutput } from './cache/tiered.js';
import type { UpToDateMemo } from './up-to-date.js';

/** The failure of an instance that was running when the build was interrupted. */
export const STOPPED_WHILE_RUNNING = 'stopped while running: the build was interrupted';

/** Per instance, what the last build saw, to explain why it runs again. */
export type LastSeen = SeenState;

/** What every instance of one build shares. */
export interface BuildContext {
  readonly pipeline: Pipeline;
  readonly store: Store;
  /** step → resolved params. */
  readonly params: Record<string, Record<string, unknown>>;
  readonly options: BuildOptions;
  readonly runId: string;
  readonly emit: Emit;
  /** Per instance, what the last build saw; updated as instances finish. */
  readonly lastSeen: Record<string, LastSeen>;
  /** Stored outputs of finished instances, for their consumers. */
  readonly outputsOf: Map<string, StoredOutput[]>;
  readonly semaphore: Semaphore;
  /** Where a missed instance runs: this machine's worker pool, or a BullMQ worker fleet (executors/). */
  readonly executor: Executor;
  /** The local store, then the remote cache if one is configured (cache/tiered.ts). */
  readonly cache: Cache;
  /** Per-instance file inputs (templates, globs), resolved once per build. */
  readonly fileInputs: FileInputs;
  /** The partition label (`date=…`) when no earlier build saw this instance's partition value. */
  readonly newPartition: (instance: Instance) => string | undefined;
  /** Live sources' durable captures (cache/captures/). */
  readonly captures: Captures;
  /** package.json reads of this build (library versions in keys). */
  readonly packages: PackageCache;
  /** step name → what all its instances share in their keys, computed once per build (stepDigests). */
  readonly stepDigests: Map<string, Promise<StepDigests>>;
  /** What the last builds found up to date (up-to-date.ts); absent for plans and builds with a remote cache or executor. */
  readonly memo?: UpToDateMemo;
  /** Set once the build is stopping early (a signal, a full disk): nothing more may start. */
  readonly stopped: () => StopWhy | undefined;
}

/** The parts of an action key every instance of a step shares: its code, its definition, its packages. */
export interface StepDigests {
  readonly code: CodeDigest;
  /** The step's definition and what its output schema files constrain. */
  readonly definition: string;
  /** The resolved versions of the packages its code imports. */
  readonly packages: string;
  /** The params that enter the key: `x-execution-only` ones (worker counts and the like) do not change outputs. */
  readonly keyParams: Record<string, unknown>;
  /** The instance-independent parts of the key's canonical JSON (actionKey). */
  readonly key: KeyParts;
  /** A digest of `key`: what the up-to-date memo remembers a key was made with. */
  readonly keyId: string;
  /** Each output's path relative to the output root, `{partition}` still in it (expectedOutputs). */
  readonly outputPaths: readonly string[];
}

export interface KeyParts {
  readonly head: string;
  readonly middle: string;
}

/** The fields of an action key every instance of a step shares. */
export interface SharedKeyFields {
  readonly engine: string;
  readonly packages: string;
  readonly definition: string;
  readonly code: string;
  readonly params: Record<string, unknown>;
}

/**
 * An action key is the digest of the canonical JSON of `{ ...shared, inputs, partition }`. That JSON is
 * written here from parts prepared once per step (keys in canonical order), the same bytes
 * digestJson would hash: generic key sorting per instance was the largest part of a no-op at 365
 * partitions. test/engine/action-key.test.ts checks the two agree.
 */
export function keyParts(shared: SharedKeyFields): KeyParts {
  const field = (name: string, value: unknown): string => `${JSON.stringify(name)}:${canonicalJson(value)}`;
  return {
    head: `{${field('code', shared.code)},${field('definition', shared.definition)},${field('engine', shared.engine)},"inputs":`,
    middle: `,${field('packages', shared.packages)},${field('params', shared.params)},"partition":`,
  };
}

export function actionKey(parts: KeyParts, inputs: readonly (readonly [string, string])[], partition: Readonly<Record<string, string>>): string {
  return digestBytes(`${parts.head}${canonicalJson(inputs)}${parts.middle}${canonicalJson(partition)}}`);
}

/**
 * Once per step and build, not per instance: at 365 partitions the code walk, the package.json
 * reads and the definition's canonical JSON were most of a no-op. A build sees one snapshot of the
 * code, as it does of a directory input.
 */
export function stepDigests(ctx: BuildContext, step: Instance['step']): Promise<StepDigests> {
  let found = ctx.stepDigests.get(step.name);
  if (!found) {
    found = (async () => {
      const code = await codeDigest(ctx.store, step.code, ctx.pipeline.dir, step.kind, ctx.packages);
      // The definition names output schema files; what they constrain matters too (a stricter schema must re-check), their descriptions do not.
      const definition = definitionDigest(step);
      // Library versions: the resolved versions of the packages the step's code imports, not the lock file's bytes.
      const packages = digestJson(code.packages);
      const stepParams = ctx.params[step.name];
      const keyParams = Object.fromEntries(Object.entries(stepParams).filter(([name]) => !step.params.find((p) => p.name === name)?.schema['x-execution-only']));
      const outputPaths = step.outputs.map((output) => relative(ctx.pipeline.outputRoot, resolve(ctx.pipeline.outputRoot, output.path)).split(sep).join('/'));
      const key = keyParts({ engine: ENGINE_VERSION, packages, definition, code: code.digest, params: keyParams });
      return { code, definition, packages, keyParams, key, keyId: digestBytes(`${key.head}\0${key.middle}`), outputPaths };
    })();
    ctx.stepDigests.set(step.name, found);
  }
  return found;
}

export async function runInstance(ctx: BuildContext, instance: Instance, depRecords: StepRecord[]): Promise<StepRecord> {
  const { pipeline, store, params, options, lastSeen, outputsOf, semaphore, executor, runId, emit, cache, captures } = ctx;
  const { step } = instance;
  const base = {
    step: step.name,
    instance: instance.id,
    partition: instance.partition,
    kind: step.kind,
    source: step.source,
  };
  // Once the build is stopping (a signal, a full disk), that is why nothing more runs.
  const why = ctx.stopped();
  if (why) return { ...base, status: 'skipped', ...because({ kind: 'not-started', why }), inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: 0 };
  const blocked = depRecords.find((r) => r.status === 'failed' || r.status === 'skipped');
  if (blocked) return { ...base, status: 'skipped', ...because({ kind: 'upstream-failed', instance: blocked.instance, status: blocked.status as 'failed' | 'skipped' }), inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: 0 };
  const pending = depRecords.find((r) => r.status === 'would-build');
  if (pending) return { ...base, status: 'would-build', ...because({ kind: 'upstream-would-build', instance: pending.instance }), inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: 0 };

  const t0 = performance.now();
  try {
    const shared = await stepDigests(ctx, step);
    const { code, definition, packages, keyParams } = shared;
    const inputs = await resolveInputs(pipeline, store, ctx.fileInputs, instance, outputsOf);
    const stepParams = params[step.name];
    const inputRecords = inputs.map((i) => i.record);
    const forced = options.force?.includes(step.name) ?? false;
    const refreshed = step.source && (options.refresh?.includes(step.name) ?? false);
    const lastSeenNow = (key: string): LastSeen => ({ key, definition, code: code.digest, params: keyParams, inputs: Object.fromEntries(inputs.map((i) => [i.record.name, i.record.digest])), engine: ENGINE_VERSION, packages, package_versions: code.packages });
    // Served as the last build left it when nothing it depends on changed (up-to-date.ts); its key is the remembered one.
    const memoized = forced || step.source ? undefined : ctx.memo?.serve({ ...base, code_digest: code.digest, code_files: code.files, params: stepParams, inputs: inputRecords }, shared.keyId);
    if (memoized) {
      outputsOf.set(instance.id, [...memoized.outputs]);
      if (lastSeen[instance.id]?.key !== memoized.key) lastSeen[instance.id] = lastSeenNow(memoized.key);
      return { ...base, cache_key: memoized.key, code_digest: code.digest, code_files: code.files, params: stepParams, inputs: inputRecords, status: 'cached', ...because({ kind: 'unchanged' }), outputs: [...memoized.outputs], metrics: memoized.metrics, warnings: [...memoized.warnings], duration_ms: Math.round(performance.now() - t0) };
    }
    const key = actionKey(shared.key, inputs.map((i) => [i.record.name, i.record.digest] as const), instance.partition);
    const seen = lastSeenNow(key);
    const common = { ...base, cache_key: key, code_digest: code.digest, code_files: code.files, params: stepParams, inputs: inputRecords };

    let reasons: RerunReason[] = forced ? [{ kind: 'forced' }] : refreshed ? [{ kind: 'refresh' }] : rerunReasons(lastSeen[instance.id], seen, (step.definition as { code: string }).code, ctx.newPartition(instance));
    // A source step's result is a capture, looked up by what it is of — not by the code or versions that made it.
    const captureKey = step.source ? digestJson({ capture: 1, step: step.name, partition: instance.partition, definition, params: keyParams, inputs: seen.inputs }) : undefined;
    if (captureKey && !forced && !refreshed) {
      const onProgress = (done: number, total: number | undefined): void => emit({ type: 'progress', instance: instance.id, done, total });
      // Else a teammate's capture of the same key on the shared remote cache (objects re-hashed), else a
      // pin from an earlier engine (an action entry, local or remote).
      let fromRemote = false;
      const pulled = async (): Promise<CaptureRecord | undefined> => {
        if (options.dryRun) return undefined;
        const pull = await cache.pullCapture(captureKey, expectedOutputs(shared, instance), onProgress);
        if (pull.record) {
          fromRemote = true;
          await captures.adopt(pull.record);
        } else if (pull.problem) reasons = [{ kind: 'remote-rejected', problem: pull.problem }];
        return pull.record;
      };
      const pinned = async (): Promise<ActionResult | undefined> => store.readAction(key) ?? (options.dryRun ? undefined : (await cache.lookup(key, expectedOutputs(shared, instance), { onProgress })).action);
      const capture = captures.read(captureKey) ?? (await pulled()) ?? (await adoptPinnedAction(captures, await pinned(), captureKey, instance, inputs, keyParams, code.digest, packages));
      // A record from a file (an imported bundle, edited by hand) is checked against what the step writes before anything is materialised.
      const problem = capture && captureProblem(capture, expectedOutputs(shared, instance));
      if (problem) throw new UserError('BAD_INPUT', `capture ${instance.id} (cache/captures/${captureKey.slice('sha256:'.length)}.json) ${problem}; \`dagrun build --refresh ${step.name}\` records it again`);
      if (capture) {
        try {
          const restored = { files: 0 };
          const outputs = options.dryRun ? [...capture.outputs] : await materialize(pipeline, store, capture, restored);
          outputsOf.set(instance.id, outputs);
          lastSeen[instance.id] = seen;
          const changed = [capture.engine !== ENGINE_VERSION && 'engine' as const, capture.packages !== packages && 'packages' as const, capture.code_digest !== code.digest && 'code' as const].filter((c) => c !== false);
          return { ...common, status: 'cached', ...because({ kind: 'pinned-capture', step: step.name, captured_at: capture.captured_at, changed_since: changed, ...(fromRemote ? { remote: true } : {}) }), pinned: true, capture_key: captureKey, captured_at: capture.captured_at, ...(restored.files > 0 ? { restored_files: restored.files } : {}), outputs, metrics: capture.metrics, warnings: [...capture.warnings], duration_ms: Math.round(performance.now() - t0) };
        } catch (error) {
          if (!(error instanceof CorruptObject)) throw error;
          await store.discard(error.digest);
          reasons = [{ kind: 'corrupt-cache', problem: error.problem, digest: error.digest }];
        }
      }
    }
    // Captures are not action entries (shared by `captures export/import` and the remote's captures/): sources skip the action cache.
    const expected = expectedOutputs(shared, instance);
    const found = forced || refreshed || step.source ? undefined : await cache.lookup(key, expected, { dryRun: options.dryRun, onProgress: (done, total) => emit({ type: 'progress', instance: instance.id, done, total }) });
    let action = found?.action;
    const fromRemote = found?.action ? found.from === 'remote' : false;
    if (found && !found.action && found.problem) reasons = [{ kind: 'remote-rejected', problem: found.problem }];
    const mismatch = action && entryMismatch(expected, action);
    if (mismatch) {
      // The key matched but the entry does not describe this step's outputs: it was edited or forged.
      if (!options.dryRun) await store.dropAction(key);
      reasons = [{ kind: 'bad-cache-entry', problem: mismatch }];
      action = undefined;
    }
    if (action) {
      try {
        await store.checkObjectsPresent(action);
        const restored = { files: 0 };
        const outputs = options.dryRun ? [...action.outputs] : await materialize(pipeline, store, action, restored);
        outputsOf.set(instance.id, outputs);
        lastSeen[instance.id] = seen;
        if (!fromRemote) ctx.memo?.observe(instance.id, key, shared.keyId, outputs);
        return { ...common, status: 'cached', ...because(fromRemote ? { kind: 'remote-hit', pinned: false } : { kind: 'unchanged' }), ...(restored.files > 0 ? { restored_files: restored.files } : {}), outputs, metrics: action.metrics, warnings: [...action.warnings], duration_ms: Math.round(performance.now() - t0) };
      } catch (error) {
        if (!(error instanceof CorruptObject)) throw error;
        reasons = [{ kind: 'corrupt-cache', problem: error.problem, digest: error.digest }];
        // A plan only reports what a build would find; it changes nothing.
        if (options.dryRun) return { ...common, status: 'would-build', ...because(...reasons), outputs: [], metrics: {}, warnings: [], duration_ms: 0 };
        await store.discard(error.digest);
        await store.dropAction(key);
      }
    }
    if (options.dryRun) return { ...common, status: 'would-build', ...because(...reasons), outputs: [], metrics: {}, warnings: [], duration_ms: 0 };

    const capturedAt = new Date().toISOString();
    const { action: result, shared: onRemote } = await semaphore.run(() => {
      const stopping = ctx.stopped();
      if (stopping) throw new NotStarted(stopping);
      emit({ type: 'instance-started', instance: instance.id, step: step.name, partition: instance.partition, reasons });
      return executor.run({ pipeline, store, instance, inputs, params: stepParams, key, runId, emit, expected, digests: { code: code.digest, definition, packages } });
    });
    if (captureKey) {
      const record: CaptureRecord = {
        key: captureKey, step: step.name, instance: instance.id, partition: instance.partition, captured_at: capturedAt,
        sources: inputs.map((i) => i.record.source), params: keyParams, outputs: result.outputs, metrics: result.metrics, warnings: result.warnings,
        engine: ENGINE_VERSION, code_digest: code.digest, packages, run_id: runId,
      };
      await captures.write(record);
      // Pushed to a shared remote (read-write), where another machine's build pulls it instead of recording again.
      cache.recordCapture(record);
    }
    outputsOf.set(instance.id, result.outputs as StoredOutput[]);
    // Uploaded to a shared remote (read-write) like any result — but a source's travels as its capture
    // only (above): an action entry too would let another machine adopt a different capture than the
    // one captures/ keeps once this one is refreshed.
    if (!onRemote && !captureKey) cache.record(result);
    lastSeen[instance.id] = seen;
    return { ...common, status: 'built', ...because(...reasons), pinned: step.source || undefined, capture_key: captureKey, captured_at: captureKey ? capturedAt : undefined, outputs: [...result.outputs], metrics: result.metrics, warnings: [...result.warnings], duration_ms: Math.round(performance.now() - t0) };
  } catch (error) {
    if (error instanceof NotStarted) return { ...base, status: 'skipped', ...because({ kind: 'not-started', why: error.why }), inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: 0 };
    // A kernel whose worker the interrupt terminated did not fail on its own: say so, not "exited with code 1".
    const message = error instanceof StoppedWhileRunning || (ctx.stopped() === 'interrupted' && !isUserError(error)) ? STOPPED_WHILE_RUNNING : isUserError(error) ? (error as UserError).format() : describeError(error);
    return { ...base, status: 'failed', ...because({ kind: 'step-failed', code: isUserError(error) ? (error as UserError).code : undefined, message } satisfies FailReason), error: message, inputs: [], outputs: [], params: params[step.name], metrics: {}, warnings: [], duration_ms: Math.round(performance.now() - t0) };
  }
}

/** The step's definition in keys; what its output schema files constrain matters too (a stricter schema must re-check), their descriptions do not. */
export function definitionDigest(step: Instance['step']): string {
  const schemas = step.outputs.filter((o) => o.schemaFile).map((o) => digestJson(semanticSchema(JSON.parse(readFileSync(o.schemaFile as string, 'utf8')))));
  return digestJson({ definition: step.definition, schemas });
}

/** The outputs a step instance declares, as an action entry must list them. */
function expectedOutputs(shared: StepDigests, instance: Instance): ExpectedOutput[] {
  const { step, partitionValue } = instance;
  // Filling the normalised template equals normalising the filled path: a partition value is one plain name, never `.` or `..`.
  return step.outputs.map((output, i) => ({
    name: output.name,
    path: step.partition && partitionValue !== undefined ? shared.outputPaths[i].replaceAll(`{${step.partition}}`, partitionValue) : shared.outputPaths[i],
    kind: output.format === 'directory' ? 'tree' : 'file',
  }));
}

/**
 * A live source pinned by an earlier engine (as an action entry) becomes a capture the first time it
 * is seen, so upgrading does not throw away what cannot be recorded again.
 */
async function adoptPinnedAction(captures: Captures, action: ActionResult | undefined, captureKey: string, instance: Instance, inputs: InputWithRecord[], params: Record<string, unknown>, code: string, packages: string): Promise<CaptureRecord | undefined> {
  if (!action || !action.source) return undefined;
  const record: CaptureRecord = {
    key: captureKey, step: action.step, instance: instance.id, partition: action.partition, captured_at: runIdTime(action.run_id),
    sources: inputs.map((i) => i.record.source), params, outputs: action.outputs, metrics: action.metrics, warnings: action.warnings,
    engine: ENGINE_VERSION, code_digest: code, packages, run_id: action.run_id,
  };
  await captures.write(record);
  return record;
}

/** The start time a run id encodes (20261203T095609332Z-3fc6de → 2026-12-03T09:56:09.332Z). */
function runIdTime(runId: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(runId);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : new Date(0).toISOString();
}

/** Why an action entry read for this instance's key does not describe its outputs; undefined when it does. */
function entryMismatch(expected: readonly ExpectedOutput[], action: ActionResult): string | undefined {
  const declared = expected.map((o) => o.name).sort();
  const named = action.outputs.map((o) => o.name).sort();
  if (declared.join('\0') !== named.join('\0')) return `names outputs ${named.join(', ') || 'none'}, the step declares ${declared.join(', ')}`;
  for (const output of action.outputs) {
    const want = expected.find((o) => o.name === output.name) as ExpectedOutput;
    if (output.path !== want.path) return `gives output "${output.name}" the path ${JSON.stringify(output.path)}, not the declared one`;
    if (output.kind !== want.kind) return `gives output "${output.name}" the wrong kind`;
  }
  return undefined;
}

/** A record's reasons: the structured form, and the sentence rendered from it in one place. */
export function because(...reasons: Reason[]): { reason: string; reasons: Reason[] } {
  return { reason: describeReasons(reasons), reasons };
}
