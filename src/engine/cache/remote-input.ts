// s3:// and http(s):// inputs of ordinary (non-source) steps: the engine fetches a local copy, so
// DuckDB and kernels read a plain file (httpfs cannot be installed offline).
//
// The input's digest is its store identity where the store offers one — ETag + size (+ version) —
// else its content. A HEAD per build finds out whether it changed; the content is downloaded only when
// the identity is new to this cache (remote-inputs.json maps identity → content digest), and every
// download is re-hashed into the content-addressed store like any other object.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../sdk/atomic-write.js';
import { UserError } from '../../sdk/errors.js';
import { DIGEST_PREFIX, digestJson } from '../../sdk/hash.js';
import type { Store } from '../store.js';
import { openBlobs } from './blobs.js';
import { redactUrl } from './transfer.js';

export interface FetchedInput {
  /** The local copy the step reads (its file name keeps the remote one's extension). */
  readonly file: string;
  /** What enters the action key. */
  readonly digest: string;
  readonly bytes: number;
  /** How the digest was made. */
  readonly identity: 'etag' | 'content';
}

/**
 * An s3:// or http(s):// file the engine can fetch: a bucket/host and an object name. Partition
 * placeholders (`{date}`, `{yyyy}/{mm}/{dd}`) are allowed — the instance fills them with
 * expandTemplate before fetching, as for file: inputs; globs are not (listing is not fetching).
 */
export function isFetchableUri(location: string): boolean {
  return /^(s3|https?):\/\/[^/{}]+\/[^?#*[\]]*[^/?#*[\]]$/i.test(location);
}

/** Per cache folder: identity digest → content digest, so an unchanged ETag costs a HEAD only. */
const memoFile = (store: Store): string => join(store.root, 'remote-inputs.json');

export async function fetchRemoteInput(store: Store, location: string, inputName: string): Promise<FetchedInput> {
  const shown = redactUrl(location);
  const cut = location.lastIndexOf('/');
  const name = location.slice(cut + 1);
  const blobs = await openBlobs(location.slice(0, cut), 4);
  try {
    let head;
    try {
      head = await blobs.head(name);
    } catch (error) {
      throw new UserError('NETWORK', `input "${inputName}": ${shown} could not be reached (${(error as Error).message})`);
    }
    if (!head) throw new UserError('BAD_INPUT', `input "${inputName}": ${shown} does not exist`);
    const identity = head.etag ? digestJson({ location: shown, etag: head.etag, size: head.size, version: head.version ?? null }) : undefined;
    const memo = readMemo(store);
    let content = identity ? memo[identity] : undefined;
    if (!content || !existsSync(store.objectPath(content))) {
      const temp = join(store.tmpDir, 'remote-inputs', `${process.pid}.${Math.random().toString(36).slice(2)}`);
      await mkdir(dirname(temp), { recursive: true });
      const got = await blobs.download(name, temp);
      if (!got) throw new UserError('BAD_INPUT', `input "${inputName}": ${shown} vanished while it was fetched`);
      const target = store.objectPath(got.digest);
      await mkdir(dirname(target), { recursive: true });
      if (existsSync(target)) await rm(temp, { force: true });
      else await rename(temp, target);
      content = got.digest;
      if (identity) {
        memo[identity] = content;
        await writeFileAtomic(memoFile(store), JSON.stringify(memo));
      }
    }
    // A private copy per build (the store's object stays read-only), re-hashed by materializeFile.
    const file = join(store.tmpDir, 'inputs', content.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 16), basename(decodeURIComponent(name)));
    await store.materializeFile(content, file);
    return { file, digest: identity ?? content, bytes: head.size >= 0 ? head.size : 0, identity: identity ? 'etag' : 'content' };
  } finally {
    await blobs.close();
  }
}

function readMemo(store: Store): Record<string, string> {
  try {
    return JSON.parse(readFileSync(memoFile(store), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}
