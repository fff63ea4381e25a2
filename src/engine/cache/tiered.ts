// The build's cache: the local store first, a remote store second.
//
// Lookup: a local entry wins; on a local miss the remote's entry is fetched, checked against what the
// step declares, and every object it references is streamed into the local store and re-hashed first.
// A hash mismatch, a missing object or a malformed entry is a miss that is reported (never a failure,
// never materialised), so a poisoned or half-written remote costs a rebuild, not a wrong output.
//
// Upload (read-write mode, after a local build): objects first, then the action entry, so a reader
// that sees an entry finds its objects. A remote that stops answering is dropped for the rest of the
// build with one warning; the build goes on with the local store.
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DIGEST_PREFIX, canonicalJson, shortDigest } from '../../sdk/hash.js';
import type { ActionResult, Store, StoredOutput } from '../store.js';
import { openRemote, type RemoteMode, type RemoteStore } from './remote.js';
import type { ProgressFn } from './transfer.js';
import { isSafeRelativePath } from './paths.js';

export { isSafeRelativePath };

/** What the step declares: a remote entry must hold exactly these outputs. */
export interface ExpectedOutput {
  readonly name: string;
  readonly path: string;
  readonly kind: 'file' | 'tree';
}

export type Lookup =
  | { readonly action: ActionResult; readonly from: 'local' | 'remote' }
  | { readonly action: undefined; readonly problem?: string };

export interface CacheReport {
  readonly remote: string;
  readonly mode: RemoteMode;
  hits: number;
  misses: number;
  rejected: number;
  objects_fetched: number;
  bytes_fetched: number;
  objects_uploaded: number;
  bytes_uploaded: number;
  entries_uploaded: number;
  /** Problems met on the way (never credentials: messages name only paths under the remote). */
  problems: string[];
}

export interface Cache {
  readonly local: Store;
  lookup(key: string, expected: readonly ExpectedOutput[], options?: { dryRun?: boolean; onProgress?: ProgressFn }): Promise<Lookup>;
  /** A locally built result: queue its upload (read-write mode). Never throws. */
  record(action: ActionResult): void;
  /** Wait for queued uploads and close connections; the remote's report, if there is a remote. */
  finish(): Promise<CacheReport | undefined>;
  // Distributed execution (executors/): these three throw instead of warning, and need a remote.
  /** Make local objects (files, or trees with their files) available on the remote. */
  share(objects: readonly ObjectRef[]): Promise<void>;
  /** Stream objects (a tree with its files) from the remote into the local store, each re-hashed. */
  fetch(objects: readonly ObjectRef[]): Promise<void>;
  /** Upload a result now: objects, then its entry. */
  publish(action: ActionResult): Promise<void>;
}

/** An object a step reads or writes: one file, or a tree whose listing names its files. */
export interface ObjectRef {
  readonly name: string;
  readonly kind: 'file' | 'tree';
  readonly digest: string;
  readonly bytes: number;
}

const NO_REMOTE = 'distributed execution needs a remote cache (--remote-cache URL, DAGRUN_REMOTE_CACHE or pipeline cache.remote)';

export interface RemoteSettings {
  readonly url: string;
  readonly mode: RemoteMode;
  readonly concurrency?: number;
}

/** The local store alone, or local + remote. */
export async function openCache(local: Store, remote: RemoteSettings | undefined, onWarning: (message: string) => void): Promise<Cache> {
  if (!remote) return new LocalOnly(local);
  return new Tiered(local, await openRemote(remote.url, remote.concurrency ?? 8), remote.mode, onWarning);
}

class LocalOnly implements Cache {
  constructor(readonly local: Store) {}
  async lookup(key: string): Promise<Lookup> {
    const action = this.local.readAction(key);
    return action ? { action, from: 'local' } : { action: undefined };
  }
  record(): void {}
  async finish(): Promise<undefined> {
    return undefined;
  }
  share(): Promise<void> {
    throw new Error(NO_REMOTE);
  }
  fetch(): Promise<void> {
    throw new Error(NO_REMOTE);
  }
  publish(): Promise<void> {
    throw new Error(NO_REMOTE);
  }
}

/** A remote entry or object we refuse; the message says which and why. */
class Rejected extends Error {}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** Failed remote operations in a row before the remote is dropped for the rest of the build. */
const GIVE_UP_AFTER = 2;

class Tiered implements Cache {
  private readonly report: CacheReport;
  private readonly fetching = new Map<string, Promise<void>>();
  private readonly uploading = new Map<string, Promise<void>>();
  private readonly pending: Promise<void>[] = [];
  private failuresInARow = 0;
  private disabled = false;

  constructor(
    readonly local: Store,
    private readonly remote: RemoteStore,
    private readonly mode: RemoteMode,
    private readonly onWarning: (message: string) => void,
  ) {
    this.report = { remote: remote.shown, mode, hits: 0, misses: 0, rejected: 0, objects_fetched: 0, bytes_fetched: 0, objects_uploaded: 0, bytes_uploaded: 0, entries_uploaded: 0, problems: [] };
  }

  async lookup(key: string, expected: readonly ExpectedOutput[], options: { dryRun?: boolean; onProgress?: ProgressFn } = {}): Promise<Lookup> {
    const action = this.local.readAction(key);
    if (action) return { action, from: 'local' };
    if (this.disabled) return { action: undefined };
    try {
      const bytes = await this.guard(() => this.remote.getAction(hexOf(key)));
      if (!bytes) {
        this.report.misses += 1;
        return { action: undefined };
      }
      const entry = parseEntry(bytes, key, expected);
      if (!options.dryRun) {
        await this.fetchObjects(entry, options.onProgress);
        await this.local.writeAction(entry);
      }
      this.report.hits += 1;
      return { action: entry, from: 'remote' };
    } catch (error) {
      if (error instanceof Rejected) {
        this.report.rejected += 1;
        const problem = `remote cache entry ${shortDigest(key)} rejected: ${error.message}`;
        this.warn(problem);
        return { action: undefined, problem };
      }
      // The remote failing is a miss too: the build goes on with what it has locally.
      this.report.misses += 1;
      return { action: undefined };
    }
  }

  record(action: ActionResult): void {
    if (this.mode !== 'read-write' || this.disabled) return;
    this.pending.push(
      this.upload(action).catch((error) => {
        if (!(error instanceof Rejected) && !this.disabled) this.warn(`upload of ${action.step} ${shortDigest(action.key)} failed: ${(error as Error).message}`);
      }),
    );
  }

  private finished: Promise<CacheReport> | undefined;

  finish(): Promise<CacheReport> {
    this.finished ??= (async () => {
      await Promise.all(this.pending);
      await this.remote.close();
      return this.report;
    })();
    return this.finished;
  }

  async share(objects: readonly ObjectRef[]): Promise<void> {
    await Promise.all((await this.withTreeFiles(objects)).map((o) => this.uploadObject(o.digest, o.size)));
  }

  async fetch(objects: readonly ObjectRef[]): Promise<void> {
    try {
      await this.fetchObjects({ outputs: objects });
    } catch (error) {
      if (error instanceof Rejected) this.report.rejected += 1;
      throw error;
    }
  }

  async publish(action: ActionResult): Promise<void> {
    await this.upload(action);
  }

  // ---------- fetching ----------

  private async fetchObjects(entry: { readonly outputs: readonly ObjectRef[] }, onProgress?: ProgressFn): Promise<void> {
    await Promise.all(
      entry.outputs.map(async (output) => {
        await this.fetchObject(output.digest, output.kind === 'file' ? output.bytes : undefined, onProgress);
        if (output.kind !== 'tree') return;
        let files;
        try {
          files = await this.local.readTree(output.digest);
        } catch {
          throw new Rejected(`tree object ${shortDigest(output.digest)} of output ${output.name} is not a tree`);
        }
        for (const file of files) {
          if (!isSafeRelativePath(file.path)) throw new Rejected(`tree ${shortDigest(output.digest)} names an unsafe path ${JSON.stringify(file.path)}`);
          if (!DIGEST.test(file.digest)) throw new Rejected(`tree ${shortDigest(output.digest)} holds a malformed digest for ${JSON.stringify(file.path)}`);
        }
        await Promise.all(files.map((file) => this.fetchObject(file.digest, file.size, onProgress)));
      }),
    );
  }

  /** Stream one object into the local store, re-hashed before it is moved in. */
  private fetchObject(digest: string, expectedSize: number | undefined, onProgress?: ProgressFn): Promise<void> {
    const target = this.local.objectPath(digest);
    if (existsSync(target)) return Promise.resolve();
    let promise = this.fetching.get(digest);
    if (!promise) {
      promise = (async () => {
        const temp = join(this.local.tmpDir, 'remote', `${hexOf(digest)}.${process.pid}.${Math.random().toString(36).slice(2)}`);
        await mkdir(dirname(temp), { recursive: true });
        const got = await this.guard(() => this.remote.getObject(hexOf(digest), temp, onProgress));
        if (!got) throw new Rejected(`object ${shortDigest(digest)} is missing from the remote`);
        if (got.digest !== digest || (expectedSize !== undefined && got.size !== expectedSize)) {
          await rm(temp, { force: true });
          throw new Rejected(`object ${shortDigest(digest)} hashes to ${shortDigest(got.digest)} (${got.size} bytes): corrupt or tampered, not used`);
        }
        await mkdir(dirname(target), { recursive: true });
        await rename(temp, target);
        this.report.objects_fetched += 1;
        this.report.bytes_fetched += got.size;
      })();
      this.fetching.set(digest, promise);
      promise.catch(() => this.fetching.delete(digest));
    }
    return promise;
  }

  // ---------- uploading ----------

  private async upload(action: ActionResult): Promise<void> {
    const objects = await this.withTreeFiles(action.outputs);
    await Promise.all(objects.map((o) => this.uploadObject(o.digest, o.size)));
    // Only now the entry: a reader that finds it finds everything it references.
    const bytes = Buffer.from(canonicalJson(action));
    await this.guard(() => this.remote.putAction(hexOf(action.key), bytes));
    this.report.entries_uploaded += 1;
  }

  /** Every object behind some outputs: a tree's files before the tree itself. */
  private async withTreeFiles(outputs: readonly ObjectRef[]): Promise<{ digest: string; size: number }[]> {
    const objects: { digest: string; size: number }[] = [];
    for (const output of outputs) {
      if (output.kind === 'tree') {
        for (const file of await this.local.readTree(output.digest)) objects.push({ digest: file.digest, size: file.size });
        objects.push({ digest: output.digest, size: (await stat(this.local.objectPath(output.digest))).size });
      } else objects.push({ digest: output.digest, size: output.bytes });
    }
    return objects;
  }

  private uploadObject(digest: string, size: number): Promise<void> {
    let promise = this.uploading.get(digest);
    if (!promise) {
      promise = (async () => {
        if (await this.guard(() => this.remote.hasObject(hexOf(digest)))) return;
        await this.guard(() => this.remote.putObject(hexOf(digest), this.local.objectPath(digest), size));
        this.report.objects_uploaded += 1;
        this.report.bytes_uploaded += size;
      })();
      this.uploading.set(digest, promise);
      promise.catch(() => this.uploading.delete(digest));
    }
    return promise;
  }

  // ---------- failures ----------

  /** Run a remote operation; after GIVE_UP_AFTER failures in a row the remote is dropped for this build. */
  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    if (this.disabled) throw new Error('remote cache disabled for this build');
    try {
      const result = await operation();
      this.failuresInARow = 0;
      return result;
    } catch (error) {
      this.failuresInARow += 1;
      this.report.problems.push((error as Error).message);
      if (this.failuresInARow >= GIVE_UP_AFTER && !this.disabled) {
        this.disabled = true;
        this.warn(`remote cache ${this.remote.shown} is not answering (${(error as Error).message}); continuing with the local cache only`);
      }
      throw error;
    }
  }

  private warn(message: string): void {
    if (!this.report.problems.includes(message)) this.report.problems.push(message);
    this.onWarning(message);
  }
}

function hexOf(digest: string): string {
  return digest.slice(DIGEST_PREFIX.length);
}

/** Parse and check a remote action entry: the key it answers, and exactly the outputs the step declares. */
export function parseEntry(bytes: Buffer, key: string, expected: readonly ExpectedOutput[]): ActionResult {
  let entry: ActionResult;
  try {
    entry = JSON.parse(bytes.toString('utf8')) as ActionResult;
  } catch {
    throw new Rejected('the entry is not JSON');
  }
  if (!entry || typeof entry !== 'object' || !Array.isArray(entry.outputs)) throw new Rejected('the entry is not an action result');
  if (entry.key !== key) throw new Rejected(`the entry answers another key (${typeof entry.key === 'string' ? shortDigest(entry.key) : 'none'})`);
  if (entry.outputs.length !== expected.length) throw new Rejected(`the entry lists ${entry.outputs.length} outputs, the step declares ${expected.length}`);
  for (const want of expected) {
    const got = entry.outputs.find((o: StoredOutput) => o && o.name === want.name);
    if (!got) throw new Rejected(`the entry lacks output ${want.name}`);
    if (got.path !== want.path || got.kind !== want.kind) throw new Rejected(`output ${want.name} is ${JSON.stringify(got.path)} (${got.kind}) in the entry, ${JSON.stringify(want.path)} (${want.kind}) in the step`);
    if (typeof got.digest !== 'string' || !DIGEST.test(got.digest)) throw new Rejected(`output ${want.name} has a malformed digest`);
    if (typeof got.bytes !== 'number' || !Number.isSafeInteger(got.bytes) || got.bytes < 0) throw new Rejected(`output ${want.name} has a malformed size`);
  }
  if (typeof entry.metrics !== 'object' || entry.metrics === null || !Array.isArray(entry.warnings)) throw new Rejected('the entry lacks metrics or warnings');
  return entry;
}
