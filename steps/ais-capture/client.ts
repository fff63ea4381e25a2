// The aisstream.io WebSocket client: subscribe, receive, and on a dropped connection reconnect with
// exponential backoff and resubscribe. Everything received is kept; a message delivered twice (a feed
// that re-sends after a reconnect) is kept once.
import WebSocket from 'ws';
import { UserError } from '../../src/sdk/errors.js';
import { END_OF_RECORDING, type Subscription } from './protocol.js';
import { envelopeTime, type Envelope } from './messages.js';
import { epochMs } from '../../lib/maritime/time.js';

export interface CaptureOptions {
  url: string;
  subscription: Subscription;
  /** The window is over once a message recorded after this time (epoch ms) arrives. */
  stopAfterMs?: number;
  /** Live capture: stop when this says so (checked every second and on each message). */
  shouldStop?: () => boolean;
  /** Consecutive failed connections tolerated before giving up. */
  maxReconnects: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** Raw recorder: every distinct line, in arrival order. */
  onLine?: (line: string) => void;
  log?: (message: string) => void;
}

export interface CaptureResult {
  /** Every distinct message received, in arrival order. */
  lines: string[];
  /** Connections that ended before the capture was done. */
  drops: number;
  reconnects: number;
  /** Messages this session received again (a feed re-sending after a reconnect), kept once. */
  redelivered: number;
  /** Messages an earlier session (same `seen` set) already captured, e.g. overlapping windows. */
  seenInEarlierSession: number;
  endedBy: 'window' | 'end-of-recording' | 'stop';
}

type ConnectionOutcome =
  | { kind: 'done'; endedBy: CaptureResult['endedBy'] }
  | { kind: 'dropped'; code: number; reason: string; received: number };

/** Run one capture session until its window is over, the recording ends, or `shouldStop` says so. */
export async function captureStream(options: CaptureOptions, seen: Set<string> = new Set()): Promise<CaptureResult> {
  const result: CaptureResult = { lines: [], drops: 0, reconnects: 0, redelivered: 0, seenInEarlierSession: 0, endedBy: 'window' };
  const sessionSeen = new Set<string>();
  let consecutiveFailures = 0;
  let everReceived = false;
  for (;;) {
    const outcome = await connectOnce(options, seen, sessionSeen, result);
    if (outcome.kind === 'done') {
      result.endedBy = outcome.endedBy;
      return result;
    }
    if (outcome.received > 0) {
      everReceived = true;
      consecutiveFailures = 0;
    }
    result.drops++;
    consecutiveFailures++;
    if (consecutiveFailures > options.maxReconnects) {
      const hint = everReceived ? '' : ' (nothing was ever received: is the endpoint right and the API key valid?)';
      throw new UserError(
        'NETWORK',
        `the AIS stream connection closed (code ${outcome.code}${outcome.reason ? `, ${outcome.reason}` : ''}) and ${options.maxReconnects} reconnect attempts failed${hint}`,
        redactUrl(options.url),
      );
    }
    const wait = Math.min(options.backoffMaxMs, options.backoffMs * 2 ** (consecutiveFailures - 1));
    options.log?.(`AIS stream dropped (code ${outcome.code}); reconnecting in ${wait} ms`);
    await new Promise((resolve) => setTimeout(resolve, wait));
    result.reconnects++;
  }
}

function connectOnce(options: CaptureOptions, seen: Set<string>, sessionSeen: Set<string>, result: CaptureResult): Promise<ConnectionOutcome> {
  return new Promise<ConnectionOutcome>((resolve, reject) => {
    const socket = new WebSocket(options.url, { handshakeTimeout: 10_000 });
    let received = 0;
    let finished: CaptureResult['endedBy'] | null = null;
    let refusal: string | null = null;
    const finish = (endedBy: CaptureResult['endedBy']): void => {
      if (finished) return;
      finished = endedBy;
      socket.close(1000, 'capture done');
    };
    const timer = options.shouldStop
      ? setInterval(() => {
          if (options.shouldStop?.()) finish('stop');
        }, 1000)
      : null;

    socket.on('open', () => socket.send(JSON.stringify(options.subscription)));
    socket.on('message', (data) => {
      if (finished) return;
      const line = String(data);
      let envelope: Envelope | null = null;
      try {
        envelope = JSON.parse(line) as Envelope;
      } catch {
        envelope = null; // kept as received; the parser turns it into a reject
      }
      if (envelope && typeof envelope === 'object' && 'error' in envelope && envelope.MessageType === undefined) {
        refusal = String(envelope.error);
        return;
      }
      received++;
      if (sessionSeen.has(line)) result.redelivered++;
      else if (seen.has(line)) {
        sessionSeen.add(line);
        result.seenInEarlierSession++;
      } else {
        sessionSeen.add(line);
        seen.add(line);
        result.lines.push(line);
        options.onLine?.(line);
      }
      const time = envelope ? envelopeTime(envelope) : undefined;
      if (options.stopAfterMs !== undefined && time !== undefined && epochMs(time) > options.stopAfterMs) finish('window');
      else if (options.shouldStop?.()) finish('stop');
    });
    socket.on('error', () => {
      // 'close' follows with code 1006; the reconnect logic handles it there.
    });
    socket.on('close', (code, reasonBuffer) => {
      if (timer) clearInterval(timer);
      const reason = String(reasonBuffer);
      if (refusal !== null) {
        reject(new UserError('AUTH', `the AIS stream refused the subscription: ${refusal}`, redactUrl(options.url)));
      } else if (finished) {
        resolve({ kind: 'done', endedBy: finished });
      } else if (code === 1000 && reason === END_OF_RECORDING) {
        resolve({ kind: 'done', endedBy: 'end-of-recording' });
      } else {
        resolve({ kind: 'dropped', code, reason, received });
      }
    });
  });
}

/** A URL safe to print: no query string or credentials. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'the AIS stream endpoint';
  }
}
