// s3:// and http(s):// inputs of ordinary steps: the engine fetches a local copy, keys it by the store's
// ETag (+ size, version) and re-downloads only when that changes. Real servers: s3rver and nginx.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { build } from '../../src/engine/runner.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { readTable } from '../../src/sdk/table-io.js';
import { copyFixture, removeFixture } from '../helpers/fixture.js';
import { startNginx, startS3, type Nginx, type S3Server, setEnv } from '../helpers/servers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

/** The basic fixture with its seed read from `seed` instead of file:data/seed.csv. */
/** The basic fixture with its seed read from `seed`; `allDates` builds its three partitions, else 2024-01-01. */
function fixtureReading(seed: string, allDates = false): { dir: string; run: () => ReturnType<typeof build> } {
  const dir = copyFixture('basic');
  dirs.push(dir);
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('seed: file:data/seed.csv', `seed: ${seed}`));
  return { dir, run: () => build({ pipelineFile: file, targets: ['make'], partitionFilter: allDates ? undefined : { date: '2024-01-01' } }) };
}

const record = (manifest: Manifest) => manifest.steps[0];
const values = async (dir: string, date = '2024-01-01'): Promise<number[]> => (await readTable(join(dir, 'out', 'numbers', `${date}.parquet`), 'parquet')).map((r) => Number(r.value));

describe('http(s):// inputs (nginx)', () => {
  let nginx: Nginx;
  beforeAll(async () => {
    nginx = await startNginx();
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('fetched once, keyed by ETag: an unchanged file costs a HEAD, a changed one rebuilds', async () => {
    const folder = join(nginx.root, '..', 'data');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'seed.csv'), 'seed\n100\n');
    const url = nginx.url.replace('/cache', '/data/seed.csv');
    const { dir, run } = fixtureReading(url);

    const first = await run();
    expect(first.ok).toBe(true);
    expect(record(first.manifest).status).toBe('built');
    expect(record(first.manifest).inputs[0]).toMatchObject({ name: 'seed', source: url, bytes: 9 });
    expect(await values(dir)).toEqual([101, 102, 103, 104, 105]);

    const before = nginx.requests().length;
    const second = await run();
    expect(record(second.manifest).status).toBe('cached');
    expect(nginx.requests().slice(before)).toEqual(['HEAD /data/seed.csv 200']);

    writeFileSync(join(folder, 'seed.csv'), 'seed\n2000\n'); // another size: nginx's ETag is mtime-size
    const third = await run();
    expect(record(third.manifest).status).toBe('built');
    expect(record(third.manifest).reason).toContain('input seed changed');
    expect(await values(dir)).toEqual([2001, 2002, 2003, 2004, 2005]);
  });

  it('{date} in a URL: each partition fetches its own file; a missing partition fails that instance only, naming its URL', async () => {
    const folder = join(nginx.root, '..', 'daily');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, '2024-01-01.csv'), 'seed\n10\n');
    writeFileSync(join(folder, '2024-01-02.csv'), 'seed\n20\n');
    const template = nginx.url.replace('/cache', '/daily/{date}.csv');
    const { dir, run } = fixtureReading(template, true);
    const result = await run();
    expect(result.ok).toBe(false);
    const byId = new Map(result.manifest.steps.map((s) => [s.instance, s]));
    expect(byId.get('make[date=2024-01-01]')?.inputs[0].source).toBe(template.replace('{date}', '2024-01-01'));
    // The kernel adds the day of month: 10 + i + 1, 20 + i + 2.
    expect(await values(dir, '2024-01-01')).toEqual([11, 12, 13, 14, 15]);
    expect(await values(dir, '2024-01-02')).toEqual([22, 23, 24, 25, 26]);
    expect(byId.get('make[date=2024-01-03]')?.error).toContain(`input "seed": ${template.replace('{date}', '2024-01-03')} does not exist`);
  });

  it('a placeholder that is not the partition key is refused when the pipeline loads', async () => {
    const { run } = fixtureReading(nginx.url.replace('/cache', '/daily/{region}.csv'));
    await expect(run()).rejects.toThrow(/input "make.seed": http:\/\/127\.0\.0\.1:\d+\/daily\/\{region\}\.csv uses \{region\}, but the step is partitioned by "date"/);
  });

  it('a missing URL fails the step with the input and the URL named, without credentials', async () => {
    const url = nginx.url.replace('http://', 'http://who:pa55word@').replace('/cache', '/data/none.csv');
    const { run } = fixtureReading(url);
    const result = await run();
    expect(result.ok).toBe(false);
    expect(record(result.manifest).error).toMatch(/input "seed": http:\/\/127\.0\.0\.1:\d+\/data\/none\.csv does not exist/);
    expect(JSON.stringify(result.manifest)).not.toContain('pa55word');
  });
});

describe('s3:// inputs (s3rver)', () => {
  let s3: S3Server;
  let restoreEnv: (() => void) | undefined;
  beforeAll(async () => {
    s3 = await startS3('inputs');
    restoreEnv = setEnv({ ...s3.env });
  });
  afterAll(async () => {
    restoreEnv?.();
    await s3?.stop();
  });

  it('fetched into a local copy, cached while its ETag holds, rebuilt when the object changes', async () => {
    const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const put = (body: string) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'ais/raw/seed.csv', Body: body }));
    await put('seed\n10\n');
    const { dir, run } = fixtureReading(`s3://${s3.bucket}/ais/raw/seed.csv`);
    const first = await run();
    expect(first.ok).toBe(true);
    expect(await values(dir)).toEqual([11, 12, 13, 14, 15]);
    expect((await run()).manifest.steps[0].status).toBe('cached');
    await put('seed\n20\n');
    const changed = await run();
    expect(record(changed.manifest).status).toBe('built');
    expect(await values(dir)).toEqual([21, 22, 23, 24, 25]);
    client.destroy();
  });

  it('{yyyy}/{mm}/{dd} in an s3:// key: the partitions read their own objects', async () => {
    const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'ais/raw/2024/01/01/seed.csv', Body: 'seed\n100\n' }));
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'ais/raw/2024/01/02/seed.csv', Body: 'seed\n200\n' }));
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'ais/raw/2024/01/03/seed.csv', Body: 'seed\n300\n' }));
    const { dir, run } = fixtureReading(`s3://${s3.bucket}/ais/raw/{yyyy}/{mm}/{dd}/seed.csv`, true);
    const result = await run();
    expect(result.ok).toBe(true);
    expect(result.manifest.steps.map((s) => s.inputs[0].source).sort()).toEqual([`s3://${s3.bucket}/ais/raw/2024/01/01/seed.csv`, `s3://${s3.bucket}/ais/raw/2024/01/02/seed.csv`, `s3://${s3.bucket}/ais/raw/2024/01/03/seed.csv`]);
    expect(await values(dir, '2024-01-02')).toEqual([202, 203, 204, 205, 206]);
    expect(await values(dir, '2024-01-03')).toEqual([303, 304, 305, 306, 307]);
    client.destroy();
  });
});
