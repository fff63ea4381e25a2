// sar-search is a source step (its search is a pinned capture) with an input from another step
// (transit-predict's cue windows): the capture key holds the input's digest, so other predictions are
// another capture, and the same predictions again reuse the first one. Through the real engine (build).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../../src/engine/runner.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { readTable } from '../../src/sdk/table-io.js';
import { isolatedPipeline } from '../helpers/isolated-pipeline.js';

const dir = mkdtempSync(join(tmpdir(), 'sar-cue-capture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = isolatedPipeline(dir, ['transit-predict', 'sar-search'], 'sar-cue');
const SEARCH = 'sar-search[date=2026-05-26]';
const run = (sets = {}) => build({ pipelineFile: file, targets: ['sar-search'], partitionFilter: { date: '2026-05-26' }, sets });
const record = (manifest: Manifest) => manifest.steps.find((s) => s.instance === SEARCH)!;
const cuedBy = async () => (await readTable(join(dir, 'out', 'sar', '2026-05-26', 'scenes.parquet'))).map((r) => `${String(r.scene_id).slice(-4)}:${r.cued_by}`);

describe('sar-search capture keyed by the predictions that cue it', () => {
  it('same predictions → the pinned capture; other predictions → a new capture; back again → the first', async () => {
    const first = await run();
    expect(first.ok).toBe(true);
    expect(record(first.manifest)).toMatchObject({ status: 'built', pinned: true });
    const key = record(first.manifest).capture_key;
    expect(key).toMatch(/^sha256:/);
    expect(await cuedBy()).toEqual(['_BAB:dark_event,prediction', 'SUEZ:dark_event,prediction']);

    const again = await run();
    expect(record(again.manifest)).toMatchObject({ status: 'cached', capture_key: key });

    // No vessel is fast enough to be predicted: no ETA band, only the dark events cue the search.
    const other = await run({ 'transit-predict': { min_speed_kn: 50 } });
    expect(record(other.manifest).status).toBe('built');
    expect(record(other.manifest).capture_key).not.toBe(key);
    expect(await cuedBy()).toEqual(['_BAB:dark_event', 'SUEZ:dark_event']);

    const back = await run();
    expect(record(back.manifest)).toMatchObject({ status: 'cached', capture_key: key });
    expect(await cuedBy()).toEqual(['_BAB:dark_event,prediction', 'SUEZ:dark_event,prediction']);
  });
});
