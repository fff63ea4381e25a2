// What to search (seed 004, monitor-corridor-sar): a corridor only over the parts of the scan window
// where something is expected in it — a prediction's ETA band (transit-predict's cue windows) or a
// high/critical dark event's search period (dark_since … + max_dark_hours, as verify-dark-fleet-sar
// sweeps it). A day with no cue searches nothing.
import { clipWindows, mergeWindows, type CueWindow } from '../transit-predict/cues.js';
import type { DarkEvent } from '../verify-dark-fleet-sar/dark-events.js';

export type CueKind = 'prediction' | 'dark_event';

export interface Cue extends CueWindow {
  kind: CueKind;
}

/** High/critical (or the configured tiers') dark events as cue windows over their corridor. */
export function darkEventCues(events: readonly DarkEvent[], tiers: readonly string[], maxDarkHours: number): Cue[] {
  return events
    .filter((e) => tiers.includes(e.riskTier) && typeof e.row.chokepoint_id === 'string')
    .map((e) => ({ chokepointId: e.row.chokepoint_id as string, startMs: e.darkSinceMs, endMs: e.darkSinceMs + maxDarkHours * 3_600_000, predictions: 0, kind: 'dark_event' as const }));
}

/** Per corridor, the disjoint closed intervals of the scan window [fromMs, toMs) to search. */
export function searchWindows(cues: readonly Cue[], fromMs: number, toMs: number): Map<string, { startMs: number; endMs: number }[]> {
  const out = new Map<string, { startMs: number; endMs: number }[]>();
  for (const w of mergeWindows(clipWindows(cues, fromMs, toMs))) {
    const list = out.get(w.chokepointId) ?? [];
    list.push({ startMs: w.startMs, endMs: w.endMs });
    out.set(w.chokepointId, list);
  }
  return out;
}

/** Which kinds of cue put a scene of `chokepointId` acquired at `atMs` in the search ('dark_event,prediction'). */
export function cuedBy(cues: readonly Cue[], chokepointId: string, atMs: number): string {
  const kinds = new Set(cues.filter((c) => c.chokepointId === chokepointId && c.startMs <= atMs && atMs <= c.endMs).map((c) => c.kind));
  return [...kinds].sort().join(',');
}
