// Worker thread entry for `runChips` with jobs > 1: cuts its slice of tasks and posts the rows back.
import { parentPort, workerData } from 'node:worker_threads';
import type { ChipParams, ChipTask } from './chip.js';
import { runInProcess, type RunOptions } from './run.js';

const { tasks, params, options } = workerData as { tasks: ChipTask[]; params: ChipParams; options: RunOptions };
try {
  const result = await runInProcess(tasks, params, { ...options, onChip: () => parentPort!.postMessage({ type: 'chip' }) });
  parentPort!.postMessage({ type: 'done', result });
} catch (error) {
  const e = error as Error;
  parentPort!.postMessage({ type: 'error', message: e.message, stack: e.stack });
}
