// `dagrun publish` and `dagrun verify-release` on a folder, nginx (WebDAV PUT) and an S3-protocol
// server: the release holds the run's files in their layout with release.json and a SHA256SUMS that
// coreutils' sha256sum accepts; verify-release catches a tampered, missing or unlisted file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { build, type BuildResult } from '../../src/engine/runner.js';
import { Store } from '../../src/engine/store.js';
import { parseSums, publishRun, verifyRelease, type ReleaseDocument } from '../../src/engine/cache/release.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { startNginx, startS3, type Nginx, type S3Server, setEnv } from '../helpers/servers.js';

let dir: string;
let first: BuildResult;
let store: Store;
const scratch: string[] = [];
const target = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'dagrun-release-'));
  scratch.push(d);
  return join(d, 'v1');
};

beforeAll(async () => {
  dir = copyFixture('basic');
  first = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
  store = new Store(join(dir, 'cache'));
});
afterAll(() => {
  removeFixture(dir);
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe('publish to a folder', () => {
  it('writes every output in its layout, release.json with lineage, and a SHA256SUMS that sha256sum -c accepts', async () => {
    const to = target();
    const cli = await runCli(['publish', 'latest', '--to', to], dir);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`published run ${first.manifest.run_id}`);
    for (const step of first.manifest.steps) for (const output of step.outputs) expect(readFileSync(join(to, output.path))).toEqual(readFileSync(join(dir, 'out', output.path)));
    const document = JSON.parse(readFileSync(join(to, 'release.json'), 'utf8')) as ReleaseDocument;
    expect(document.run_id).toBe(first.manifest.run_id);
    expect(document.files.map((f) => f.path)).toEqual([...document.files.map((f) => f.path)].sort());
    expect(document.files.find((f) => f.path === 'summary/totals.csv')).toMatchObject({ instance: 'summary', output: 'totals', rows: 3 });
    expect(document.lineage.find((l) => l.instance === 'summary')?.inputs[0].source).toBe('double.doubled');
    expect(JSON.stringify(document)).not.toContain(dir);
    const check = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: to, encoding: 'utf8' });
    expect(check.split('\n').filter((l) => l.endsWith(': OK'))).toHaveLength(document.files.length + 1);

    const verified = await runCli(['verify-release', to], dir);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^ok: .*: 8 files/);
  });

  it('publishing again is a no-op with identical bytes; a different run to the same place is refused', async () => {
    const to = target();
    await publishRun(store, 'latest', to);
    const sums = readFileSync(join(to, 'SHA256SUMS'));
    const again = await publishRun(store, 'latest', to);
    expect(again.unchanged).toBe(true);
    expect(readFileSync(join(to, 'SHA256SUMS'))).toEqual(sums);
    // A second, different build in another fixture copy (other params) cannot overwrite it.
    const other = copyFixture('basic');
    try {
      await build({ pipelineFile: join(other, 'pipeline.yaml'), sets: { double: { factor: 3 } }, targets: ['summary'] });
      await expect(publishRun(new Store(join(other, 'cache')), 'latest', to)).rejects.toThrow(/already holds a different release/);
    } finally {
      removeFixture(other);
    }
  });

  it('verify-release names a tampered file, a missing file and a file release.json does not list', async () => {
    const to = target();
    await publishRun(store, 'latest', to);
    writeFileSync(join(to, 'summary', 'totals.csv'), 'day,total\nEVIL,1\n');
    rmSync(join(to, 'doubled', '2024-01-02.parquet'));
    const sums = readFileSync(join(to, 'SHA256SUMS'), 'utf8');
    writeFileSync(join(to, 'extra.txt'), 'x');
    writeFileSync(join(to, 'SHA256SUMS'), `${sums}${execFileSync('sha256sum', ['extra.txt'], { cwd: to, encoding: 'utf8' })}`);
    const report = await verifyRelease(to);
    expect(report.problems).toEqual([
      'SHA256SUMS lists extra.txt, release.json does not',
      'doubled/2024-01-02.parquet: missing',
      expect.stringMatching(/^summary\/totals\.csv: hashes to [0-9a-f]{64}, SHA256SUMS says [0-9a-f]{64}$/),
    ]);
    const cli = await runCli(['verify-release', to], dir);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('3 problem(s)');
  });

  it('a folder without SHA256SUMS is not a release; a failed run is not published; a gc-ed object is named', async () => {
    const empty = target();
    await expect(verifyRelease(empty)).rejects.toThrow(/has no SHA256SUMS/);
    const failing = copyFixture('basic');
    try {
      writeFileSync(join(failing, 'steps', 'double', 'double.sql'), 'SELECT no_such_column FROM numbers');
      const failed = await build({ pipelineFile: join(failing, 'pipeline.yaml') });
      expect(failed.ok).toBe(false);
      await expect(publishRun(new Store(join(failing, 'cache')), 'latest', target())).rejects.toThrow(/status is failed: publish a build that succeeded/);
      // A good run whose object is gone from the store.
      const good = copyFixture('basic');
      try {
        const result = await build({ pipelineFile: join(good, 'pipeline.yaml'), targets: ['make'], partitionFilter: { date: '2024-01-01' } });
        const goodStore = new Store(join(good, 'cache'));
        rmSync(goodStore.objectPath(result.manifest.steps[0].outputs[0].digest));
        await expect(publishRun(goodStore, 'latest', target())).rejects.toThrow(/numbers\/2024-01-01\.parquet: the cache's object [0-9a-f]{12} is missing/);
      } finally {
        removeFixture(good);
      }
    } finally {
      removeFixture(failing);
    }
  });

  it('SHA256SUMS lines with unsafe paths or bad digests are refused with their line number', () => {
    expect(() => parseSums(`${'a'.repeat(64)}  ok.txt\n${'b'.repeat(64)}  ../../etc/passwd\n`)).toThrow(expect.objectContaining({ where: 'SHA256SUMS:2' }));
    expect(() => parseSums(`${'a'.repeat(63)}  short.txt\n`)).toThrow(expect.objectContaining({ where: 'SHA256SUMS:1' }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^[a-z0-9_-]{1,8}(\/[a-z0-9_-]{1,8}){0,3}$/)), { maxLength: 6 }), (rows) => {
        const parsed = parseSums(rows.map(([hex, path]) => `${hex}  ${path}\n`).join(''));
        return parsed.length === rows.length && parsed.every((p, i) => p.digest === `sha256:${rows[i][0]}` && p.path === rows[i][1]);
      }),
    );
  });
});

describe('publish to object stores', () => {
  let nginx: Nginx;
  let s3: S3Server;
  let restoreEnv: (() => void) | undefined;
  beforeAll(async () => {
    [nginx, s3] = await Promise.all([startNginx(), startS3('releases')]);
    restoreEnv = setEnv({ ...s3.env });
  });
  afterAll(async () => {
    restoreEnv?.();
    await Promise.all([nginx?.stop(), s3?.stop()]);
  });

  it('http(s):// (WebDAV PUT): published, verified, and a tampered file is caught', async () => {
    const to = `${nginx.url.replace('/cache', '/releases')}/v1`;
    const report = await publishRun(store, 'latest', to);
    expect(report).toMatchObject({ files: 7, unchanged: false });
    // The last PUT is SHA256SUMS, after release.json, after every file.
    const puts = nginx.requests().filter((l) => l.startsWith('PUT'));
    expect(puts.at(-1)).toMatch(/^PUT \/releases\/v1\/SHA256SUMS 201$/);
    expect(puts.at(-2)).toMatch(/^PUT \/releases\/v1\/release\.json 201$/);
    expect((await verifyRelease(to)).problems).toEqual([]);
    writeFileSync(join(nginx.root, '..', 'releases', 'v1', 'summary', 'totals.csv'), 'tampered');
    expect((await verifyRelease(to)).problems).toEqual([expect.stringMatching(/^summary\/totals\.csv: hashes to /)]);
  });

  it('s3:// : published and verified through the CLI', async () => {
    const to = `s3://${s3.bucket}/datasets/basic/v1`;
    const env = s3.env;
    const published = await runCli(['publish', 'latest', '--to', to, '--json'], dir, { env });
    expect(published.code).toBe(0);
    // The SDK's notice about its future Node requirement is not the CLI user's concern.
    expect(published.stderr).not.toContain('NodeVersionSupportWarning');
    expect(JSON.parse(published.stdout)).toMatchObject({ target: to, files: 7, unchanged: false });
    const verified = await runCli(['verify-release', to, '--json'], dir, { env });
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ files: 8, problems: [] });
    expect(existsSync(join(dir, 'out'))).toBe(true);
  });
});
