// The local executor: today's worker pool. SQL runs in DuckDB in this process, kernels in worker
// threads; outputs are ingested into the store and materialised in out/. `runInScratch` is shared
// with `dagrun worker`, which runs the same code on another machine.
import { mkdir, rm } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { resolveUnder } from '../paths.js';
import { isSafeRelativePath, WalkProblem } from '../tree-walk.js';
import { StepError } from '../../sdk/errors.js';
import { relativiser } from '../../sdk/project-paths.js';
import { outputPath, type Pipeline } from '../pipeline.js';
import { runStep, KernelPool, type ResolvedInput, type StepEvents } from '../execute.js';
import type { ActionResult, Store, StoredOutput } from '../store.js';
import type { Instance } from '../instances.js';
import type { Execution, ExecutionRequest, Executor } from './types.js';

export class LocalExecutor implements Executor {
  readonly name = 'local' as const;
  private readonly pool: KernelPool;
  constructor(readonly slots: number) {
    this.pool = new KernelPool(slots);
  }
  async run(request: ExecutionRequest): Promise<Execution> {
    const { pipeline, store, instance, inputs, params, key, runId, emit } = request;
    const action = await runInScratch(pipeline, store, instance, inputs, params, key, runId, {
      log: (message) => emit({ type: 'log', instance: instance.id, message }),
      progress: (done, total) => emit({ type: 'progress', instance: instance.id, done, total }),
    }, this.pool);
    // A source step's result is kept as a capture (captures.ts), not as an action entry.
    if (!instance.step.source) await store.writeAction(action);
    await materialize(pipeline, store, action);
    return { action, shared: false };
  }
  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * Run one instance in a scratch folder of the store and ingest its outputs: the action result
 * (outputs in the store, not yet in out/). Logs, warnings and metrics name files relative to the
 * pipeline folder, so the result is valid wherever the checkout, or a shared cache, lives.
 */
export async function runInScratch(pipeline: Pipeline, store: Store, instance: Instance, inputs: readonly ResolvedInput[], params: Record<string, unknown>, key: string, runId: string, events: StepEvents, pool: KernelPool): Promise<ActionResult> {
  const { step } = instance;
  const scratch = join(store.tmpDir, runId, instance.id.replace(/[^A-Za-z0-9_.=-]/g, '_'));
  await rm(scratch, { recursive: true, force: true });
  const targets: Record<string, string> = {};
  for (const output of step.outputs) {
    const dir = join(scratch, output.name);
    await mkdir(dir, { recursive: true });
    targets[output.name] = output.format === 'directory' ? join(dir, 'tree') : join(dir, basename(output.path.replaceAll(`{${step.partition}}`, instance.partitionValue ?? '')));
  }
  const portable = relativiser(pipeline.dir);
  const result = await runStep(step, inputs, params, instance.partition, targets, {
    log: (message) => events.log?.(portable(message)),
    progress: (done, total) => events.progress?.(done, total),
  }, pipeline.dir, pool, scratch);
  const outputs: StoredOutput[] = [];
  for (const output of step.outputs) {
    const finalPath = relative(pipeline.outputRoot, outputPath(pipeline, step, output, instance.partitionValue)).split(sep).join('/');
    try {
      if (output.format === 'directory') {
        const tree = await store.ingestTree(targets[output.name]);
        outputs.push({ name: output.name, path: finalPath, kind: 'tree', digest: tree.digest, bytes: tree.size, files: tree.files });
      } else {
        const file = await store.ingestFile(targets[output.name]);
        outputs.push({ name: output.name, path: finalPath, kind: 'file', digest: file.digest, bytes: file.size, rows: result.rows[output.name] });
      }
    } catch (error) {
      if (!(error instanceof WalkProblem)) throw error;
      // Refused, not followed: storing a link's target could copy or move files from outside the step's folder.
      const where = error.path === '.' ? 'it' : error.path;
      throw new StepError(`output "${step.name}.${output.name}": ${where} ${error.problem === 'not-a-file' ? 'is neither a regular file nor a folder' : 'is a symbolic link'}; outputs must be regular files written into the output's own folder (write a copy instead of a link)`, step.name);
    }
  }
  const metrics = Object.fromEntries(Object.entries(result.metrics).map(([name, value]) => [name, typeof value === 'string' ? portable(value) : value]));
  await rm(scratch, { recursive: true, force: true });
  return { key, step: step.name, partition: instance.partition, outputs, metrics, warnings: result.warnings.map(portable), source: step.source, run_id: runId };
}

/**
 * Make out/ hold a result's outputs. `restored` counts the files that had to be written or removed
 * (deleted or edited by hand since), so a build can say how many it put back.
 */
export async function materialize(pipeline: Pipeline, store: Store, action: { readonly outputs: readonly StoredOutput[] }, restored = { files: 0 }): Promise<StoredOutput[]> {
  for (const output of action.outputs) {
    // Checked again here, where the path is used: nothing read from the store may write outside out/.
    if (!isSafeRelativePath(output.path)) throw new Error(`refusing to write outside the output root: ${JSON.stringify(output.path)}`);
    const target = resolveUnder(pipeline.outputRoot, output.path);
    if (output.kind === 'tree') await store.materializeTree(output.digest, target, pipeline.outputRoot, restored);
    else if ((await store.materializeFile(output.digest, target, pipeline.outputRoot)) === 'written') restored.files += 1;
  }
  return [...action.outputs];
}
