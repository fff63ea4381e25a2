// Issue 10 item 1: a step reading two outputs of one producer saw each input twice (deps held the
// producer once per input, and every input collected files from every matching dep).
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from '../../src/engine/runner.js';
import { readTable } from '../../src/sdk/table-io.js';
import { copyFixture, removeFixture } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

const DAYS = ['2024-02-01', '2024-02-02', '2024-02-03'];

describe('each input resolves to exactly its producer instances, once', () => {
  it('SQL and kernel steps, partitioned and fan-in, beside a previous-partition input', async () => {
    const dir = copyFixture('pairs');
    dirs.push(dir);
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(result.ok).toBe(true);
    const out = (path: string): string => join(dir, 'out', path);

    for (const day of DAYS) expect(await readTable(out(`sql-part/${day}.parquet`))).toEqual([{ nx: 2, ny: 1 }]);
    expect(await readTable(out('sql-fan/counts.parquet'))).toEqual([{ nx: 6, ny: 3 }]);

    DAYS.forEach((day, index) => {
      const seen = JSON.parse(readFileSync(out(`kernel-part/${day}.json`), 'utf8')) as { files: Record<string, string[]>; previous: unknown };
      expect(seen.files.x).toEqual([`${day}/x.parquet`]);
      expect(seen.files.y).toEqual([`${day}/y.parquet`]);
      expect(seen.files.previous).toEqual(index === 0 ? [] : [`kernel-part/${DAYS[index - 1]}.json`]);
      expect(seen.previous).toEqual(index === 0 ? null : { date: DAYS[index - 1] });
    });
    const fan = JSON.parse(readFileSync(out('kernel-fan/seen.json'), 'utf8')) as { files: Record<string, string[]> };
    expect(fan.files.x).toEqual(DAYS.map((d) => `${d}/x.parquet`));
    expect(fan.files.y).toEqual(DAYS.map((d) => `${d}/y.parquet`));

    // The manifest lists each producer instance once per input.
    const record = (instance: string) => result.manifest.steps.find((s) => s.instance === instance);
    expect(record('sql-part[date=2024-02-02]')?.inputs.map((i) => [i.name, i.from])).toEqual([
      ['x', ['a[date=2024-02-02]']],
      ['y', ['a[date=2024-02-02]']],
    ]);
    expect(record('kernel-part[date=2024-02-02]')?.inputs.map((i) => [i.name, i.from])).toEqual([
      ['previous', ['kernel-part[date=2024-02-01]']],
      ['x', ['a[date=2024-02-02]']],
      ['y', ['a[date=2024-02-02]']],
    ]);
    expect(record('kernel-fan')?.inputs.map((i) => i.from)).toEqual([DAYS.map((d) => `a[date=${d}]`), DAYS.map((d) => `a[date=${d}]`)]);

    // A no-op rebuild keys on the same inputs.
    const again = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(again.manifest.steps.every((s) => s.status === 'cached')).toBe(true);
  });
});
