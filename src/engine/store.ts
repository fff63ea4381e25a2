// The cache folder: content-addressed objects, action results, a stat cache, run manifests and a lock.
//
//   cache/objects/ab/<hex>   file contents by SHA-256 digest (directory outputs: a tree object listing files)
//   cache/actions/<hex>.json action key → output digests (a source step's result is a capture: captures.ts)
//   cache/runs/<run>.json    lineage manifests
//   cache/stat.json          (path, size, mtime, inode) → digest, so a no-op build reads no content
//   cache/lock               held by the build that writes (lock.ts)
//   cache/tmp/               scratch for running steps
//
// Every write goes through atomic-write.ts (temp name + rename), so a crash leaves either the old or the new file, never half of one.
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { copyFile, lstat, mkdir, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { constants as fsConstants, type BigIntStats, type Dirent } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { isSafeRelativePath, walkFiles, WalkProblem } from './tree-walk.js';
import { DIGEST_PREFIX, canonicalJson, digestBytes, digestFile } from '../sdk/hash.js';
import { replaceFile } from '../sdk/atomic-write.js';
import { acquireLock } from './lock.js';
import { StatCache } from './stat-cache.js';
import { treeFingerprint, type TreeFingerprint } from './tree-fingerprint.js';

export { findListing } from './tree-fingerprint.js';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';

export interface TreeEntry {
  readonly path: string;
  readonly digest: string;
  readonly size: number;
}

export interface StoredOutput {
  readonly name: string;
  /** Output root–relative path. */
  readonly path: string;
  readonly kind: 'file' | 'tree';
  readonly digest: string;
  readonly bytes: number;
  readonly rows?: number;
  readonly files?: number;
}

export interface ActionResult {
  readonly key: string;
  readonly step: string;
  readonly partition: Record<string, string>;
  readonly outputs: readonly StoredOutput[];
  readonly metrics: Record<string, number | string>;
  readonly warnings: readonly string[];
  readonly source: boolean;
  readonly run_id: string;
}

/**
 * The writes that put bytes on disk (store objects, entries, manifests, out/ copies), injectable so a
 * test can make the disk fill up halfway through a build.
 */
export interface StoreIO {
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  copyFile(source: string, target: string, mode?: number): Promise<void>;
}

export const nodeIO: StoreIO = { writeFile: (path, data) => writeFile(path, data), copyFile };

export class Store {
  readonly objectsDir: string;
  readonly actionsDir: string;
  readonly runsDir: string;
  readonly tmpDir: string;
  /** Loaded shard by shard on first use, i.e. after a build has taken the lock. */
  private readonly stats: StatCache;

  constructor(
    readonly root: string,
    readonly io: StoreIO = nodeIO,
  ) {
    this.objectsDir = join(root, 'objects');
    this.actionsDir = join(root, 'actions');
    this.runsDir = join(root, 'runs');
    this.tmpDir = join(root, 'tmp');
    this.stats = new StatCache(join(root, 'stat'));
    mkdirSync(this.objectsDir, { recursive: true });
    mkdirSync(this.actionsDir, { recursive: true });
    mkdirSync(this.runsDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
  }

  objectPath(digest: string): string {
    const hex = digest.slice(DIGEST_PREFIX.length);
    return join(this.objectsDir, hex.slice(0, 2), hex.slice(2));
  }

  // ---------- stat cache ----------

  async saveStatCache(): Promise<void> {
    await this.stats.save();
  }

  /** Write a whole file atomically through this store's IO (temp name + rename). */
  writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
    return replaceFile(path, (temp) => this.io.writeFile(temp, data));
  }

  private remember(path: string, info: BigIntStats, digest: string): void {
    this.stats.set(path, { size: Number(info.size), mtimeNs: String(info.mtimeNs), ctimeNs: String(info.ctimeNs), ino: String(info.ino), digest });
  }

  /** The stat cache's digest for a file whose size, mtime and inode are unchanged; undefined otherwise. */
  knownDigest(path: string, info: BigIntStats): { digest: string; size: number } | undefined {
    const known = this.stats.get(path);
    if (known && known.size === Number(info.size) && known.mtimeNs === String(info.mtimeNs) && known.ctimeNs === String(info.ctimeNs) && known.ino === String(info.ino)) {
      return { digest: known.digest, size: known.size };
    }
    return undefined;
  }

  /**
   * Digest of a file, from the stat cache when size, mtime and inode are unchanged (no read).
   * Concurrent requests for one path share one read: instances resolve inputs concurrently, before
   * the stat cache holds the file.
   */
  digestOf(path: string, info?: BigIntStats): Promise<{ digest: string; size: number }> {
    // The no-op path: the caller already has the stat and the cache knows it.
    const known = info && this.knownDigest(path, info);
    if (known) return Promise.resolve(known);
    let pending = this.digestsInFlight.get(path);
    if (!pending) {
      pending = (async () => {
        const current = info ?? (await stat(path, { bigint: true }));
        const known = this.knownDigest(path, current);
        if (known) return known;
        const result = await digestFile(path);
        this.remember(path, current, result.digest);
        return result;
      })().finally(() => this.digestsInFlight.delete(path));
      this.digestsInFlight.set(path, pending);
    }
    return pending;
  }

  /** Objects whose bytes this Store hashed itself (ingested, or checked once when copied out). */
  private readonly verified = new Set<string>();
  private readonly digestsInFlight = new Map<string, Promise<{ digest: string; size: number }>>();
  private readonly treesSeen = new Map<string, Promise<{ digest: string; size: number; files: number }>>();
  private readonly treeFingerprints = new Map<string, TreeFingerprint>();

  /** The stat fingerprint this Store took of a directory input (settled.ts watches it); undefined when it took none. */
  inputTreeFingerprint(dir: string): TreeFingerprint | undefined {
    return this.treeFingerprints.get(dir);
  }

  /**
   * Digest of a directory input, walked once per Store (one build): every instance that reads the
   * same folder shares the walk, and the build sees one snapshot of it. When the fingerprint of every
   * file's stat matches the last build's, the tree digest is reused without consulting per-file
   * entries (a no-op over 100,000 files is one readdir and one stat per file, like `git status`).
   */
  digestInputTree(dir: string): Promise<{ digest: string; size: number; files: number }> {
    let seen = this.treesSeen.get(dir);
    if (!seen) {
      seen = this.digestTreeFingerprinted(dir);
      this.treesSeen.set(dir, seen);
      seen.catch(() => this.treesSeen.delete(dir));
    }
    return seen;
  }

  private async digestTreeFingerprinted(dir: string): Promise<{ digest: string; size: number; files: number }> {
    const taken = treeFingerprint(dir);
    const { fingerprint, files } = taken;
    this.treeFingerprints.set(dir, taken);
    const known = this.stats.tree(dir);
    if (known && known.fingerprint === fingerprint && (files === undefined || known.files === files.length)) return { digest: known.digest, size: known.size, files: known.files };
    const tree = await this.digestTree(dir, files);
    this.stats.setTree(dir, { fingerprint, digest: tree.digest, size: tree.size, files: tree.entries.length });
    return { digest: tree.digest, size: tree.size, files: tree.entries.length };
  }

  /** Digest of a directory: a tree of (relative path, digest, size), itself digested canonically. */
  async digestTree(dir: string, listed?: readonly string[]): Promise<{ digest: string; size: number; entries: TreeEntry[] }> {
    const entries: TreeEntry[] = [];
    // Synchronous walk and stat: for thousands of small files this is several times faster than
    // awaiting one promise per file.
    for (const file of listed ?? listFilesSync(dir)) {
      const path = join(dir, file);
      const info = statSync(path, { bigint: true });
      const { digest, size } = this.knownDigest(path, info) ?? (await this.digestOf(path, info));
      entries.push({ path: file, digest, size });
    }
    const tree = treeBytes(entries);
    return { digest: digestBytes(tree), size: entries.reduce((sum, e) => sum + e.size, 0), entries };
  }

  // ---------- objects ----------

  /**
   * Move a file the step wrote into the store (it is consumed). Only a regular file the step created
   * is moved: a link is refused (WalkProblem), and a file with other hard links (the step linked
   * someone's file in) is copied and the copy verified, so the store never shares an inode with a
   * file it does not own.
   */
  async ingestFile(path: string): Promise<{ digest: string; size: number }> {
    const info = await lstat(path);
    if (info.isSymbolicLink()) throw new WalkProblem('link', '.');
    if (!info.isFile()) throw new WalkProblem('not-a-file', '.');
    const { digest, size } = await digestFile(path);
    this.verified.add(digest);
    const target = this.objectPath(digest);
    if (existsSync(target)) {
      await unlink(path);
    } else {
      await mkdir(dirname(target), { recursive: true });
      if (info.nlink > 1) {
        await replaceFile(target, async (temp) => {
          await this.io.copyFile(path, temp);
          if ((await digestFile(temp)).digest !== digest) throw new Error(`a step output changed while it was being stored (${digest})`);
        });
        await unlink(path);
      } else await rename(path, target);
    }
    return { digest, size };
  }

  /** Ingest every file of a directory plus its tree object. A link anywhere in it is refused (WalkProblem). */
  async ingestTree(dir: string): Promise<{ digest: string; size: number; files: number }> {
    if ((await lstat(dir)).isSymbolicLink()) throw new WalkProblem('link', '.');
    const entries: TreeEntry[] = [];
    // Walk everything first: a refused link must stop the step before anything was moved.
    for (const file of walkFiles(dir, 'refuse')) {
      const { digest, size } = await this.ingestFile(join(dir, file));
      entries.push({ path: file, digest, size });
    }
    const tree = treeBytes(entries);
    const digest = digestBytes(tree);
    const target = this.objectPath(digest);
    if (!existsSync(target)) await this.writeFileAtomic(target, tree);
    return { digest, size: entries.reduce((sum, e) => sum + e.size, 0), files: entries.length };
  }

  async readTree(digest: string): Promise<TreeEntry[]> {
    let data: Buffer;
    try {
      data = await readFile(this.objectPath(digest));
    } catch {
      throw new CorruptObject(digest, 'missing');
    }
    if (digestBytes(data) !== digest) throw new CorruptObject(digest);
    // A tree whose digest matches can still have been crafted: every entry must name a path inside the tree.
    let entries: unknown;
    try {
      entries = (JSON.parse(data.toString('utf8')) as { entries?: unknown }).entries;
    } catch {
      throw new CorruptObject(digest, 'malformed');
    }
    if (!Array.isArray(entries) || !entries.every(isTreeEntry)) throw new CorruptObject(digest, 'malformed');
    return entries;
  }

  /**
   * Throw CorruptObject('missing') unless every object an action entry names is in the store (tree
   * objects and their files), so an entry naming missing objects is a miss before out/ is touched.
   */
  async checkObjectsPresent(action: ActionResult): Promise<void> {
    for (const output of action.outputs) {
      if (!existsSync(this.objectPath(output.digest))) throw new CorruptObject(output.digest, 'missing');
      if (output.kind !== 'tree') continue;
      for (const entry of await this.readTree(output.digest)) {
        if (!existsSync(this.objectPath(entry.digest))) throw new CorruptObject(entry.digest, 'missing');
      }
    }
  }

  /**
   * Make `target` hold exactly the object `digest`. Reads nothing when the stat cache says it already
   * does. A copied object is re-hashed, so a corrupt object is never served (CorruptObject is thrown).
   * `root` is the output root: a symbolic link standing anywhere between it and `target` is a stray
   * link and is removed itself (never followed), so nothing outside out/ is written or deleted.
   */
  async materializeFile(digest: string, target: string, root?: string): Promise<'kept' | 'written'> {
    if (root !== undefined) replaceLinkedDirs(root, dirname(target));
    // Synchronous lstats: a no-op checks one output per instance, and a thread-pool round trip per
    // file cost several times the stat itself at 365 partitions. lstat: a link here is removed, not followed.
    const current = lstatSync(target, { bigint: true, throwIfNoEntry: false });
    if (current?.isFile()) {
      const { digest: existing } = await this.digestOf(target, current);
      if (existing === digest) return 'kept';
    }
    const source = this.objectPath(digest);
    if (!existsSync(source)) throw new CorruptObject(digest, 'missing');
    await mkdir(dirname(target), { recursive: true });
    // rm removes a link itself, and never follows links inside a folder it removes.
    if (current && !current.isFile()) await rm(target, { recursive: true, force: true });
    await replaceFile(target, async (temp) => {
      await this.io.copyFile(source, temp, fsConstants.COPYFILE_FICLONE);
      // An object this build just hashed (a step's fresh output) or already checked is not re-read.
      if (this.verified.has(digest)) return;
      if ((await digestFile(temp)).digest !== digest) throw new CorruptObject(digest);
      this.verified.add(digest);
    });
    this.remember(target, await stat(target, { bigint: true }), digest);
    return 'written';
  }

  /**
   * Make directory `target` hold exactly the tree `digest` (files not in the tree are removed). Links
   * inside the old copy are entries to remove, never folders to list. `counts` counts the files
   * written or removed.
   */
  async materializeTree(digest: string, target: string, root?: string, counts?: { files: number }): Promise<'kept' | 'written'> {
    const entries = await this.readTree(digest);
    if (root !== undefined) replaceLinkedDirs(root, dirname(target));
    const current = await lstatOrUndefined(target);
    if (current && !current.isDirectory()) await rm(target, { force: true });
    let changed = false;
    const wanted = new Set(entries.map((e) => e.path));
    // Remove what the tree does not hold first: a file may stand where the tree needs a directory.
    if (current?.isDirectory()) {
      for (const file of walkFiles(target, 'list')) {
        if (!wanted.has(file)) {
          await rm(join(target, file), { force: true });
          changed = true;
          if (counts) counts.files += 1;
        }
      }
      await removeEmptyDirs(target);
    }
    await mkdir(target, { recursive: true });
    for (const entry of entries) {
      if ((await this.materializeFile(entry.digest, join(target, ...entry.path.split('/')))) === 'written') {
        changed = true;
        if (counts) counts.files += 1;
      }
    }
    return changed ? 'written' : 'kept';
  }

  /** Drop an object that failed its check so it can never be served again. */
  async discard(digest: string): Promise<void> {
    await rm(this.objectPath(digest), { force: true });
  }

  // ---------- actions ----------

  actionPath(key: string): string {
    return join(this.actionsDir, `${key.slice(DIGEST_PREFIX.length)}.json`);
  }

  /** The entry for `key`; undefined when there is none or it is not a well-formed entry for this key. */
  readAction(key: string): ActionResult | undefined {
    let text: string;
    try {
      text = readFileSync(this.actionPath(key), 'utf8');
    } catch {
      return undefined;
    }
    return parseActionEntry(text, key).action;
  }

  async writeAction(result: ActionResult): Promise<void> {
    await this.writeFileAtomic(this.actionPath(result.key), canonicalJson(result));
  }

  async dropAction(key: string): Promise<void> {
    await rm(this.actionPath(key), { force: true });
  }

  // ---------- lock ----------

  /** Take the cache lock (see lock.ts). */
  lock(timeoutMs: number, onWait?: (holder: string) => void): Promise<() => void> {
    return acquireLock(this.root, timeoutMs, onWait);
  }

  /** Remove scratch left by crashed builds (only called while holding the lock). */
  async clearScratch(): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  // ---------- verify / gc ----------

  async *allObjects(): AsyncGenerator<{ digest: string; path: string }> {
    for (const prefix of (await readdir(this.objectsDir)).sort()) {
      const dir = join(this.objectsDir, prefix);
      if (!statSync(dir).isDirectory()) continue;
      for (const rest of (await readdir(dir)).sort()) {
        if (rest.endsWith('.tmp') || rest.startsWith('.')) continue;
        yield { digest: `${DIGEST_PREFIX}${prefix}${rest}`, path: join(dir, rest) };
      }
    }
  }

  listActions(): string[] {
    return readdirSync(this.actionsDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => `${DIGEST_PREFIX}${f.slice(0, -'.json'.length)}`);
  }
}

/**
 * An action entry read back from disk is untrusted: it must parse, have the entry's shape, name
 * digests, and give every output a relative path that stays inside the output root.
 */
export function parseActionEntry(text: string, key?: string): { action?: ActionResult; problem?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `does not parse (${(error as Error).message})` };
  }
  const a = value as ActionResult;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return { problem: 'is not a JSON object' };
  if (!isDigest(a.key)) return { problem: 'has no valid "key"' };
  if (key !== undefined && a.key !== key) return { problem: `names key ${a.key}, not the key of its file name` };
  if (typeof a.step !== 'string' || typeof a.run_id !== 'string' || typeof a.source !== 'boolean') return { problem: 'lacks "step", "run_id" or "source"' };
  if (!isStringRecord(a.partition)) return { problem: '"partition" is not a map of strings' };
  if (typeof a.metrics !== 'object' || a.metrics === null || !Array.isArray(a.warnings)) return { problem: 'lacks "metrics" or "warnings"' };
  if (!Array.isArray(a.outputs)) return { problem: '"outputs" is not a list' };
  for (const [index, o] of (a.outputs as unknown[]).entries()) {
    const output = o as StoredOutput;
    if (typeof output !== 'object' || output === null || typeof output.name !== 'string') return { problem: `outputs[${index}] has no name` };
    if (!isSafeRelativePath(output.path)) return { problem: `output "${output.name}" path ${JSON.stringify(output.path)} leaves the output root` };
    if (output.kind !== 'file' && output.kind !== 'tree') return { problem: `output "${output.name}" kind is not file or tree` };
    if (!isDigest(output.digest)) return { problem: `output "${output.name}" digest is not a sha256 digest` };
    if (!Number.isSafeInteger(output.bytes) || output.bytes < 0) return { problem: `output "${output.name}" bytes is not a size` };
  }
  return { action: a };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

function isTreeEntry(entry: unknown): entry is TreeEntry {
  const e = entry as TreeEntry;
  return typeof e === 'object' && e !== null && isSafeRelativePath(e.path) && isDigest(e.digest) && Number.isSafeInteger(e.size) && e.size >= 0;
}

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && /^sha256:[0-9a-f]{64}$/.test(value);
}

export class CorruptObject extends Error {
  constructor(
    readonly digest: string,
    readonly problem: 'corrupt' | 'missing' | 'malformed' = 'corrupt',
  ) {
    super(`cache object ${digest} is ${problem}`);
    this.name = 'CorruptObject';
  }
}

/** Canonical JSON of a tree (keys in sorted order, entries by path), written directly: it is on the no-op path. */
export function treeBytes(entries: readonly TreeEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return `{"entries":[${sorted.map((e) => `{"digest":${JSON.stringify(e.digest)},"path":${JSON.stringify(e.path)},"size":${e.size}}`).join(',')}]}`;
}

/** Every file below `dir`, as sorted '/'-separated relative paths. Hidden temp files are skipped. */
/** Every file below `dir` (an input folder: links followed, loops refused), sorted '/'-separated relative paths. */
export async function listFiles(dir: string): Promise<string[]> {
  return walkFiles(dir, 'follow');
}

/** A directory entry as the walkers see it: symlinks are followed (their target's content counts). */
export function entryKind(entry: Pick<Dirent, 'isFile' | 'isDirectory' | 'isSymbolicLink'>, full: string): 'file' | 'dir' | 'other' {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink()) {
    try {
      const target = statSync(full);
      return target.isFile() ? 'file' : target.isDirectory() ? 'dir' : 'other';
    } catch {
      return 'other';
    }
  }
  return 'other';
}

/** Synchronous twin of listFiles, for the no-op hot path. */
export function listFilesSync(dir: string): string[] {
  return walkFiles(dir, 'follow');
}

/**
 * Make every folder from `root` down to `dir` a real folder: a link (or file) standing in the way is
 * removed itself, so a write below it can never land outside the output root.
 */
function replaceLinkedDirs(root: string, dir: string): boolean {
  const rel = relative(root, dir);
  if (rel === '' || rel.startsWith('..')) return false;
  let current = root;
  // Synchronous: it runs for every output on the no-op path.
  for (const part of rel.split(sep)) {
    current = join(current, part);
    const info = lstatSync(current, { throwIfNoEntry: false });
    if (!info) return false; // mkdir -p creates the rest as real folders
    if (info.isDirectory()) continue;
    rmSync(current, { force: true });
    return true;
  }
  return false;
}

/**
 * replaceLinkedDirs for every folder a build's outputs go to, before it serves any output unchanged
 * (runner.ts): the memo and the settled check stat outputs through a linked folder (out/doubled moved
 * elsewhere and linked back) and would vouch for them, then the first output written below it removes
 * the link, and with it from out/ the outputs already served. Whether a link was removed.
 */
export function replaceLinkedOutputFolders(root: string, dirs: Iterable<string>): boolean {
  let removed = false;
  for (const dir of dirs) if (replaceLinkedDirs(root, dir)) removed = true;
  return removed;
}

async function removeEmptyDirs(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  let empty = true;
  for (const entry of entries) {
    if (entry.isDirectory()) {
      if (await removeEmptyDirs(join(dir, entry.name))) await rm(join(dir, entry.name), { recursive: true, force: true });
      else empty = false;
    } else empty = false;
  }
  return empty;
}

async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch {
    return undefined;
  }
}
