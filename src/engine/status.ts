// `dagrun status`: without building, whether out/ still holds what the manifests say was built, per
// step × partition: missing files, files edited by hand, and instances whose upstream changed since
// they were built (a partial build left them behind). Reads through the stat cache: unchanged files
// are not read.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { digestJson } from '../sdk/hash.js';
import { listRuns, readManifest, type StepRecord } from './manifest.js';
import type { Pipeline } from './pipeline.js';
import type { Store } from './store.js';

export type InstanceState = 'ok' | 'missing' | 'modified' | 'stale' | 'never-built';

export interface InstanceStatus {
  readonly instance: string;
  readonly state: InstanceState;
  /** The run whose record this is compared with. */
  readonly run?: string;
  /** What is wrong, in a sentence per problem (files relative to the output root). */
  readonly problems: string[];
}

export async function pipelineStatus(pipeline: Pipeline, store: Store): Promise<InstanceStatus[]> {
  // The newest record of each instance that produced outputs (built or served from cache).
  const latest = new Map<string, { record: StepRecord; run: string }>();
  for (const run of listRuns(store.runsDir).reverse()) {
    const manifest = readManifest(store.runsDir, run);
    if (manifest.kind !== 'build') continue;
    for (const record of manifest.steps) {
      if ((record.status === 'built' || record.status === 'cached') && !latest.has(record.instance)) latest.set(record.instance, { record, run });
    }
  }
  const statuses: InstanceStatus[] = [];
  for (const id of expectedInstances(pipeline)) {
    const found = latest.get(id);
    if (!found) {
      statuses.push({ instance: id, state: 'never-built', problems: ['no build has produced it yet'] });
      continue;
    }
    const { record, run } = found;
    const missing: string[] = [];
    const modified: string[] = [];
    for (const output of record.outputs) {
      const path = resolve(pipeline.outputRoot, output.path);
      if (!existsSync(path)) {
        missing.push(`${output.path} is missing`);
        continue;
      }
      if (output.kind === 'tree') {
        const entries = statSync(path).isDirectory() ? (await store.digestTree(path)).entries : [];
        const now = new Map(entries.map((e) => [e.path, e.digest]));
        const recorded = await store.readTree(output.digest).catch(() => undefined);
        if (!recorded) continue;
        const gone = recorded.filter((e) => !now.has(e.path));
        const changed = recorded.filter((e) => now.has(e.path) && now.get(e.path) !== e.digest);
        const extra = entries.filter((e) => !recorded.some((r) => r.path === e.path));
        if (gone.length > 0) missing.push(`${output.path}: ${gone.length} file(s) missing (${gone.slice(0, 3).map((e) => e.path).join(', ')}${gone.length > 3 ? ', …' : ''})`);
        if (changed.length + extra.length > 0) modified.push(`${output.path}: ${changed.length} file(s) modified, ${extra.length} added by hand${changed.length > 0 ? ` (${changed.slice(0, 3).map((e) => e.path).join(', ')}${changed.length > 3 ? ', …' : ''})` : ''}`);
      } else if (!statSync(path).isFile() || (await store.digestOf(path)).digest !== output.digest) {
        modified.push(`${output.path} was modified`);
      }
    }
    const stale = upstreamChanges(record, latest);
    const state: InstanceState = missing.length > 0 ? 'missing' : modified.length > 0 ? 'modified' : stale.length > 0 ? 'stale' : 'ok';
    statuses.push({ instance: id, state, run, problems: [...missing, ...modified, ...stale] });
  }
  return statuses;
}

/** Inputs whose producers' newest outputs are not what this record consumed. */
function upstreamChanges(record: StepRecord, latest: Map<string, { record: StepRecord; run: string }>): string[] {
  const problems: string[] = [];
  for (const input of record.inputs) {
    if (!input.from || input.from.length === 0) continue;
    const output = input.source.split('.')[1]?.split(' ')[0];
    const digests: string[] = [];
    for (const producer of input.from) {
      const digest = latest.get(producer)?.record.outputs.find((o) => o.name === output)?.digest;
      if (digest) digests.push(digest);
    }
    if (digests.length !== input.from.length) continue;
    const now = digests.length === 1 ? digests[0] : digestJson(digests);
    if (now !== input.digest) problems.push(`upstream ${input.source} (${input.from.join(', ')}) changed since it was built; run \`dagrun build ${record.step}\``);
  }
  return problems;
}

function expectedInstances(pipeline: Pipeline): string[] {
  const ids: string[] = [];
  for (const name of pipeline.order) {
    const step = pipeline.steps.get(name);
    if (!step) continue;
    if (!step.partition) ids.push(name);
    else for (const value of pipeline.partitions[step.partition]) ids.push(`${name}[${step.partition}=${value}]`);
  }
  return ids;
}

export function formatStatus(statuses: readonly InstanceStatus[]): string {
  const lines = statuses.map((s) => [`${s.state.padEnd(11)} ${s.instance}`, ...s.problems.map((p) => `            ${p}`)].join('\n'));
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  lines.push([...counts].map(([state, n]) => `${n} ${state}`).join(', '));
  return lines.join('\n');
}
