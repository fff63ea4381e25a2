// ais-capture: record AIS around each overpass of the day (per tile bbox, ±window_min) and a random
// daily ship sample, from aisstream.io (live) or a recorded stream served by the local replay server.
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { outputColumns, outputOrderBy, type Params, type StepKernel } from './ais-capture.dagrun.js';
import { readTable, writeTable } from '../../src/sdk/table-io.js';
import { StepError, UserError } from '../../src/sdk/errors.js';
import { rejectCounts } from '../../lib/maritime/ais.js';
import { CAPTURE_MESSAGE_TYPES } from './messages.js';
import { captureStream, type CaptureResult } from './client.js';
import { indexRecording, startReplayServer } from './replay-server.js';
import { daySeed, digestMessages, latestStatics, overpassesOn, overpassSnapshot, pickSample, tileFileStem, windowOf, withStatics } from './capture.js';
import { canonicalFromMs } from '../../lib/maritime/time.js';
import { inBox, type BoundingBox, type Subscription } from './protocol.js';
import { writeXlsx } from '../../lib/maritime/xlsx.js';

/** The key the kernel's own replay server accepts (the replay needs no real key). */
const REPLAY_KEY = 'replay-key';
/** Messages arrive slightly out of time order: a window ends once a message this much past its end arrives. */
const WINDOW_GRACE_MS = 30_000;


const kernel: StepKernel = async (ctx) => {
  const p = ctx.params;
  // The schema says an array; its shape ([[lat, lon], [lat, lon]]) is the protocol's BoundingBox.
  const sampleBox = p.sample_bbox as BoundingBox;
  const date = ctx.partition.date;
  if (!date) throw new StepError('ais-capture runs per date partition (partition: date)', ctx.step);
  const dayStartMs = Date.parse(`${date}T00:00:00Z`);
  const dayEndMs = dayStartMs + 86_400_000 - 1;

  const overpasses = overpassesOn(await readTable(ctx.inputs.schedule), date, 'schedule');
  ctx.metric('overpasses', overpasses.length);

  // One session per overpass window, plus the sampler's session; all share one "seen" set so a message
  // received by two sessions counts once.
  const seen = new Set<string>();
  const lines: string[] = [];
  const totals = { drops: 0, reconnects: 0, redelivered: 0, overlap: 0 };
  const types = [...CAPTURE_MESSAGE_TYPES];

  let session: (sub: Omit<Subscription, 'APIKey'>, startMs: number, endMs: number, liveDurationMs?: number) => Promise<void>;

  if (p.mode === 'replay') {
    const recording = indexRecording((await readFile(ctx.inputs.stream, 'utf8')).split('\n'));
    ctx.metric('recording_messages', recording.length);
    let drops = [...p.replay_drop_after];
    session = async (sub, startMs, endMs) => {
      const server = await startReplayServer({
        recording,
        apiKey: REPLAY_KEY,
        startAtMs: startMs,
        speed: p.replay_speed,
        dropAfter: drops,
        resumeOverlap: p.replay_resume_overlap,
      });
      drops = []; // the scripted drops happen in the first session only
      try {
        const result = await captureStream(
          { url: server.url, subscription: { APIKey: REPLAY_KEY, ...sub }, stopAfterMs: endMs + WINDOW_GRACE_MS, ...retry(p), log: (m) => ctx.log(m) },
          seen,
        );
        collect(result);
      } finally {
        await server.close();
      }
    };
  } else {
    const key = ctx.secret('AISSTREAM_API_KEY');
    if (!key) throw new UserError('AUTH', 'AISSTREAM_API_KEY is not set: live capture needs an aisstream.io API key in the environment', ctx.step);
    session = async (sub, startMs, endMs, liveDurationMs) => {
      const now = ctx.now().getTime();
      const stopAt = liveDurationMs !== undefined ? now + liveDurationMs : endMs;
      if (liveDurationMs === undefined) {
        if (now > endMs) {
          ctx.warn(`window ${canonicalFromMs(startMs)}–${canonicalFromMs(endMs)} is already over; nothing captured for it`);
          return;
        }
        if (startMs - now > p.max_wait_min * 60_000) {
          ctx.warn(`window starting ${canonicalFromMs(startMs)} is more than ${p.max_wait_min} min away; skipped`);
          return;
        }
        if (startMs > now) await new Promise((resolve) => setTimeout(resolve, startMs - now));
      }
      const result = await captureStream(
        { url: p.endpoint, subscription: { APIKey: key, ...sub }, shouldStop: () => ctx.now().getTime() > stopAt, ...retry(p), log: (m) => ctx.log(m) },
        seen,
      );
      collect(result);
    };
  }

  function collect(result: CaptureResult): void {
    // A feed may echo the subscription (and its APIKey): the recording, and the rejects and tables
    // parsed from it, only ever see redacted lines.
    lines.push(...result.lines.map((line) => ctx.redact(line)));
    totals.drops += result.drops;
    totals.reconnects += result.reconnects;
    totals.redelivered += result.redelivered;
    totals.overlap += result.seenInEarlierSession;
  }

  for (const [index, overpass] of overpasses.entries()) {
    const { startMs, endMs } = windowOf(overpass, p.window_min);
    ctx.log(`overpass ${overpass.tile_id} ${overpass.satellite} at ${overpass.center_time}`);
    await session({ BoundingBoxes: [overpass.box], FilterMessageTypes: types }, startMs, endMs);
    ctx.progress(index + 1, overpasses.length + 1);
  }
  // The random daily sampler: a large-area subscription over the day (live: for sample_minutes).
  if (p.sample_size > 0) {
    await session({ BoundingBoxes: [sampleBox], FilterMessageTypes: types }, dayStartMs, dayEndMs, p.mode === 'live' ? p.sample_minutes * 60_000 : undefined);
  }
  ctx.progress(overpasses.length + 1, overpasses.length + 1);

  // The recorder: every distinct message received, in arrival order, as NDJSON the replay mode reads
  // back (`stream` input), so a live capture can be replayed exactly.
  await mkdir(ctx.outputs.raw, { recursive: true });
  await writeFile(join(ctx.outputs.raw, 'stream.ndjson'), lines.length > 0 ? `${lines.join('\n')}\n` : '');

  const digest = digestMessages(lines);
  const statics = latestStatics(digest.statics);
  // The day's fixes (a session ends on the first message past its window, which may be the next day's).
  const positions = digest.positions
    .filter((r) => r.position.ts_utc !== null && r.position.ts_utc.startsWith(date))
    .map((r) => withStatics(r.position, statics));

  await writeTable(ctx.outputs.positions, outputColumns.positions, positions as never, { orderBy: outputOrderBy.positions });
  await writeTable(ctx.outputs.rejects, outputColumns.rejects, digest.rejects as never, { orderBy: outputOrderBy.rejects });

  // Overpass snapshots: one parquet + xlsx per tile (all of that tile's passes on the day).
  await mkdir(ctx.outputs.overpass, { recursive: true });
  const byTile = new Map<string, ReturnType<typeof overpassSnapshot>>();
  for (const overpass of overpasses) {
    const rows = overpassSnapshot(overpass, p.window_min, digest.positions, statics);
    byTile.set(overpass.tile_id, [...(byTile.get(overpass.tile_id) ?? []), ...rows]);
    ctx.metric(`overpass_vessels_${tileFileStem(overpass.tile_id)}_${overpass.satellite}`, rows.length);
  }
  for (const [tile, rows] of byTile) {
    const stem = `ais_overpass_${tileFileStem(tile)}`;
    await writeTable(join(ctx.outputs.overpass, `${stem}.parquet`), outputColumns.overpass, rows, { orderBy: outputOrderBy.overpass });
    const sorted = [...rows].sort((a, b) => String(a.overpass_time).localeCompare(String(b.overpass_time)) || String(a.satellite).localeCompare(String(b.satellite)) || Number(a.mmsi) - Number(b.mmsi));
    await writeXlsx(join(ctx.outputs.overpass, `${stem}.xlsx`), 'ais', Object.keys(outputColumns.overpass), sorted);
  }

  // Random sample: N distinct MMSIs among the day's ships inside the sampler's box, by seeded rank;
  // each with its first fix of the day.
  const dayPositions = positions.filter((q) => inBox(q.lat, q.lon, sampleBox));
  const picked = pickSample(dayPositions.map((q) => q.mmsi), p.sample_size, daySeed(p.seed, date));
  const rank = new Map(picked.map((mmsi, i) => [mmsi, i + 1]));
  const firstFix = new Map<number, (typeof positions)[number]>();
  for (const q of dayPositions) {
    if (!rank.has(q.mmsi)) continue;
    const current = firstFix.get(q.mmsi);
    if (!current || (q.ts_utc as string) < (current.ts_utc as string)) firstFix.set(q.mmsi, q);
  }
  const sampleRows = [...firstFix.values()].map((q) => ({ ...q, sample_rank: rank.get(q.mmsi) }));
  await writeTable(ctx.outputs.random_sample, outputColumns.random_sample, sampleRows, { orderBy: outputOrderBy.random_sample });

  ctx.metric('messages', lines.length);
  for (const [type, count] of Object.entries(digest.byType).sort()) ctx.metric(`messages_${type}`, count);
  ctx.metric('positions', positions.length);
  ctx.metric('vessels', new Set(positions.map((q) => q.mmsi)).size);
  ctx.metric('rejects', digest.rejects.length);
  for (const [name, count] of Object.entries(rejectCounts(digest.rejects)).sort()) ctx.metric(name, count);
  for (const [field, count] of Object.entries(digest.nulled)) if (count > 0) ctx.metric(`nulled_${field}`, count);
  ctx.metric('drops', totals.drops);
  ctx.metric('reconnects', totals.reconnects);
  ctx.metric('redelivered', totals.redelivered);
  ctx.metric('seen_in_earlier_session', totals.overlap);
  ctx.metric('random_sample', sampleRows.length);
};

function retry(p: Params): { maxReconnects: number; backoffMs: number; backoffMaxMs: number } {
  return { maxReconnects: p.max_reconnects, backoffMs: p.backoff_ms, backoffMaxMs: p.backoff_max_ms };
}

export default kernel;
