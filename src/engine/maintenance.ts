// `dagrun verify` (re-hash the store, set corrupt objects aside) and `dagrun gc` (drop what no kept
// manifest references).
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DIGEST_PREFIX, digestFile } from '../sdk/hash.js';
import { inlineReferencesTo, listRuns, readManifest } from './manifest.js';
import type { Store } from './store.js';
import { Captures } from './captures.js';
import { readFileSync } from 'node:fs';

export interface VerifyReport {
  readonly objects: number;
  readonly bytes: number;
  readonly corrupt: { digest: string; path: string; actual: string }[];
  /** Captures whose objects are missing or corrupt (cache/captures/). */
  readonly captures: { checked: number; problems: { instance: string; key: string; problem: string }[] };
}

/** Re-hash every object. A corrupt one is moved to cache/corrupt/ so it can never be served. */
export async function verifyStore(store: Store, onProgress?: (done: number) => void): Promise<VerifyReport> {
  let objects = 0;
  let bytes = 0;
  const corrupt: VerifyReport['corrupt'] = [];
  for await (const object of store.allObjects()) {
    const { digest, size } = await digestFile(object.path);
    objects += 1;
    bytes += size;
    if (digest !== object.digest) {
      corrupt.push({ digest: object.digest, path: object.path, actual: digest });
      const aside = join(store.root, 'corrupt');
      await mkdir(aside, { recursive: true });
      await rename(object.path, join(aside, object.digest.slice(DIGEST_PREFIX.length)));
    }
    onProgress?.(objects);
  }
  // Captures cannot be recorded again: each must still have every object it needs.
  const captures = new Captures(store);
  return { objects, bytes, corrupt, captures: { checked: captures.list().length, problems: await captures.check() } };
}

export interface GcReport {
  readonly kept_runs: number;
  readonly dropped_runs: number;
  readonly objects_removed: number;
  readonly bytes_removed: number;
  readonly actions_removed: number;
  readonly captures_kept: number;
  readonly captures_removed: number;
}

export interface GcOptions {
  /** Keep only the newest N manifests (all when undefined). */
  readonly keepRuns?: number;
  /** `gc --captures --older-than D`: drop captures recorded more than this many ms ago. Captures are kept otherwise. */
  readonly capturesOlderThanMs?: number;
  readonly now?: Date;
}

/**
 * Keep the newest `keepRuns` manifests (all when undefined); remove objects and actions none of them
 * reference. Every capture's objects are kept, whatever the manifests say, unless the capture itself
 * is dropped by `capturesOlderThanMs`.
 */
export async function collectGarbage(store: Store, options: GcOptions | number = {}): Promise<GcReport> {
  const { keepRuns, capturesOlderThanMs, now = new Date() } = typeof options === 'number' ? { keepRuns: options } : options;
  const runs = listRuns(store.runsDir);
  const kept = keepRuns === undefined ? runs : runs.slice(Math.max(0, runs.length - keepRuns));
  const dropped = runs.filter((r) => !kept.includes(r));
  // A kept manifest whose instances are "unchanged since" a dropped run takes those records in whole first.
  inlineReferencesTo(store.runsDir, dropped, kept);
  for (const run of dropped) await rm(join(store.runsDir, `${run}.json`), { force: true });
  const liveObjects = new Set<string>();
  const liveActions = new Set<string>();
  for (const run of kept) {
    const manifest = readManifest(store.runsDir, run);
    for (const step of manifest.steps) {
      if (step.cache_key) liveActions.add(step.cache_key);
      for (const output of step.outputs) {
        liveObjects.add(output.digest);
        if (output.kind === 'tree') {
          try {
            for (const entry of await store.readTree(output.digest)) liveObjects.add(entry.digest);
          } catch {
            /* a corrupt or missing tree keeps nothing alive */
          }
        }
      }
    }
  }
  const captures = new Captures(store);
  let capturesRemoved = 0;
  let capturesKept = 0;
  for (const record of captures.list()) {
    if (capturesOlderThanMs !== undefined && now.getTime() - Date.parse(record.captured_at) > capturesOlderThanMs) {
      await captures.remove(record.key);
      capturesRemoved += 1;
      continue;
    }
    capturesKept += 1;
    try {
      for (const { digest } of await captures.objectsOf(record)) liveObjects.add(digest);
    } catch {
      /* verify reports a capture with a missing tree; its files stay where they are */
      for (const output of record.outputs) liveObjects.add(output.digest);
    }
  }
  let objectsRemoved = 0;
  let bytesRemoved = 0;
  for await (const object of store.allObjects()) {
    if (liveObjects.has(object.digest)) continue;
    bytesRemoved += (await stat(object.path)).size;
    await rm(object.path, { force: true });
    objectsRemoved += 1;
  }
  let actionsRemoved = 0;
  for (const key of store.listActions()) {
    if (liveActions.has(key)) continue;
    await store.dropAction(key);
    actionsRemoved += 1;
  }
  return { kept_runs: kept.length, dropped_runs: dropped.length, objects_removed: objectsRemoved, bytes_removed: bytesRemoved, actions_removed: actionsRemoved, captures_kept: capturesKept, captures_removed: capturesRemoved };
}
