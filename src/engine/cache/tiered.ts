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
//
// Live sources' captures (captures.ts) travel the same way under `captures/{hex of the capture key}`:
// pushed after a capture (objects, then the record), pulled on a local miss with every object
// re-hashed. A different record already on the remote is never overwritten (it may be the only copy
// of what a teammate recorded); the push is refused, naming both digests.
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DIGEST_PREFIX, canonicalJson, digestBytes, shortDigest } from '../../sdk/hash.js';
import type { ActionResult, Store, StoredOutput } from '../store.js';
import { CaptureConflict, captureDigest, type CaptureRecord } from '../captures.js';
import { openRemote, type RemoteMode, type RemoteStore } from './remote.js';
import type { ProgressFn } from './transfer.js';
import { isDiskFull } from '../stopping.js';
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
  captures_pulled: number;
  captures_pushed: number;
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
  // Live sources' captures.
  /** The remote's capture for a key, its objects fetched into the local store (re-hashed); checked against what the step declares when given. */
  pullCapture(key: string, expected?: readonly ExpectedOutput[], onProgress?: ProgressFn): Promise<CapturePull>;
  /** A new capture: queue its upload (read-write mode). A different one on the remote is kept and warned about. Never throws. */
  recordCapture(record: CaptureRecord): void;
  /** Upload one capture now: 'present' when the remote holds this very record; CaptureConflict when it holds another. */
  pushCapture(record: CaptureRecord): Promise<'uploaded' | 'present'>;
}

export type CapturePull =
  | { readonly record: CaptureRecord }
  /** `problem`: the remote's capture failed a check (tampered, malformed); `unreachable`: the remote did not answer. */
  | { readonly record: undefined; readonly problem?: string; readonly unreachable?: string };

/** An object a step reads or writes: one file, or a tree whose listing names its files. */
export interface ObjectRef {
  readonly name: string;
  readonly kind: 'file' | 'tree';
  readonly digest: string;
  readonly bytes: number;
}

const NO_REMOTE = 'distributed execution needs a remote cache (--remote-cache URL, DAGRUN_REMOTE_CACHE or pipeline cache.remote)';
const NO_REMOTE_CAPTURES = 'sharing captures needs a remote cache (--remote-cache URL, DAGRUN_REMOTE_CACHE or pipeline cache.remote)';

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
  async pullCapture(): Promise<CapturePull> {
    return { record: undefined };
  }
  recordCapture(): void {}
  pushCapture(): Promise<'uploaded' | 'present'> {
    throw new Error(NO_REMOTE_CAPTURES);
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
    this.report = { remote: remote.shown, mode, hits: 0, misses: 0, rejected: 0, objects_fetched: 0, bytes_fetched: 0, objects_uploaded: 0, bytes_uploaded: 0, entries_uploaded: 0, captures_pulled: 0, captures_pushed: 0, problems: [] };
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
      // A full local disk is not the remote's failure: the build must stop, not build it again here.
      if (isDiskFull(error)) throw error;
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

  // ---------- captures ----------

  async pullCapture(key: string, expected?: readonly ExpectedOutput[], onProgress?: ProgressFn): Promise<CapturePull> {
    if (this.disabled) return { record: undefined, unreachable: `remote cache ${this.remote.shown} is not answering` };
    try {
      const bytes = await this.guard(() => this.remote.getCapture(hexOf(key)));
      if (!bytes) return { record: undefined };
      const record = parseCapture(bytes, key, expected);
      await this.fetchObjects(record, onProgress);
      this.report.captures_pulled += 1;
      return { record };
    } catch (error) {
      if (!(error instanceof Rejected)) return { record: undefined, unreachable: (error as Error).message };
      this.report.rejected += 1;
      const problem = `remote capture ${shortDigest(key)} rejected: ${error.message}`;
      this.warn(problem);
      return { record: undefined, problem };
    }
  }

  recordCapture(record: CaptureRecord): void {
    if (this.mode !== 'read-write' || this.disabled) return;
    this.pending.push(
      this.pushCapture(record).then(
        () => undefined,
        (error) => {
          if (error instanceof CaptureConflict) this.warn(error.message);
          else if (!this.disabled) this.warn(`upload of capture ${record.instance} ${shortDigest(record.key)} failed: ${(error as Error).message}`);
        },
      ),
    );
  }

  async pushCapture(record: CaptureRecord): Promise<'uploaded' | 'present'> {
    const hex = hexOf(record.key);
    const ours = captureDigest(record);
    const there = await this.guard(() => this.remote.getCapture(hex));
    if (there) {
      const theirs = digestOfRecordBytes(there);
      if (theirs === ours) return 'present';
      throw new CaptureConflict(record, `the remote cache ${this.remote.shown}`, theirs, ours);
    }
    const objects = await this.withTreeFiles(record.outputs);
    await Promise.all(objects.map((o) => this.uploadObject(o.digest, o.size)));
    // Only now the record: a reader that finds it finds every object it references.
    await this.guard(() => this.remote.putCapture(hex, Buffer.from(canonicalJson(record))));
    this.report.captures_pushed += 1;
    return 'uploaded';
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
      // Writing what was fetched failed on this machine's disk: nothing the remote did.
      if (isDiskFull(error)) throw error;
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
  const entry = parseRecord<ActionResult>(bytes, key, 'entry', expected);
  return entry;
}

/**
 * Parse and check a remote capture record: the key it answers and its outputs — exactly the ones the
 * step declares when known (a build), else each well-formed and below the output folder (`captures pull`).
 */
export function parseCapture(bytes: Buffer, key: string, expected?: readonly ExpectedOutput[]): CaptureRecord {
  const record = parseRecord<CaptureRecord>(bytes, key, 'capture', expected);
  if (typeof record.step !== 'string' || typeof record.instance !== 'string' || typeof record.captured_at !== 'string') throw new Rejected('the capture lacks its step, instance or time');
  if (!record.partition || typeof record.partition !== 'object' || !Object.values(record.partition).every((v) => typeof v === 'string')) throw new Rejected('the capture\'s partition is not a map of names to values');
  if (!Array.isArray(record.sources) || !record.params || typeof record.params !== 'object') throw new Rejected('the capture lacks its sources or params');
  return record;
}

function parseRecord<T extends { readonly key: string; readonly outputs: readonly StoredOutput[]; readonly metrics: unknown; readonly warnings: unknown }>(bytes: Buffer, key: string, what: 'entry' | 'capture', expected?: readonly ExpectedOutput[]): T {
  let entry: T;
  try {
    entry = JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new Rejected(`the ${what} is not JSON`);
  }
  if (!entry || typeof entry !== 'object' || !Array.isArray(entry.outputs)) throw new Rejected(`the ${what} is not ${what === 'entry' ? 'an action result' : 'a capture record'}`);
  if (entry.key !== key) throw new Rejected(`the ${what} answers another key (${typeof entry.key === 'string' ? shortDigest(entry.key) : 'none'})`);
  if (expected) {
    if (entry.outputs.length !== expected.length) throw new Rejected(`the ${what} lists ${entry.outputs.length} outputs, the step declares ${expected.length}`);
    for (const want of expected) {
      const got = entry.outputs.find((o: StoredOutput) => o && o.name === want.name);
      if (!got) throw new Rejected(`the ${what} lacks output ${want.name}`);
      if (got.path !== want.path || got.kind !== want.kind) throw new Rejected(`output ${want.name} is ${JSON.stringify(got.path)} (${got.kind}) in the ${what}, ${JSON.stringify(want.path)} (${want.kind}) in the step`);
    }
  }
  const names = new Set<string>();
  for (const got of entry.outputs) {
    if (!got || typeof got.name !== 'string' || names.has(got.name)) throw new Rejected(`the ${what} lists an output without a name, or one twice`);
    names.add(got.name);
    if (!isSafeRelativePath(got.path) || (got.kind !== 'file' && got.kind !== 'tree')) throw new Rejected(`output ${got.name} has an unsafe path ${JSON.stringify(got.path)} or an unknown kind`);
    if (typeof got.digest !== 'string' || !DIGEST.test(got.digest)) throw new Rejected(`output ${got.name} has a malformed digest`);
    if (typeof got.bytes !== 'number' || !Number.isSafeInteger(got.bytes) || got.bytes < 0) throw new Rejected(`output ${got.name} has a malformed size`);
  }
  if (typeof entry.metrics !== 'object' || entry.metrics === null || !Array.isArray(entry.warnings)) throw new Rejected(`the ${what} lacks metrics or warnings`);
  return entry;
}

/** A remote capture record's digest as data; bytes that are not a record are digested as they are (never equal to ours). */
function digestOfRecordBytes(bytes: Buffer): string {
  try {
    return captureDigest(JSON.parse(bytes.toString('utf8')) as CaptureRecord);
  } catch {
    return digestBytes(bytes);
  }
}
