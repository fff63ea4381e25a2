// `dagrun exec`: run one declared step on given inputs, outside the cache, writing into --out.
// For ad-hoc runs and for checking a step on other data; it goes through the same runner code as build.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../sdk/errors.js';
import { relativiser } from '../sdk/project-paths.js';
import { loadPipeline, SAFE_PARTITION_VALUE, type StepSpec } from './pipeline.js';
import { resolveParams } from './runner.js';
import { formatFromExtension } from './inputs.js';
import { runStep, type ResolvedInput } from './execute.js';
import { newRunId } from './runner.js';
import { emitterFor } from './events/bus.js';
import type { EventSink } from './events/types.js';

export interface ExecOptions {
  /** Path to pipeline.yaml (default ./pipeline.yaml). */
  readonly pipeline?: string;
  readonly step: string;
  /** NAME → URI (`file:path`, a plain path, or a remote URI for source steps). */
  readonly inputs?: Readonly<Record<string, string>>;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly partition?: Readonly<Record<string, string>>;
  readonly outDir: string;
  readonly onLog?: (message: string) => void;
  /** The event stream: run-started, log, progress, warning, run-finished (kind `exec`). */
  readonly onEvent?: EventSink;
  /**
   * Producer steps to run first (`--via tle-fetch`): an --input given for an input that comes from
   * one of them is handed to that producer instead, and its output feeds this step.
   */
  readonly via?: readonly string[];
}

export interface ExecResult {
  readonly outputs: Record<string, string>;
  readonly metrics: Record<string, number | string>;
  readonly warnings: string[];
  readonly rows: Record<string, number>;
}

export async function execStep(options: ExecOptions): Promise<ExecResult> {
  const pipeline = loadPipeline(options.pipeline ?? 'pipeline.yaml');
  const step = pipeline.steps.get(options.step);
  if (!step) throw new UserError('CLI', `no step named "${options.step}" (steps: ${pipeline.order.join(', ')})`);
  const params = resolveParams(pipeline, { [step.name]: options.params ?? {} })[step.name];
  const partition = partitionFor(step, options.partition ?? {});
  const given: Record<string, string> = { ...(options.inputs ?? {}) };
  for (const name of Object.keys(given)) {
    if (!step.inputs.some((i) => i.name === name)) throw new UserError('CLI', `step "${step.name}" has no input "${name}" (inputs: ${step.inputs.map((i) => i.name).join(', ')})`);
  }
  for (const via of options.via ?? []) {
    const fed = step.inputs.filter((i) => i.kind === 'step' && i.step === via && !i.previous);
    if (!pipeline.steps.has(via)) throw new UserError('CLI', `--via ${via}: no step named "${via}" (steps: ${pipeline.order.join(', ')})`);
    if (fed.length === 0) throw new UserError('CLI', `--via ${via}: no input of "${step.name}" comes from "${via}" (its inputs: ${step.inputs.map((i) => `${i.name} ← ${i.kind === 'step' ? `${i.step}.${i.output}` : i.kind}`).join(', ')})`);
    const producer = pipeline.steps.get(via) as StepSpec;
    // What the user gave for the consumer's input is the producer's raw input: same name, or its only file/remote input.
    const raw = producer.inputs.filter((i) => i.kind !== 'step');
    const producerInputs: Record<string, string> = {};
    for (const input of fed) {
      if (given[input.name] === undefined) continue;
      const target = producer.inputs.find((i) => i.name === input.name && i.kind !== 'step') ?? (raw.length === 1 ? raw[0] : undefined);
      if (!target) throw new UserError('CLI', `--via ${via}: "${via}" has no input to take ${input.name}=${given[input.name]} (its inputs: ${producer.inputs.map((i) => i.name).join(', ')})`);
      producerInputs[target.name] = given[input.name];
    }
    const ran = await execStep({ pipeline: options.pipeline, step: via, inputs: producerInputs, partition: producer.partition ? options.partition : {}, outDir: options.outDir, onLog: options.onLog, onEvent: options.onEvent });
    for (const input of fed) given[input.name] = `file:${ran.outputs[input.output as string]}`;
  }
  const inputs: ResolvedInput[] = step.inputs.map((input) => {
    const uri = given[input.name];
    const producerSpec = input.kind === 'step' ? pipeline.steps.get(input.step as string)?.outputs.find((o) => o.name === input.output) : undefined;
    if (uri !== undefined) return inputFromUri(input.name, uri, step, producerSpec?.format ?? input.format, producerSpec?.columns ?? input.columns, input.kind === 'step' ? input.step : undefined);
    if (input.kind === 'file') return { name: input.name, files: existsSync(input.location as string) ? [input.location as string] : [], format: input.format ?? formatFromExtension(input.location as string), columns: input.columns };
    if (input.kind === 'remote') return { name: input.name, files: [], format: input.format ?? 'text', uri: input.location };
    if (input.previous || input.optional) return { name: input.name, files: [], format: producerSpec?.format ?? 'parquet', columns: producerSpec?.columns };
    throw new UserError('CLI', `input "${input.name}" comes from step "${input.step}": give it with --input ${input.name}=file:PATH${pipeline.steps.get(input.step as string)?.source ? ` (or its raw input with --via ${input.step})` : ''}`);
  });
  const outDir = resolve(options.outDir);
  const outputs: Record<string, string> = {};
  for (const output of step.outputs) {
    const relativePath = step.partition ? output.path.replaceAll(`{${step.partition}}`, partition[step.partition]) : output.path;
    const target = resolve(outDir, relativePath);
    if (output.format === 'directory') await rm(target, { recursive: true, force: true });
    await mkdir(output.format === 'directory' ? target : dirname(target), { recursive: true });
    outputs[output.name] = target;
  }
  const emit = emitterFor(options.onEvent, newRunId());
  const at = { instance: step.name, step: step.name, partition };
  emit({ type: 'run-started', kind: 'exec', targets: [step.name] });
  const counts = { built: 0, cached: 0, failed: 0, skipped: 0, would_build: 0 };
  const started = performance.now();
  try {
    // Warnings, metrics and log lines name files relative to the pipeline folder, as in a build.
    const portable = relativiser(pipeline.dir);
    const ran = await runStep(step, inputs, params, partition, outputs, {
      log: (message) => {
        message = portable(message);
        options.onLog?.(message);
        emit({ type: 'log', instance: step.name, message });
      },
      progress: (done, total) => emit({ type: 'progress', instance: step.name, done, total }),
    }, pipeline.dir);
    const result = { ...ran, warnings: ran.warnings.map(portable), metrics: Object.fromEntries(Object.entries(ran.metrics).map(([k, v]) => [k, typeof v === 'string' ? portable(v) : v])) };
    for (const message of result.warnings) emit({ type: 'warning', instance: step.name, message });
    emit({ type: 'instance-built', ...at, reasons: [{ kind: 'outside-cache' }], duration_ms: Math.round(performance.now() - started), rows: result.rows });
    emit({ type: 'run-finished', kind: 'exec', status: 'ok', counts: { ...counts, built: 1 } });
    return { outputs, ...result };
  } catch (error) {
    emit({ type: 'instance-failed', ...at, reason: { kind: 'step-failed', message: error instanceof Error ? error.message : String(error) }, duration_ms: Math.round(performance.now() - started) });
    emit({ type: 'run-finished', kind: 'exec', status: 'failed', counts: { ...counts, failed: 1 } });
    throw error;
  }
}

function partitionFor(step: StepSpec, given: Readonly<Record<string, string>>): Record<string, string> {
  if (!step.partition) return {};
  const value = given[step.partition];
  if (!value) throw new UserError('CLI', `step "${step.name}" is partitioned by ${step.partition}: give --partition ${step.partition}=VALUE`);
  // exec may run any value (not only the declared ones), but it becomes a path segment under --out.
  if (!SAFE_PARTITION_VALUE.test(value)) throw new UserError('CLI', `--partition ${step.partition}=${value}: a partition value must be a plain name (letters, digits, _ . = -)`);
  return { [step.partition]: value };
}

function inputFromUri(name: string, uri: string, step: StepSpec, expected: string | undefined, columns: Record<string, string> | undefined, producer: string | undefined): ResolvedInput {
  if (/^(https?|wss?|s3):\/\//.test(uri)) {
    if (!step.source) throw new UserError('CLI', `--input ${name}=${uri.split('?')[0]}: only a source step reads remote URIs`);
    return { name, files: [], format: 'text', uri };
  }
  const given = uri.startsWith('file://') ? fileURLToPath(uri) : uri.replace(/^file:/, '');
  const path = resolve(given);
  if (!existsSync(path)) throw new UserError('CLI', `--input ${name}: ${given} does not exist`);
  const byExtension = formatFromExtension(path);
  const isDirectory = statSync(path).isDirectory();
  const format = isDirectory ? 'directory' : byExtension !== 'text' ? byExtension : ((expected as ResolvedInput['format']) ?? 'text');
  // A file in the wrong format for the consumer fails here, in one sentence, not inside DuckDB halfway through.
  const wrong = (what: string): UserError =>
    new UserError('CLI', `--input ${name}=${given}: "${step.name}" reads ${name} as ${expected}${producer ? ` (what ${producer} writes)` : ''}, but ${given} is ${what}${producer ? `; give a ${expected} file, or let exec make it from this file: --via ${producer}` : ''}`);
  if (expected === 'directory' && !isDirectory) throw wrong('a file');
  if (expected && expected !== 'directory' && isDirectory) throw wrong('a directory');
  if (expected === 'parquet' && !isDirectory && !hasParquetMagic(path)) throw wrong('not a parquet file');
  return { name, files: [path], format, columns };
}

/** Parquet files begin (and end) with the magic bytes PAR1. */
function hasParquetMagic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.toString('latin1') === 'PAR1';
  } finally {
    closeSync(fd);
  }
}
