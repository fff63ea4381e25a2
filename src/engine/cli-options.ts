// The command line's options and where the pipeline file is: shared by the CLI and the settled-build
// check (settled.ts), which answers an unchanged `dagrun build` before the CLI's modules load.
import type { ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Every option any command reads (each documented in cli-help.ts: tested). */
export const CLI_OPTIONS = {
  pipeline: { type: 'string' },
  cache: { type: 'string' },
  partition: { type: 'string', multiple: true },
  set: { type: 'string', multiple: true },
  jobs: { type: 'string' },
  refresh: { type: 'string', multiple: true },
  force: { type: 'string', multiple: true },
  input: { type: 'string', multiple: true },
  out: { type: 'string' },
  'keep-runs': { type: 'string' },
  to: { type: 'string' },
  captures: { type: 'boolean' },
  all: { type: 'boolean' },
  'with-fan-in': { type: 'boolean' },
  via: { type: 'string', multiple: true },
  'older-than': { type: 'string' },
  repair: { type: 'boolean' },
  'lock-timeout': { type: 'string' },
  'remote-cache': { type: 'string' },
  'remote-mode': { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  events: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'allow-actions': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  check: { type: 'boolean' },
  executor: { type: 'string' },
  redis: { type: 'string' },
  concurrency: { type: 'string' },
  'worker-id': { type: 'string' },
  'lock-ms': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** pipeline.yaml in this folder or the nearest parent, as git finds .git; this folder's when none. */
export function findPipelineFile(start: string): string {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const candidate = join(dir, 'pipeline.yaml');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return resolve(start, 'pipeline.yaml');
  }
}
