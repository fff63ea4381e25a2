// Where a step instance that missed the cache runs. The runner keeps scheduling, the manifest and
// the lock; an executor only turns (instance, resolved inputs, params, key) into an action result
// whose outputs are in the local store and in out/.
import type { Pipeline } from '../pipeline.js';
import type { ActionResult, Store } from '../store.js';
import type { Emit } from '../events/bus.js';
import type { Instance } from '../instances.js';
import type { InputWithRecord } from '../inputs.js';
import type { ExpectedOutput } from '../cache/tiered.js';

export interface ExecutionRequest {
  readonly pipeline: Pipeline;
  readonly store: Store;
  readonly instance: Instance;
  readonly inputs: readonly InputWithRecord[];
  readonly params: Record<string, unknown>;
  /** The action key the result answers. */
  readonly key: string;
  readonly runId: string;
  readonly emit: Emit;
  /** The outputs the step declares, as an action entry must list them. */
  readonly expected: readonly ExpectedOutput[];
  /** What a remote worker must have to run it: the same step code, definition and library versions. */
  readonly digests: { readonly code: string; readonly definition: string; readonly packages: string };
}

export interface Execution {
  readonly action: ActionResult;
  /** The result (objects and entry) is already on the shared remote cache: nothing to upload. */
  readonly shared: boolean;
}

export interface Executor {
  readonly name: 'local' | 'bullmq';
  /** How many instances the runner may hand over at once. */
  readonly slots: number;
  run(request: ExecutionRequest): Promise<Execution>;
  close(): Promise<void>;
}
