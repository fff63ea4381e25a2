// Emitting into and fanning out the event stream.
import type { DagrunEvent, EventBody, EventSink } from './types.js';

/** Stamps events of one run with its id and the (injectable) clock, then hands them to the sink. */
export type Emit = (body: EventBody) => void;

export function emitterFor(sink: EventSink | undefined, runId: string, now: () => Date = () => new Date()): Emit {
  if (!sink) return () => undefined;
  // One ISO string per millisecond: a one-date rebuild at 365 dates emits 728 events in a few.
  let lastMs = Number.NaN;
  let lastTime = '';
  return (body) => {
    const ms = now().getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = new Date(ms).toISOString();
    }
    sink(Object.assign({}, body, { time: lastTime, run_id: runId }) as DagrunEvent);
  };
}

/** Several sinks as one; a sink that throws does not stop the others (or the build). */
export function fanOut(...sinks: (EventSink | undefined)[]): EventSink | undefined {
  const live = sinks.filter((s): s is EventSink => s !== undefined);
  if (live.length === 0) return undefined;
  if (live.length === 1) return live[0];
  return (event) => {
    for (const sink of live) {
      try {
        sink(event);
      } catch {
        /* a consumer's failure is not the engine's */
      }
    }
  };
}

/**
 * A long-lived stream many consumers subscribe to (the server's SSE clients, the scheduler's log).
 * Keeps the last `history` events so a client that connects mid-run sees what it missed.
 */
export class EventBus {
  private readonly subscribers = new Set<EventSink>();
  private readonly recent: DagrunEvent[] = [];

  constructor(private readonly history = 2000) {}

  readonly emit: EventSink = (event) => {
    this.recent.push(event);
    if (this.recent.length > this.history) this.recent.splice(0, this.recent.length - this.history);
    for (const subscriber of this.subscribers) {
      try {
        subscriber(event);
      } catch {
        /* one broken subscriber must not starve the rest */
      }
    }
  };

  subscribe(sink: EventSink): () => void {
    this.subscribers.add(sink);
    return () => this.subscribers.delete(sink);
  }

  /** Recent events, optionally only one run's. */
  replay(runId?: string): DagrunEvent[] {
    return runId ? this.recent.filter((e) => e.run_id === runId) : [...this.recent];
  }
}
