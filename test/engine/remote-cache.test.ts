// The remote cache against real servers: nginx (WebDAV, Bazel HTTP layout) and an S3-protocol server,
// each a private instance on 127.0.0.1. A second client in another folder with an empty local cache
// must run nothing and materialise the same bytes; a tampered or missing remote object must be a
// reported miss that is rebuilt, never served.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { build, type BuildOptions, type BuildResult } from '../../src/engine/runner.js';
import { nodeIO, type StoreIO } from '../../src/engine/store.js';
import type { UserError } from '../../src/sdk/errors.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { isSafeRelativePath, parseEntry } from '../../src/engine/cache/tiered.js';
import { resolveRemoteSettings } from '../../src/engine/cache/config.js';
import { HttpBlobs } from '../../src/engine/cache/http.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { freePort, startNginx, startS3, type Nginx, type S3Server, setEnv } from '../helpers/servers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

function client(): { dir: string; run: (options?: Partial<BuildOptions>) => Promise<BuildResult> } {
  const dir = copyFixture('basic');
  dirs.push(dir);
  return { dir, run: (options = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), ...options }) };
}

const statuses = (manifest: Manifest): Record<string, string> => Object.fromEntries(manifest.steps.map((s) => [s.instance, s.status]));
const built = (manifest: Manifest): string[] => manifest.steps.filter((s) => s.status === 'built').map((s) => s.instance).sort();
const outputs = (dir: string, manifest: Manifest): Record<string, string> =>
  Object.fromEntries(manifest.steps.flatMap((s) => s.outputs.map((o) => [o.path, readFileSync(join(dir, 'out', o.path)).toString('base64')])));
const digestOf = (manifest: Manifest, path: string): string => manifest.steps.flatMap((s) => s.outputs).find((o) => o.path === path)?.digest as string;
const hex = (digest: string): string => digest.slice('sha256:'.length);

describe('remote cache over HTTP (nginx, Bazel layout)', () => {
  let nginx: Nginx;
  beforeAll(async () => {
    nginx = await startNginx();
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('a second client in another folder with an empty cache runs nothing and materialises identical outputs', async () => {
    const a = client();
    const first = await a.run({ remoteCache: nginx.url });
    expect(first.ok).toBe(true);
    expect(built(first.manifest)).toHaveLength(7);
    expect(first.remote).toMatchObject({ entries_uploaded: 7, rejected: 0 });
    expect(first.manifest.options.remote_cache).toEqual({ url: nginx.url, mode: 'read-write' });

    // Upload order: every object an entry references was PUT before the entry itself.
    const log = nginx.requests();
    const putIndex = (path: string): number => log.findIndex((line) => line.startsWith(`PUT /cache/${path} `) && / 20[14]$/.test(line));
    for (const step of first.manifest.steps) {
      const entryAt = putIndex(`ac/${hex(step.cache_key as string)}`);
      expect(entryAt).toBeGreaterThanOrEqual(0);
      for (const output of step.outputs) {
        const objectAt = putIndex(`cas/${hex(output.digest)}`);
        expect(objectAt).toBeGreaterThanOrEqual(0);
        expect(objectAt).toBeLessThan(entryAt);
      }
    }

    const b = client();
    const putsBefore = nginx.requests().filter((l) => l.startsWith('PUT')).length;
    const second = await b.run({ remoteCache: nginx.url, remoteMode: 'read' });
    expect(second.ok).toBe(true);
    expect(built(second.manifest)).toEqual([]);
    expect(Object.values(statuses(second.manifest))).toEqual(Array(7).fill('cached'));
    expect(second.manifest.steps.every((s) => s.reason.includes('fetched from the remote cache'))).toBe(true);
    expect(outputs(b.dir, second.manifest)).toEqual(outputs(a.dir, first.manifest));
    expect(second.remote).toMatchObject({ hits: 7, rejected: 0, objects_uploaded: 0 });
    expect(second.remote?.bytes_fetched).toBeGreaterThan(0);
    // Read mode uploads nothing.
    expect(nginx.requests().filter((l) => l.startsWith('PUT')).length).toBe(putsBefore);

    // And B's next build is a local no-op: nothing fetched again.
    const third = await b.run({ remoteCache: nginx.url, remoteMode: 'read' });
    expect(third.remote).toMatchObject({ hits: 0, objects_fetched: 0 });
    expect(Object.values(statuses(third.manifest))).toEqual(Array(7).fill('cached'));
  });

  it('a tampered object and a missing object are reported misses, rebuilt, and never materialised', async () => {
    const a = client();
    const first = await a.run({ remoteCache: nginx.url });
    const totals = digestOf(first.manifest, 'summary/totals.csv');
    const doubled = digestOf(first.manifest, 'doubled/2024-01-02.parquet');
    const poison = 'day,total\nEVIL,666\n';
    writeFileSync(join(nginx.root, 'cas', hex(totals)), poison);
    rmSync(join(nginx.root, 'cas', hex(doubled)));

    const b = client();
    const second = await b.run({ remoteCache: nginx.url, remoteMode: 'read' });
    expect(second.ok).toBe(true);
    // The missing object's step is rebuilt (same bytes, so its consumer's key is unchanged); the
    // consumer's entry points at the tampered object, so it is rejected and rebuilt too.
    expect(built(second.manifest)).toEqual(['double[date=2024-01-02]', 'summary']);
    const summary = second.manifest.steps.find((s) => s.instance === 'summary');
    expect(summary?.reason).toMatch(/rejected: object [0-9a-f]{12} hashes to [0-9a-f]{12}.*not used; rebuilding/);
    expect(second.manifest.steps.find((s) => s.instance === 'double[date=2024-01-02]')?.reason).toContain('missing from the remote');
    expect(readFileSync(join(b.dir, 'out', 'summary', 'totals.csv'), 'utf8')).not.toContain('EVIL');
    expect(outputs(b.dir, second.manifest)).toEqual(outputs(a.dir, first.manifest));
    expect(second.remote?.rejected).toBe(2);
    // The poison never entered B's local store either.
    const objectsDir = join(b.dir, 'cache', 'objects');
    for (const file of readdirSync(objectsDir, { recursive: true }).map(String)) {
      const path = join(objectsDir, file);
      if (statSync(path).isFile()) expect(readFileSync(path, 'utf8')).not.toBe(poison);
    }
  });

  it('retries 5xx answers with backoff and still shares the cache', async () => {
    // A proxy in front of nginx that fails the first attempt of every request with 503.
    const seen = new Set<string>();
    let refused = 0;
    const target = new URL(nginx.url);
    const proxy: Server = createServer((req, res) => {
      const id = `${req.method} ${req.url}`;
      if (!seen.has(id)) {
        seen.add(id);
        refused += 1;
        req.resume();
        res.writeHead(503).end();
        return;
      }
      const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    const port = await freePort();
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${port}/cache`;
      const a = client();
      const first = await a.run({ remoteCache: url, sets: { make: { rows: 9 } } });
      expect(first.remote).toMatchObject({ entries_uploaded: 7, rejected: 0 });
      const b = client();
      const second = await b.run({ remoteCache: url, remoteMode: 'read', sets: { make: { rows: 9 } } });
      expect(built(second.manifest)).toEqual([]);
      expect(outputs(b.dir, second.manifest)).toEqual(outputs(a.dir, first.manifest));
      expect(refused).toBeGreaterThan(20);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('an unreachable remote is dropped with one warning and the build completes locally', async () => {
    const port = await freePort();
    const a = client();
    const result = await a.run({ remoteCache: `http://127.0.0.1:${port}/cache`, targets: ['make'], partitionFilter: { date: '2024-01-01' } });
    expect(result.ok).toBe(true);
    expect(built(result.manifest)).toEqual(['make[date=2024-01-01]']);
    expect(result.remote?.problems.some((p) => p.includes('is not answering') && p.includes('continuing with the local cache only'))).toBe(true);
  });

  it('a full local disk while taking a remote hit stops the build; it is not blamed on the remote, nor built here instead', async () => {
    const a = client();
    const target = { targets: ['make'], partitionFilter: { date: '2024-01-01' } };
    expect((await a.run({ remoteCache: nginx.url, ...target })).ok).toBe(true);
    // B's disk takes the fetched objects but not the action entry written after them (the store's IO seam).
    const full: StoreIO = {
      writeFile: async (path) => {
        throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC', errno: -28, syscall: 'write', path });
      },
      copyFile: nodeIO.copyFile,
    };
    const b = client();
    const started: string[] = [];
    const error = await b.run({ remoteCache: nginx.url, remoteMode: 'read', storeIO: full, onEvent: (e) => void (e.type === 'instance-started' && started.push(e.instance)), ...target }).then(
      () => undefined,
      (e: unknown) => e as UserError,
    );
    expect(error?.code).toBe('DISK_FULL');
    expect(error?.message).toMatch(/^no space left on the device holding .*cache\/ /);
    // Without the distinction the failed write counted as the remote failing (a miss), and the step ran here.
    expect(started).toEqual([]);
    expect(existsSync(join(b.dir, 'out', 'numbers', '2024-01-01.parquet'))).toBe(false);
    expect(existsSync(join(b.dir, 'cache', 'lock'))).toBe(false);
  });

  it('credentials in the URL are sent as Basic auth and shown nowhere', async () => {
    const a = client();
    const result = await a.run({ remoteCache: nginx.url.replace('http://', 'http://builder:hunter2-secret@'), sets: { make: { rows: 4 } }, targets: ['make'], partitionFilter: { date: '2024-01-01' } });
    expect(result.ok).toBe(true);
    expect(result.remote?.entries_uploaded).toBe(1);
    const manifestText = readFileSync(result.manifestPath as string, 'utf8');
    expect(manifestText).not.toContain('hunter2-secret');
    expect(JSON.stringify(result.remote)).not.toContain('hunter2-secret');
    expect(result.manifest.options.remote_cache).toEqual({ url: nginx.url, mode: 'read-write' });
  });

  it('the CLI takes the remote from DAGRUN_REMOTE_CACHE and --remote-mode, and reports it', async () => {
    const a = client();
    await a.run({ remoteCache: nginx.url, sets: { make: { rows: 3 } } });
    const b = client();
    const cli = await runCli(['build', '--set', 'make.rows=3', '--remote-mode', 'read'], b.dir, { env: { DAGRUN_REMOTE_CACHE: nginx.url } });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/remote cache http:\/\/127\.0\.0\.1:\d+\/cache \(read\): 7 hit\(s\)/);
    const bad = await runCli(['build', '--remote-mode', 'sometimes'], b.dir, { env: { DAGRUN_REMOTE_CACHE: nginx.url } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--remote-mode: "sometimes" is not a remote cache mode (read, read-write)');
  });

  it('streams a large object both ways through the HTTP remote, re-hashed on the way down', async () => {
    const a = client();
    const big = join(a.dir, 'big.bin');
    const data = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = i % 251;
    writeFileSync(big, data);
    const { digestFile } = await import('../../src/sdk/hash.js');
    const { digest } = await digestFile(big);
    const remote = new HttpBlobs(nginx.url, 4);
    try {
      await remote.upload(`cas/${hex(digest)}`, big, data.length);
      expect(await remote.has(`cas/${hex(digest)}`)).toBe(true);
      const back = join(a.dir, 'back.bin');
      const got = await remote.download(`cas/${hex(digest)}`, back);
      expect(got).toEqual({ digest, size: data.length });
      expect(await remote.download(`cas/${'0'.repeat(64)}`, join(a.dir, 'none.bin'))).toBeUndefined();
      expect(existsSync(join(a.dir, 'none.bin'))).toBe(false);
    } finally {
      await remote.close();
    }
  });
});

describe('remote cache over S3 (s3rver)', () => {
  let s3: S3Server;
  const secret = 'sEcReT-never-logged-5b1e';
  let restoreEnv: (() => void) | undefined;
  beforeAll(async () => {
    s3 = await startS3();
    restoreEnv = setEnv({ ...s3.env, AWS_SECRET_ACCESS_KEY: secret });
  });
  afterAll(async () => {
    restoreEnv?.();
    await s3?.stop();
  });

  it('a second client in another folder runs nothing, and the secret key appears in no output', async () => {
    const url = `s3://${s3.bucket}/team/v1`;
    const a = client();
    const first = await a.run({ remoteCache: url });
    expect(first.ok).toBe(true);
    expect(first.remote).toMatchObject({ entries_uploaded: 7, rejected: 0 });

    const b = client();
    const cli = await runCli(['build', '--json', '--remote-mode', 'read', '--verbose'], b.dir, { env: { ...s3.env, AWS_SECRET_ACCESS_KEY: secret, DAGRUN_REMOTE_CACHE: url } });
    expect(cli.code).toBe(0);
    const document = JSON.parse(cli.stdout) as Manifest & { remote_cache: { hits: number } };
    expect(built(document)).toEqual([]);
    expect(document.remote_cache.hits).toBe(7);
    expect(outputs(b.dir, document)).toEqual(outputs(a.dir, first.manifest));
    for (const text of [cli.stdout, cli.stderr, ...readdirSync(join(b.dir, 'cache', 'runs')).map((f) => readFileSync(join(b.dir, 'cache', 'runs', f), 'utf8')), readFileSync(first.manifestPath as string, 'utf8')]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('remote entries are checked before use', () => {
  const key = `sha256:${'a'.repeat(64)}`;
  const expected = [{ name: 'totals', path: 'summary/totals.csv', kind: 'file' as const }];
  const good = { key, step: 'summary', partition: {}, outputs: [{ name: 'totals', path: 'summary/totals.csv', kind: 'file', digest: `sha256:${'b'.repeat(64)}`, bytes: 10 }], metrics: {}, warnings: [], source: false, run_id: 'r' };
  const entry = (patch: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ ...good, ...patch }));

  it('accepts an entry that lists exactly the declared outputs', () => {
    expect(parseEntry(entry({}), key, expected).outputs[0].path).toBe('summary/totals.csv');
  });

  it.each([
    ['not JSON', Buffer.from('<html>'), /not JSON/],
    ['another key', entry({ key: `sha256:${'c'.repeat(64)}` }), /another key/],
    ['an escaping path', entry({ outputs: [{ ...good.outputs[0], path: '../../etc/passwd' }] }), /"\.\.\/\.\.\/etc\/passwd"/],
    ['a tree where a file is declared', entry({ outputs: [{ ...good.outputs[0], kind: 'tree' }] }), /\(tree\) in the entry/],
    ['a digest that is a path', entry({ outputs: [{ ...good.outputs[0], digest: 'sha256:../../x' }] }), /malformed digest/],
    ['an extra output', entry({ outputs: [good.outputs[0], { ...good.outputs[0], name: 'more' }] }), /lists 2 outputs/],
    ['a negative size', entry({ outputs: [{ ...good.outputs[0], bytes: -1 }] }), /malformed size/],
  ])('rejects %s', (_name, bytes, message) => {
    expect(() => parseEntry(bytes, key, expected)).toThrow(message);
  });

  it('tree paths with a .. or empty segment, absolute or backslashed, are unsafe; plain relative ones are safe', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (parts) => isSafeRelativePath(parts.join('/'))));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 3 }), fc.array(segment, { maxLength: 3 }), fc.constantFrom('..', '.', ''), (before, after, bad) => !isSafeRelativePath([...before, bad, ...after].join('/'))),
    );
    for (const bad of ['/etc/passwd', 'a\\..\\b', 'a/\0b']) expect(isSafeRelativePath(bad)).toBe(false);
  });
});

describe('remote cache settings', () => {
  it('the command line beats the environment, which beats pipeline.yaml; "off" turns it off', () => {
    const yaml = { remote: 'https://cache.example/yaml', mode: 'read' as const };
    expect(resolveRemoteSettings({}, yaml, {})).toEqual({ url: 'https://cache.example/yaml', mode: 'read' });
    expect(resolveRemoteSettings({}, yaml, { DAGRUN_REMOTE_CACHE: 's3://b/env' })).toEqual({ url: 's3://b/env', mode: 'read' });
    expect(resolveRemoteSettings({ remote: 'http://cli/x', mode: 'read-write' }, yaml, { DAGRUN_REMOTE_CACHE: 's3://b/env', DAGRUN_REMOTE_CACHE_MODE: 'read' })).toEqual({ url: 'http://cli/x', mode: 'read-write' });
    expect(resolveRemoteSettings({ remote: 'off' }, yaml, { DAGRUN_REMOTE_CACHE: 's3://b/env' })).toBeUndefined();
    expect(resolveRemoteSettings({}, undefined, {})).toBeUndefined();
    expect(resolveRemoteSettings({ remote: 's3://b' }, undefined, {})).toEqual({ url: 's3://b', mode: 'read-write' });
  });

  it('a bad URL is named with where it came from, without its credentials', () => {
    expect(() => resolveRemoteSettings({}, undefined, { DAGRUN_REMOTE_CACHE: 'ftp://user:pw@host/x' })).toThrow(/^DAGRUN_REMOTE_CACHE: "ftp:\/\/host\/x" is not an http:\/\/, https:\/\/ or s3:\/\/ URL$/);
  });

  it('pipeline.yaml cache: is validated with its location', async () => {
    const a = client();
    const file = join(a.dir, 'pipeline.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('output_root: out\n', 'output_root: out\ncache:\n  remote: s3://bucket/x\n  mode: sometimes\n'));
    await expect(a.run()).rejects.toMatchObject({ where: expect.stringMatching(/pipeline\.yaml:\d+:\d+$/), message: expect.stringContaining('cache.mode') });
  });
});
