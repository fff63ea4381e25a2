// Worker entry for cfarParallel: one row strip of the CFAR, written into the shared output.
import { parentPort, workerData } from 'node:worker_threads';
import { cfarRows, type CfarParams } from './sar.js';

const data = workerData as { sigma: Float32Array; valid: Uint8Array; out: Float32Array; width: number; height: number; rowStart: number; rowEnd: number; params: CfarParams };
try {
  const strip = cfarRows(data.sigma, data.valid, data.width, data.height, data.rowStart, data.rowEnd, data.params);
  data.out.set(strip, data.rowStart * data.width);
  parentPort?.postMessage({ done: true });
} catch (error) {
  parentPort?.postMessage({ error: (error as Error).message });
}
