import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { hostname, tmpdir } from 'node:os';
import { canonicalJson, readCounter } from '../../src/sdk/hash.js';
import { Store, treeBytes } from '../../src/engine/store.js';

describe('store', () => {
  it('tree objects are the canonical JSON of their sorted entries', () => {
    const entry = fc.record({ path: fc.string({ minLength: 1, maxLength: 20 }), digest: fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`), size: fc.nat() });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 30 }), (entries) => {
        const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
        expect(treeBytes(entries)).toBe(canonicalJson({ entries: sorted }));
      }),
    );
  });

  it('the stat cache answers without reading until size, mtime or inode change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dagrun-store-'));
    try {
      const store = new Store(join(dir, 'cache'));
      const file = join(dir, 'a.txt');
      writeFileSync(file, 'hello');
      const first = await store.digestOf(file);
      const reads = readCounter.files;
      expect(await store.digestOf(file)).toEqual(first);
      expect(readCounter.files).toBe(reads);
      writeFileSync(file, 'HELLO'); // same size, new content and mtime
      utimesSync(file, new Date(2030, 0, 1), new Date(2030, 0, 1));
      const second = await store.digestOf(file);
      expect(readCounter.files).toBe(reads + 1);
      expect(second.digest).not.toBe(first.digest);
      // `cp -p` style: new content, same size, mtime put back to what the cache saw. ctime still moves.
      const seen = statSync(file);
      await new Promise((r) => setTimeout(r, 20));
      writeFileSync(file, 'hallo');
      utimesSync(file, seen.atime, seen.mtime);
      const third = await store.digestOf(file);
      expect(readCounter.files).toBe(reads + 2);
      expect(third.digest).not.toBe(second.digest);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the lock is exclusive in one process, and a lock left by a dead or reused pid is taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dagrun-lock-'));
    try {
      const store = new Store(join(dir, 'cache'));
      const release = await store.lock(5_000);
      await expect(store.lock(200)).rejects.toThrow(/is locked by pid \d+/);
      release();
      // A lock naming this very process that it does not hold (pid reuse, e.g. PID 1 in a container).
      writeFileSync(join(dir, 'cache', 'lock'), JSON.stringify({ pid: process.pid, host: hostname(), since: '2020-01-01T00:00:00Z' }));
      const again = await store.lock(2_000);
      again();
      // A dead holder on this host.
      writeFileSync(join(dir, 'cache', 'lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), since: '2020-01-01T00:00:00Z' }));
      (await store.lock(2_000))();
      // Another host's lock is never assumed dead.
      writeFileSync(join(dir, 'cache', 'lock'), JSON.stringify({ pid: 1, host: 'elsewhere', since: '2020-01-01T00:00:00Z' }));
      await expect(store.lock(200)).rejects.toThrow('locked by pid 1 on elsewhere');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a release called again (the settled handoff is given back by the build, build() and the CLI) never frees a lock taken since in this process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dagrun-lock-'));
    try {
      const store = new Store(join(dir, 'cache'));
      const first = await store.lock(200);
      first();
      const second = await store.lock(200);
      first(); // given back once more, while `second` holds the cache
      // Still exclusive: the lock naming this process is held, not a leftover to take over.
      await expect(store.lock(200)).rejects.toThrow(/is locked by pid \d+/);
      second();
      (await store.lock(200))();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
