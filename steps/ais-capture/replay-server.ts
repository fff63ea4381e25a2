// A local server speaking the aisstream.io protocol over a recorded NDJSON stream, so the real client
// runs unchanged in tests and in the embedded sample. It waits for the subscription, checks the API
// key, filters by BoundingBoxes / FilterMessageTypes / FiltersShipMMSI and streams the recorded lines.
//
// Replay semantics: the server is a live feed whose clock only moves while it streams. A drop
// (`dropAfter`) closes the socket after the n-th message sent; the next subscription resumes where the
// stream was (optionally re-sending the last `resumeOverlap` messages, as an at-least-once feed would).
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { END_OF_RECORDING, INVALID_KEY_ERROR, matchesSubscription, subscriptionProblem, type Subscription } from './protocol.js';
import { envelopeMmsi, envelopeTime, type Envelope } from './messages.js';
import { epochMs } from '../../lib/maritime/time.js';

export interface RecordedMessage {
  raw: string;
  timeMs: number | null;
  type: string;
  mmsi: string | null;
  lat: number | null;
  lon: number | null;
}

/** Index a recording's lines for filtering. Lines that are not JSON envelopes keep nulls and pass every filter but the box. */
export function indexRecording(lines: readonly string[]): RecordedMessage[] {
  const out: RecordedMessage[] = [];
  for (const raw of lines) {
    if (raw.trim() === '') continue;
    let envelope: Envelope | null = null;
    try {
      envelope = JSON.parse(raw) as Envelope;
    } catch {
      envelope = null;
    }
    const meta = envelope?.MetaData;
    const time = envelope ? envelopeTime(envelope) : undefined;
    const mmsi = envelope ? envelopeMmsi(envelope) : undefined;
    out.push({
      raw,
      timeMs: time === undefined ? null : epochMs(time),
      type: typeof envelope?.MessageType === 'string' ? envelope.MessageType : '',
      mmsi: mmsi === undefined || mmsi === null ? null : String(mmsi),
      lat: typeof meta?.latitude === 'number' ? meta.latitude : null,
      lon: typeof meta?.longitude === 'number' ? meta.longitude : null,
    });
  }
  return out;
}

export interface ReplayOptions {
  recording: readonly RecordedMessage[];
  apiKey: string;
  /**
   * Emulate connecting at this moment (epoch ms): the stream starts at the first recorded line with a
   * time at or after it. The recording is in arrival order, so later lines are sent as recorded (a
   * slightly earlier time, or an unreadable line, included).
   */
  startAtMs?: number;
  /** 0 = as fast as possible; otherwise recorded time divided by this factor. */
  speed?: number;
  /** Close the socket right after the n-th message sent (counted over the server's life). */
  dropAfter?: readonly number[];
  /** On resubscribing after a drop, re-send this many of the last messages sent. */
  resumeOverlap?: number;
  /** Close a connection that sends no subscription in this time (aisstream: about 3 s). */
  subscriptionTimeoutMs?: number;
}

export interface ReplayStats {
  connections: number;
  subscriptions: number;
  refused: number;
  sent: number;
  drops: number;
}

export interface ReplayServer {
  url: string;
  stats: ReplayStats;
  close(): Promise<void>;
}

/**
 * Whether a recorded message passes a subscription. Unreadable lines have no position, so a box
 * filter would drop them; they pass instead, so the client's rejects path sees what was recorded.
 */
function passes(message: RecordedMessage, subscription: Subscription): boolean {
  if (message.type === '') return true;
  const types = subscription.FilterMessageTypes;
  if (types && types.length > 0 && !types.includes(message.type)) return false;
  if (message.lat === null || message.lon === null) return true;
  return matchesSubscription(message, subscription);
}

export async function startReplayServer(options: ReplayOptions): Promise<ReplayServer> {
  const recording = options.recording;
  const drops = new Set(options.dropAfter ?? []);
  const stats: ReplayStats = { connections: 0, subscriptions: 0, refused: 0, sent: 0, drops: 0 };
  let cursor = 0;
  if (options.startAtMs !== undefined) {
    const start = options.startAtMs;
    const first = recording.findIndex((m) => m.timeMs !== null && m.timeMs >= start);
    cursor = first < 0 ? recording.length : first;
  }
  const sentIndexes: number[] = [];
  let droppedSinceLastSubscription = false;

  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });

  server.on('connection', (socket: WebSocket) => {
    stats.connections++;
    const timer = setTimeout(() => socket.close(1008, 'no subscription received'), options.subscriptionTimeoutMs ?? 3000);
    socket.once('message', (data) => {
      clearTimeout(timer);
      let subscription: unknown;
      try {
        subscription = JSON.parse(String(data));
      } catch {
        subscription = undefined;
      }
      const problem = subscriptionProblem(subscription);
      if (problem) {
        stats.refused++;
        socket.send(JSON.stringify({ error: problem }));
        socket.close(1008, 'invalid subscription');
        return;
      }
      if ((subscription as Subscription).APIKey !== options.apiKey) {
        stats.refused++;
        socket.send(JSON.stringify({ error: INVALID_KEY_ERROR }));
        socket.close(1008, 'invalid api key');
        return;
      }
      stats.subscriptions++;
      if (droppedSinceLastSubscription && options.resumeOverlap) {
        const back = sentIndexes[Math.max(0, sentIndexes.length - options.resumeOverlap)];
        if (back !== undefined) cursor = Math.min(cursor, back);
      }
      droppedSinceLastSubscription = false;
      void stream(socket, subscription as Subscription);
    });
  });

  async function stream(socket: WebSocket, subscription: Subscription): Promise<void> {
    let previousTimeMs: number | null = null;
    let sinceYield = 0;
    while (cursor < recording.length) {
      if (socket.readyState !== socket.OPEN) return;
      const index = cursor;
      const message = recording[index];
      cursor++;
      if (!passes(message, subscription)) continue;
      if (options.speed && message.timeMs !== null) {
        if (previousTimeMs !== null && message.timeMs > previousTimeMs) await sleep((message.timeMs - previousTimeMs) / options.speed);
        previousTimeMs = message.timeMs;
      }
      socket.send(message.raw);
      stats.sent++;
      sentIndexes.push(index);
      if (drops.has(stats.sent)) {
        stats.drops++;
        droppedSinceLastSubscription = true;
        // A clean close: what was sent before it is delivered first, as on a server restart.
        socket.close(1012, 'server restarting');
        return;
      }
      // Let the client (often in this same thread) read, and respect backpressure.
      if (++sinceYield >= 200 || socket.bufferedAmount > 1 << 20) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
        while (socket.readyState === socket.OPEN && socket.bufferedAmount > 1 << 20) await sleep(5);
      }
    }
    if (socket.readyState === socket.OPEN) socket.close(1000, END_OF_RECORDING);
  }

  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/v0/stream`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
