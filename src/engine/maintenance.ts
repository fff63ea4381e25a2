// `dagrun verify` (re-hash the store, set corrupt objects aside) and `dagrun gc` (drop what no kept
// manifest references).
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DIGEST_PREFIX, digestFile } from '../sdk/hash.js';
import { listRuns, type Manifest } from './manifest.js';
import type { Store } from './store.js';
import { readFileSync } from 'node:fs';

export interface VerifyReport {
  readonly objects: number;
  readonly bytes: number;
  readonly corrupt: { digest: string; path: string; actual: string }[];
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
  return { objects, bytes, corrupt };
}

export interface GcReport {
  readonly kept_runs: number;
  readonly dropped_runs: number;
  readonly objects_removed: number;
  readonly bytes_removed: number;
  readonly actions_removed: number;
}

/** Keep the newest `keepRuns` manifests (all when undefined); remove objects and actions none of them reference. */
export async function collectGarbage(store: Store, keepRuns?: number): Promise<GcReport> {
  const runs = listRuns(store.runsDir);
  const kept = keepRuns === undefined ? runs : runs.slice(Math.max(0, runs.length - keepRuns));
  const dropped = runs.filter((r) => !kept.includes(r));
  for (const run of dropped) await rm(join(store.runsDir, `${run}.json`), { force: true });
  const liveObjects = new Set<string>();
  const liveActions = new Set<string>();
  for (const run of kept) {
    const manifest = JSON.parse(readFileSync(join(store.runsDir, `${run}.json`), 'utf8')) as Manifest;
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
  return { kept_runs: kept.length, dropped_runs: dropped.length, objects_removed: objectsRemoved, bytes_removed: bytesRemoved, actions_removed: actionsRemoved };
}
