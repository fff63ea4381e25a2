// Blobs over HTTP: GET/HEAD/PUT below a base URL, as bazel-remote or nginx with WebDAV PUT serve them
// (the remote cache's ac/ and cas/, a published release). Bodies stream both ways; credentials in
// the URL's userinfo become a Basic Authorization header and never appear in `shown`.
import { createReadStream } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { RemoteError, redactUrl, retryableStatus, streamToFile, withRetry, type ProgressFn } from './transfer.js';
import { Semaphore } from '../semaphore.js';
import type { BlobHead, BlobStore } from './blobs.js';

const TIMEOUT_MS = 30_000;

export class HttpBlobs implements BlobStore {
  readonly shown: string;
  private readonly base: URL;
  private readonly auth: string | undefined;
  private readonly agent: http.Agent;
  private readonly limiter: Semaphore;

  constructor(url: string, concurrency: number) {
    const parsed = new URL(url);
    this.auth = parsed.username ? `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}` : undefined;
    parsed.username = '';
    parsed.password = '';
    if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
    this.base = parsed;
    this.shown = redactUrl(url);
    this.agent = new (parsed.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: concurrency });
    this.limiter = new Semaphore(concurrency);
  }

  async getBytes(path: string, maxBytes: number): Promise<Buffer | undefined> {
    return this.limiter.run(() =>
      withRetry(async () => {
        const response = await this.request('GET', path);
        if (response.statusCode === 404) return drain(response, undefined);
        expectOk(response, 'GET', path);
        const declared = Number(response.headers['content-length'] ?? 0);
        if (declared > maxBytes) {
          response.destroy();
          throw new RemoteError(`${path} is ${declared} bytes, more than the ${maxBytes} it can be`, false);
        }
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of response) {
          size += (chunk as Buffer).length;
          if (size > maxBytes) {
            response.destroy();
            throw new RemoteError(`${path} is more than the ${maxBytes} bytes it can be`, false);
          }
          chunks.push(chunk as Buffer);
        }
        return Buffer.concat(chunks);
      }),
    );
  }

  async putBytes(path: string, bytes: Buffer): Promise<void> {
    await this.limiter.run(() =>
      withRetry(async () => {
        const response = await this.request('PUT', path, { body: bytes, length: bytes.length });
        expectOk(response, 'PUT', path);
        await drain(response, undefined);
      }),
    );
  }

  async has(path: string): Promise<boolean> {
    return this.limiter.run(() =>
      withRetry(async () => {
        const response = await this.request('HEAD', path);
        if (response.statusCode === 404) return drain(response, false);
        expectOk(response, 'HEAD', path);
        return drain(response, true);
      }),
    );
  }

  async head(path: string): Promise<BlobHead | undefined> {
    return this.limiter.run(() =>
      withRetry(async () => {
        const response = await this.request('HEAD', path);
        if (response.statusCode === 404) return drain(response, undefined);
        expectOk(response, 'HEAD', path);
        const etag = response.headers.etag;
        // A weak ETag (W/…) does not promise identical bytes: the content decides then.
        return drain(response, { size: Number(response.headers['content-length'] ?? -1), etag: etag && !etag.startsWith('W/') ? etag : undefined });
      }),
    );
  }

  async download(path: string, target: string, onProgress?: ProgressFn): Promise<{ digest: string; size: number } | undefined> {
    return this.limiter.run(() =>
      withRetry(async () => {
        const response = await this.request('GET', path);
        if (response.statusCode === 404) return drain(response, undefined);
        expectOk(response, 'GET', path);
        const total = response.headers['content-length'] ? Number(response.headers['content-length']) : undefined;
        return streamToFile(response, target, total, onProgress);
      }),
    );
  }

  async upload(path: string, source: string, size: number): Promise<void> {
    await this.limiter.run(() =>
      withRetry(async () => {
        // A fresh read stream per attempt: a retried upload starts from the first byte.
        const response = await this.request('PUT', path, { body: () => createReadStream(source), length: size });
        expectOk(response, 'PUT', path);
        await drain(response, undefined);
      }),
    );
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private request(method: string, path: string, upload?: { body: Buffer | (() => NodeJS.ReadableStream); length: number }): Promise<IncomingMessage> {
    const url = new URL(path.split('/').map(encodeURIComponent).join('/'), this.base);
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = {};
      if (this.auth) headers.authorization = this.auth;
      if (upload) {
        headers['content-length'] = upload.length;
        headers['content-type'] = 'application/octet-stream';
      }
      const request = client.request(url, { method, headers, agent: this.agent }, resolve);
      request.setTimeout(TIMEOUT_MS, () => request.destroy(Object.assign(new Error(`${method} ${this.shown}/${path} timed out after ${TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
      request.on('error', reject);
      if (!upload) request.end();
      else if (Buffer.isBuffer(upload.body)) request.end(upload.body);
      else {
        const stream = upload.body();
        stream.on('error', (error) => request.destroy(error));
        stream.pipe(request);
      }
    });
  }
}

function expectOk(response: IncomingMessage, method: string, path: string): void {
  const status = response.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  response.resume();
  const why = status === 401 || status === 403 ? ' (check the credentials in the remote cache URL)' : '';
  throw new RemoteError(`${method} ${path}: HTTP ${status}${why}`, retryableStatus(status), status);
}

async function drain<T>(response: IncomingMessage, value: T): Promise<T> {
  response.resume();
  return value;
}
