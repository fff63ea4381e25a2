// The stat cache, sharded so a build loads only what it checks:
//
//   cache/stat/files/<hash of a folder>.json   that folder's files: name → [size, mtimeNs, ctimeNs, ino, digest]
//   cache/stat/trees/<hash of a folder>.json   a directory input: fingerprint of every file's stat → tree digest
//
// One JSON file of every path ever digested (21.9 MB at 100,000 files) made a no-op pay for parsing
// all of it; now a no-op over a tree compares one fingerprint, and a rebuild of one partition reads
// the shards of the folders it touches. Shards are named by a digest of the folder path, so no
// machine path is written into the cache.
import { readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { digestBytes, DIGEST_PREFIX } from '../sdk/hash.js';
import { writeFileAtomic } from '../sdk/atomic-write.js';

export interface StatEntry {
  size: number;
  mtimeNs: string;
  /** ctime too: `cp -p`, tar and rsync -t can replace content keeping size, mtime and inode. */
  ctimeNs: string;
  ino: string;
  digest: string;
}

export interface TreeRecord {
  /** The tree's stat fingerprint (tree-fingerprint.ts): every entry's relative path, ctime, inode and size. */
  readonly fingerprint: string;
  readonly digest: string;
  readonly size: number;
  readonly files: number;
}

type PackedEntry = [number, string, string, string, string];

interface Shard {
  readonly entries: Map<string, StatEntry>;
  dirty: boolean;
}

export class StatCache {
  private readonly shards = new Map<string, Shard>();
  private readonly trees = new Map<string, { record: TreeRecord | undefined; dirty: boolean }>();

  constructor(private readonly root: string) {}

  private shardFile(kind: 'files' | 'trees', dir: string): string {
    return join(this.root, kind, `${digestBytes(dir).slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 32)}.json`);
  }

  private shard(dir: string): Shard {
    let shard = this.shards.get(dir);
    if (!shard) {
      const entries = new Map<string, StatEntry>();
      try {
        const packed = JSON.parse(readFileSync(this.shardFile('files', dir), 'utf8')) as Record<string, PackedEntry>;
        for (const name of Object.keys(packed)) {
          const [size, mtimeNs, ctimeNs, ino, digest] = packed[name];
          entries.set(name, { size, mtimeNs, ctimeNs, ino, digest });
        }
      } catch {
        /* no shard yet, or unreadable: it is only a cache */
      }
      shard = { entries, dirty: false };
      this.shards.set(dir, shard);
    }
    return shard;
  }

  get(path: string): StatEntry | undefined {
    return this.shard(dirname(path)).entries.get(basename(path));
  }

  set(path: string, entry: StatEntry): void {
    const shard = this.shard(dirname(path));
    shard.entries.set(basename(path), entry);
    shard.dirty = true;
  }

  tree(dir: string): TreeRecord | undefined {
    let seen = this.trees.get(dir);
    if (!seen) {
      let record: TreeRecord | undefined;
      try {
        record = JSON.parse(readFileSync(this.shardFile('trees', dir), 'utf8')) as TreeRecord;
      } catch {
        record = undefined;
      }
      seen = { record, dirty: false };
      this.trees.set(dir, seen);
    }
    return seen.record;
  }

  setTree(dir: string, record: TreeRecord): void {
    this.trees.set(dir, { record, dirty: true });
  }

  /** Write the shards that changed (each temp + rename). */
  async save(): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const [dir, shard] of this.shards) {
      if (!shard.dirty) continue;
      const packed: Record<string, PackedEntry> = {};
      for (const [name, e] of shard.entries) packed[name] = [e.size, e.mtimeNs, e.ctimeNs, e.ino, e.digest];
      writes.push(writeFileAtomic(this.shardFile('files', dir), JSON.stringify(packed)));
      shard.dirty = false;
    }
    for (const [dir, tree] of this.trees) {
      if (!tree.dirty || !tree.record) continue;
      writes.push(writeFileAtomic(this.shardFile('trees', dir), JSON.stringify(tree.record)));
      tree.dirty = false;
    }
    await Promise.all(writes);
    // The single-file stat cache of earlier versions is superseded.
    rmSync(join(dirname(this.root), 'stat.json'), { force: true });
  }
}
