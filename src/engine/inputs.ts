// An instance's inputs resolved to files (or a URI) plus the record that enters its action key and
// its manifest: a producer's stored output, a file or folder in the project, or a remote location.
import { existsSync, statSync } from 'node:fs';
import { extname, relative, resolve, sep } from 'node:path';
import { UserError } from '../sdk/errors.js';
import { digestJson } from '../sdk/hash.js';
import type { InputFormat, Pipeline, StepInput, StepSpec } from './pipeline.js';
import type { Store, StoredOutput } from './store.js';
import type { ResolvedInput } from './execute.js';
import type { InputRecord } from './manifest.js';
import type { Instance } from './instances.js';

export interface InputWithRecord extends ResolvedInput {
  readonly record: InputRecord;
}

export async function resolveInputs(pipeline: Pipeline, store: Store, instance: Instance, outputsOf: Map<string, StoredOutput[]>): Promise<InputWithRecord[]> {
  const resolved: InputWithRecord[] = [];
  for (const input of instance.step.inputs) {
    if (input.kind === 'step') {
      const producer = pipeline.steps.get(input.step as string) as StepSpec;
      const spec = producer.outputs.find((o) => o.name === input.output);
      const producers = instance.producers.get(input.name) ?? [];
      const stored = producers.map((p) => (outputsOf.get(p.id) ?? []).find((o) => o.name === input.output) as StoredOutput).filter(Boolean);
      const files = stored.map((o) => resolve(pipeline.outputRoot, o.path));
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
      resolved.push(await resolveFileInput(pipeline, store, input));
    } else {
      resolved.push({ name: input.name, files: [], format: input.format ?? 'text', uri: input.location, record: { name: input.name, source: redactUri(input.location as string), digest: digestJson(input.location), bytes: 0 } });
    }
  }
  return resolved;
}

async function resolveFileInput(pipeline: Pipeline, store: Store, input: StepInput): Promise<InputWithRecord> {
  const location = input.location as string;
  const shown = relative(pipeline.dir, location).split(sep).join('/');
  if (!existsSync(location)) {
    if (input.optional) return { name: input.name, files: [], format: input.format ?? 'parquet', columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest: digestJson(null), bytes: 0 } };
    throw new UserError('BAD_INPUT', `input "${input.name}": file:${shown} does not exist`);
  }
  if (statSync(location).isDirectory()) {
    const tree = await store.digestInputTree(location);
    return { name: input.name, files: [location], format: input.format ?? 'directory', columns: input.columns, record: { name: input.name, source: `file:${shown}`, digest: tree.digest, bytes: tree.size, files: tree.entries.length } };
  }
  const { digest, size } = await store.digestOf(location);
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
