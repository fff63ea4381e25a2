// Lineage manifests: their shape, reading them back by name (`latest`, `previous`, a run id or its
// prefix), diffing two runs, and tracing the upstream tree of one output.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import { UserError } from '../sdk/errors.js';
import { writeFileAtomicSync } from '../sdk/atomic-write.js';
import { SCHEMAS_DIR } from './paths.js';
import { shortDigest } from '../sdk/hash.js';
import type { StoredOutput } from './store.js';
import type { Reason } from './events/types.js';

export interface InputRecord {
  readonly name: string;
  /** `step.output`, `file:path`, or a URI without its query string. */
  readonly source: string;
  /** Producing instances, for step inputs. */
  readonly from?: readonly string[];
  readonly digest: string;
  readonly bytes: number;
  readonly files?: number;
}

export type StepStatus = 'built' | 'cached' | 'failed' | 'skipped' | 'would-build';

export interface StepRecord {
  readonly step: string;
  readonly instance: string;
  readonly partition: Record<string, string>;
  readonly kind: 'sql' | 'kernel';
  readonly source: boolean;
  readonly status: StepStatus;
  /** `reasons` rendered to one sentence (events/reasons.ts). */
  readonly reason: string;
  /** Why it ran, was cached, skipped or failed, as data (`{kind: 'param-changed', name, from, to}` …). */
  readonly reasons?: readonly Reason[];
  readonly pinned?: boolean;
  readonly cache_key?: string;
  /** Source steps: the capture their outputs are (cache/captures/), and when it was recorded. */
  readonly capture_key?: string;
  readonly captured_at?: string;
  /** Cached instances: files in out/ that were deleted or edited by hand and were put back. */
  readonly restored_files?: number;
  readonly code_digest?: string;
  readonly code_files?: readonly string[];
  readonly params: Record<string, unknown>;
  readonly inputs: readonly InputRecord[];
  readonly outputs: readonly StoredOutput[];
  readonly metrics: Record<string, number | string>;
  readonly warnings: readonly string[];
  readonly error?: string;
  readonly duration_ms: number;
  /**
   * A cached instance whose record is the same as in an earlier run: on disk it is stored as a
   * reference to that run ("unchanged since RUN") instead of a copy, and read back whole.
   */
  readonly unchanged_since?: string;
}

/** What changes from run to run for an instance that did not change: the rest is stored once. */
const PER_RUN_FIELDS = ['step', 'instance', 'partition', 'status', 'reason', 'reasons', 'duration_ms', 'restored_files', 'unchanged_since'] as const;
const PER_RUN = new Set<string>(PER_RUN_FIELDS);

export interface Manifest {
  readonly $schema: string;
  readonly run_id: string;
  readonly kind: 'build' | 'plan';
  /** The schedule whose fire started this run (`dagrun serve`, `dagrun schedule run`). */
  readonly schedule?: string;
  readonly status: 'ok' | 'failed';
  readonly pipeline: { file: string; name: string; output_root: string };
  readonly started_at: string;
  readonly finished_at: string;
  readonly versions: { engine: string; node: string; duckdb: string };
  readonly options: Record<string, unknown>;
  readonly steps: readonly StepRecord[];
  /** Fan-in steps a partition-filtered run left out and made stale (`--with-fan-in` rebuilds them). */
  readonly stale_fan_in?: readonly { readonly instance: string; readonly partition: string; readonly reason: string }[];
}

/** DuckDB's version from the installed binding's package (loading DuckDB itself costs ~1 s). */
export async function duckdbVersion(): Promise<string> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const { version } = require('@duckdb/node-api/package.json') as { version: string };
  return `v${version.replace(/-r\.\d+$/, '')}`;
}

export { redactSecrets } from './redact.js';

export function listRuns(runsDir: string): string[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** Called once per unreadable manifest a reader skips: one line naming the file and the problem. */
export type SkipWarning = (message: string) => void;

let manifestValidator: ValidateFunction | undefined;

/** Why a parsed manifest is not a manifest (first schema error), or undefined when it is one. */
export function manifestProblem(value: unknown): string | undefined {
  if (!manifestValidator) {
    const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    // Formats are not checked: a date-time string from another clock is still a readable record.
    manifestValidator = new Ajv({ strict: false, validateFormats: false }).compile(JSON.parse(readFileSync(join(SCHEMAS_DIR, 'manifest.schema.json'), 'utf8')));
  }
  if (manifestValidator(value)) return undefined;
  const error = manifestValidator.errors?.[0];
  return `does not match the manifest schema: ${error?.instancePath || '/'} ${error?.message ?? ''}`.trim();
}

/** One manifest file read and checked against schemas/manifest.schema.json. */
export function readManifestFile(file: string): { manifest?: Manifest; problem?: string } {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return { problem: `cannot be read (${(error as Error).message})` };
  }
  const problem = manifestProblem(value);
  return problem ? { problem } : { manifest: value as Manifest };
}

/** Every readable manifest, oldest first; each unreadable one is skipped with one warning. */
export function readableRuns(runsDir: string, warn: SkipWarning): { id: string; manifest: Manifest }[] {
  const out: { id: string; manifest: Manifest }[] = [];
  for (const id of listRuns(runsDir)) {
    const { manifest, problem } = readManifestFile(join(runsDir, `${id}.json`));
    if (!manifest) {
      warn(skipMessage(id, problem as string));
      continue;
    }
    try {
      out.push({ id, manifest: expandReferences(runsDir, manifest) });
    } catch (error) {
      // A record referring to a run that is gone or unreadable.
      warn(skipMessage(id, (error as Error).message));
    }
  }
  return out;
}

function skipMessage(id: string, problem: string): string {
  return `skipping manifest runs/${id}.json: it ${problem.split('\n')[0]} (\`dagrun verify --repair\` sets it aside)`;
}

/**
 * A manifest by name: `latest` and `previous` count readable manifests only (an unreadable one is
 * skipped with a warning); a run id or prefix naming an unreadable manifest is a one-line error.
 */
export function readManifest(runsDir: string, name: string, warn: SkipWarning = () => undefined): Manifest {
  const runs = listRuns(runsDir);
  if (runs.length === 0) throw new UserError('CLI', 'no runs yet: run `dagrun build` first');
  if (name === 'latest' || name === 'previous') {
    const wanted = name === 'latest' ? 1 : 2;
    let found = 0;
    for (const id of [...runs].reverse()) {
      const { manifest, problem } = readManifestFile(join(runsDir, `${id}.json`));
      if (!manifest) {
        warn(skipMessage(id, problem as string));
        continue;
      }
      found += 1;
      if (found === wanted) return expandReferences(runsDir, manifest);
    }
    throw new UserError('CLI', `no ${name} run: ${found} readable manifest(s) of ${runs.length}`);
  }
  const matches = runs.filter((r) => r === name || r.startsWith(name));
  if (matches.length > 1) throw new UserError('CLI', `run "${name}" is ambiguous: ${matches.slice(0, 5).join(', ')}`);
  const id = matches[0];
  if (!id) throw new UserError('CLI', `no run "${name}" (${runs.length} runs; see \`dagrun runs\`)`);
  const { manifest, problem } = readManifestFile(join(runsDir, `${id}.json`));
  if (!manifest) throw new UserError('CLI', `manifest runs/${id}.json ${problem} (\`dagrun verify --repair\` sets it aside)`);
  return expandReferences(runsDir, manifest);
}

/** One manifest as stored (records may refer to earlier runs); an unreadable one is a one-line error. */
function readRaw(runsDir: string, id: string): Manifest {
  const { manifest, problem } = readManifestFile(join(runsDir, `${id}.json`));
  if (!manifest) throw new UserError('CLI', `manifest runs/${id}.json ${problem} (\`dagrun verify --repair\` sets it aside)`);
  return manifest;
}

/** A record stored as "unchanged since RUN" has no outputs of its own: they are in RUN's record. */
function isReference(record: StepRecord): boolean {
  return record.unchanged_since !== undefined && record.outputs === undefined;
}

/** The manifest with every referring record made whole from the run it refers to. */
function expandReferences(runsDir: string, manifest: Manifest): Manifest {
  if (!manifest.steps.some(isReference)) return manifest;
  const runs = new Map<string, Map<string, StepRecord>>();
  const steps = manifest.steps.map((record) => {
    if (!isReference(record)) return record;
    const run = record.unchanged_since as string;
    let records = runs.get(run);
    if (!records) {
      records = new Map(readRaw(runsDir, run).steps.map((r) => [r.instance, r]));
      runs.set(run, records);
    }
    const full = records.get(record.instance);
    if (!full || isReference(full)) throw new UserError('CLI', `manifest ${manifest.run_id}: ${record.instance} refers to run ${run}, which does not hold its record`);
    // Built field by field: a copy and `delete` per record cost more than reading the file.
    const whole: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(full)) if (!PER_RUN.has(field)) whole[field] = value;
    for (const field of PER_RUN_FIELDS) if (record[field] !== undefined) whole[field] = record[field];
    return whole as unknown as StepRecord;
  });
  return { ...manifest, steps };
}

function pick(record: StepRecord, fields: readonly string[]): Partial<StepRecord> {
  return Object.fromEntries(fields.filter((f) => (record as unknown as Record<string, unknown>)[f] !== undefined).map((f) => [f, (record as unknown as Record<string, unknown>)[f]])) as Partial<StepRecord>;
}

/**
 * Whether two records are equal in all but their per-run fields, compared in place: copying each
 * record without those fields and stringifying it was ~40% of a no-op at 365 partitions.
 */
function sameButPerRun(a: StepRecord, b: StepRecord): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  for (const field of Object.keys(x)) if (!PER_RUN.has(field) && !sameJson(x[field], y[field])) return false;
  for (const field of Object.keys(y)) if (!PER_RUN.has(field) && !(field in x) && y[field] !== undefined) return false;
  return true;
}

/** Equality of two JSON values as JSON.stringify would write them (an undefined property is an absent one). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    if (a.length !== other.length) return false;
    for (let i = 0; i < a.length; i += 1) if (!sameJson(a[i] ?? null, other[i] ?? null)) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  // Counted, not filtered into arrays: this runs per instance on a no-op.
  let defined = 0;
  for (const key in x) {
    if (!Object.hasOwn(x, key) || x[key] === undefined) continue;
    if (!Object.hasOwn(y, key) || !sameJson(x[key], y[key])) return false;
    defined += 1;
  }
  for (const key in y) if (Object.hasOwn(y, key) && y[key] !== undefined) defined -= 1;
  return defined === 0;
}

/**
 * The records to write for a run: a cached instance whose record equals (all but its per-run fields)
 * the one in `previous` becomes a reference to the run that holds it whole. A no-op build's manifest
 * is then a list of references, not a copy of every input, output and param.
 */
export function referToUnchanged(records: readonly StepRecord[], previous: Manifest | undefined, known: ReadonlyMap<string, string> = new Map()): StepRecord[] {
  if (!previous && known.size === 0) return [...records];
  const before = new Map((previous?.steps ?? []).map((r) => [r.instance, r]));
  return records.map((record) => {
    // Served by the up-to-date memo: equal to the record the named run holds whole, checked then.
    const run = record.status === 'cached' ? known.get(record.instance) : undefined;
    if (run) return { ...pick(record, PER_RUN_FIELDS), unchanged_since: run } as StepRecord;
    const prior = before.get(record.instance);
    if (record.status !== 'cached' || !prior || !sameButPerRun(prior, record)) return record;
    return { ...pick(record, PER_RUN_FIELDS), unchanged_since: prior.unchanged_since ?? (previous as Manifest).run_id } as StepRecord;
  });
}

/** The newest recorded run, whole (for referToUnchanged); undefined when there is none or it cannot be read. */
export function latestManifest(runsDir: string): Manifest | undefined {
  const id = listRuns(runsDir).at(-1);
  if (!id) return undefined;
  try {
    return expandReferences(runsDir, readRaw(runsDir, id));
  } catch {
    return undefined;
  }
}

/**
 * Before manifests are deleted (gc --keep-runs), every kept manifest that refers to one of them gets
 * the records it refers to written back in whole: no kept run ever loses a record.
 */
export function inlineReferencesTo(runsDir: string, dropped: readonly string[], kept: readonly string[]): string[] {
  const gone = new Set(dropped);
  const rewritten: string[] = [];
  for (const id of kept) {
    const raw = readRaw(runsDir, id);
    if (!raw.steps.some((r) => isReference(r) && gone.has(r.unchanged_since as string))) continue;
    const whole = expandReferences(runsDir, raw);
    const steps = whole.steps.map((record, i) => {
      if (!isReference(raw.steps[i]) || !gone.has(raw.steps[i].unchanged_since as string)) return raw.steps[i];
      const { unchanged_since: _, ...inline } = record;
      return inline as StepRecord;
    });
    writeFileAtomicSync(join(runsDir, `${id}.json`), `${JSON.stringify({ ...raw, steps }, null, 2)}\n`);
    rewritten.push(id);
  }
  return rewritten;
}

// ---------- diff ----------

export interface StepDiff {
  readonly instance: string;
  /** `not-in-from` / `not-in-to`: the instance is absent from that run (a partial build, or a step added or removed). */
  readonly change: 'not-in-from' | 'not-in-to' | 'changed' | 'unchanged';
  readonly status: [string | null, string | null];
  readonly rebuilt: boolean;
  readonly params: { name: string; from: unknown; to: unknown }[];
  readonly code: boolean;
  readonly inputs: { name: string; from: string | null; to: string | null }[];
  readonly outputs: { name: string; from: string | null; to: string | null; rows_from?: number; rows_to?: number; rows_delta?: number; bytes_delta: number }[];
}

/** What a run was asked for: its targets, partition filter and --set values. */
export interface RunScope {
  readonly run_id: string;
  readonly targets: readonly string[];
  readonly partition: Readonly<Record<string, string>>;
  readonly set: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly instances: number;
}

export interface RunDiff {
  readonly from: string;
  readonly to: string;
  readonly runs: [RunScope, RunScope];
  readonly steps: StepDiff[];
  readonly summary: { changed: string[]; rebuilt: string[]; not_in_from: string[]; not_in_to: string[] };
}

function scopeOf(manifest: Manifest): RunScope {
  const options = manifest.options as { targets?: string[]; partition?: Record<string, string>; set?: Record<string, Record<string, unknown>> };
  return { run_id: manifest.run_id, targets: options.targets ?? [], partition: options.partition ?? {}, set: options.set ?? {}, instances: manifest.steps.length };
}

/**
 * What changed between two runs, instance by instance. An instance only one run has is "not in this
 * run" — a partial build (`--partition`, named targets) simply did not look at it — and is compared
 * no further: its params and outputs did not become null.
 */
export function diffManifests(a: Manifest, b: Manifest): RunDiff {
  const before = new Map(a.steps.map((s) => [s.instance, s]));
  const after = new Map(b.steps.map((s) => [s.instance, s]));
  const ids = [...new Set([...before.keys(), ...after.keys()])];
  const steps: StepDiff[] = ids.map((id) => {
    const x = before.get(id);
    const y = after.get(id);
    if (!x || !y) return { instance: id, change: !x ? 'not-in-from' : 'not-in-to', status: [x?.status ?? null, y?.status ?? null], rebuilt: false, params: [], code: false, inputs: [], outputs: [] };
    const params: StepDiff['params'] = [];
    for (const name of new Set([...Object.keys(x.params ?? {}), ...Object.keys(y.params ?? {})])) {
      if (JSON.stringify(x.params?.[name]) !== JSON.stringify(y.params?.[name])) params.push({ name, from: x.params?.[name] ?? null, to: y.params?.[name] ?? null });
    }
    const inputs: StepDiff['inputs'] = [];
    for (const name of new Set([...x.inputs.map((i) => i.name), ...y.inputs.map((i) => i.name)])) {
      const from = x.inputs.find((i) => i.name === name)?.digest ?? null;
      const to = y.inputs.find((i) => i.name === name)?.digest ?? null;
      if (from !== to) inputs.push({ name, from, to });
    }
    const outputs: StepDiff['outputs'] = [];
    for (const name of new Set([...x.outputs.map((o) => o.name), ...y.outputs.map((o) => o.name)])) {
      const ox = x.outputs.find((o) => o.name === name);
      const oy = y.outputs.find((o) => o.name === name);
      if (ox?.digest === oy?.digest) continue;
      outputs.push({
        name,
        from: ox?.digest ?? null,
        to: oy?.digest ?? null,
        rows_from: ox?.rows,
        rows_to: oy?.rows,
        rows_delta: ox?.rows !== undefined && oy?.rows !== undefined ? oy.rows - ox.rows : undefined,
        bytes_delta: (oy?.bytes ?? 0) - (ox?.bytes ?? 0),
      });
    }
    const code = Boolean(x.code_digest && y.code_digest && x.code_digest !== y.code_digest);
    const change = params.length || inputs.length || outputs.length || code || x.cache_key !== y.cache_key ? 'changed' : 'unchanged';
    return { instance: id, change, status: [x.status, y.status], rebuilt: y.status === 'built', params, code, inputs, outputs };
  });
  return {
    from: a.run_id,
    to: b.run_id,
    runs: [scopeOf(a), scopeOf(b)],
    steps,
    summary: {
      changed: steps.filter((s) => s.change === 'changed').map((s) => s.instance),
      rebuilt: steps.filter((s) => s.rebuilt).map((s) => s.instance),
      not_in_from: steps.filter((s) => s.change === 'not-in-from').map((s) => s.instance),
      not_in_to: steps.filter((s) => s.change === 'not-in-to').map((s) => s.instance),
    },
  };
}

function describeScope(scope: RunScope): string {
  const parts: string[] = [];
  if (scope.targets.length > 0) parts.push(scope.targets.join(' '));
  for (const [key, value] of Object.entries(scope.partition)) parts.push(`--partition ${key}=${value}`);
  for (const [step, values] of Object.entries(scope.set)) for (const [name, value] of Object.entries(values)) parts.push(`--set ${step}.${name}=${JSON.stringify(value)}`);
  return `${scope.run_id}: ${parts.length > 0 ? parts.join(' ') : 'everything, defaults'} (${scope.instances} instances)`;
}

/** The human diff; instances only one run has are counted, and listed with `all`. */
export function formatDiff(diff: RunDiff, all = false): string {
  const lines = [`diff ${diff.from} → ${diff.to}`, `  from ${describeScope(diff.runs[0])}`, `  to   ${describeScope(diff.runs[1])}`];
  const changed = diff.steps.filter((s) => s.change === 'changed');
  if (changed.length === 0) lines.push('  no differences in the instances both runs have');
  for (const s of changed) {
    lines.push(`  ~ ${s.instance}${s.rebuilt ? ' (rebuilt)' : ''}`);
    if (s.code) lines.push('      code changed');
    for (const p of s.params) lines.push(`      param ${p.name}: ${JSON.stringify(p.from)} → ${JSON.stringify(p.to)}`);
    for (const i of s.inputs) lines.push(`      input ${i.name}: ${short(i.from)} → ${short(i.to)}`);
    for (const o of s.outputs) lines.push(`      output ${o.name}: ${short(o.from)} → ${short(o.to)}${o.rows_delta !== undefined ? `, rows ${o.rows_from} → ${o.rows_to} (${o.rows_delta >= 0 ? '+' : ''}${o.rows_delta})` : ''}`);
  }
  const { not_in_from: notFrom, not_in_to: notTo } = diff.summary;
  if (all) {
    for (const id of notFrom) lines.push(`  · ${id}: not in run ${diff.from}`);
    for (const id of notTo) lines.push(`  · ${id}: not in run ${diff.to}`);
  } else if (notFrom.length + notTo.length > 0) {
    lines.push(`  ${notFrom.length + notTo.length} instance(s) not in one of the runs (${notFrom.length} not in ${diff.from}, ${notTo.length} not in ${diff.to}); --all lists them`);
  }
  return lines.join('\n');
}

function short(digest: string | null): string {
  return digest ? shortDigest(digest) : '∅';
}

// ---------- lineage ----------

export interface LineageNode {
  readonly instance: string;
  readonly output?: string;
  readonly path?: string;
  readonly digest?: string;
  readonly status: string;
  readonly code_digest?: string;
  readonly params: Record<string, unknown>;
  readonly inputs: { name: string; source: string; digest: string; producers: LineageNode[] }[];
}

/** The upstream tree that produced the output at `path` (relative to the output root or cwd). */
export function lineageOf(manifest: Manifest, outputRoot: string, path: string): LineageNode {
  const wanted = relative(outputRoot, resolve(path)).split(sep).join('/');
  const candidates = [wanted, path.split(sep).join('/')];
  for (const step of manifest.steps) {
    for (const output of step.outputs) {
      if (candidates.includes(output.path) || candidates.some((c) => c.startsWith(`${output.path}/`))) return trace(manifest, step.instance, output.name);
    }
  }
  throw new UserError('CLI', `no step output at "${path}" in run ${manifest.run_id}`);
}

function trace(manifest: Manifest, instance: string, outputName?: string): LineageNode {
  const record = manifest.steps.find((s) => s.instance === instance);
  if (!record) return { instance, status: 'not in this run', params: {}, inputs: [] };
  const output = outputName ? record.outputs.find((o) => o.name === outputName) : undefined;
  return {
    instance,
    output: output?.name,
    path: output?.path,
    digest: output?.digest,
    status: record.status,
    code_digest: record.code_digest,
    params: record.params,
    inputs: record.inputs.map((input) => ({
      name: input.name,
      source: input.source,
      digest: input.digest,
      producers: (input.from ?? []).map((id) => trace(manifest, id, input.source.split('.')[1]?.split(' ')[0])),
    })),
  };
}

/**
 * The tree as text. A subtree already printed (the same instance's output reached by another path)
 * is printed once and referred back to, so a DAG with shared producers stays as long as its nodes.
 */
export function formatLineage(node: LineageNode, indent = '', seen = new Set<string>()): string {
  const label = `${node.instance}${node.output ? `.${node.output}` : ''}`;
  if (seen.has(label) && node.inputs.length > 0) return `${indent}${label}  (its inputs as shown above)`;
  seen.add(label);
  const lines = [`${indent}${label}  [${node.status}]${node.digest ? `  ${short(node.digest)}` : ''}${node.path ? `  ${node.path}` : ''}`];
  for (const input of node.inputs) {
    lines.push(`${indent}  ← ${input.name}: ${input.source}  ${short(input.digest)}`);
    for (const producer of input.producers) lines.push(formatLineage(producer, `${indent}      `, seen));
  }
  return lines.join('\n');
}
