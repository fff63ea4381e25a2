// `dagrun verify` (check every file in the cache folder; `--repair` drops what is broken) and
// `dagrun gc` (drop what no kept manifest references, after checking every manifest).
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { DIGEST_PREFIX, digestFile } from '../sdk/hash.js';
import { UserError } from '../sdk/errors.js';
import { inlineReferencesTo, listRuns, readManifest, readManifestFile } from './manifest.js';
import { isDigest, parseActionEntry, type ActionResult, type CorruptObject, type Store, type StoredOutput } from './store.js';
import { memoProblem } from './pipeline.js';
import { Captures } from './captures.js';
import { memoProblems, pruneMemos } from './up-to-date.js';
import { remoteInputsProblem, remoteInputsFile } from './cache/remote-input.js';
import { ENGINE_VERSION } from './paths.js';

/** One broken thing in the cache folder: its file (relative to the cache folder) and what is wrong. */
export interface VerifyProblem {
  readonly file: string;
  readonly problem: string;
}

export interface VerifyReport {
  readonly objects: number;
  readonly bytes: number;
  readonly actions: number;
  readonly manifests: number;
  /** Objects whose content does not hash to their name (also listed in `problems`). */
  readonly corrupt: { digest: string; path: string; actual: string }[];
  /** Captures whose objects are missing or corrupt (cache/captures/). */
  readonly captures: { checked: number; problems: { instance: string; key: string; problem: string }[] };
  readonly problems: VerifyProblem[];
  /** With --repair: every problem's file was dropped (objects and manifests set aside in corrupt/). */
  readonly repaired: boolean;
}

/**
 * Check everything in the cache folder: objects re-hashed; action entries parsed, shaped, and every
 * object they name present and sound; manifests against their schema; the stat cache, the last-seen
 * record and the pipeline memos parsed and shaped. Without `repair` nothing is changed; with it, each
 * broken file is dropped (objects and manifests moved to corrupt/, the rest deleted: they are rebuilt).
 */
export async function verifyStore(store: Store, options: { repair?: boolean; onProgress?: (done: number) => void } = {}): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const shown = (path: string): string => relative(store.root, path).split(sep).join('/');
  const drop: { path: string; aside?: string }[] = [];

  let objects = 0;
  let bytes = 0;
  const corrupt: VerifyReport['corrupt'] = [];
  const unsound = new Set<string>();
  for await (const object of store.allObjects()) {
    const { digest, size } = await digestFile(object.path);
    objects += 1;
    bytes += size;
    if (digest !== object.digest) {
      corrupt.push({ digest: object.digest, path: shown(object.path), actual: digest });
      problems.push({ file: shown(object.path), problem: `should hold ${object.digest} but hashes to ${digest}` });
      unsound.add(object.digest);
      drop.push({ path: object.path, aside: join('corrupt', object.digest.slice(DIGEST_PREFIX.length)) });
    }
    options.onProgress?.(objects);
  }

  const objectProblem = (digest: string): string | undefined => (unsound.has(digest) ? 'corrupt' : existsSync(store.objectPath(digest)) ? undefined : 'missing');
  const actionFiles = readdirSync(store.actionsDir).filter((f) => f.endsWith('.json')).sort();
  /** The outputs of each sound action entry, for the memos' check. */
  const soundActions = new Map<string, readonly StoredOutput[]>();
  for (const name of actionFiles) {
    const path = join(store.actionsDir, name);
    const key = `${DIGEST_PREFIX}${name.slice(0, -'.json'.length)}`;
    const { action, problem } = await actionProblem(store, readFileSync(path, 'utf8'), key, objectProblem);
    if (problem) {
      problems.push({ file: shown(path), problem });
      drop.push({ path });
    } else if (action) soundActions.set(key, action.outputs);
  }

  const runs = listRuns(store.runsDir);
  const soundRuns = new Set<string>();
  for (const id of runs) {
    const path = join(store.runsDir, `${id}.json`);
    const { problem } = readManifestFile(path);
    if (problem) {
      problems.push({ file: shown(path), problem });
      drop.push({ path, aside: join('corrupt', 'runs', `${id}.json`) });
    } else soundRuns.add(id);
  }

  // The up-to-date memos serve records without reading their action entries: each must be intact and
  // agree with the entries and runs that stay (those dropped above included). A dropped memo only
  // makes the next build check every instance the usual way.
  for (const [path, problem] of memoProblems(store.root, ENGINE_VERSION, (key) => soundActions.get(key), (run) => soundRuns.has(run))) {
    problems.push({ file: shown(path), problem });
    drop.push({ path });
  }
  // Remote inputs' identity → content records: a dropped one only costs a download.
  const remoteInputs = remoteInputsFile(store);
  if (existsSync(remoteInputs)) {
    const problem = remoteInputsProblem(readFileSync(remoteInputs, 'utf8'), (digest) => unsound.has(digest));
    if (problem) {
      problems.push({ file: shown(remoteInputs), problem });
      drop.push({ path: remoteInputs });
    }
  }

  // Speed-ups and explanations: broken ones are deleted and simply rebuilt.
  const checkJson = (path: string, shape: (value: unknown) => string | undefined): void => {
    if (!existsSync(path)) return;
    let problem: string | undefined;
    try {
      problem = shape(JSON.parse(readFileSync(path, 'utf8')));
    } catch (error) {
      problem = `does not parse (${(error as Error).message})`;
    }
    if (problem) {
      problems.push({ file: shown(path), problem });
      drop.push({ path });
    }
  };
  // The stat cache's shards (stat-cache.ts): per folder, name → [size, mtimeNs, ctimeNs, ino, digest]; per tree input, one record.
  const statDir = join(store.root, 'stat');
  for (const [kind, shape] of [['files', statShardProblem], ['trees', treeRecordProblem]] as const) {
    const dir = join(statDir, kind);
    if (existsSync(dir)) for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) checkJson(join(dir, name), shape);
  }
  // The single-file stat cache of earlier versions, until a build supersedes it.
  checkJson(join(store.root, 'stat.json'), statCacheProblem);
  checkJson(join(store.root, 'last-seen.json'), (value) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? undefined : 'is not a JSON object'));
  const memos = join(store.root, 'pipelines');
  if (existsSync(memos)) for (const name of readdirSync(memos).filter((f) => f.endsWith('.json')).sort()) checkJson(join(memos, name), memoProblem);

  if (options.repair) {
    for (const { path, aside } of drop) {
      if (!aside) {
        await rm(path, { force: true });
        continue;
      }
      await mkdir(dirname(join(store.root, aside)), { recursive: true });
      await rename(path, join(store.root, aside));
    }
  }
  // Captures cannot be recorded again: each must still have every object it needs. They are reported,
  // never dropped by --repair (a teammate's export or the source may still bring the objects back).
  const captures = new Captures(store);
  return { objects, bytes, actions: actionFiles.length, manifests: runs.length, corrupt, problems, repaired: Boolean(options.repair) && problems.length > 0, captures: { checked: captures.list().length, problems: await captures.check() } };
}

/** What is wrong with one action entry: its text, its shape, or an object it names. */
async function actionProblem(store: Store, text: string, key: string, objectProblem: (digest: string) => string | undefined): Promise<{ action?: ActionResult; problem?: string }> {
  const { action, problem } = parseActionEntry(text, key);
  if (!action) return { problem };
  for (const output of action.outputs) {
    const missing = objectProblem(output.digest);
    if (missing) return { problem: `output "${output.name}" names object ${output.digest}, which is ${missing}` };
    if (output.kind !== 'tree') continue;
    let entries;
    try {
      entries = await store.readTree(output.digest);
    } catch (error) {
      return { problem: `output "${output.name}" tree object ${output.digest} is ${(error as CorruptObject).problem ?? 'unreadable'}` };
    }
    for (const entry of entries) {
      const gone = objectProblem(entry.digest);
      if (gone) return { problem: `output "${output.name}" file ${entry.path} names object ${entry.digest}, which is ${gone}` };
    }
  }
  return { action };
}

function statShardProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  let bad = 0;
  for (const entry of Object.values(value as Record<string, unknown>)) {
    const ok = Array.isArray(entry) && entry.length === 5 && Number.isSafeInteger(entry[0]) && entry.slice(1, 4).every((n) => typeof n === 'string' && /^\d+$/.test(n)) && isDigest(entry[4]);
    if (!ok) bad += 1;
  }
  // Entries are keyed by file names: say how many are bad, not which.
  return bad === 0 ? undefined : `${bad} of ${Object.keys(value).length} entries are malformed`;
}

function treeRecordProblem(value: unknown): string | undefined {
  const r = value as { fingerprint?: unknown; digest?: unknown; size?: unknown; files?: unknown } | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'is not a JSON object';
  return typeof r.fingerprint === 'string' && /^(find:)?[0-9a-f]{64}$/.test(r.fingerprint) && isDigest(r.digest) && Number.isSafeInteger(r.size) && Number.isSafeInteger(r.files) ? undefined : 'is not a tree record (fingerprint, digest, size, files)';
}

function statCacheProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  let bad = 0;
  for (const entry of Object.values(value as Record<string, unknown>)) {
    const e = entry as { size?: unknown; mtimeNs?: unknown; ctimeNs?: unknown; ino?: unknown; digest?: unknown };
    const ok = typeof e === 'object' && e !== null && Number.isSafeInteger(e.size) && [e.mtimeNs, e.ctimeNs, e.ino].every((n) => typeof n === 'string' && /^\d+$/.test(n)) && isDigest(e.digest);
    if (!ok) bad += 1;
  }
  // Entries are keyed by machine paths: say how many are bad, not which.
  return bad === 0 ? undefined : `${bad} of ${Object.keys(value).length} entries are malformed`;
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
  // Everything is read and checked before anything is deleted: a manifest gc cannot read would
  // otherwise keep nothing alive, and its outputs would be collected.
  for (const run of runs) {
    const { manifest, problem } = readManifestFile(join(store.runsDir, `${run}.json`));
    if (!manifest) throw new UserError('CACHE', `gc deleted nothing: manifest runs/${run}.json ${problem}; run \`dagrun verify --repair\` to set it aside, then gc again`);
  }
  const kept = keepRuns === undefined ? runs : runs.slice(Math.max(0, runs.length - keepRuns));
  const dropped = runs.filter((r) => !kept.includes(r));
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
          } catch (error) {
            // A missing tree keeps nothing alive; a damaged one might name files still needed.
            const problem = (error as CorruptObject).problem;
            if (problem !== 'missing') throw new UserError('CACHE', `gc deleted nothing: tree object ${output.digest} (output "${output.name}" of ${step.instance} in runs/${run}.json) is ${problem}; run \`dagrun verify --repair\`, then gc again`);
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
  // Only now is anything changed. A kept manifest whose instances are "unchanged since" a dropped run
  // takes those records in whole first.
  inlineReferencesTo(store.runsDir, dropped, kept);
  for (const run of dropped) await rm(join(store.runsDir, `${run}.json`), { force: true });
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
  // Memo entries naming what was just removed could never be served again.
  await pruneMemos(store, ENGINE_VERSION, (entry) => liveActions.has(entry.key) && kept.includes(entry.run), (run) => kept.includes(run));
  return { kept_runs: kept.length, dropped_runs: dropped.length, objects_removed: objectsRemoved, bytes_removed: bytesRemoved, actions_removed: actionsRemoved, captures_kept: capturesKept, captures_removed: capturesRemoved };
}
