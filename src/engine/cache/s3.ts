// Blobs on S3 under s3://bucket/prefix, through @aws-sdk/client-s3 (the remote cache's ac/ and cas/,
// a published release).
// Credentials come from the SDK's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
// …); an S3-compatible server is named by AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (path-style then).
// Retries are ours (withRetry), so a streamed upload is re-opened from its file on each attempt.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { RemoteError, redactUrl, streamToFile, withRetry, type ProgressFn } from './transfer.js';
import { Semaphore } from '../semaphore.js';
import type { BlobHead, BlobStore } from './blobs.js';

export interface S3Location {
  readonly bucket: string;
  /** '' or a prefix ending in '/'. */
  readonly prefix: string;
}

export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/?#]+)\/?([^?#]*)$/i.exec(url);
  if (!match) throw new Error(`not an s3:// URL: ${redactUrl(url)} (expected s3://bucket/prefix)`);
  const prefix = match[2].replace(/^\/+|\/+$/g, '');
  return { bucket: match[1], prefix: prefix ? `${prefix}/` : '' };
}

/** One client per endpoint configuration, built from the standard AWS environment. */
export function s3ClientFromEnv(): S3Client {
  // The SDK warns on Node < 22 that its releases after January 2027 will need Node 22. dagrun's lock
  // pins the SDK, so that notice is not the user's to act on; it is turned off through the SDK's own
  // switch (a user who sets the variable keeps their choice). Other warnings are untouched.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
  return new S3Client({
    endpoint,
    forcePathStyle: endpoint !== undefined || process.env.AWS_S3_FORCE_PATH_STYLE === 'true',
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
    maxAttempts: 1,
    // Checksums only where S3 requires them: S3-compatible servers do not all speak aws-chunked bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

export class S3Blobs implements BlobStore {
  readonly shown: string;
  private readonly location: S3Location;
  private readonly client: S3Client;
  private readonly limiter: Semaphore;

  constructor(url: string, concurrency: number) {
    this.location = parseS3Url(url);
    this.shown = redactUrl(url);
    this.client = s3ClientFromEnv();
    this.limiter = new Semaphore(concurrency);
  }

  private key(path: string): string {
    return `${this.location.prefix}${path}`;
  }

  async getBytes(path: string, maxBytes: number): Promise<Buffer | undefined> {
    return this.limiter.run(() =>
      withRetry(async () => {
        try {
          const response = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(path) }));
          if ((response.ContentLength ?? 0) > maxBytes) {
            (response.Body as Readable | undefined)?.destroy?.();
            throw new RemoteError(`${path} is ${response.ContentLength} bytes, more than the ${maxBytes} it can be`, false);
          }
          return Buffer.from(await (response.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw describe(error, 'GET', path);
        }
      }),
    );
  }

  async putBytes(path: string, bytes: Buffer): Promise<void> {
    await this.limiter.run(() =>
      withRetry(async () => {
        try {
          await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.key(path), Body: bytes, ContentLength: bytes.length }));
        } catch (error) {
          throw describe(error, 'PUT', path);
        }
      }),
    );
  }

  async has(path: string): Promise<boolean> {
    return this.limiter.run(() =>
      withRetry(async () => {
        try {
          await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(path) }));
          return true;
        } catch (error) {
          if (isNotFound(error)) return false;
          throw describe(error, 'HEAD', path);
        }
      }),
    );
  }

  async head(path: string): Promise<BlobHead | undefined> {
    return this.limiter.run(() =>
      withRetry(async () => {
        try {
          const response = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(path) }));
          return { size: response.ContentLength ?? -1, etag: response.ETag, version: response.VersionId };
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw describe(error, 'HEAD', path);
        }
      }),
    );
  }

  async download(path: string, target: string, onProgress?: ProgressFn): Promise<{ digest: string; size: number } | undefined> {
    return this.limiter.run(() =>
      withRetry(async () => {
        let response;
        try {
          response = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(path) }));
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw describe(error, 'GET', path);
        }
        return streamToFile(response.Body as Readable, target, response.ContentLength, onProgress);
      }),
    );
  }

  async upload(path: string, source: string, size: number): Promise<void> {
    await this.limiter.run(() =>
      withRetry(async () => {
        try {
          await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.key(path), Body: createReadStream(source), ContentLength: size }));
        } catch (error) {
          throw describe(error, 'PUT', path);
        }
      }),
    );
  }

  /**
   * Every object whose name starts with `prefix` (below this store's own prefix), in key order, page by
   * page (ListObjectsV2 returns at most 1000 keys a request; `pageSize` asks for fewer).
   */
  async list(prefix: string, pageSize = 1000): Promise<ListedObject[]> {
    const listed: ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.limiter.run(() =>
        withRetry(async () => {
          try {
            return await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.key(prefix), MaxKeys: pageSize, ContinuationToken: token }));
          } catch (error) {
            throw describe(error, 'LIST', prefix || '/');
          }
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        listed.push({ name: object.Key.slice(this.location.prefix.length), size: object.Size ?? -1, etag: object.ETag });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token) throw new RemoteError(`LIST ${prefix || '/'}: the listing is truncated but gives no continuation token`, false);
    } while (token);
    return listed;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

export interface ListedObject {
  /** The key below the store's prefix. */
  readonly name: string;
  readonly size: number;
  readonly etag?: string;
}

/** The SDK's error as a RemoteError that keeps its retryability and says nothing about credentials. */
function describe(error: unknown, method: string, path: string): Error {
  if (error instanceof RemoteError) return error;
  const e = error as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const retryable = status !== undefined ? status >= 500 || status === 429 : ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'TimeoutError'].includes(e.code ?? e.name ?? '');
  const auth = status === 401 || status === 403 ? ' (check the AWS credentials in the environment)' : '';
  return new RemoteError(`${method} ${path}: ${e.name ?? 'error'}${status ? ` (HTTP ${status})` : ''}${auth}`, retryable, status);
}
