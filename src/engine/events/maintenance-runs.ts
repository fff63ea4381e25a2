// verify and gc as runs on the event stream: they take the cache lock (reporting the wait), report
// progress and each corrupt object, and open and close with run events like a build.
import { collectGarbage, verifyStore, type GcOptions, type GcReport, type VerifyReport } from '../maintenance.js';
import type { Store } from '../store.js';
import { newRunId } from '../runner.js';
import { emitterFor } from './bus.js';
import type { EventSink } from './types.js';

const NO_COUNTS = { built: 0, cached: 0, failed: 0, skipped: 0, would_build: 0 };

export async function verifyRun(store: Store, lockTimeoutMs: number, sink?: EventSink, repair = false): Promise<VerifyReport> {
  const emit = emitterFor(sink, newRunId());
  emit({ type: 'run-started', kind: 'verify', targets: [] });
  const release = await store.lock(lockTimeoutMs, (holder) => emit({ type: 'lock-wait', holder }));
  try {
    const report = await verifyStore(store, { repair, onProgress: (done) => emit({ type: 'progress', done }) });
    for (const p of report.problems) emit({ type: 'warning', message: `${p.file}: ${p.problem}${repair ? ' (dropped)' : ''}` });
    for (const p of report.captures.problems) emit({ type: 'warning', instance: p.instance, message: `capture ${p.key}: ${p.problem}` });
    const failed = (report.repaired ? 0 : report.problems.length) + report.captures.problems.length;
    emit({ type: 'run-finished', kind: 'verify', status: failed === 0 ? 'ok' : 'failed', counts: { ...NO_COUNTS, failed } });
    return report;
  } finally {
    release();
  }
}

// gc must not run while a build writes objects no manifest references yet: it holds the lock too.
export async function gcRun(store: Store, lockTimeoutMs: number, options: GcOptions, sink?: EventSink): Promise<GcReport> {
  const emit = emitterFor(sink, newRunId());
  emit({ type: 'run-started', kind: 'gc', targets: [] });
  const release = await store.lock(lockTimeoutMs, (holder) => emit({ type: 'lock-wait', holder }));
  try {
    const report = await collectGarbage(store, options);
    emit({ type: 'log', message: `removed ${report.objects_removed} objects (${report.bytes_removed} bytes) and ${report.actions_removed} action entries; kept ${report.kept_runs} runs, dropped ${report.dropped_runs}; captures kept ${report.captures_kept}, removed ${report.captures_removed}` });
    emit({ type: 'run-finished', kind: 'gc', status: 'ok', counts: NO_COUNTS });
    return report;
  } finally {
    release();
  }
}
