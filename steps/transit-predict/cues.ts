// SAR cue windows (seed 004, monitor-corridor-sar: "pending predicted rows whose predicted_eta falls
// inside the next scan window"): per corridor, the union of the predictions' ETA bands — the same
// ±1σ band the matcher accepts a CFAR cluster in (transit-reconcile/reconcile.ts) — merged into
// disjoint intervals. Bands still open at a partition's start carry into the next partition, so a
// vessel predicted yesterday that went dark overnight still cues today's search.
import { StepError } from '../../src/sdk/errors.js';
import { parseTime } from '../transit-reconcile/transits.js';

const HOUR = 3_600_000;

export interface CueWindow {
  chokepointId: string;
  startMs: number;
  endMs: number;
  /** Prediction bands merged into this window (carried windows count theirs). */
  predictions: number;
}

/** A prediction's ETA band as a cue window. */
export function bandWindow(chokepointId: string, etaMs: number, uncertaintyHours: number): CueWindow {
  return { chokepointId, startMs: etaMs - uncertaintyHours * HOUR, endMs: etaMs + uncertaintyHours * HOUR, predictions: 1 };
}

/** Overlapping or touching windows of a corridor merged; sorted by corridor, then start. */
export function mergeWindows(windows: Iterable<CueWindow>): CueWindow[] {
  const sorted = [...windows].sort((a, b) => (a.chokepointId < b.chokepointId ? -1 : a.chokepointId > b.chokepointId ? 1 : a.startMs - b.startMs || a.endMs - b.endMs));
  const out: CueWindow[] = [];
  for (const w of sorted) {
    const last = out[out.length - 1];
    if (last && last.chokepointId === w.chokepointId && w.startMs <= last.endMs) {
      last.endMs = Math.max(last.endMs, w.endMs);
      last.predictions += w.predictions;
    } else out.push({ ...w });
  }
  return out;
}

/** Windows that can still matter to a scan starting at `fromMs` or later. */
export function openWindows(windows: readonly CueWindow[], fromMs: number): CueWindow[] {
  return windows.filter((w) => w.endMs >= fromMs);
}

/** The parts of `windows` (closed intervals) inside the scan window [fromMs, toMs). */
export function clipWindows(windows: readonly CueWindow[], fromMs: number, toMs: number): CueWindow[] {
  const out: CueWindow[] = [];
  for (const w of windows) {
    const startMs = Math.max(w.startMs, fromMs);
    const endMs = Math.min(w.endMs, toMs - 1);
    if (startMs <= endMs) out.push({ ...w, startMs, endMs });
  }
  return out;
}

/** Cue windows of an earlier partition's `cues` output, each cell checked. */
export function parseCueRows(rows: readonly Record<string, unknown>[], file: string): CueWindow[] {
  return rows.map((row, index) => {
    const where = `${file} row ${index + 1}`;
    const startMs = parseTime(row.window_start);
    const endMs = parseTime(row.window_end);
    if (typeof row.chokepoint_id !== 'string' || row.chokepoint_id === '') throw new StepError('chokepoint_id is empty', `${where} field chokepoint_id`);
    if (startMs === null || endMs === null || endMs < startMs) throw new StepError(`window ${String(row.window_start)} … ${String(row.window_end)} is not an interval`, `${where} field window_start`);
    return { chokepointId: row.chokepoint_id, startMs, endMs, predictions: Number(row.predictions ?? 0) };
  });
}
