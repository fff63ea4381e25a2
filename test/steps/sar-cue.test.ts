// The SAR cue: ETA bands merged into windows per corridor (transit-predict/cues.ts), clipped to the scan
// window and tagged (sar-search/cue.ts), and carried from one day's transit-predict to the next.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execStep } from '../../src/engine/exec.js';
import { readTable } from '../../src/sdk/table-io.js';
import type { StepError } from '../../src/sdk/errors.js';
import { clipWindows, mergeWindows, parseCueRows, type CueWindow } from '../../steps/transit-predict/cues.js';
import { CUE_CARRY_MS } from '../../steps/transit-predict/kernel.js';
import { cuedBy, searchWindows, type Cue } from '../../steps/sar-search/cue.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const HOUR = 3_600_000;
const windowArb = fc.record({
  chokepointId: fc.constantFrom('a', 'b', 'c'),
  startMs: fc.integer({ min: 0, max: 200 }).map((h) => h * HOUR / 4),
  lengthMs: fc.integer({ min: 0, max: 80 }).map((h) => h * HOUR / 4),
}).map(({ chokepointId, startMs, lengthMs }): CueWindow => ({ chokepointId, startMs, endMs: startMs + lengthMs, predictions: 1 }));
const covered = (windows: readonly CueWindow[], id: string, t: number) => windows.some((w) => w.chokepointId === id && w.startMs <= t && t <= w.endMs);

describe('cue windows', () => {
  it('merging gives disjoint sorted windows covering exactly the union, counts kept (property)', () => {
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 30 }), (windows) => {
        const merged = mergeWindows(windows);
        for (let i = 1; i < merged.length; i++) {
          const [a, b] = [merged[i - 1], merged[i]];
          if (a.chokepointId === b.chokepointId) expect(b.startMs).toBeGreaterThan(a.endMs);
          else expect(a.chokepointId < b.chokepointId).toBe(true);
        }
        expect(merged.reduce((n, w) => n + w.predictions, 0)).toBe(windows.length);
        for (const id of ['a', 'b', 'c']) for (let t = 0; t <= 300 * HOUR / 4; t += HOUR / 8) expect(covered(merged, id, t)).toBe(covered(windows, id, t));
      }),
      { numRuns: 80 },
    );
  });

  it('clipping keeps exactly the covered instants inside [from, to) (property)', () => {
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 20 }), fc.integer({ min: 0, max: 250 }), fc.integer({ min: 1, max: 100 }), (windows, from, span) => {
        const fromMs = (from * HOUR) / 4;
        const toMs = fromMs + (span * HOUR) / 4;
        const clipped = clipWindows(windows, fromMs, toMs);
        for (const w of clipped) expect(w.startMs >= fromMs && w.endMs < toMs && w.startMs <= w.endMs).toBe(true);
        for (const id of ['a', 'b', 'c'])
          for (let t = 0; t <= 300 * HOUR / 4; t += HOUR / 8) expect(covered(clipped, id, t)).toBe(t >= fromMs && t < toMs && covered(windows, id, t));
      }),
      { numRuns: 80 },
    );
  });

  it('search windows merge both kinds of cue; a scene is tagged by every kind that covers it', () => {
    const day = Date.parse('2026-05-26T00:00:00Z');
    const cues: Cue[] = [
      { chokepointId: 'suez-s', startMs: day - 5 * HOUR, endMs: day + 2 * HOUR, predictions: 1, kind: 'prediction' },
      { chokepointId: 'suez-s', startMs: day + HOUR, endMs: day + 4 * HOUR, predictions: 0, kind: 'dark_event' },
      { chokepointId: 'hormuz', startMs: day + 30 * HOUR, endMs: day + 40 * HOUR, predictions: 1, kind: 'prediction' },
    ];
    const windows = searchWindows(cues, day, day + 24 * HOUR);
    expect([...windows.entries()]).toEqual([['suez-s', [{ startMs: day, endMs: day + 4 * HOUR }]]]);
    expect(cuedBy(cues, 'suez-s', day + 1.5 * HOUR)).toBe('dark_event,prediction');
    expect(cuedBy(cues, 'suez-s', day + 3 * HOUR)).toBe('dark_event');
    expect(cuedBy(cues, 'hormuz', day + 3 * HOUR)).toBe('');
  });

  it('a bad carried window names its row and field', () => {
    const where = (rows: Record<string, unknown>[]) => {
      try {
        parseCueRows(rows, 'cues.parquet');
      } catch (error) {
        return `${(error as StepError).where}: ${(error as Error).message}`;
      }
      return 'no error';
    };
    expect(where([{ chokepoint_id: 'suez-s', window_start: '2026-05-26T05:00:00Z', window_end: '2026-05-26T04:00:00Z', predictions: 1 }])).toMatch(/^cues\.parquet row 1 field window_start: window .* is not an interval/);
    expect(where([{ chokepoint_id: '', window_start: '2026-05-26T05:00:00Z', window_end: '2026-05-26T06:00:00Z' }])).toMatch(/^cues\.parquet row 1 field chokepoint_id: chokepoint_id is empty/);
  });
});

describe('transit-predict carries open bands into the next days', () => {
  const work = mkdtempSync(join(tmpdir(), 'sar-cue-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const pipeline = join(PROJECT_ROOT, 'pipeline.yaml');
  const day = (date: string, previous?: string) => execStep({ pipeline, step: 'transit-predict', partition: { date }, outDir: work, inputs: previous ? { previous_cues: `file:${previous}` } : {} });

  it('the day after the AIS ends keeps the bands; three days on, those that closed are dropped', async () => {
    const d25 = await day('2026-05-25');
    const d26 = await day('2026-05-26', d25.outputs.cues);
    const d27 = await day('2026-05-27', d26.outputs.cues);
    const d31 = await day('2026-05-31', d27.outputs.cues);
    const rows = async (file: string) => parseCueRows(await readTable(file), file);
    const [w26, w27, w31] = [await rows(d26.outputs.cues), await rows(d27.outputs.cues), await rows(d31.outputs.cues)];
    expect(w26.length).toBeGreaterThan(0);
    // Every band of 05-26 is still a cue on 05-27 (no fix is recent enough for a new prediction after midnight).
    for (const w of w26) expect(w27.some((v) => v.chokepointId === w.chokepointId && v.startMs <= w.startMs && w.endMs <= v.endMs)).toBe(true);
    expect(d27.metrics.predictions).toBe(0);
    const keepFrom = Date.parse('2026-05-31T00:00:00Z') - CUE_CARRY_MS;
    expect(w31).toEqual(w27.filter((w) => w.endMs >= keepFrom));
    expect(w31.length).toBeLessThan(w27.length);
  });
});
