// Distributed execution on BullMQ: a private redis-server, nginx as the remote cache, and worker
// processes (the compiled CLI) each running from their own copy of the project — never the client's
// folder. The fixture holds one partition on a worker (DAGRUN_TEST_HOLD) so that "mid-job" is a state
// the test waits for, not a race it hopes to win.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions } from '../../src/engine/runner.js';
import type { DagrunEvent } from '../../src/engine/events/types.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { CLI, copyFixture, removeFixture } from '../helpers/fixture.js';
import { startNginx, startRedis, type Nginx, type RedisServer } from '../helpers/servers.js';

let redis: RedisServer;
let nginx: Nginx;
const dirs: string[] = [];
const workers: Worker[] = [];
let db = 0;

beforeAll(async () => {
  [redis, nginx] = await Promise.all([startRedis(), startNginx()]);
});
afterAll(async () => {
  await Promise.all([redis?.stop(), nginx?.stop()]);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

function project(): string {
  const dir = copyFixture('distributed');
  dirs.push(dir);
  return dir;
}

interface Worker {
  readonly id: string;
  output(): string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** `dagrun worker` in a folder of its own; resolves once it serves the queue. */
async function startWorker(id: string, redisUrl: string, env: Record<string, string> = {}, dir = project()): Promise<Worker> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'worker', '--redis', redisUrl, '--remote-cache', remoteOf(redisUrl), '--worker-id', id, '--concurrency', '2', '--lock-ms', '8000'], { cwd: dir, env: { ...process.env, ...env } });
  let output = '';
  let exited = false;
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const gone = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (output.includes('serving queue')) resolve();
      else if (exited) reject(new Error(`worker ${id} exited: ${output}`));
      else setTimeout(check, 50);
    };
    check();
  });
  const worker: Worker = {
    id,
    output: () => output,
    kill: async () => {
      if (!exited) child.kill('SIGKILL');
      await gone;
    },
    stop: async () => {
      if (!exited) child.kill('SIGTERM');
      await gone;
    },
  };
  workers.push(worker);
  return worker;
}

/**
 * A fresh Redis database and remote cache folder per test: one test's queue never holds another's
 * jobs, and its results are not another test's cache hits.
 */
function redisDb(): string {
  db += 1;
  return `${redis.url}/${db}`;
}
const remoteOf = (redisUrl: string): string => `${nginx.url}/lane${redisUrl.split('/').pop()}`;

function distributed(dir: string, redisUrl: string, extra: Partial<BuildOptions> = {}, onEvent?: (e: DagrunEvent) => void): ReturnType<typeof build> {
  return build({ pipelineFile: join(dir, 'pipeline.yaml'), executor: 'bullmq', redis: redisUrl, remoteCache: remoteOf(redisUrl), onEvent, ...extra });
}

const digests = (manifest: Manifest): Record<string, string[]> => Object.fromEntries(manifest.steps.map((s) => [s.instance, s.outputs.map((o) => `${o.path} ${o.digest}`)]));
const statuses = (manifest: Manifest): string[] => manifest.steps.map((s) => `${s.instance} ${s.status}`);

let localDigests: Record<string, string[]>;
async function local(): Promise<Record<string, string[]>> {
  if (!localDigests) {
    const result = await build({ pipelineFile: join(project(), 'pipeline.yaml'), remoteCache: 'off' });
    expect(result.ok).toBe(true);
    localDigests = digests(result.manifest);
  }
  return localDigests;
}

describe('--executor bullmq', () => {
  it('two workers in other folders build what a local build builds; a fresh read-only client then runs nothing and gets the same bytes', async () => {
    const url = redisDb();
    await Promise.all([startWorker('w1', url), startWorker('w2', url)]);
    const client = project();
    const events: DagrunEvent[] = [];
    const result = await distributed(client, url, {}, (e) => events.push(e));
    expect(result.ok).toBe(true);
    expect(statuses(result.manifest)).toEqual(['gen[date=2024-01-01] built', 'gen[date=2024-01-02] built', 'gen[date=2024-01-03] built', 'total built']);
    expect(digests(result.manifest)).toEqual(await local());
    // Every instance ran on a worker, and said which, through the one event stream.
    // (A job may run twice when a loaded machine delays a lock renewal: BullMQ then hands it on.)
    const ranOn = [...new Set(events.filter((e) => e.type === 'log' && e.message.startsWith('running on worker')).map((e) => (e as { instance: string }).instance))].sort();
    expect(ranOn).toEqual(['gen[date=2024-01-01]', 'gen[date=2024-01-02]', 'gen[date=2024-01-03]', 'total']);

    const fresh = project();
    const reader = await build({ pipelineFile: join(fresh, 'pipeline.yaml'), remoteCache: remoteOf(url), remoteMode: 'read' });
    expect(reader.ok).toBe(true);
    expect(reader.manifest.steps.every((s) => s.status === 'cached')).toBe(true);
    expect(digests(reader.manifest)).toEqual(digests(result.manifest));
    for (const file of ['totals.csv', 'numbers/2024-01-02.parquet', 'notes/2024-01-03/day.txt']) {
      expect(readFileSync(join(fresh, 'out', file))).toEqual(readFileSync(join(client, 'out', file)));
    }
  });

  it('a worker SIGKILLed mid-job: the stalled job goes to another worker and the build completes correctly', async () => {
    const url = redisDb();
    const doomed = await startWorker('doomed', url, { DAGRUN_TEST_HOLD: '2024-01-02' });
    let rescuer: Promise<Worker> | undefined;
    const events: DagrunEvent[] = [];
    const result = await distributed(project(), url, {}, (e) => {
      events.push(e);
      // The held partition is running on the doomed worker: kill it there, then bring up another.
      if (!rescuer && e.type === 'log' && e.instance === 'gen[date=2024-01-02]' && e.message === 'running on worker doomed') {
        rescuer = doomed.kill().then(() => startWorker('rescuer', url));
      }
    });
    expect(rescuer).toBeDefined();
    expect(result.ok).toBe(true);
    expect(digests(result.manifest)).toEqual(await local());
    const held = events.filter((e) => e.type === 'log' && e.instance === 'gen[date=2024-01-02]' && e.message.startsWith('running on worker')).map((e) => (e as { message: string }).message);
    // (On a loaded machine a late lock renewal can hand the job on once more before the kill.)
    expect(held[0]).toBe('running on worker doomed');
    expect(held.at(-1)).toBe('running on worker rescuer');
  });

  it('a step failure is reported once, naming the worker; a worker on other code refuses with a clear message', async () => {
    const url = redisDb();
    const worker = await startWorker('w1', url);
    const events: DagrunEvent[] = [];
    const failed = await distributed(project(), url, { sets: { gen: { fail_on: '2024-01-03' } } }, (e) => events.push(e));
    expect(failed.ok).toBe(false);
    expect(statuses(failed.manifest)).toEqual(['gen[date=2024-01-01] built', 'gen[date=2024-01-02] built', 'gen[date=2024-01-03] failed', 'total skipped']);
    const record = failed.manifest.steps[2];
    expect(record.error).toContain('no data for 2024-01-03 (on worker w1)');
    expect(events.filter((e) => e.type === 'instance-failed')).toHaveLength(1);
    expect(worker.output().match(/failed gen\[date=2024-01-03\]/g)).toHaveLength(1);
    await worker.stop();

    // Another commit of the kernel: its code digest is not the client's.
    const other = project();
    appendFileSync(join(other, 'steps', 'gen', 'kernel.ts'), '// changed on the worker\n');
    await startWorker('stale', url, {}, other);
    const refused = await distributed(project(), url, { force: ['gen'], partitionFilter: { date: '2024-01-01' } });
    expect(refused.ok).toBe(false);
    expect(refused.manifest.steps[0].error).toMatch(/^worker stale refuses gen\[date=2024-01-01\]: its checkout's code of step gen is [0-9a-f]{12}, the job needs [0-9a-f]{12} — run the worker on the client's commit/);
  });

  it('Redis restarted mid-build: the build fails cleanly, and the next build resumes from the cache', async () => {
    const url = redisDb();
    const held = await startWorker('held', url, { DAGRUN_TEST_HOLD: '2024-01-03' });
    const dir = project();
    const built = new Set<string>();
    let holding = false;
    let restarted: Promise<void> | undefined;
    // Two partitions done, the third running (held) on the worker: Redis goes away and comes back empty.
    const first = await distributed(dir, url, {}, (e) => {
      if (e.type === 'instance-built') built.add(e.instance);
      if (e.type === 'log' && e.instance === 'gen[date=2024-01-03]' && e.message.startsWith('running on worker')) holding = true;
      if (!restarted && holding && built.size === 2) restarted = redis.restart();
    });
    await restarted;
    expect(restarted).toBeDefined();
    expect(first.ok).toBe(false);
    const byInstance = Object.fromEntries(first.manifest.steps.map((s) => [s.instance, s]));
    expect(byInstance['gen[date=2024-01-03]'].error).toContain(`lost the connection to Redis at ${url} mid-build`);
    expect(byInstance['total'].status).toBe('skipped');
    await held.kill(); // still inside the held step, which never returns

    await startWorker('fresh', url);
    const second = await distributed(dir, url);
    expect(second.ok).toBe(true);
    expect(statuses(second.manifest)).toEqual(['gen[date=2024-01-01] cached', 'gen[date=2024-01-02] cached', 'gen[date=2024-01-03] built', 'total built']);
    expect(digests(second.manifest)).toEqual(await local());
  });

  it('refuses a build without a read-write remote cache, and a redis URL that is not one; never shows a password', async () => {
    const dir = project();
    await expect(build({ pipelineFile: join(dir, 'pipeline.yaml'), executor: 'bullmq', redis: redis.url, remoteCache: 'off' })).rejects.toThrow(/needs one in read-write mode \(none is configured/);
    await expect(distributed(dir, redis.url, { remoteMode: 'read' })).rejects.toThrow(/needs one in read-write mode \(it is read\)/);
    await expect(distributed(dir, 'http://127.0.0.1:1')).rejects.toThrow(/--redis: "http:\/\/127\.0\.0\.1:1" is not a redis:\/\/ or rediss:\/\/ URL/);
    const port = Number(new URL(redis.url).port);
    const error = await distributed(dir, `redis://:s3cret-pw@127.0.0.1:${port + (port < 65535 ? 1 : -1)}/0`).catch((e: Error) => e);
    expect(String(error)).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+\/0 does not answer/);
    expect(String(error)).not.toContain('s3cret-pw');
  });
});
