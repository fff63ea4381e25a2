// Consumers of the event stream that write to a terminal or a file: the human reporter (progress on a
// TTY, one line per built/failed instance with --verbose) and `--events ndjson` (one JSON per line).
import { redactSecrets } from '../manifest.js';
import { describeReason, describeReasons } from './reasons.js';
import type { DagrunEvent, EventSink } from './types.js';

export interface Writable {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/**
 * The CLI's default reporter on stderr. Lock waits always show; the rest on a TTY or with --verbose.
 * On a TTY the progress line carries the run's count, `7/19 steps`, beside the step's own progress.
 */
export function terminalReporter(out: Writable, verbose: boolean): EventSink {
  const tty = out.isTTY === true;
  const clear = tty ? '\r\x1b[K' : '';
  let total: number | undefined;
  let done = 0;
  const count = (): string => (tty && total !== undefined ? `${done}/${total} steps · ` : '');
  return (event) => {
    switch (event.type) {
      case 'run-started':
        total = event.total;
        done = 0;
        return;
      case 'lock-wait':
        out.write(`${clear}waiting for the cache lock held by ${event.holder}…\n`);
        return;
      case 'warning':
        if (verbose) out.write(`${clear}warning${event.instance ? ` [${event.instance}]` : ''}: ${redactSecrets(event.message)}\n`);
        return;
      case 'instance-started':
        if (tty || verbose) out.write(`${clear}${count()}building ${event.instance} (${describeReasons(event.reasons)})${tty ? '' : '\n'}`);
        return;
      case 'progress':
        if (tty && event.instance) out.write(`${clear}${count()}${event.instance}: ${event.done}${event.total ? `/${event.total} (${Math.round((100 * event.done) / event.total)}%)` : ''}`);
        return;
      case 'log':
        if (verbose) out.write(`${clear}${event.instance ? `[${event.instance}] ` : ''}${redactSecrets(event.message)}\n`);
        return;
      case 'instance-failed':
        done += 1;
        if (verbose) out.write(`${clear}failed ${event.instance}: ${redactSecrets(event.reason.message)}\n`);
        else if (tty) out.write(clear);
        return;
      case 'instance-skipped':
        done += 1;
        if (verbose) out.write(`${clear}skipped ${event.instance} (${describeReason(event.reason)})\n`);
        return;
      case 'instance-built':
      case 'instance-cached':
      case 'instance-would-build':
        done += 1;
        if (tty) out.write(total !== undefined && done < total ? `${clear}${count()}` : clear);
        return;
      default:
        return;
    }
  };
}

/** `--events ndjson`: every event, one JSON document per line, secrets scrubbed. */
export function ndjsonWriter(out: Writable): EventSink {
  return (event) => {
    out.write(`${JSON.stringify(redactSecrets(event))}\n`);
  };
}

/** One line of human text per event, for the scheduler's run log and the UI's live log. */
export function eventLine(event: DagrunEvent): string {
  const at = event.time.slice(11, 19);
  switch (event.type) {
    case 'run-started':
      return `${at} run ${event.run_id} (${event.kind}${event.schedule ? `, schedule ${event.schedule}` : ''}) started${event.targets.length ? `: ${event.targets.join(' ')}` : ''}`;
    case 'run-finished':
      return `${at} run ${event.run_id} ${event.status}: ${event.counts.built} built, ${event.counts.cached} cached, ${event.counts.failed} failed, ${event.counts.skipped} skipped`;
    case 'instance-started':
      return `${at} building ${event.instance} — ${describeReasons(event.reasons)}`;
    case 'instance-built':
      return `${at} built ${event.instance} in ${(event.duration_ms / 1000).toFixed(1)}s${Object.keys(event.rows).length ? ` [${Object.entries(event.rows).map(([k, v]) => `${k} ${v} rows`).join(', ')}]` : ''}`;
    case 'instance-cached':
      return `${at} cached ${event.instance} — ${describeReason(event.reason)}`;
    case 'instance-would-build':
      return `${at} would build ${event.instance} — ${describeReasons(event.reasons)}`;
    case 'instance-failed':
      return `${at} failed ${event.instance}: ${event.reason.message}`;
    case 'instance-skipped':
      return `${at} skipped ${event.instance} — ${describeReason(event.reason)}`;
    case 'capture-pinned':
      return `${at} ${event.reused ? 'reused pinned' : 'pinned new'} capture ${event.instance}`;
    case 'progress':
      return `${at} ${event.instance ?? 'progress'}: ${event.done}${event.total ? `/${event.total}` : ''}`;
    case 'log':
      return `${at} ${event.instance ? `[${event.instance}] ` : ''}${event.message}`;
    case 'warning':
      return `${at} warning${event.instance ? ` [${event.instance}]` : ''}: ${event.message}`;
    case 'lock-wait':
      return `${at} waiting for the cache lock held by ${event.holder}`;
  }
}
