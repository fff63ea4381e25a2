// The sharded stat cache: a directory input whose files' stats are unchanged is not re-read and its
// per-file entries are not even loaded; a change is found by size, mtime, ctime or inode; shards
// hold no machine path; freshly built outputs are not re-hashed when copied out.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readCounter } from '../../src/sdk/hash.js';
import { findListing, Store } from '../../src/engine/store.js';
import { build } from '../../src/engine/runner.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (base = tmpdir()): string => {
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'dagrun-stat-cache-'));
  dirs.push(dir);
  return dir;
};

describe('stat cache', () => {
  /** The same decisions whichever lister took the fingerprint; returns the fingerprint stored. */
  const treeScenario = async (): Promise<string> => {
    const dir = tempDir();
    const tree = join(dir, 'in');
    for (let i = 0; i < 30; i += 1) {
      mkdirSync(join(tree, `d${i % 3}`), { recursive: true });
      writeFileSync(join(tree, `d${i % 3}`, `f${i}.csv`), `v\n${i}\n`);
    }
    const first = await new Store(join(dir, 'cache')).digestInputTree(tree);
    const s1 = new Store(join(dir, 'cache'));
    await s1.digestInputTree(tree);
    await s1.saveStatCache();
    // Per-file shards are not needed while the fingerprint matches: remove them to prove it.
    const filesDir = join(dir, 'cache', 'stat', 'files');
    const saved = readdirSync(filesDir).map((f) => [f, readFileSync(join(filesDir, f))] as const);
    rmSync(filesDir, { recursive: true });
    let reads = readCounter.files;
    expect(await new Store(join(dir, 'cache')).digestInputTree(tree)).toEqual(first);
    expect(readCounter.files - reads).toBe(0);
    mkdirSync(filesDir);
    for (const [f, data] of saved) writeFileSync(join(filesDir, f), data);

    // Same size, mtime put back: ctime still moves, so the fingerprint changes; only that file is read.
    const target = join(tree, 'd1', 'f4.csv');
    const seen = statSync(target);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(target, 'v\n9\n');
    utimesSync(target, seen.atime, seen.mtime);
    reads = readCounter.files;
    const s2 = new Store(join(dir, 'cache'));
    const changed = await s2.digestInputTree(tree);
    expect(readCounter.files - reads).toBe(1);
    expect(changed.digest).not.toBe(first.digest);
    expect(changed.files).toBe(30);
    await s2.saveStatCache();
    // A removed file changes it too.
    rmSync(join(tree, 'd2', 'f5.csv'));
    const removed = await new Store(join(dir, 'cache')).digestInputTree(tree);
    expect(removed.files).toBe(29);
    expect(removed.digest).not.toBe(changed.digest);
    // A file renamed within its folder, and one moved to another folder.
    const s3 = new Store(join(dir, 'cache'));
    await s3.digestInputTree(tree);
    await s3.saveStatCache();
    renameSync(join(tree, 'd0', 'f0.csv'), join(tree, 'd0', 'g0.csv'));
    const renamed = await new Store(join(dir, 'cache')).digestInputTree(tree);
    expect(renamed.digest).not.toBe(removed.digest);
    const s4 = new Store(join(dir, 'cache'));
    await s4.digestInputTree(tree);
    await s4.saveStatCache();
    renameSync(join(tree, 'd0', 'g0.csv'), join(tree, 'd1', 'g0.csv'));
    expect((await new Store(join(dir, 'cache')).digestInputTree(tree)).digest).not.toBe(renamed.digest);
    const trees = join(dir, 'cache', 'stat', 'trees');
    return (JSON.parse(readFileSync(join(trees, readdirSync(trees)[0]), 'utf8')) as { fingerprint: string }).fingerprint;
  };

  it('an unchanged tree is recognised by its fingerprint (find(1) listing); one changed file is the only one re-read', async () => {
    expect(await treeScenario()).toMatch(process.platform === 'linux' ? /^find:/ : /^[0-9a-f]{64}$/);
  });

  it('without find(1) on the PATH the Node walker fingerprints the tree, with the same decisions', async () => {
    const path = process.env.PATH;
    process.env.PATH = tempDir();
    try {
      expect(findListing(tempDir())).toBeUndefined();
      expect(await treeScenario()).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('shards are per folder and name no machine path', async () => {
    const dir = tempDir();
    for (const sub of ['a', 'b', 'c']) {
      mkdirSync(join(dir, sub));
      writeFileSync(join(dir, sub, 'x.txt'), sub);
    }
    const store = new Store(join(dir, 'cache'));
    for (const sub of ['a', 'b', 'c']) await store.digestOf(join(dir, sub, 'x.txt'));
    await store.saveStatCache();
    const shards = readdirSync(join(dir, 'cache', 'stat', 'files'));
    expect(shards).toHaveLength(3);
    for (const shard of shards) {
      const text = readFileSync(join(dir, 'cache', 'stat', 'files', shard), 'utf8');
      expect(text).not.toContain(dir);
      expect(Object.keys(JSON.parse(text) as object)).toEqual(['x.txt']);
    }
    const reads = readCounter.files;
    await new Store(join(dir, 'cache')).digestOf(join(dir, 'b', 'x.txt'));
    expect(readCounter.files - reads).toBe(0);
  });

  it('a cold build hashes each fresh output once (no re-hash when copied out), and a no-op reads nothing', async () => {
    const dir = tempDir(join(PROJECT_ROOT, 'test', '.work'));
    mkdirSync(join(dir, 'steps'));
    writeFileSync(join(dir, 'steps', 'make.sql'), 'CREATE TABLE made AS SELECT $partition_date AS day, range AS i FROM range(3);\n');
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `partitions:\n  date: { values: ["a", "b", "c", "d"] }\nsteps:\n  make:\n    sql: steps/make.sql\n    partition: date\n    outputs:\n      made: { path: "made/{date}.csv", format: csv, columns: { day: VARCHAR, i: BIGINT } }\n`,
    );
    let reads = readCounter.files;
    expect((await build({ pipelineFile: join(dir, 'pipeline.yaml') })).ok).toBe(true);
    // The SQL file and 4 outputs ingested (keys hold package versions, not lock bytes); copying them out reads nothing.
    expect(readCounter.files - reads).toBe(5);
    reads = readCounter.files;
    await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(readCounter.files - reads).toBe(0);
  });
});
