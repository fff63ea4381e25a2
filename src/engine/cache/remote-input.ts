// s3:// and http(s):// inputs of ordinary (non-source) steps: the engine fetches a local copy, so
// DuckDB and kernels read a plain file (httpfs cannot be installed offline).
//
// The input's digest is its store identity where the store offers one — ETag + size (+ version) —
// else its content. A HEAD per build finds out whether it changed; the content is downloaded only when
// the identity is new to this cache (remote-inputs.json maps identity → content digest), and every
// download is re-hashed into the content-addressed store like any other object. An s3:// glob is listed
// (ListObjectsV2, every page) and digested as a `file:` glob is: each key with its identity.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../sdk/atomic-write.js';
import { UserError } from '../../sdk/errors.js';
import { DIGEST_PREFIX, digestBytes, digestJson } from '../../sdk/hash.js';
import type { Store } from '../store.js';
import { openBlobs, type BlobStore } from './blobs.js';
import { globMatcher, globPrefix } from '../templates.js';
import { isDigest, treeBytes } from '../store.js';
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
 * expandTemplate before fetching, as for file: inputs; globs are isRemoteGlob's (s3:// only).
 */
export function isFetchableUri(location: string): boolean {
  return /^(s3|https?):\/\/[^/{}]+\/[^?#*[\]]*[^/?#*[\]]$/i.test(location);
}

/**
 * An s3:// glob: `s3://bucket/raw/{yyyy}/{mm}/{dd}/*.parquet` (partition placeholders filled first).
 * Only S3 can list; an http(s):// glob is refused when the pipeline loads (pipeline.ts).
 */
export function isRemoteGlob(location: string): boolean {
  return /^s3:\/\/[^/{}*?[\]]+\/[^?#]*[*?[][^?#]*$/i.test(location) && !location.endsWith('/');
}

/** Per cache folder: identity digest → content digest, so an unchanged ETag costs a HEAD only. */
export const remoteInputsFile = (store: Pick<Store, 'root'>): string => join(store.root, 'remote-inputs.json');
const memoFile = remoteInputsFile;

/**
 * What is wrong with remote-inputs.json's text, for `dagrun verify`: it must be a map of digests to
 * digests. A content object that is gone is no problem (gc removes them; it is downloaded again); one
 * that is corrupt is.
 */
export function remoteInputsProblem(text: string, corrupt: (digest: string) => boolean): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `does not parse (${(error as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  const entries = Object.entries(value);
  const bad = entries.filter(([identity, content]) => !isDigest(identity) || !isDigest(content)).length;
  if (bad > 0) return `${bad} of ${entries.length} entries are not digest → digest`;
  const broken = entries.find(([, content]) => corrupt(content as string));
  return broken ? `records object ${broken[1] as string} for a remote input, which is corrupt` : undefined;
}

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
    const identity = identityOf(shown, head);
    const memo = readMemo(store);
    const content = await fetchContent(store, blobs, name, identity, memo, `input "${inputName}": ${shown}`);
    if (identity) await writeFileAtomic(memoFile(store), JSON.stringify(memo));
    return { file: await localCopy(store, content, decodeURIComponent(name)), digest: identity ?? content, bytes: head.size >= 0 ? head.size : 0, identity: identity ? 'etag' : 'content' };
  } finally {
    await blobs.close();
  }
}

export interface FetchedGlob {
  /** The local copies, in key order. */
  readonly files: string[];
  /** The listing's digest: each matching key with its identity (ETag + size) and size, as a `file:` glob's tree. */
  readonly digest: string;
  readonly bytes: number;
}

/**
 * Every object an s3:// glob matches, listed (all pages), in key order, each fetched like a single
 * input (ETag identity, content re-hashed into the store; an unchanged object is not downloaded again).
 * No match: an error naming the URI, or nothing when the input is optional.
 */
export async function fetchRemoteGlob(store: Store, location: string, inputName: string, optional: boolean, pageSize?: number): Promise<FetchedGlob> {
  const shown = decodeURI(redactUrl(location));
  // The AWS SDK is loaded only when S3 is used.
  const { S3Blobs, parseS3Url } = await import('./s3.js');
  const { bucket, prefix: pattern } = parseS3Url(location);
  const key = pattern.replace(/\/$/, '');
  const blobs = new S3Blobs(`s3://${bucket}`, 8);
  try {
    let listed;
    try {
      listed = await blobs.list(globPrefix(key), pageSize);
    } catch (error) {
      throw new UserError('NETWORK', `input "${inputName}": ${shown} could not be listed (${(error as Error).message})`);
    }
    const matches = globMatcher(key);
    // Key order by bytes, as S3 lists: the same on every machine whatever the locale.
    const found = listed.filter((o) => !o.name.endsWith('/') && matches(o.name)).sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    if (found.length === 0) {
      if (optional) return { files: [], digest: digestBytes(treeBytes([])), bytes: 0 };
      throw new UserError('BAD_INPUT', `input "${inputName}": ${shown} matches no object; add one, or mark the input \`optional: true\``);
    }
    const memo = readMemo(store);
    const fetched = await Promise.all(
      found.map(async (object) => {
        const identity = identityOf(`s3://${bucket}/${object.name}`, object);
        const content = await fetchContent(store, blobs, object.name, identity, memo, `input "${inputName}": s3://${bucket}/${object.name}`);
        return { object, identity: identity ?? content, content };
      }),
    );
    await writeFileAtomic(memoFile(store), JSON.stringify(memo));
    const files: string[] = [];
    for (const { object, content } of fetched) files.push(await localCopy(store, content, object.name));
    const entries = fetched.map(({ object, identity }) => ({ path: object.name, digest: identity, size: object.size }));
    return { files, digest: digestBytes(treeBytes(entries)), bytes: entries.reduce((sum, e) => sum + Math.max(e.size, 0), 0) };
  } finally {
    await blobs.close();
  }
}

/** A store's identity for an object (where it offers a content tag), undefined when the content must decide. */
function identityOf(shown: string, head: { readonly size: number; readonly etag?: string; readonly version?: string }): string | undefined {
  return head.etag ? digestJson({ location: shown, etag: head.etag, size: head.size, version: head.version ?? null }) : undefined;
}

/** The object's content digest: from the memo when its identity was seen and the object is still here, else downloaded (re-hashed into the store). */
async function fetchContent(store: Store, blobs: BlobStore, name: string, identity: string | undefined, memo: Record<string, string>, what: string): Promise<string> {
  const known = identity ? memo[identity] : undefined;
  if (known && existsSync(store.objectPath(known))) return known;
  const temp = join(store.tmpDir, 'remote-inputs', `${process.pid}.${Math.random().toString(36).slice(2)}`);
  await mkdir(dirname(temp), { recursive: true });
  const got = await blobs.download(name, temp);
  if (!got) throw new UserError('BAD_INPUT', `${what} vanished while it was fetched`);
  const target = store.objectPath(got.digest);
  await mkdir(dirname(target), { recursive: true });
  if (existsSync(target)) await rm(temp, { force: true });
  else await rename(temp, target);
  if (identity) memo[identity] = got.digest;
  return got.digest;
}

/** A private copy per build (the store's object stays read-only), re-hashed by materializeFile; its file name keeps the remote one's. */
async function localCopy(store: Store, content: string, remoteName: string): Promise<string> {
  const base = basename(remoteName);
  const file = join(store.tmpDir, 'inputs', content.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 16), base === '' || base === '.' || base === '..' ? 'object' : base);
  await store.materializeFile(content, file);
  return file;
}

/** The records, untrusted: only well-formed entries are kept (the file is a cache; a damaged one costs downloads). */
function readMemo(store: Store): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(memoFile(store), 'utf8'));
  } catch {
    return {};
  }
  const memo: Record<string, string> = {};
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [identity, content] of Object.entries(value)) if (isDigest(identity) && isDigest(content)) memo[identity] = content;
  }
  return memo;
}
