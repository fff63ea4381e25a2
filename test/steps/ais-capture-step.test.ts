// ais-capture through the real engine (execStep): the kernel starts its replay server on 127.0.0.1,
// the real client captures the overpass window and the day's sample, and the outputs are checked.
import { describe, expect, it, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execStep } from '../../src/engine/exec.js';
import { readTable, writeTable } from '../../src/sdk/table-io.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { readXlsx } from '../../lib/maritime/xlsx.js';
import { indexRecording, startReplayServer } from '../../steps/ais-capture/replay-server.js';
import { sampleStreamLines } from '../../scripts/sample/20-ais.js';
import { END_OF_RECORDING } from '../../steps/ais-capture/protocol.js';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';

const PIPELINE = join(PROJECT_ROOT, 'pipeline.yaml');
// Kernel workers are pooled per process and copy the environment when they start, so the key is set
// before the first execStep. (The missing-key case runs in ais-capture-nokey.test.ts, its own process.)
const LIVE_KEY = 'live-secret-key-0123456789';
process.env.AISSTREAM_API_KEY = LIVE_KEY;
const DATE = '2026-05-25';
const PASS = '2026-05-25 11:15:45.184';

async function scheduleFile(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ais-schedule-'));
  const file = join(dir, 'overpass_schedule.parquet');
  // The columns ais-capture reads from predict.schedule (tile 30UXB's footprint, S2B's pass that day).
  await writeTable(
    file,
    { tile_id: 'VARCHAR', satellite: 'VARCHAR', center_time_utc: 'TIMESTAMP', bbox_min_lat: 'DOUBLE', bbox_min_lon: 'DOUBLE', bbox_max_lat: 'DOUBLE', bbox_max_lon: 'DOUBLE' },
    [
      { tile_id: '30UXB', satellite: 'S2B', center_time_utc: PASS, bbox_min_lat: 50.4262937, bbox_min_lon: -1.5912849, bbox_max_lat: 51.4423523, bbox_max_lon: 0.017025 },
      { tile_id: '30UXB', satellite: 'S2A', center_time_utc: '2026-05-26 11:15:45.205', bbox_min_lat: 50.4262937, bbox_min_lon: -1.5912849, bbox_max_lat: 51.4423523, bbox_max_lon: 0.017025 },
    ],
  );
  return file;
}

const digestDir = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name))
      .sort()
      .map((f) => [f.slice(dir.length), createHash('sha256').update(readFileSync(f)).digest('hex')]),
  );

describe('ais-capture step (replay through the engine)', () => {
  let schedule: string;
  let out: string;
  let result: Awaited<ReturnType<typeof execStep>>;
  beforeAll(async () => {
    schedule = await scheduleFile();
    out = mkdtempSync(join(tmpdir(), 'ais-capture-'));
    result = await execStep({ pipeline: PIPELINE, step: 'ais-capture', inputs: { schedule: `file:${schedule}` }, partition: { date: DATE }, outDir: out });
  });

  it('writes the overpass snapshot (parquet + xlsx) with only ships inside ±window_min of the pass', async () => {
    const dir = join(out, 'ais', DATE, 'overpass');
    expect(readdirSync(dir).sort()).toEqual(['ais_overpass_30UXB.parquet', 'ais_overpass_30UXB.xlsx']);
    const rows = await readTable(join(dir, 'ais_overpass_30UXB.parquet'));
    expect(rows.length).toBeGreaterThan(10);
    expect(new Set(rows.map((r) => r.mmsi)).size).toBe(rows.length);
    const pass = Date.parse(`${PASS.replace(' ', 'T')}Z`);
    for (const r of rows) {
      expect(Math.abs(Date.parse(String(r.ts_utc)) - pass)).toBeLessThanOrEqual(5 * 60_000);
      expect(r.satellite).toBe('S2B');
      expect(r.lat as number).toBeGreaterThanOrEqual(50.4262937);
      expect(r.lon as number).toBeGreaterThanOrEqual(-1.5912849);
    }
    // The workbook holds the same ships.
    const sheet = await readXlsx(join(dir, 'ais_overpass_30UXB.xlsx'));
    expect(sheet.header).toContain('overpass_time');
    const mmsiColumn = sheet.header.indexOf('mmsi');
    expect(sheet.rows.map((r) => Number(r.values[mmsiColumn])).sort()).toEqual(rows.map((r) => Number(r.mmsi)).sort());
    expect(result.metrics.overpass_vessels_30UXB_S2B).toBe(rows.length);
  });

  it('writes the day’s normalised positions and every invalid message to rejects with its reason', async () => {
    const positions = await readTable(join(out, 'ais', DATE, 'positions.parquet'));
    expect(positions.length).toBe(result.metrics.positions);
    expect(positions.every((p) => String(p.ts_utc).startsWith(DATE))).toBe(true);
    const rejects = await readTable(join(out, 'ais', DATE, 'rejects.parquet'));
    expect(rejects.map((r) => r.reason).sort()).toEqual(['duplicate', 'malformed_message', 'unparseable_time']);
    expect(rejects.every((r) => /^stream message \d+$/.test(String(r.location)))).toBe(true);
    expect(result.metrics.rejects_duplicate).toBe(1);
    // SOG 102.3 / heading 511 / COG 360 are "not available": the row is kept with those fields null.
    expect(result.metrics.nulled_sog).toBe(1);
    expect(positions.some((p) => p.sog === null && p.heading === null && p.cog === null)).toBe(true);
    // Static data filled in: IMO and call sign on Class A ships.
    expect(positions.filter((p) => p.imo !== null).length).toBeGreaterThan(positions.length / 2);
  });

  it('samples sample_size distinct ships for the day', async () => {
    const sample = await readTable(join(out, 'ais', DATE, 'ais_random_sample.parquet'));
    expect(sample.map((r) => r.sample_rank)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(sample.map((r) => r.mmsi)).size).toBe(20);
  });

  it('gives byte-identical outputs on a rerun in which the socket drops mid-stream three times', async () => {
    const dropped = mkdtempSync(join(tmpdir(), 'ais-capture-drops-'));
    const withDrops = await execStep({
      pipeline: PIPELINE, step: 'ais-capture', inputs: { schedule: `file:${schedule}` }, partition: { date: DATE }, outDir: dropped,
      params: { replay_drop_after: [20, 21, 60], replay_resume_overlap: 4, backoff_ms: 5 },
    });
    expect(withDrops.metrics.drops).toBe(3);
    expect(withDrops.metrics.reconnects).toBe(3);
    expect(withDrops.metrics.redelivered).toBeGreaterThan(0);
    expect(digestDir(dropped)).toEqual(digestDir(out));
  });

  it('records the raw stream, and replaying that recording captures the same positions', async () => {
    const raw = join(out, 'ais', DATE, 'raw', 'stream.ndjson');
    const recorded = readFileSync(raw, 'utf8').trim().split('\n');
    expect(recorded.length).toBe(result.metrics.messages);
    const replayed = mkdtempSync(join(tmpdir(), 'ais-capture-replayed-'));
    await execStep({ pipeline: PIPELINE, step: 'ais-capture', inputs: { schedule: `file:${schedule}`, stream: `file:${raw}` }, partition: { date: DATE }, outDir: replayed });
    const positions = (dir: string) => readFileSync(join(dir, 'ais', DATE, 'positions.parquet'));
    expect(positions(replayed).equals(positions(out))).toBe(true);
  });

  it('live mode: subscribes with AISSTREAM_API_KEY, skips windows already over, and never writes the key', async () => {
    // Stand-in for stream.aisstream.io: the replay server, as the live endpoint.
    const server = await startReplayServer({ recording: indexRecording(sampleStreamLines()), apiKey: LIVE_KEY });
    const logs: string[] = [];
    try {
      const dir = mkdtempSync(join(tmpdir(), 'ais-live-'));
      const live = await execStep({
        pipeline: PIPELINE, step: 'ais-capture', inputs: { schedule: `file:${schedule}` }, partition: { date: DATE }, outDir: dir,
        params: { mode: 'live', endpoint: server.url, sample_minutes: 0.05 }, onLog: (m) => logs.push(m),
      });
      expect(live.warnings.some((w) => /already over/.test(w))).toBe(true);
      expect(server.stats.subscriptions).toBe(1); // the sampler's; the 2026-05-25 window is in the past
      expect(live.metrics.positions as number).toBeGreaterThan(0);
      const texts = [JSON.stringify(live), logs.join('\n')];
      for (const file of Object.keys(digestDir(dir))) {
        const path = join(dir, file);
        texts.push(file.endsWith('.parquet') ? JSON.stringify(await readTable(path)) : file.endsWith('.xlsx') ? JSON.stringify(await readXlsx(path)) : readFileSync(path, 'utf8'));
      }
      for (const text of texts) expect(text).not.toContain(LIVE_KEY);
    } finally {
      await server.close();
    }
  });

  it('live mode: a feed echoing the subscription (and its key) gets it redacted from the recording and the rejects', async () => {
    // A hostile or buggy upstream: it sends the subscription it received straight back, once as it is
    // (not an envelope: a reject carrying the raw line) and once inside a valid position's ShipName.
    const [position] = sampleStreamLines().filter((l) => l.includes('"PositionReport"') && l.includes(DATE));
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    server.on('connection', (socket) => {
      socket.once('message', (data) => {
        const subscription = String(data);
        const envelope = JSON.parse(position) as { MetaData: Record<string, unknown> };
        envelope.MetaData.ShipName = subscription;
        socket.send(subscription);
        socket.send(JSON.stringify(envelope));
        socket.close(1000, END_OF_RECORDING);
      });
    });
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const dir = mkdtempSync(join(tmpdir(), 'ais-echo-'));
      const live = await execStep({
        pipeline: PIPELINE, step: 'ais-capture', inputs: { schedule: `file:${schedule}` }, partition: { date: DATE }, outDir: dir,
        params: { mode: 'live', endpoint: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, sample_minutes: 0.05 },
      });
      expect(live.metrics.messages).toBe(2);
      const stream = readFileSync(join(dir, 'ais', DATE, 'raw', 'stream.ndjson'), 'utf8');
      expect(stream).toContain('"APIKey":"***"');
      expect(stream).not.toContain(LIVE_KEY);
      const rejects = await readTable(join(dir, 'ais', DATE, 'rejects.parquet'));
      expect(rejects.map((r) => r.reason)).toEqual(['malformed_message']);
      expect(String(rejects[0].raw)).toContain('"APIKey":"***"');
      expect(JSON.stringify(rejects)).not.toContain(LIVE_KEY);
      for (const file of Object.keys(digestDir(dir)).filter((f) => f.endsWith('.parquet'))) {
        expect(JSON.stringify(await readTable(join(dir, file)))).not.toContain(LIVE_KEY);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('live mode with a wrong key fails with the server’s refusal', async () => {
    const server = await startReplayServer({ recording: [], apiKey: 'a-different-key' });
    try {
      await expect(
        execStep({ pipeline: PIPELINE, step: 'ais-capture', inputs: { schedule: `file:${schedule}` }, partition: { date: DATE }, outDir: mkdtempSync(join(tmpdir(), 'ais-live-')), params: { mode: 'live', endpoint: server.url, sample_minutes: 0.05 } }),
      ).rejects.toThrow(/refused the subscription: Api Key Is Not Valid/);
    } finally {
      await server.close();
    }
  });
});
