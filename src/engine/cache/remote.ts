// The second cache level: a remote store in the Bazel remote-cache layout over any BlobStore — HTTP
// (bazel-remote, nginx with WebDAV) or S3. Integrity, upload order and fallbacks are in tiered.ts.
//
//   {base}/ac/{hex of the action key}   the action entry (our ActionResult as canonical JSON)
//   {base}/cas/{hex of the sha256}      one object (a file's bytes, or a tree listing)
//   {base}/captures/{hex of the key}    a live source's durable capture record (captures.ts): not Bazel's,
//                                       kept apart from ac/ because it is keyed by what was captured, not by code
import { openBlobs, type BlobStore } from './blobs.js';
import type { ProgressFn } from './transfer.js';

export type RemoteMode = 'read' | 'read-write';

export interface RemoteStore {
  /** The URL without credentials or query string: the only form that is ever shown or recorded. */
  readonly shown: string;
  /** The action entry's bytes, or undefined when there is none. */
  getAction(hex: string): Promise<Buffer | undefined>;
  putAction(hex: string, bytes: Buffer): Promise<void>;
  getCapture(hex: string): Promise<Buffer | undefined>;
  putCapture(hex: string, bytes: Buffer): Promise<void>;
  hasObject(hex: string): Promise<boolean>;
  /** Stream the object into `target`; returns what was written (digest, size), or undefined when absent. */
  getObject(hex: string, target: string, onProgress?: ProgressFn): Promise<{ digest: string; size: number } | undefined>;
  /** Stream the file at `source` (of `size` bytes) up as the object. */
  putObject(hex: string, source: string, size: number): Promise<void>;
  close(): Promise<void>;
}

/** Action entries are small; anything bigger is not ours and is refused unread. */
export const MAX_ACTION_BYTES = 16 * 1024 * 1024;

/** The Bazel layout on a blob store. */
export class BazelLayout implements RemoteStore {
  readonly shown: string;
  constructor(private readonly blobs: BlobStore) {
    this.shown = blobs.shown;
  }
  getAction(hex: string): Promise<Buffer | undefined> {
    return this.blobs.getBytes(`ac/${hex}`, MAX_ACTION_BYTES);
  }
  putAction(hex: string, bytes: Buffer): Promise<void> {
    return this.blobs.putBytes(`ac/${hex}`, bytes);
  }
  getCapture(hex: string): Promise<Buffer | undefined> {
    return this.blobs.getBytes(`captures/${hex}`, MAX_ACTION_BYTES);
  }
  putCapture(hex: string, bytes: Buffer): Promise<void> {
    return this.blobs.putBytes(`captures/${hex}`, bytes);
  }
  hasObject(hex: string): Promise<boolean> {
    return this.blobs.has(`cas/${hex}`);
  }
  getObject(hex: string, target: string, onProgress?: ProgressFn): Promise<{ digest: string; size: number } | undefined> {
    return this.blobs.download(`cas/${hex}`, target, onProgress);
  }
  putObject(hex: string, source: string, size: number): Promise<void> {
    return this.blobs.upload(`cas/${hex}`, source, size);
  }
  close(): Promise<void> {
    return this.blobs.close();
  }
}

/** Open the remote cache a URL names: http(s)://host/base or s3://bucket/prefix. */
export async function openRemote(url: string, concurrency = 8): Promise<RemoteStore> {
  if (!/^(https?|s3):\/\//i.test(url)) throw new Error(`unsupported remote cache URL "${url.split(':')[0]}:" (use http://, https:// or s3://)`);
  return new BazelLayout(await openBlobs(url, concurrency));
}
