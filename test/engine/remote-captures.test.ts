// Live sources' captures through the remote cache, against real servers (private nginx and s3rver on
// 127.0.0.1): machine A records and pushes, machine B in another folder with an empty cache pulls and
// replays the same bytes without connecting to the source; a tampered remote object is refused; a
// different capture of the same key is never overwritten, locally or on the remote.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { build, type BuildOptions, type BuildResult } from '../../src/engine/runner.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { Store } from '../../src/engine/store.js';
import { Captures, captureDigest } from '../../src/engine/captures.js';
import { s3ClientFromEnv } from '../../src/engine/cache/s3.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { copySampleProject } from '../helpers/sample-project.js';
import { startNginx, startS3, setEnv, type Nginx, type S3Server } from '../helpers/servers.js';
import { indexRecording, startReplayServer, type ReplayServer } from '../../steps/ais-capture/replay-server.js';
import { sampleStreamLines } from '../../scripts/sample/20-ais.js';

// Kernel workers copy the environment when the pool starts: the key is set before the first build.
const LIVE_KEY = 'live-key-for-the-private-replay-server';
process.env.AISSTREAM_API_KEY = LIVE_KEY;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

const statuses = (manifest: Manifest): Record<string, string> => Object.fromEntries(manifest.steps.map((s) => [s.instance, s.status]));
const digests = (manifest: Manifest): Record<string, string> => Object.fromEntries(manifest.steps.flatMap((s) => s.outputs.map((o) => [o.path, o.digest])));
const hex = (digest: string): string => digest.slice('sha256:'.length);
const capturesOf = (dir: string): Captures => new Captures(new Store(join(dir, 'cache')));
/** Every file under a folder, as bytes in base64 (a parquet's bytes, not its rows: replayed means identical). */
const filesUnder = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => statSync(join(dir, f)).isFile())
      .sort()
      .map((f) => [f, readFileSync(join(dir, f)).toString('base64')]),
  );

const AIS = 'ais-capture[date=2026-05-25]';

describe('AIS captures through an HTTP remote cache (nginx), recorded from a private replay server', () => {
  let nginx: Nginx;
  let feed: ReplayServer;
  beforeAll(async () => {
    nginx = await startNginx();
    feed = await startReplayServer({ recording: indexRecording(sampleStreamLines()), apiKey: LIVE_KEY });
  });
  afterAll(async () => {
    await feed?.close();
    await nginx?.stop();
  });

  function machine(): { dir: string; run: (options?: Partial<BuildOptions>) => Promise<BuildResult> } {
    const dir = copySampleProject('dagrun-captures-remote-');
    dirs.push(dir);
    // Live mode against the private feed: what it records depends on when it runs (a 1.2 s sample).
    const sets = { 'ais-capture': { mode: 'live', endpoint: feed.url, sample_minutes: 0.02, backoff_ms: 5, max_reconnects: 1 } };
    return { dir, run: (options = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['ais-capture'], partitionFilter: { date: '2026-05-25' }, sets, ...options }) };
  }

  it('B replays A\'s capture byte for byte without connecting to the feed; a tampered object is refused; a different capture never overwrites', async () => {
    const a = machine();
    const recorded = await a.run({ remoteCache: nginx.url });
    expect(recorded.ok, JSON.stringify(recorded.manifest.steps.map((s) => s.error))).toBe(true);
    expect(statuses(recorded.manifest)[AIS]).toBe('built');
    expect(feed.stats.subscriptions).toBeGreaterThan(0);
    // tle-fetch and ais-capture are both sources: two captures pushed, each record after its objects.
    expect(recorded.remote).toMatchObject({ captures_pushed: 2, rejected: 0 });
    const [capture] = capturesOf(a.dir).select(['ais-capture']);
    const log = nginx.requests();
    const putAt = (path: string): number => log.findIndex((line) => line.startsWith(`PUT /cache/${path} `) && / 20[14]$/.test(line));
    const recordAt = putAt(`captures/${hex(capture.key)}`);
    expect(recordAt).toBeGreaterThanOrEqual(0);
    for (const output of capture.outputs) expect(putAt(`cas/${hex(output.digest)}`)).toBeLessThan(recordAt);

    // Machine B: another folder, an empty cache, the remote read-only (a CI consumer).
    const connections = feed.stats.connections;
    const b = machine();
    const replayed = await b.run({ remoteCache: nginx.url, remoteMode: 'read' });
    expect(replayed.ok).toBe(true);
    expect(Object.values(statuses(replayed.manifest))).toEqual(['cached', 'cached', 'cached']);
    expect(replayed.manifest.steps.find((s) => s.instance === AIS)?.reason).toMatch(/^pinned capture from \S+ pulled from the remote cache and reused/);
    expect(feed.stats.connections).toBe(connections);
    expect(digests(replayed.manifest)).toEqual(digests(recorded.manifest));
    expect(filesUnder(join(b.dir, 'out', 'ais'))).toEqual(filesUnder(join(a.dir, 'out', 'ais')));
    expect(replayed.remote).toMatchObject({ captures_pulled: 2, rejected: 0 });
    // The pulled record is the same record, not a copy rebuilt from an action entry.
    expect(captureDigest(capturesOf(b.dir).select(['ais-capture'])[0])).toBe(captureDigest(capture));

    // Machine A again: `captures push` finds both there already.
    const pushed = await runCli(['captures', 'push', '--remote-cache', nginx.url, '--json'], a.dir);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((JSON.parse(pushed.stdout) as { captures: { outcome: string }[] }).captures.map((c) => c.outcome)).toEqual(['present', 'present']);

    // A re-records (--refresh): its new capture differs from the remote's, which is kept and named.
    const before = readFileSync(join(nginx.root, 'captures', hex(capture.key)));
    const refreshed = await a.run({ remoteCache: nginx.url, refresh: ['ais-capture'] });
    expect(statuses(refreshed.manifest)[AIS]).toBe('built');
    const fresh = capturesOf(a.dir).select(['ais-capture'])[0];
    expect(captureDigest(fresh)).not.toBe(captureDigest(capture));
    const conflict = refreshed.remote?.problems.find((p) => p.includes('already holds a different capture'));
    expect(conflict).toContain(captureDigest(capture));
    expect(conflict).toContain(captureDigest(fresh));
    expect(readFileSync(join(nginx.root, 'captures', hex(capture.key)))).toEqual(before);
    // And B, holding the original, refuses to pull over it... while a pull of the same record is a no-op.
    const same = await runCli(['captures', 'pull', capture.key, '--remote-cache', nginx.url], b.dir);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain('pulled 0 capture(s)');
    expect(same.stdout).toContain('1 already here');

    // Tampered: the remote's copy of one captured object is replaced. C (empty cache) refuses it,
    // never materialises it, and records anew from the feed.
    const positions = capture.outputs.find((o) => o.name === 'positions');
    const poison = Buffer.from('PAR1 not the capture');
    rmSync(join(nginx.root, 'cas', hex(positions?.digest as string)));
    writeFileSync(join(nginx.root, 'cas', hex(positions?.digest as string)), poison);
    const c = machine();
    const third = await c.run({ remoteCache: nginx.url, remoteMode: 'read' });
    const problem = third.remote?.problems.find((p) => p.startsWith(`remote capture`));
    expect(problem).toMatch(/^remote capture [0-9a-f]{12} rejected: object [0-9a-f]{12} hashes to [0-9a-f]{12} \(\d+ bytes\): corrupt or tampered, not used$/);
    const record = third.manifest.steps.find((s) => s.instance === AIS);
    expect(record?.status).toBe('built');
    expect(record?.reason).toContain('rejected');
    expect(readFileSync(join(c.dir, 'out', 'ais', '2026-05-25', 'positions.parquet')).equals(poison)).toBe(false);
    const objects = join(c.dir, 'cache', 'objects');
    for (const file of readdirSync(objects, { recursive: true }).map(String)) {
      const path = join(objects, file);
      if (statSync(path).isFile()) expect(readFileSync(path).equals(poison)).toBe(false);
    }
    // Pulled by hand into a fresh cache, the tampered capture is refused too (exit 1, nothing recorded).
    const d = machine();
    const pulled = await runCli(['captures', 'pull', capture.key, '--remote-cache', nginx.url], d.dir);
    expect(pulled.code).toBe(1);
    expect(pulled.stderr).toMatch(/remote capture [0-9a-f]{12} rejected: object [0-9a-f]{12} hashes to/);
    expect(existsSync(join(d.dir, 'cache', 'captures')) ? readdirSync(join(d.dir, 'cache', 'captures')) : []).toEqual([]);
  }, 300_000);
});

describe('captures through an S3 remote cache (s3rver)', () => {
  let s3: S3Server;
  let restoreEnv: (() => void) | undefined;
  beforeAll(async () => {
    s3 = await startS3();
    restoreEnv = setEnv(s3.env);
  });
  afterAll(async () => {
    restoreEnv?.();
    await s3?.stop();
  });

  function machine(): { dir: string; run: (options?: Partial<BuildOptions>) => Promise<BuildResult> } {
    const dir = copyFixture('captures');
    dirs.push(dir);
    return { dir, run: (options = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), ...options }) };
  }

  it('push by hand, pull by key, a conflicting local capture refused with both digests, a tampered object refused', async () => {
    const url = `s3://${s3.bucket}/team/captures-v1`;
    // A records with no remote, then pushes by hand.
    const a = machine();
    expect((await a.run()).ok).toBe(true);
    const mine = capturesOf(a.dir).list();
    const pushed = await runCli(['captures', 'push', 'listen[date=2026-05-26]', '--remote-cache', url], a.dir);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toContain('pushed 1 capture(s)');
    expect((await runCli(['captures', 'push', '--remote-cache', url, '--remote-mode', 'read'], a.dir)).stderr).toContain('configured read-only here');

    // B pulls one by key; its build replays that partition and records the other.
    const b = machine();
    const key26 = mine.find((c) => c.instance === 'listen[date=2026-05-26]')?.key as string;
    const key25 = mine.find((c) => c.instance === 'listen[date=2026-05-25]')?.key as string;
    const pulled = await runCli(['captures', 'pull', key26, '--remote-cache', url, '--json'], b.dir);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ action: 'pull', captures: [{ instance: 'listen[date=2026-05-26]', outcome: 'added' }] });
    const missing = await runCli(['captures', 'pull', key25, '--remote-cache', url], b.dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no capture ${key25} on the remote cache`);
    expect((await runCli(['captures', 'pull', key25.slice(0, 20), '--remote-cache', url], b.dir)).stderr).toContain('a remote cache cannot be searched');
    const built = await b.run();
    expect(statuses(built.manifest)).toMatchObject({ 'listen[date=2026-05-26]': 'cached', 'listen[date=2026-05-25]': 'built' });
    expect(readFileSync(join(b.dir, 'out', 'heard', '2026-05-26', 'heard.parquet'))).toEqual(readFileSync(join(a.dir, 'out', 'heard', '2026-05-26', 'heard.parquet')));

    // C recorded its own capture of 2026-05-26: a pull of A's is refused, naming both records.
    const c = machine();
    await c.run({ partitionFilter: { date: '2026-05-26' } });
    const own = capturesOf(c.dir).list()[0];
    const refused = await runCli(['captures', 'pull', key26, '--remote-cache', url], c.dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`this cache already holds a different capture (record ${captureDigest(own)})`);
    expect(refused.stderr).toContain(`this one is ${captureDigest(mine.find((m) => m.key === key26) as never)}`);
    expect(captureDigest(capturesOf(c.dir).list()[0])).toBe(captureDigest(own));
    // … and pushing C's is refused too: the remote keeps A's.
    const over = await runCli(['captures', 'push', '--remote-cache', url], c.dir);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/the remote cache s3:\/\/dagrun-cache\/team\/captures-v1 already holds a different capture/);

    // A build in read-write mode pulls on a miss; a tampered object on S3 makes it a reported miss.
    const raw = mine.find((m) => m.key === key26)?.outputs.find((o) => o.name === 'heard');
    const client = s3ClientFromEnv();
    try {
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `team/captures-v1/cas/${hex(raw?.digest as string)}`, Body: 'tampered' }));
    } finally {
      client.destroy();
    }
    const d = machine();
    const result = await d.run({ remoteCache: url, partitionFilter: { date: '2026-05-26' } });
    expect(result.remote?.rejected).toBe(1);
    expect(result.manifest.steps.find((s) => s.instance === 'listen[date=2026-05-26]')?.reason).toMatch(/^remote capture [0-9a-f]{12} rejected: object [0-9a-f]{12} hashes to .*; rebuilding$/);
    expect(readFileSync(join(d.dir, 'out', 'heard', '2026-05-26', 'heard.parquet'), 'utf8')).not.toBe('tampered');
  }, 240_000);

  it('import refuses a file whose capture differs from one this cache holds, before recording any', async () => {
    const a = machine();
    const b = machine();
    await a.run();
    await b.run();
    expect((await runCli(['captures', 'export', 'all.captures'], a.dir)).code).toBe(0);
    const held = capturesOf(b.dir).list().map(captureDigest);
    const refused = await runCli(['captures', 'import', join(a.dir, 'all.captures')], b.dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('this cache already holds a different capture');
    expect(capturesOf(b.dir).list().map(captureDigest)).toEqual(held);
  });
});
