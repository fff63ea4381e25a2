// Where the engine's own files are, whether it runs compiled (dist/src/engine/*.js) or from source (src/engine/*.ts).
import { fileURLToPath } from 'node:url';
import { resolve, sep } from 'node:path';
import { readFileSync } from 'node:fs';

const here = fileURLToPath(new URL('.', import.meta.url));
export const RUNNING_COMPILED = /[\\/]dist[\\/]src[\\/]engine[\\/]?$/.test(here);
export const ENGINE_ROOT = resolve(here, RUNNING_COMPILED ? '../../..' : '../..');
export const SCHEMAS_DIR = resolve(ENGINE_ROOT, 'schemas');

/** The file that hosts kernels in worker threads, matching how the engine itself runs. */
export const KERNEL_WORKER_FILE = resolve(here, RUNNING_COMPILED ? 'kernel-worker.js' : 'kernel-worker.ts');

export const ENGINE_VERSION: string = (JSON.parse(readFileSync(resolve(ENGINE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** A relative '/'-separated path with no `.`, `..` or empty segment: joining it to a folder needs no normalising. */
const PLAIN_RELATIVE = /^(?:(?!\.\.?\/)[^/\\\0]+\/)*(?!\.\.?$)[^/\\\0]+$/;

/**
 * `resolve(root, path)` for a path stored relative to an absolute `root` (an output's path): a plain
 * path is joined by string, since path.resolve's normalising pass per instance was measurable at 365
 * partitions; anything else (`..`, `./`, a backslash) still goes through resolve.
 */
export function resolveUnder(root: string, path: string): string {
  return sep === '/' && root.length > 1 && !root.endsWith('/') && PLAIN_RELATIVE.test(path) ? `${root}/${path}` : resolve(root, path);
}
