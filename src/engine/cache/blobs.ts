// Named blobs below a base location: an HTTP(S) server that takes PUT, an S3 bucket prefix, or a
// local folder. The remote cache (remote.ts) and published releases (release.ts) are both layouts on
// top of this one interface, so each protocol is written once.
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../sdk/atomic-write.js';
import { isSafeRelativePath } from './paths.js';
import { streamToFile, type ProgressFn } from './transfer.js';

export interface BlobStore {
  /** The location without credentials or query string: the only form ever shown or recorded. */
  readonly shown: string;
  /** A small blob's bytes (refused past `maxBytes`), or undefined when there is none. */
  getBytes(path: string, maxBytes: number): Promise<Buffer | undefined>;
  putBytes(path: string, bytes: Buffer): Promise<void>;
  has(path: string): Promise<boolean>;
  /** Size and, where the store offers them, its content tag (ETag) and version; undefined when absent. */
  head(path: string): Promise<BlobHead | undefined>;
  /** Stream the blob into `target`; what was written (SHA-256 digest, size), or undefined when absent. */
  download(path: string, target: string, onProgress?: ProgressFn): Promise<{ digest: string; size: number } | undefined>;
  /** Stream the file at `source` (of `size` bytes) up as the blob. */
  upload(path: string, source: string, size: number): Promise<void>;
  close(): Promise<void>;
}

export interface BlobHead {
  readonly size: number;
  readonly etag?: string;
  readonly version?: string;
}

/** http(s)://…, s3://bucket/prefix, file:///dir or a plain folder path. */
export async function openBlobs(location: string, concurrency = 8): Promise<BlobStore> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') {
    const { HttpBlobs } = await import('./http.js');
    return new HttpBlobs(location, concurrency);
  }
  if (scheme === 's3') {
    // The AWS SDK is loaded only when S3 is used.
    const { S3Blobs } = await import('./s3.js');
    return new S3Blobs(location, concurrency);
  }
  if (scheme === 'file') return new FolderBlobs(fileURLToPath(location));
  if (scheme === undefined) return new FolderBlobs(resolve(location));
  throw new Error(`unsupported location scheme "${scheme}://" (use http://, https://, s3:// or a folder)`);
}

/** A local folder; every write is temp + rename, so a reader never sees half a blob. */
export class FolderBlobs implements BlobStore {
  readonly shown: string;
  constructor(private readonly root: string) {
    this.shown = relative(process.cwd(), root) || '.';
  }
  private path(path: string): string {
    if (!isSafeRelativePath(path)) throw new Error(`unsafe blob path ${JSON.stringify(path)}`);
    return join(this.root, ...path.split('/'));
  }
  async getBytes(path: string, maxBytes: number): Promise<Buffer | undefined> {
    const file = this.path(path);
    if (!existsSync(file)) return undefined;
    if ((await stat(file)).size > maxBytes) throw new Error(`${path} is more than the ${maxBytes} bytes it can be`);
    return readFile(file);
  }
  async putBytes(path: string, bytes: Buffer): Promise<void> {
    await writeFileAtomic(this.path(path), bytes);
  }
  async has(path: string): Promise<boolean> {
    return existsSync(this.path(path));
  }
  async head(path: string): Promise<BlobHead | undefined> {
    const file = this.path(path);
    return existsSync(file) ? { size: (await stat(file)).size } : undefined;
  }
  async download(path: string, target: string, onProgress?: ProgressFn): Promise<{ digest: string; size: number } | undefined> {
    const file = this.path(path);
    if (!existsSync(file)) return undefined;
    return streamToFile(createReadStream(file), target, (await stat(file)).size, onProgress);
  }
  async upload(path: string, source: string): Promise<void> {
    const file = this.path(path);
    await mkdir(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      await copyFile(source, temp);
      await rename(temp, file);
    } finally {
      await rm(temp, { force: true });
    }
  }
  async close(): Promise<void> {}
}
