// Where the engine's own files are, whether it runs compiled (dist/src/engine/*.js) or from source (src/engine/*.ts).
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';

const here = fileURLToPath(new URL('.', import.meta.url));
export const RUNNING_COMPILED = /[\\/]dist[\\/]src[\\/]engine[\\/]?$/.test(here);
export const ENGINE_ROOT = resolve(here, RUNNING_COMPILED ? '../../..' : '../..');
export const SCHEMAS_DIR = resolve(ENGINE_ROOT, 'schemas');

/** The file that hosts kernels in worker threads, matching how the engine itself runs. */
export const KERNEL_WORKER_FILE = resolve(here, RUNNING_COMPILED ? 'kernel-worker.js' : 'kernel-worker.ts');

export const ENGINE_VERSION: string = (JSON.parse(readFileSync(resolve(ENGINE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
