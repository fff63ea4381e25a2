// Globs in s3:// inputs (`s3://bucket/raw/{yyyy}/{mm}/{dd}/*.csv`) against a private s3rver: listed
// with ListObjectsV2 page by page, matched in key order, digested as a `file:` glob (each key with its
// ETag identity), so a key added later changes only its own partition. https:// globs are refused
// when the pipeline loads: there is no listing to match them against.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { build } from '../../src/engine/runner.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { Store } from '../../src/engine/store.js';
import { fetchRemoteGlob, isRemoteGlob } from '../../src/engine/cache/remote-input.js';
import { S3Blobs, s3ClientFromEnv } from '../../src/engine/cache/s3.js';
import { globMatcher, globPrefix } from '../../src/engine/templates.js';
import { copyFixture, removeFixture } from '../helpers/fixture.js';
import { startS3Paging, setEnv, type S3Server } from '../helpers/servers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

/** A pipeline with one SQL step per date reading every CSV its glob matches (one row `n` per file). */
function project(input: string): { dir: string; run: () => Promise<{ manifest: Manifest; ok: boolean }> } {
  const dir = copyFixture('basic');
  dirs.push(dir);
  mkdirSync(join(dir, 'steps', 'tally'), { recursive: true });
  writeFileSync(join(dir, 'steps', 'tally', 'tally.sql'), 'CREATE VIEW counted AS SELECT count(*) AS files, coalesce(sum(n), 0) AS total FROM raw;\n');
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    `pipeline: globs
partitions:
  date:
    values: ["2024-01-01", "2024-01-02", "2024-01-03"]
steps:
  tally:
    sql: steps/tally/tally.sql
    partition: date
    inputs:
      raw: ${input}
    outputs:
      counted:
        path: tally/{date}.csv
        format: csv
        columns: { files: BIGINT, total: BIGINT }
`,
  );
  return { dir, run: () => build({ pipelineFile: join(dir, 'pipeline.yaml') }) };
}

const byInstance = (manifest: Manifest) => new Map(manifest.steps.map((s) => [s.instance, s]));
const tally = (dir: string, date: string): string => readFileSync(join(dir, 'out', 'tally', `${date}.csv`), 'utf8').trim().split('\n')[1];
const D1 = 'tally[date=2024-01-01]';
const D2 = 'tally[date=2024-01-02]';
const D3 = 'tally[date=2024-01-03]';

describe('s3:// globs (s3rver)', () => {
  let s3: S3Server;
  let client: S3Client;
  let restoreEnv: (() => void) | undefined;
  const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
  beforeAll(async () => {
    s3 = await startS3Paging('lake');
    restoreEnv = setEnv(s3.env);
    client = s3ClientFromEnv();
    await put('raw/2024/01/01/b.csv', 'n\n2\n');
    await put('raw/2024/01/01/a.csv', 'n\n1\n');
    await put('raw/2024/01/01/notes.txt', 'not a csv');
    await put('raw/2024/01/01/.hidden.csv', 'n\n1000\n');
    await put('raw/2024/01/01/sub/deeper.csv', 'n\n100\n');
    await put('raw/2024/01/02/x.csv', 'n\n10\n');
    await put('raw/2024/01/020/decoy.csv', 'n\n5000\n');
  });
  afterAll(async () => {
    client?.destroy();
    restoreEnv?.();
    await s3?.stop();
  });

  it('matches in key order per partition; no match fails that instance naming its URI; a key added later rebuilds only its partition', async () => {
    const uri = `s3://${s3.bucket}/raw/{yyyy}/{mm}/{dd}/*.csv`;
    const { dir, run } = project(`{ from: "${uri}", columns: { n: BIGINT } }`);
    const first = await run();
    const steps = byInstance(first.manifest);
    expect(steps.get(D1)?.status).toBe('built');
    // a.csv and b.csv: not notes.txt, not the hidden one, not one level deeper, not 2024/01/020.
    expect(tally(dir, '2024-01-01')).toBe('2,3');
    expect(tally(dir, '2024-01-02')).toBe('1,10');
    expect(steps.get(D1)?.inputs[0]).toMatchObject({ name: 'raw', source: `s3://${s3.bucket}/raw/2024/01/01/*.csv`, files: 2, bytes: 8 });
    expect(first.ok).toBe(false);
    expect(steps.get(D3)?.status).toBe('failed');
    expect(steps.get(D3)?.error).toContain(`input "raw": s3://${s3.bucket}/raw/2024/01/03/*.csv matches no object; add one, or mark the input \`optional: true\``);

    const again = byInstance((await run()).manifest);
    expect([again.get(D1)?.status, again.get(D2)?.status]).toEqual(['cached', 'cached']);

    await put('raw/2024/01/02/y.csv', 'n\n20\n');
    const later = byInstance((await run()).manifest);
    expect(later.get(D1)?.status).toBe('cached');
    expect(later.get(D1)?.cache_key).toBe(steps.get(D1)?.cache_key);
    expect(later.get(D2)?.status).toBe('built');
    expect(later.get(D2)?.reason).toContain('input raw changed');
    expect(tally(dir, '2024-01-02')).toBe('2,30');

    // A changed object (same key, new ETag) changes its partition too.
    await put('raw/2024/01/01/a.csv', 'n\n7\n');
    const changed = byInstance((await run()).manifest);
    expect([changed.get(D1)?.status, changed.get(D2)?.status]).toEqual(['built', 'cached']);
    expect(tally(dir, '2024-01-01')).toBe('2,9');
    await put('raw/2024/01/01/a.csv', 'n\n1\n');
  });

  it('optional: true makes no match an empty input', async () => {
    const { dir, run } = project(`{ from: "s3://${s3.bucket}/raw/{yyyy}/{mm}/{dd}/*.csv", columns: { n: BIGINT }, optional: true }`);
    const result = await run();
    expect(result.ok).toBe(true);
    expect(tally(dir, '2024-01-03')).toBe('0,0');
    expect(byInstance(result.manifest).get(D3)?.inputs[0]).toMatchObject({ files: 0, bytes: 0 });
  });

  it('lists every page: with 3 keys a page, 11 matches of 13 keys arrive once each, in key order', async () => {
    for (let i = 0; i < 11; i += 1) await put(`paged/part-${String(i).padStart(2, '0')}.csv`, `n\n${i}\n`);
    await put('paged/zz.txt', 'x');
    await put('paged/nested/part-99.csv', 'n\n99\n');
    // The server honours the page size (so the listing below needs its continuation tokens).
    const firstPage = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'paged/', MaxKeys: 3 }));
    expect([firstPage.Contents?.length, firstPage.IsTruncated]).toEqual([3, true]);
    const blobs = new S3Blobs(`s3://${s3.bucket}`, 2);
    try {
      const listed = await blobs.list('paged/', 3);
      const all = ['paged/nested/part-99.csv', ...Array.from({ length: 11 }, (_, i) => `paged/part-${String(i).padStart(2, '0')}.csv`), 'paged/zz.txt'];
      expect(listed.map((o) => o.name)).toEqual(all);
    } finally {
      await blobs.close();
    }
    const cache = mkdtempSync(join(tmpdir(), 'dagrun-glob-store-'));
    try {
      const store = new Store(cache);
      const glob = await fetchRemoteGlob(store, `s3://${s3.bucket}/paged/*.csv`, 'raw', false, 3);
      expect(glob.files).toHaveLength(11);
      expect(glob.files.map((f) => readFileSync(f, 'utf8'))).toEqual(Array.from({ length: 11 }, (_, i) => `n\n${i}\n`));
      // The same listing digests the same on a second fetch, whatever the page size.
      expect((await fetchRemoteGlob(store, `s3://${s3.bucket}/paged/*.csv`, 'raw', false, 1000)).digest).toBe(glob.digest);
      const deep = await fetchRemoteGlob(store, `s3://${s3.bucket}/paged/**/*.csv`, 'raw', false, 5);
      expect(deep.files).toHaveLength(12);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('an https:// glob is refused when the pipeline loads, at the input, saying globs need s3', async () => {
    const { run } = project('"https://data.example.invalid/raw/{date}/*.csv"');
    await expect(run()).rejects.toThrow(/input "tally\.raw": https:\/\/data\.example\.invalid\/raw\/\{date\}\/\*\.csv is a glob, and globs need a listing, which only s3:\/\/ offers/);
  });
});

describe('remote glob matching', () => {
  it('is the file: glob rule on keys', () => {
    expect(isRemoteGlob('s3://b/raw/{yyyy}/*.parquet')).toBe(true);
    expect(isRemoteGlob('s3://b/raw/day.parquet')).toBe(false);
    expect(isRemoteGlob('https://h/raw/*.csv')).toBe(false);
    expect(globPrefix('raw/2024/*/x.csv')).toBe('raw/2024/');
    expect(globPrefix('*.csv')).toBe('');
    const m = globMatcher('raw/**/[ab]?.csv');
    expect(['raw/a1.csv', 'raw/x/y/b2.csv'].every(m)).toBe(true);
    expect(['raw/c1.csv', 'raw/.x/a1.csv', 'raw/a12.csv', 'raw/a1.csv/z'].some(m)).toBe(false);
  });

  it('a key matches itself, each segment as *, and ** in place of any run of segments (fast-check)', () => {
    const segment = fc.stringMatching(/^[a-z0-9_=-][a-z0-9_.=-]{0,8}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.nat(), fc.nat(), (parts, i, j) => {
        const key = parts.join('/');
        expect(globMatcher(key)(key)).toBe(true);
        const star = [...parts];
        star[i % parts.length] = '*';
        expect(globMatcher(star.join('/'))(key)).toBe(true);
        const [from, to] = [Math.min(i, j) % parts.length, Math.max(i, j) % parts.length];
        const lo = Math.min(from, to);
        const hi = Math.max(from, to);
        const globbed = [...parts.slice(0, lo), '**', ...parts.slice(hi + 1)].join('/');
        expect(globMatcher(globbed)(key)).toBe(true);
        // One segment more or less never matches the plain pattern.
        expect(globMatcher(key)(`${key}/x`)).toBe(false);
        if (parts.length > 1) expect(globMatcher(key)(parts.slice(1).join('/'))).toBe(parts.slice(1).join('/') === key);
      }),
      { numRuns: 300 },
    );
  });
});
