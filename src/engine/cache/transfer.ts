// What every remote transfer shares: a bound on concurrent requests, retry with backoff for the
// failures worth retrying (5xx, 429, resets, timeouts), and streaming a body into a file while hashing
// it, so no object is ever held whole in memory.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { DIGEST_PREFIX } from '../../sdk/hash.js';

/** A failed remote request. `retryable` says whether trying again may succeed. */
export class RemoteError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'ENOTFOUND']);

export function isRetryable(error: unknown): boolean {
  if (error instanceof RemoteError) return error.retryable;
  const code = (error as { code?: string }).code;
  if (code && RETRYABLE_CODES.has(code)) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  const name = (error as { name?: string }).name;
  return name === 'TimeoutError' || name === 'RequestTimeout';
}

export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 100 };

/** Run `operation`, retrying retryable failures with exponential backoff and jitter. */
export async function withRetry<T>(operation: () => Promise<T>, policy: RetryPolicy = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= policy.attempts || !isRetryable(error)) throw error;
      const delay = policy.baseDelayMs * 2 ** (attempt - 1);
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * delay));
    }
  }
}

export type ProgressFn = (done: number, total: number | undefined) => void;

/**
 * Stream `body` into `target`, hashing as it goes. Returns the SHA-256 digest and size of what was
 * written; the caller compares it with what it asked for. On failure the partial file is removed.
 */
export async function streamToFile(body: Readable | AsyncIterable<Uint8Array>, target: string, total?: number, onProgress?: ProgressFn): Promise<{ digest: string; size: number }> {
  const hasher = createHash('sha256');
  let size = 0;
  let lastReport = Date.now();
  try {
    await pipeline(
      body,
      async function* (source: AsyncIterable<Uint8Array>) {
        for await (const chunk of source) {
          hasher.update(chunk);
          size += chunk.byteLength;
          if (onProgress && Date.now() - lastReport > 1000) {
            lastReport = Date.now();
            onProgress(size, total);
          }
          yield chunk;
        }
      },
      createWriteStream(target),
    );
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
  return { digest: DIGEST_PREFIX + hasher.digest('hex'), size };
}

/** Remove userinfo and the query string: they may carry credentials. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`.replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//').split('?')[0];
  }
}
