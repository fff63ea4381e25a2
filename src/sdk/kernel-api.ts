// The contract between the engine and a TS kernel (`kernel:` step). A kernel module's default
// export is a `Kernel`. It reads only what `ctx` hands it and writes only to `ctx.outputs`.

/** `P`: the params' type (`dagrun types` generates it per step as `Params`). */
export interface KernelContext<P = Record<string, unknown>> {
  /** Step name as declared in pipeline.yaml. */
  readonly step: string;
  /**
   * One local path per declared input. For a step output consumed from a partitioned producer by a
   * non-partitioned consumer, this is the first file; all of them are in `inputFiles`.
   * For `wss:`/`https:` inputs of a source step, it is the URI itself.
   */
  readonly inputs: Readonly<Record<string, string>>;
  /** Every file behind each input (fan-in from several partitions), in partition order. */
  readonly inputFiles: Readonly<Record<string, readonly string[]>>;
  /** Where to write each declared output: a file path, or a directory (format: directory) that exists and is empty. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Params after defaults and `--set` overrides, validated against the step's param schemas. */
  readonly params: Readonly<P>;
  /** The partition this invocation runs for, e.g. { date: '2024-01-02' }; empty when not partitioned. */
  readonly partition: Readonly<Record<string, string>>;
  /** Informational log line (shown with --verbose, kept in the run log). */
  log(message: string): void;
  /** A warning the run can go on from; recorded in the manifest for this step. */
  warn(message: string): void;
  /** Progress for long work: a TTY shows a progress line. */
  progress(done: number, total?: number): void;
  /**
   * Per-item outcomes, for kernels that loop over items (chips, STAC items, scenes). Report every item:
   * `itemDone()` when it was processed (a count for many), `itemFailed(id, reason)` when it could not
   * be. Failed items become warnings and `items_failed`/`items_done` metrics; the step fails, naming
   * the first reasons, when every item failed or more than its `max_failed_fraction` param allows.
   */
  itemDone(count?: number): void;
  itemFailed(item: string, reason: string): void;
  /** A number or short string recorded in the manifest (row counts, rejects, KPIs). */
  metric(name: string, value: number | string): void;
  /**
   * A secret from the environment (e.g. AISSTREAM_API_KEY). Only source steps may read secrets;
   * the value never reaches a manifest or a log line.
   */
  secret(name: string): string | undefined;
  /**
   * `text` with every value read through `secret()` replaced by `***` (also inside JSON strings).
   * Logs and errors are scrubbed by the engine; a kernel that writes upstream data verbatim (a raw
   * recording, a reject's raw line) passes it through this, since a feed may echo the credential.
   */
  redact(text: string): string;
  /** The current time; only source steps may read the clock (others get a StepError). */
  now(): Date;
  /**
   * `path` relative to the pipeline folder, '/'-separated (URIs unchanged): what an output, a
   * warning or an error should name, so a build does not depend on where the checkout lives.
   */
  relativePath(path: string): string;
  /** A path stored relative to the pipeline folder (as `relativePath` gives it), usable again; URIs unchanged. */
  resolvePath(path: string): string;
}

export type Kernel<P = Record<string, unknown>> = (ctx: KernelContext<P>) => Promise<void> | void;
