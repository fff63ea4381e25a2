// Digest work is done once: concurrent requests for one file or one input folder share one read,
// and the reused read buffers never mix two files' bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { digestFile, readCounter } from '../../src/sdk/hash.js';
import { Store } from '../../src/engine/store.js';
import { build } from '../../src/engine/runner.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (base = tmpdir()): string => {
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'dagrun-digest-once-'));
  dirs.push(dir);
  return dir;
};

describe('digest work done once', () => {
  it('50 concurrent requests for one uncached file read it once', async () => {
    const dir = tempDir();
    const store = new Store(join(dir, 'cache'));
    writeFileSync(join(dir, 'a.csv'), 'x\n1\n');
    const reads = readCounter.files;
    const results = await Promise.all(Array.from({ length: 50 }, () => store.digestOf(join(dir, 'a.csv'))));
    expect(readCounter.files - reads).toBe(1);
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
  });

  it('20 concurrent walks of one input folder read each of its files once', async () => {
    const dir = tempDir();
    const store = new Store(join(dir, 'cache'));
    mkdirSync(join(dir, 'in', 'sub'), { recursive: true });
    for (let i = 0; i < 10; i += 1) writeFileSync(join(dir, 'in', i % 2 ? 'sub' : '', `f${i}.csv`), `x\n${i}\n`);
    const reads = readCounter.files;
    const trees = await Promise.all(Array.from({ length: 20 }, () => store.digestInputTree(join(dir, 'in'))));
    expect(readCounter.files - reads).toBe(10);
    expect(new Set(trees.map((t) => t.digest)).size).toBe(1);
    expect(trees[0].files).toBe(10);
  });

  it('concurrent digests with reused buffers give each file its own digest, across the 4 MiB read size', async () => {
    const dir = tempDir();
    const chunk = 4 * 1024 * 1024;
    const sizes = [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk + 7, 100, 3];
    const files = sizes.map((size, i) => {
      const data = Buffer.alloc(size, i + 1);
      if (size > 0) data[size - 1] = 255 - i;
      const path = join(dir, `f${i}`);
      writeFileSync(path, data);
      return { path, expected: `sha256:${createHash('sha256').update(data).digest('hex')}`, size };
    });
    for (let round = 0; round < 2; round += 1) {
      const got = await Promise.all(files.map((f) => digestFile(f.path)));
      expect(got).toEqual(files.map((f) => ({ digest: f.expected, size: f.size })));
    }
  });

  it('a cold build of 20 partitions over one shared input folder reads the folder once', async () => {
    const dir = tempDir(join(PROJECT_ROOT, 'test', '.work'));
    mkdirSync(join(dir, 'steps'));
    mkdirSync(join(dir, 'raw'));
    for (let i = 0; i < 10; i += 1) writeFileSync(join(dir, 'raw', `part-${i}.csv`), `v\n${i}\n`);
    writeFileSync(join(dir, 'steps', 'count.sql'), 'CREATE TABLE counted AS SELECT $partition_date AS day, count(*)::BIGINT AS n FROM raw;\n');
    const days = Array.from({ length: 20 }, (_, i) => `d${String(i).padStart(2, '0')}`);
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `partitions:\n  date: { values: ${JSON.stringify(days)} }\nsteps:\n  count:\n    sql: steps/count.sql\n    partition: date\n    inputs:\n      raw: { from: "file:raw", format: csv }\n    outputs:\n      counted: { path: "counted/{date}.csv", format: csv, columns: { day: VARCHAR, n: BIGINT } }\n`,
    );
    const reads = readCounter.files;
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml'), jobs: 2 });
    expect(result.ok).toBe(true);
    // 10 input files once, the SQL file, the lock file, and per partition one output ingested.
    // Reading the folder once per partition would be 200 reads of input files alone.
    expect(readCounter.files - reads).toBeLessThanOrEqual(10 + 2 + 20 * 2);
  });
});
