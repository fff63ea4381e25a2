// The CFAR over row strips on worker threads: inputs and output live in SharedArrayBuffers, each
// worker computes its strip (reading the ±background rows around it) straight into the output.
// cfarRows is exact per row, so the result equals the single-thread one bit for bit.
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../src/sdk/module-worker.js';
import { cfar, REBASE_ROWS, type CfarParams } from './sar.js';

export interface SharedScene {
  sigma: Float32Array;
  valid: Uint8Array;
}

/** Copy (or adopt, when already shared) the arrays into SharedArrayBuffers. */
export function shareScene(sigma: Float32Array, valid: Uint8Array): SharedScene {
  const share = <T extends Float32Array | Uint8Array>(a: T, make: (b: SharedArrayBuffer) => T): T => {
    if (a.buffer instanceof SharedArrayBuffer) return a;
    const out = make(new SharedArrayBuffer(a.byteLength));
    out.set(a);
    return out;
  };
  return { sigma: share(sigma, (b) => new Float32Array(b)), valid: share(valid, (b) => new Uint8Array(b)) };
}

export async function cfarParallel(scene: SharedScene, width: number, height: number, params: CfarParams, jobs: number): Promise<Float32Array> {
  if (jobs <= 1 || height <= REBASE_ROWS) return cfar(scene.sigma, scene.valid, width, height, params);
  const out = new Float32Array(new SharedArrayBuffer(width * height * 4));
  // Strip boundaries on multiples of REBASE_ROWS: each row's sums are then exactly the single-thread ones.
  const strip = Math.ceil(Math.ceil(height / jobs) / REBASE_ROWS) * REBASE_ROWS;
  jobs = Math.ceil(height / strip);
  if (jobs <= 1) return cfar(scene.sigma, scene.valid, width, height, params);
  // tsx may add a query string to the module URL: decide by the path.
  const typescript = new URL(import.meta.url).pathname.endsWith('.ts');
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: jobs }, (_, j) => {
        const rowStart = j * strip;
        const rowEnd = Math.min(height, rowStart + strip);
        const worker = startModuleWorker(new URL(typescript ? './sar-cfar-worker.ts' : './sar-cfar-worker.js', import.meta.url), { sigma: scene.sigma, valid: scene.valid, out, width, height, rowStart, rowEnd, params });
        workers.push(worker);
        return new Promise<void>((resolve, reject) => {
          worker.once('message', (m: { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve()));
          worker.once('error', reject);
          worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`CFAR worker exited with code ${code}`))));
        });
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
