// `dagrun exec` with an input in the wrong format for the consumer (issue 11): the README's example
// `exec predict --input tles=file:my.tle` failed inside DuckDB ("No magic bytes") and left an empty
// folder; now it is one sentence naming the expected format, and --via tle-fetch makes it work.
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTable } from '../../src/sdk/table-io.js';
import { runCli } from '../helpers/fixture.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'dagrun-exec-via-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const pipeline = join(PROJECT_ROOT, 'pipeline.yaml');
copyFileSync(join(PROJECT_ROOT, 'datasets', 'sample', 'tle', 'sentinel2.tle'), join(work, 'my.tle'));

describe('exec input formats', () => {
  it('a TLE file where predict reads parquet: one line naming the format and --via, and no folder left behind', async () => {
    const result = await runCli(['exec', 'predict', '--pipeline', pipeline, '--input', 'tles=file:my.tle', '--partition', 'date=2026-05-25', '--out', 'x'], work);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual(['dagrun: --input tles=my.tle: "predict" reads tles as parquet (what tle-fetch writes), but my.tle is not a parquet file; give a parquet file, or let exec make it from this file: --via tle-fetch']);
    expect(existsSync(join(work, 'x'))).toBe(false);
  });

  it('--via tle-fetch runs the producer on the file and feeds its output in; output paths are shown relative', async () => {
    const result = await runCli(['exec', 'predict', '--pipeline', pipeline, '--input', 'tles=file:my.tle', '--via', 'tle-fetch', '--set', 'tiles=[30UXB]', '--partition', 'date=2026-05-25', '--out', 'x'], work);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('schedule: x/plan/2026-05-25/overpass_schedule.parquet');
    expect(result.stdout).not.toContain(work);
    expect((await readTable(join(work, 'x', 'plan', 'tles.parquet'))).length).toBeGreaterThan(0);
    expect((await readTable(join(work, 'x', 'plan', '2026-05-25', 'overpass_schedule.parquet'))).length).toBeGreaterThan(0);
    const wrong = await runCli(['exec', 'predict', '--pipeline', pipeline, '--input', 'tles=file:my.tle', '--via', 'thin', '--partition', 'date=2026-05-25', '--out', 'y'], work);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--via thin: no input of "predict" comes from "thin"');
  });
});
