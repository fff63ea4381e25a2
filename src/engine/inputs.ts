// An instance's inputs resolved to files (or a URI) plus the record that enters its action key and
// its manifest: a producer's stored output, a file or folder in the project (a template filled per
// partition, a glob listed), or a remote location.
import { statSync, type BigIntStats } from 'node:fs';
import { extname, relative, resolve, sep } from 'node:path';
import { UserError } from '../sdk/errors.js';
import { resolveUnder } from './paths.js';
import { digestBytes, digestJson } from '../sdk/hash.js';
import { isPerInstance, type InputFormat, type Pipeline, type StepInput, type StepSpec } from './pipeline.js';
import { treeBytes, type Store, type StoredOutput } from './store.js';
import { WalkProblem } from './tree-walk.js';
import type { ResolvedInput } from './execute.js';
import type { InputRecord } from './manifest.js';
import { instanceId, type Instance } from './instances.js';
import { TemplateError, expandTemplate, globFiles, isGlob } from './templates.js';
import { fetchRemoteGlob, fetchRemoteInput, isFetchableUri, isRemoteGlob } from './cache/remote-input.js';

export interface InputWithRecord extends ResolvedInput {
  readonly record: InputRecord;
}

export async function resolveInputs(pipeline: Pipeline, store: Store, files: FileInputs, instance: Instance, outputsOf: Map<string, StoredOutput[]>): Promise<InputWithRecord[]> {
  const resolved: InputWithRecord[] = [];
  for (const input of instance.step.inputs) {
    if (input.kind === 'step') {
      const producer = pipeline.steps.get(input.step as string) as StepSpec;
      const spec = producer.outputs.find((o) => o.name === input.output);
      const producers = instance.producers.get(input.name) ?? [];
      const stored = producers.map((p) => (outputsOf.get(p.id) ?? []).find((o) => o.name === input.output) as StoredOutput).filter(Boolean);
      const files = stored.map((o) => resolveUnder(pipeline.outputRoot, o.path));
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
      resolved.push(await resolveFileInput(store, files, instance, input));
    } else if (!instance.step.source && isRemoteGlob(input.location as string)) {
      const location = files.expand(instance.step, input, instance.partition);
      const glob = await fetchRemoteGlob(store, location, input.name, input.optional);
      resolved.push({ name: input.name, files: glob.files, format: input.format ?? formatFromExtension(location), columns: input.columns, record: { name: input.name, source: redactUri(location), digest: glob.digest, bytes: glob.bytes, files: glob.files.length } });
    } else if (!instance.step.source && isFetchableUri(input.location as string)) {
      const location = files.expand(instance.step, input, instance.partition);
      const fetched = await fetchRemoteInput(store, location, input.name);
      resolved.push({ name: input.name, files: [fetched.file], format: input.format ?? formatFromExtension(fetched.file), columns: input.columns, record: { name: input.name, source: redactUri(location), digest: fetched.digest, bytes: fetched.bytes } });
    } else {
      resolved.push({ name: input.name, files: [], format: input.format ?? 'text', uri: input.location, record: { name: input.name, source: redactUri(input.location as string), digest: digestJson(input.location), bytes: 0 } });
    }
  }
  return resolved;
}

/** Where a file input points for one instance: its template filled and its glob listed, remembered per build. */
export class FileInputs {
  private readonly globs = new Map<string, string[]>();
  private readonly stats = new Map<string, BigIntStats | null>();
  /** Folders the globs listed: a file added to one changes what a glob matches. */
  private readonly listed = new Set<string>();
  readonly pipelineDir: string;
  private readonly pipelineDirSlash: string;
  constructor(private readonly pipeline: Pipeline) {
    this.pipelineDir = pipeline.dir;
    this.pipelineDirSlash = pipeline.dir.endsWith(sep) ? pipeline.dir : pipeline.dir + sep;
  }

  /** The input's partition template filled for one instance (a path, or a URI like `s3://b/ais/{yyyy}/{mm}/{dd}/x.parquet`). */
  expand(step: StepSpec, input: StepInput, partition: Readonly<Record<string, string>>): string {
    try {
      return expandTemplate(input.location as string, partition);
    } catch (error) {
      if (error instanceof TemplateError) throw new UserError('BAD_INPUT', `input "${step.name}.${input.name}": ${error.message}`, this.pipeline.locate(['steps', step.name, 'inputs', input.name]));
      throw error;
    }
  }

  /** The instance's path (a template filled), and for a glob the files it matches now. */
  locate(step: StepSpec, input: StepInput, partition: Readonly<Record<string, string>>): { location: string; shown: string; matches?: string[] } {
    const location = this.expand(step, input, partition);
    const shown = this.shown(location);
    if (!isGlob(location)) return { location, shown };
    let matches = this.globs.get(location);
    if (!matches) {
      try {
        matches = globFiles(location, (dir) => this.listed.add(dir));
      } catch (error) {
        if (!(error instanceof WalkProblem)) throw error;
        throw new UserError('BAD_INPUT', `input "${step.name}.${input.name}": file:${shown}: ${error.message}`, this.pipeline.locate(['steps', step.name, 'inputs', input.name]));
      }
      this.globs.set(location, matches);
    }
    return { location, shown, matches };
  }

  /**
   * The file's stat as this build first saw it (undefined: absent), shared by the up-front check of
   * every instance's files and by resolving the instance: one stat per file per build.
   */
  stat(location: string): BigIntStats | undefined {
    let info = this.stats.get(location);
    if (info === undefined) {
      info = statSync(location, { bigint: true, throwIfNoEntry: false }) ?? null;
      this.stats.set(location, info);
    }
    return info ?? undefined;
  }

  /**
   * What this build's file inputs depended on (settled.ts): each file stat'd (absent ones too), each
   * glob's matches and the folders it listed (also apart: what they list concerns every instance), and
   * apart the directories digested as trees.
   */
  watched(): { paths: string[]; trees: string[]; found: string[]; listed: string[] } {
    const paths: string[] = [...this.listed];
    const trees: string[] = [];
    const found: string[] = [];
    for (const [location, info] of this.stats) {
      (info?.isDirectory() ? trees : paths).push(location);
      if (info) found.push(location);
    }
    for (const matches of this.globs.values()) {
      paths.push(...matches);
      found.push(...matches);
    }
    return { paths, trees, found, listed: [...this.listed] };
  }

  /** A location as the pipeline folder names it; path.relative per instance was measurable at 365 partitions. */
  private shown(location: string): string {
    if (location.startsWith(this.pipelineDirSlash) && !location.includes(`${sep}..`)) return location.slice(this.pipelineDirSlash.length).split(sep).join('/');
    return relative(this.pipeline.dir, location).split(sep).join('/');
  }

  /** A sentence naming the missing file (or the glob matching nothing) of a non-optional input; undefined when present. */
  missing(step: StepSpec, input: StepInput, partition: Readonly<Record<string, string>>): string | undefined {
    if (input.optional) return undefined;
    // A present file is the usual answer: one stat, no path shown (measurable at 365 partitions).
    const expanded = this.expand(step, input, partition);
    if (!isGlob(expanded) && this.stat(expanded)) return undefined;
    const { location, shown, matches } = this.locate(step, input, partition);
    if (matches ? matches.length > 0 : this.stat(location)) return undefined;
    const instance = instanceId(step.name, { ...partition });
    return `input "${step.name}.${input.name}" of ${instance}: file:${shown} ${matches ? 'matches no file' : 'does not exist'}${input.location !== location ? ` (from file:${relative(this.pipeline.dir, input.location as string).split(sep).join('/')})` : ''}; add it, or mark the input \`optional: true\``;
  }
}

/**
 * Every per-instance file input (template or glob) of the selected instances is checked before
 * anything runs: a missing partition file is a user error naming the path, like a missing plain file.
 */
export function checkFileInputs(pipeline: Pipeline, instances: readonly Instance[], files: FileInputs): void {
  const problems: { sentence: string; where: string; instance: string }[] = [];
  for (const instance of instances) {
    for (const input of instance.step.inputs) {
      if (input.kind !== 'file' || !isPerInstance(input.location as string)) continue;
      const sentence = files.missing(instance.step, input, instance.partition);
      if (sentence) problems.push({ sentence, where: pipeline.locate(['steps', instance.step.name, 'inputs', input.name]), instance: instance.id });
    }
  }
  if (problems.length === 0) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1, 4).map((p) => p.instance).join(', ')}${problems.length > 4 ? ', …' : ''})` : '';
  throw new UserError('BAD_INPUT', `${problems[0].sentence}${more}`, problems[0].where);
}

async function resolveFileInput(store: Store, files: FileInputs, instance: Instance, input: StepInput): Promise<InputWithRecord> {
  const { location, shown, matches } = files.locate(instance.step, input, instance.partition);
  const empty = (): InputWithRecord => ({ name: input.name, files: [], format: input.format ?? (matches ? formatFromExtension(location) : 'parquet'), columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest: digestJson(null), bytes: 0, ...(matches ? { files: 0 } : {}) } });
  if (matches) {
    if (matches.length === 0) {
      if (input.optional) return empty();
      throw new UserError('BAD_INPUT', `input "${input.name}": file:${shown} matches no file`);
    }
    // The glob's files by path relative to the fixed part of the pattern: a rename changes the key.
    const digests = await Promise.all(matches.map((file) => store.digestOf(file)));
    const entries = matches.map((file, i) => ({ path: relative(files.pipelineDir, file).split(sep).join('/'), digest: digests[i].digest, size: digests[i].size }));
    return { name: input.name, files: matches, format: input.format ?? formatFromExtension(location), columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest: digestBytes(treeBytes(entries)), bytes: entries.reduce((sum, e) => sum + e.size, 0), files: entries.length } };
  }
  // One stat serves the existence check, the kind and the stat cache.
  const info = files.stat(location);
  if (!info) {
    if (input.optional) return empty();
    throw new UserError('BAD_INPUT', `input "${input.name}": file:${shown} does not exist`);
  }
  if (info.isDirectory()) {
    let tree;
    try {
      tree = await store.digestInputTree(location);
    } catch (error) {
      if (error instanceof WalkProblem) throw new UserError('BAD_INPUT', `input "${input.name}": file:${shown}/${error.message}`);
      throw error;
    }
    return { name: input.name, files: [location], format: input.format ?? 'directory', columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest: tree.digest, bytes: tree.size, files: tree.files } };
  }
  const { digest, size } = await store.digestOf(location, info);
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
