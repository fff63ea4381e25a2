// Private service instances for tests: each starts on 127.0.0.1, a random free port and its own temp
// folder, and is stopped by the test. System-wide services are never used.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from './paths.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { method: 'HEAD' });
    return true;
  } catch {
    return false;
  }
}

export interface Nginx {
  /** The remote cache base URL. */
  readonly url: string;
  /** The folder nginx serves: {root}/ac/…, {root}/cas/…. */
  readonly root: string;
  /** "METHOD URI STATUS" per request, in order. */
  requests(): string[];
  stop(): Promise<void>;
}

/** nginx (Debian's nginx-light) as a WebDAV Bazel HTTP cache, with a generated config. */
export async function startNginx(): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-nginx-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${process.getuid?.() === 0 ? 'user root root;' : ''}
events { worker_connections 256; }
http {
  log_format plain '$request_method $uri $status';
  access_log ${dir}/access.log plain;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw;
    }
  }
}
`,
    );
    const child: ChildProcess = spawn('/usr/sbin/nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    let exited = false;
    child.on('exit', () => (exited = true));
    try {
      await waitFor(async () => exited || (await answers(`http://127.0.0.1:${port}/`)), 'nginx');
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    if (exited) {
      if (attempt < 3) continue; // the port was taken between probing and binding
      throw new Error(`nginx would not start: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    }
    const log = join(dir, 'access.log');
    return {
      url: `http://127.0.0.1:${port}/cache`,
      root: join(root, 'cache'),
      requests: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
      stop: async () => {
        if (!exited) {
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await gone;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

export interface S3Server {
  /** The endpoint for AWS_ENDPOINT_URL_S3. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Environment for a client of this server (test-only credentials). */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/** s3rver (an S3-protocol server from npm) with one bucket, in its own temp folder. */
export async function startS3(bucket = 'dagrun-cache'): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-s3-'));
  const { default: S3rver } = (await import('s3rver')) as unknown as { default: new (options: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> } };
  // Any secret key is accepted, so a test can use a distinctive one and look for it in every output.
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, allowMismatchedSignatures: true, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return s3Handle(port, bucket, async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
}

/** What a test sees of either s3rver flavour: its endpoint, bucket and client environment. */
function s3Handle(port: number, bucket: string, stop: () => Promise<void>): S3Server {
  const endpoint = `http://127.0.0.1:${port}`;
  return { endpoint, bucket, env: { AWS_ENDPOINT_URL_S3: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' }, stop };
}

/**
 * s3rver in its own process with OpenSSL's legacy provider, for listings of more than one page: its
 * ListObjectsV2 continuation tokens are DES-encrypted, which Node 20's OpenSSL 3 otherwise refuses
 * (an HTTP 500 on every truncated listing). Everything else is as startS3.
 */
export async function startS3Paging(bucket = 'dagrun-cache'): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-s3-'));
  const script = `
    const S3rver = require('s3rver');
    const server = new S3rver({ port: 0, address: '127.0.0.1', directory: ${JSON.stringify(dir)}, silent: true, allowMismatchedSignatures: true, configureBuckets: [{ name: ${JSON.stringify(bucket)} }] });
    server.run().then(({ port }) => process.stdout.write(port + '\\n'));
    process.on('SIGTERM', () => server.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolvePort(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}): ${stderr}`)));
  });
  return s3Handle(port, bucket, async () => {
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Set environment variables for the tests of one file (an S3 server's credentials and endpoint);
 * the function returned puts back what was there before.
 */
export function setEnv(vars: Readonly<Record<string, string>>): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(vars)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** Stop it at once (SIGKILL: nothing saved) and start it again, empty, on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** redis-server (Debian's package) on a random loopback port, in its own temp folder, persisting nothing. */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited = false;
  const launch = async (): Promise<void> => {
    exited = false;
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
    child.on('exit', () => (exited = true));
    await waitFor(() => exited || existsSync(join(dir, 'redis.log')) && readFileSync(join(dir, 'redis.log'), 'utf8').includes('Ready to accept connections'), 'redis-server');
    if (exited) throw new Error(`redis-server would not start: ${readFileSync(join(dir, 'redis.log'), 'utf8')}`);
  };
  const kill = async (): Promise<void> => {
    if (!child || exited) return;
    const gone = new Promise((r) => child?.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    restart: async () => {
      await kill();
      rmSync(join(dir, 'redis.log'), { force: true });
      await launch();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
