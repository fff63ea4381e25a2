// Start a worker thread on a module that may be TypeScript: a .ts module is loaded through tsx's
// ESM API inside the worker (Node 20 cannot run .ts itself). Used by the kernel pool and by kernels
// that fan out their own workers.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const requireHere = createRequire(import.meta.url);

export function startModuleWorker(module: string | URL, workerData: unknown): Worker {
  const url = typeof module === 'string' && !module.startsWith('file:') ? pathToFileURL(module) : new URL(module);
  // tsx may load modules with a query string (?tsx-namespace=…): decide by the path only.
  const path = fileURLToPath(new URL(url.pathname, 'file://'));
  if (!path.endsWith('.ts')) return new Worker(pathToFileURL(path), { workerData });
  // The ESM entry of tsx's API (require.resolve would give the CJS one, which cannot tsImport here).
  const tsxApi = pathToFileURL(join(dirname(requireHere.resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = pathToFileURL(path).href;
  return new Worker(`import(${JSON.stringify(tsxApi)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`, { eval: true, workerData });
}
