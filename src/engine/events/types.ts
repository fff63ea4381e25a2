// The one event stream. Every engine outcome (build, plan, exec, verify, gc, a schedule's fire) is a
// typed event; the terminal reporter, `--events ndjson`, the scheduler's ingestion log and the web UI
// all consume this stream and nothing else (the model: wireit's src/event.ts + src/logging/).
//
// Why a step instance runs, is served from cache or is skipped is data (`Reason`), rendered to a
// sentence in exactly one place (`describeReason` in reasons.ts). Manifests and `plan --json` carry
// the structured form next to the sentence.

/** Why an instance must run (a cache miss, or a user's request). */
export type RerunReason =
  | { readonly kind: 'no-previous-result' }
  /** A partition value no earlier build saw (its data landed: `from_files`). */
  | { readonly kind: 'new-partition'; readonly partition: string }
  | { readonly kind: 'cache-entry-missing' }
  | { readonly kind: 'engine-changed'; readonly from: string; readonly to: string }
  | { readonly kind: 'packages-changed'; readonly changes?: readonly string[] }
  | { readonly kind: 'code-changed'; readonly file: string }
  | { readonly kind: 'definition-changed' }
  | { readonly kind: 'param-changed'; readonly name: string; readonly from: unknown; readonly to: unknown }
  | { readonly kind: 'input-changed'; readonly name: string; readonly from?: string; readonly to?: string }
  | { readonly kind: 'partition-changed' }
  | { readonly kind: 'forced' }
  | { readonly kind: 'refresh' }
  | { readonly kind: 'outside-cache' }
  | { readonly kind: 'corrupt-cache'; readonly problem: string; readonly digest: string }
  /** The remote cache had an entry, but it or an object it references failed its checks. */
  | { readonly kind: 'remote-rejected'; readonly problem: string }
  | { readonly kind: 'bad-cache-entry'; readonly problem: string }
  | { readonly kind: 'upstream-would-build'; readonly instance: string };

/** Why an instance was served from the store. */
export type CachedReason =
  | { readonly kind: 'unchanged' }
  /** A live source's capture reused (`remote`: pulled from the remote cache); `changed_since` names what changed since it was recorded (none of it redoes a capture). */
  | { readonly kind: 'pinned-capture'; readonly step?: string; readonly captured_at?: string; readonly changed_since?: readonly ('engine' | 'packages' | 'code')[]; readonly remote?: boolean }
  | { readonly kind: 'remote-hit'; readonly pinned: boolean };

/** Why an instance did not run at all. */
export type SkipReason =
  | { readonly kind: 'upstream-failed'; readonly instance: string; readonly status: 'failed' | 'skipped' }
  /** The build stopped before this instance started (a signal, or the disk filled up). */
  | { readonly kind: 'not-started'; readonly why: 'interrupted' | 'disk-full' };

/** Why an instance failed. */
export type FailReason = { readonly kind: 'step-failed'; readonly code?: string; readonly message: string };

export type Reason = RerunReason | CachedReason | SkipReason | FailReason;

export type RunKind = 'build' | 'plan' | 'exec' | 'verify' | 'gc';

export interface RunCounts {
  readonly built: number;
  readonly cached: number;
  readonly failed: number;
  readonly skipped: number;
  readonly would_build: number;
}

interface Base {
  /** ISO time the event was emitted. */
  readonly time: string;
  readonly run_id: string;
}

interface InstanceBase extends Base {
  readonly instance: string;
  readonly step: string;
  readonly partition: Readonly<Record<string, string>>;
}

export type DagrunEvent =
  /** `total`: the instances this run will decide on (build and plan). */
  | (Base & { readonly type: 'run-started'; readonly kind: RunKind; readonly targets: readonly string[]; readonly schedule?: string; readonly total?: number })
  | (Base & { readonly type: 'run-finished'; readonly kind: RunKind; readonly status: 'ok' | 'failed'; readonly counts: RunCounts; readonly manifest?: string; readonly schedule?: string })
  | (InstanceBase & { readonly type: 'instance-started'; readonly reasons: readonly RerunReason[] })
  | (InstanceBase & { readonly type: 'instance-built'; readonly reasons: readonly RerunReason[]; readonly duration_ms: number; readonly rows: Readonly<Record<string, number>> })
  | (InstanceBase & { readonly type: 'instance-cached'; readonly reason: CachedReason })
  | (InstanceBase & { readonly type: 'instance-would-build'; readonly reasons: readonly RerunReason[] })
  | (InstanceBase & { readonly type: 'instance-failed'; readonly reason: FailReason; readonly duration_ms: number })
  | (InstanceBase & { readonly type: 'instance-skipped'; readonly reason: SkipReason })
  | (InstanceBase & { readonly type: 'capture-pinned'; readonly reused: boolean })
  | (Base & { readonly type: 'progress'; readonly instance?: string; readonly done: number; readonly total?: number })
  | (Base & { readonly type: 'log'; readonly instance?: string; readonly message: string })
  | (Base & { readonly type: 'warning'; readonly instance?: string; readonly message: string })
  | (Base & { readonly type: 'lock-wait'; readonly holder: string });

export type EventType = DagrunEvent['type'];
export type EventOf<T extends EventType> = Extract<DagrunEvent, { type: T }>;

/** Anything that consumes the stream. Sinks must not throw; a failing sink is the sink's problem. */
export type EventSink = (event: DagrunEvent) => void;

/** Distributive Omit so each member of the union keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type EventBody = DistributiveOmit<DagrunEvent, 'time' | 'run_id'>;
