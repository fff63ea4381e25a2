// The capture client against the local replay server (the aisstream.io protocol on 127.0.0.1):
// bounding-box and message-type filtering, window filtering, reconnects with no loss or duplication,
// a wrong key, a closed socket; and the seeded daily sampler.
import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import fc from 'fast-check';
import { captureStream } from '../../steps/ais-capture/client.js';
import { indexRecording, startReplayServer, type RecordedMessage } from '../../steps/ais-capture/replay-server.js';
import { digestMessages, latestStatics, overpassSnapshot, pickSample, type Overpass } from '../../steps/ais-capture/capture.js';
import { boxFromBounds, inBox, type Subscription } from '../../steps/ais-capture/protocol.js';
import { epochMs } from '../../lib/maritime/time.js';
import { sampleStreamLines } from '../../scripts/sample/20-ais.js';

const KEY = 'test-key';
const recording: RecordedMessage[] = indexRecording(sampleStreamLines());
const retry = { maxReconnects: 3, backoffMs: 5, backoffMaxMs: 20 };
const ALL_TYPES = ['PositionReport', 'StandardClassBPositionReport', 'ShipStaticData'];
const WORLD = boxFromBounds(-90, -180, 90, 180);

async function withServer<T>(options: Partial<Parameters<typeof startReplayServer>[0]>, run: (url: string, stats: { sent: number; drops: number; subscriptions: number }) => Promise<T>): Promise<T> {
  const server = await startReplayServer({ recording, apiKey: KEY, ...options });
  try {
    return await run(server.url, server.stats);
  } finally {
    await server.close();
  }
}

const subscribe = (boxes = [WORLD], types = ALL_TYPES): Subscription => ({ APIKey: KEY, BoundingBoxes: boxes, FilterMessageTypes: types });

describe('replay server + client', () => {
  it('streams the whole recording to a world subscription, in order, ending cleanly', async () => {
    const result = await withServer({}, (url) => captureStream({ url, subscription: subscribe([WORLD], []), ...retry }));
    // Every line arrives once, in order: the malformed ones too (the server cannot read them to filter
    // them), but not the reports at the "not available" position 91/181, which lie outside every box.
    const expected = recording.filter((m) => m.lat === null || inBox(m.lat, m.lon as number, WORLD)).map((m) => m.raw);
    expect(recording.length - expected.length).toBe(2);
    expect(result.lines).toEqual(expected);
    expect(result.endedBy).toBe('end-of-recording');
    expect(result.drops).toBe(0);
  });

  it('filters by bounding box: exactly the recorded messages inside the box', async () => {
    const box = boxFromBounds(50.7, -1.2, 50.8, -1.05); // Spithead / Ryde
    const result = await withServer({}, (url) => captureStream({ url, subscription: subscribe([box]), ...retry }));
    const expected = recording.filter((m) => m.type !== '' && m.lat !== null && inBox(m.lat, m.lon as number, box)).map((m) => m.raw);
    const received = result.lines.filter((l) => !recording.find((m) => m.raw === l && m.type === ''));
    expect(received).toEqual(expected);
    expect(expected.length).toBeGreaterThan(100);
    expect(expected.length).toBeLessThan(recording.length / 2);
  });

  it('filters by message type', async () => {
    const result = await withServer({}, (url) => captureStream({ url, subscription: subscribe([WORLD], ['ShipStaticData']), ...retry }));
    const types = result.lines.map((l) => { try { return JSON.parse(l).MessageType as string; } catch { return 'unreadable'; } });
    expect([...new Set(types)].sort()).toEqual(['ShipStaticData', 'unreadable']);
    expect(types.filter((t) => t === 'ShipStaticData').length).toBe(recording.filter((m) => m.type === 'ShipStaticData').length);
  });

  it('reconnects after the server drops the socket mid-stream, losing and duplicating nothing', async () => {
    const expected = recording.filter((m) => m.lat === null || inBox(m.lat, m.lon as number, WORLD)).map((m) => m.raw);
    const { result, stats } = await withServer({ dropAfter: [500, 1200, 1201, 3000], resumeOverlap: 7 }, async (url, stats) => ({
      result: await captureStream({ url, subscription: subscribe([WORLD], []), ...retry }),
      stats,
    }));
    expect(stats.drops).toBe(4);
    expect(stats.subscriptions).toBe(5);
    expect(result.drops).toBe(4);
    expect(result.reconnects).toBe(4);
    // The server re-sent the last 7 messages after each drop (at-least-once); the client kept each once.
    expect(result.redelivered).toBeGreaterThanOrEqual(3 * 7);
    expect(stats.sent).toBe(expected.length + result.redelivered);
    expect(result.lines).toEqual(expected);
    expect(new Set(result.lines).size).toBe(result.lines.length);
  });

  it('refuses a wrong API key with a clear error and does not retry', async () => {
    await withServer({}, async (url, stats) => {
      await expect(captureStream({ url, subscription: { ...subscribe(), APIKey: 'wrong' }, ...retry })).rejects.toThrow(/refused the subscription: Api Key Is Not Valid/);
      expect(stats.subscriptions).toBe(0);
    });
  });

  it('gives up with a clear error when the endpoint keeps closing the socket', async () => {
    // A TCP server that accepts and immediately closes: no WebSocket ever opens.
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const error = await captureStream({ url: `ws://127.0.0.1:${port}/v0/stream`, subscription: subscribe(), ...retry }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/closed .* and 3 reconnect attempts failed .*API key/);
      expect((error as Error).message).not.toContain(KEY);
    } finally {
      server.close();
    }
  });

  it('stops a window once the stream passes its end, and starts at the replay start time', async () => {
    const start = Date.parse('2026-05-25T11:00:00Z');
    const end = Date.parse('2026-05-25T11:10:00Z');
    const result = await withServer({ startAtMs: start }, (url) => captureStream({ url, subscription: subscribe(), stopAfterMs: end, ...retry }));
    expect(result.endedBy).toBe('window');
    const times = result.lines.map((l) => recording.find((m) => m.raw === l)?.timeMs).filter((t): t is number => typeof t === 'number');
    expect(Math.min(...times)).toBeGreaterThanOrEqual(start);
    // Everything up to the first message past the end, and nothing more.
    expect(times.filter((t) => t > end)).toHaveLength(1);
  });
});

describe('overpass window snapshot', () => {
  const digest = digestMessages(sampleStreamLines());
  const statics = latestStatics(digest.statics);
  const overpass: Overpass = {
    tile_id: '30UXB',
    satellite: 'S2B',
    center_time: '2026-05-25 11:06:00.000000',
    centerMs: Date.parse('2026-05-25T11:06:00Z'),
    box: boxFromBounds(50.68, -1.4, 50.85, -1.0),
  };

  it('has one row per distinct MMSI seen in the box within ±window, at its fix nearest the pass', () => {
    const rows = overpassSnapshot(overpass, 5, digest.positions, statics);
    const inWindow = digest.positions.filter((p) => {
      const t = epochMs(p.position.ts_utc as string);
      return Math.abs(t - overpass.centerMs) <= 5 * 60_000 && inBox(p.position.lat, p.position.lon, overpass.box);
    });
    expect(rows.map((r) => r.mmsi)).toEqual([...new Set(inWindow.map((p) => p.position.mmsi))].sort((a, b) => a - b));
    for (const row of rows) {
      const candidates = inWindow.filter((p) => p.position.mmsi === row.mmsi);
      const nearest = Math.min(...candidates.map((p) => Math.abs(epochMs(p.position.ts_utc as string) - overpass.centerMs)));
      expect(Math.abs(row.dt_seconds as number) * 1000).toBeCloseTo(nearest, 3);
      expect(row.n_positions).toBe(candidates.length);
    }
    // A narrower window sees fewer fixes per ship, and never a ship the wider one does not.
    const narrow = overpassSnapshot(overpass, 1, digest.positions, statics);
    expect(narrow.every((r) => rows.some((w) => w.mmsi === r.mmsi))).toBe(true);
    expect(narrow.reduce((a, r) => a + (r.n_positions as number), 0)).toBeLessThan(rows.reduce((a, r) => a + (r.n_positions as number), 0));
  });

  it('fills IMO, call sign, type and dimensions from ShipStaticData', () => {
    const rows = overpassSnapshot(overpass, 5, digest.positions, statics);
    const classA = rows.filter((r) => r.imo !== null);
    expect(classA.length).toBeGreaterThan(5);
    for (const r of classA) {
      expect(r.imo).toMatch(/^IMO\d{7}$/);
      expect(r.length_m).toBeGreaterThan(0);
    }
  });
});

describe('random daily sampler', () => {
  it('picks N distinct MMSIs reproducibly, whatever order the stream delivered them in', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 100_000_000, max: 999_999_999 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 50 }), fc.integer(), (mmsis, n, seed) => {
        const picked = pickSample(mmsis, n, seed);
        expect(picked).toHaveLength(Math.min(n, mmsis.length));
        expect(new Set(picked).size).toBe(picked.length);
        expect(pickSample([...mmsis].reverse(), n, seed)).toEqual(picked);
        expect(pickSample([...mmsis, ...mmsis], n, seed)).toEqual(picked); // repeats in the stream do not matter
        // A ship picked from a crowd is also picked from any sub-crowd that still contains it.
        const half = mmsis.filter((_, i) => i % 2 === 0);
        const fromHalf = new Set(pickSample(half, n, seed));
        for (const m of picked) if (half.includes(m)) expect(fromHalf.has(m)).toBe(true);
      }),
    );
  });

  it('draws different ships for different seeds', () => {
    const mmsis = Array.from({ length: 1000 }, (_, i) => 232_000_000 + i * 7);
    expect(pickSample(mmsis, 20, 1)).not.toEqual(pickSample(mmsis, 20, 2));
  });
});
