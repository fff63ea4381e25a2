// The one place a structured reason becomes a sentence. The CLI, manifests' `reason` string, `plan`,
// the scheduler log and the web UI all render through here, so a reason reads the same everywhere.
import { shortDigest } from '../../sdk/hash.js';
import type { Reason, RerunReason } from './types.js';

export function describeReason(reason: Reason): string {
  switch (reason.kind) {
    case 'no-previous-result':
      return 'no previous result';
    case 'new-partition':
      return `new partition ${reason.partition}`;
    case 'cache-entry-missing':
      return 'no cached result for an unchanged key (cache cleared or entry dropped)';
    case 'engine-changed':
      return `engine version changed (${reason.from} → ${reason.to})`;
    case 'packages-changed':
      return `library versions changed${reason.changes?.length ? ` (${reason.changes.length > 6 ? `${reason.changes.slice(0, 6).join(', ')} and ${reason.changes.length - 6} more` : reason.changes.join(', ')})` : ''}`;
    case 'code-changed':
      return `code changed (${reason.file})`;
    case 'definition-changed':
      return 'step definition changed in the pipeline file';
    case 'param-changed':
      return `param ${reason.name} changed (${show(reason.from)} → ${show(reason.to)})`;
    case 'input-changed':
      return `input ${reason.name} changed`;
    case 'partition-changed':
      return 'partition or key changed';
    case 'forced':
      return 'forced (--force)';
    case 'refresh':
      return 'refresh of a live source (--refresh)';
    case 'outside-cache':
      return 'run outside the cache (dagrun exec)';
    case 'corrupt-cache':
      return `cached output ${reason.problem} in the store (${shortDigest(reason.digest)}); rebuilding`;
    case 'remote-rejected':
      return `${reason.problem}; rebuilding`;
    case 'remote-hit':
      return reason.pinned ? 'pinned capture fetched from the remote cache' : 'inputs, params and code unchanged (fetched from the remote cache)';
    case 'bad-cache-entry':
      return `cached entry ${reason.problem}; rebuilding`;
    case 'upstream-would-build':
      return `upstream ${reason.instance} would rebuild`;
    case 'unchanged':
      return 'inputs, params and code unchanged';
    case 'pinned-capture': {
      const since = (reason.changed_since ?? []).map((c) => ({ engine: 'the engine', packages: 'library versions', code: 'the code' })[c]);
      return `pinned capture${reason.captured_at ? ` from ${reason.captured_at}` : ''} ${reason.remote ? 'pulled from the remote cache and ' : ''}reused${since.length > 0 ? `; ${since.join(', ')} changed since, which does not redo a capture` : ''} (use --refresh${reason.step ? ` ${reason.step}` : ''} to capture again)`;
    }
    case 'not-started':
      return reason.why === 'interrupted' ? 'not started: the build was interrupted' : 'not started: no space left on the device';
    case 'upstream-failed':
      return `upstream ${reason.instance} ${reason.status}`;
    case 'step-failed':
      return 'the step failed';
  }
}

/** Several reasons as one sentence ("param a changed (1 → 2); input b changed"). */
export function describeReasons(reasons: readonly Reason[]): string {
  return reasons.map(describeReason).join('; ');
}

/** Why a rerun, comparing what the last build saw with what this one sees. */
export interface SeenState {
  readonly key: string;
  readonly definition: string;
  readonly code: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly inputs: Readonly<Record<string, string>>;
  readonly engine: string;
  readonly packages?: string;
  /** `name@version` of every package the code imports (with their dependencies), to say which changed. */
  readonly package_versions?: readonly string[];
}

export function rerunReasons(previous: SeenState | undefined, current: SeenState, codeFile: string, newPartition?: string): RerunReason[] {
  if (!previous) return [newPartition ? { kind: 'new-partition', partition: newPartition } : { kind: 'no-previous-result' }];
  if (previous.key === current.key) return [{ kind: 'cache-entry-missing' }];
  const reasons: RerunReason[] = [];
  if (previous.engine !== current.engine) reasons.push({ kind: 'engine-changed', from: previous.engine, to: current.engine });
  if (previous.packages !== current.packages) reasons.push({ kind: 'packages-changed', changes: packageChanges(previous.package_versions, current.package_versions ?? []) });
  if (previous.code !== current.code) reasons.push({ kind: 'code-changed', file: codeFile });
  if (previous.definition !== current.definition) reasons.push({ kind: 'definition-changed' });
  for (const name of new Set([...Object.keys(previous.params), ...Object.keys(current.params)])) {
    if (JSON.stringify(previous.params[name]) !== JSON.stringify(current.params[name])) reasons.push({ kind: 'param-changed', name, from: previous.params[name] ?? null, to: current.params[name] ?? null });
  }
  for (const name of new Set([...Object.keys(previous.inputs), ...Object.keys(current.inputs)])) {
    if (previous.inputs[name] !== current.inputs[name]) reasons.push({ kind: 'input-changed', name, from: previous.inputs[name], to: current.inputs[name] });
  }
  return reasons.length > 0 ? reasons : [{ kind: 'partition-changed' }];
}

/** `duckdb 1.5.6 → 1.5.7`, `sharp 0.35.5 added` from two `name@version` lists; none when the old list is unknown. */
function packageChanges(before: readonly string[] | undefined, after: readonly string[]): string[] | undefined {
  if (!before) return undefined;
  const split = (list: readonly string[]): Map<string, string> => new Map(list.map((entry) => [entry.slice(0, entry.lastIndexOf('@')), entry.slice(entry.lastIndexOf('@') + 1)]));
  const [a, b] = [split(before), split(after)];
  const changes: string[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (a.get(name) === b.get(name)) continue;
    changes.push(!a.has(name) ? `${name} ${b.get(name)} added` : !b.has(name) ? `${name} removed` : `${name} ${a.get(name)} → ${b.get(name)}`);
  }
  return changes;
}

function show(value: unknown): string {
  return value === undefined ? 'unset' : JSON.stringify(value);
}
