// The up-to-date memo: per instance, the record of the last build that found it cached, with the
// stats its outputs in out/ and its action entry had then.
//
//   cache/memo/<hash of the pipeline file's path>.json   { version, engine, digest, entries: { instance → Entry } }
//
// `digest` is the SHA-256 of the entries' text as written: a memo damaged or edited by hand (a
// flipped digest character would otherwise be served as this build's output digest) or cut short by
// a crash is ignored whole, so everything is checked the usual way. Entries are shape-checked too.
//
// An instance whose step shares the same key parts (code, definition, key params, packages), whose
// inputs (names, digests, sources, producers) and other record fields are the same — so its action
// key is the remembered one —
// and whose action entry and outputs have the same size, mtime, ctime and inode, would be served
// exactly that record again: the build serves it without reading the action entry, checking out/
// through the stat cache, or comparing the record with the previous manifest's (it is written as a
// reference to the run that holds it whole). At 365 partitions those were most of a no-op. Anything
// else — a new key, a touched or deleted output, a rewritten or removed action entry, a dropped run —
// goes the usual way, and the memo is updated from what that found. Only instances cached because
// they were unchanged, with file outputs, are remembered: a fresh build, a restore, a pinned capture
// or a remote hit is checked the usual way once more first.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestBytes, DIGEST_PREFIX } from '../sdk/hash.js';
import { sameJson, type StepRecord } from './manifest.js';
import { resolveUnder } from './paths.js';
import { isDigest, type Store, type StoredOutput } from './store.js';
import { isSafeRelativePath } from './tree-walk.js';
import { parseSettled } from './settled.js';

const VERSION = 4;

interface Entry {
  readonly key: string;
  /** Which key parts every instance of the step shares (StepDigests.keyId) the key was made with. */
  readonly parts: string;
  /** The action entry's stat, then each output's, as `size:mtimeMs:ctimeMs:ino`. */
  readonly stats: readonly string[];
  /** The run whose manifest holds this record whole. */
  readonly run: string;
  /** The record as the manifest wrote it, per-run fields aside. */
  readonly record: StepRecord;
}

interface MemoFile {
  readonly version: number;
  readonly engine: string;
  /** SHA-256 of the entries' JSON text as it stands in the file. */
  readonly digest: string;
  readonly entries: Record<string, Entry>;
}

/** Settled builds' records share the memo folder (settled.ts): `settled-<digest>.json`. */
const SETTLED_PREFIX = 'settled-';

/** The memo folder of a cache folder. */
export const memoDir = (storeRoot: string): string => join(storeRoot, 'memo');

/** A memo file's text: the header, then the entries, last, so their text can be hashed as it stands. */
function memoText(engine: string, entries: Record<string, Entry>): string {
  const body = JSON.stringify(entries);
  return `${JSON.stringify({ version: VERSION, engine, digest: digestBytes(body) }).slice(0, -1)},"entries":${body}}`;
}

/**
 * A memo file read back: its entries, or why it cannot be used (`stale` when another version or
 * engine wrote it: not damage, the next build rewrites it). Entries are untrusted until this passes.
 */
export function parseMemo(text: string, engine: string, checkEntries = true): { entries?: Record<string, Entry>; problem?: string; stale?: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `does not parse (${(error as Error).message})` };
  }
  const memo = value as Partial<MemoFile> | null;
  if (typeof memo !== 'object' || memo === null || Array.isArray(memo)) return { problem: 'is not a JSON object' };
  if (typeof memo.version !== 'number' || typeof memo.engine !== 'string') return { problem: 'lacks "version" or "engine"' };
  if (memo.version !== VERSION || memo.engine !== engine) return { stale: true };
  if (!isDigest(memo.digest) || typeof memo.entries !== 'object' || memo.entries === null || Array.isArray(memo.entries)) return { problem: 'lacks "digest" or "entries"' };
  const head = `${JSON.stringify({ version: memo.version, engine: memo.engine, digest: memo.digest }).slice(0, -1)},"entries":`;
  if (!text.startsWith(head) || !text.endsWith('}') || digestBytes(text.slice(head.length, -1)) !== memo.digest) return { problem: 'does not match its digest (edited or damaged)' };
  if (checkEntries) {
    for (const [instance, entry] of Object.entries(memo.entries)) {
      const problem = entryProblem(entry);
      if (problem) return { problem: `entry ${instance} ${problem}` };
    }
  }
  return { entries: memo.entries };
}

function entryProblem(value: unknown): string | undefined {
  const e = value as Partial<Entry> | null;
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'is not a JSON object';
  if (!isDigest(e.key) || typeof e.parts !== 'string' || typeof e.run !== 'string') return 'lacks "key", "parts" or "run"';
  if (!Array.isArray(e.stats) || !e.stats.every((s) => typeof s === 'string')) return '"stats" is not a list of strings';
  const record = e.record as Partial<StepRecord> | undefined;
  if (typeof record !== 'object' || record === null || Array.isArray(record) || !Array.isArray(record.outputs)) return 'has no record with outputs';
  if (record.cache_key !== e.key) return 'holds a record of another key';
  if (!(typeof record.metrics === 'object' && record.metrics !== null) || !Array.isArray(record.warnings)) return 'has a record without metrics or warnings';
  for (const output of record.outputs as Partial<StoredOutput>[]) {
    const ok = typeof output === 'object' && output !== null && typeof output.name === 'string' && output.kind === 'file' && isSafeRelativePath(output.path) && isDigest(output.digest) && Number.isSafeInteger(output.bytes);
    if (!ok) return 'has a malformed output';
  }
  return undefined;
}

/**
 * What is wrong with each memo file of a cache folder, for `dagrun verify`: its text (see parseMemo),
 * then what its entries name: each key's action entry must be there (`actionOutputs` gives its
 * outputs, undefined when it is missing or being dropped) with the outputs the record holds, and
 * each run's manifest must be there. Keyed by the file's path.
 */
export function memoProblems(storeRoot: string, engine: string, actionOutputs: (key: string) => readonly StoredOutput[] | undefined, runPresent: (run: string) => boolean): Map<string, string> {
  const problems = new Map<string, string>();
  const dir = memoDir(storeRoot);
  if (!existsSync(dir)) return problems;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const path = join(dir, name);
    if (name.startsWith(SETTLED_PREFIX)) {
      // A settled build's record (settled.ts): whole, shaped, and every run it refers to still there.
      const { settled, problem } = parseSettled(readFileSync(path, 'utf8'));
      const missing = settled?.steps.find((s) => !runPresent(s.run));
      if (problem || missing) problems.set(path, problem ?? `${missing?.instance} refers to run ${missing?.run}, whose manifest is missing or broken`);
      continue;
    }
    const { entries, problem } = parseMemo(readFileSync(path, 'utf8'), engine);
    if (problem) problems.set(path, problem);
    for (const [instance, entry] of Object.entries(entries ?? {})) {
      const outputs = actionOutputs(entry.key);
      const wrong = !outputs
        ? `names action entry ${entry.key}, which is missing or broken`
        : !sameOutputs(outputs, entry.record.outputs)
          ? `holds outputs that differ from its action entry ${entry.key}`
          : !runPresent(entry.run) ? `names run ${entry.run}, whose manifest is missing or broken` : undefined;
      if (wrong) {
        problems.set(path, `entry ${instance} ${wrong}`);
        break;
      }
    }
  }
  return problems;
}

const sameOutputs = (a: readonly StoredOutput[], b: readonly StoredOutput[]): boolean =>
  a.length === b.length && a.every((o, i) => o.name === b[i].name && o.path === b[i].path && o.kind === b[i].kind && o.digest === b[i].digest && o.bytes === b[i].bytes);

/**
 * After gc: drop the entries whose action entry or run it removed (they could no longer be served,
 * and verify would name them). A memo that cannot be used is left for verify to report.
 */
export async function pruneMemos(store: Pick<Store, 'root' | 'writeFileAtomic'>, engine: string, keep: (entry: { key: string; run: string }) => boolean, runKept: (run: string) => boolean): Promise<void> {
  const dir = memoDir(store.root);
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const path = join(dir, name);
    if (name.startsWith(SETTLED_PREFIX)) {
      // It watches the manifests it refers to, so it would not be served; removed so verify stays ok.
      const { settled } = parseSettled(readFileSync(path, 'utf8'));
      if (settled?.steps.some((s) => !runKept(s.run))) await rm(path, { force: true });
      continue;
    }
    const { entries } = parseMemo(readFileSync(path, 'utf8'), engine);
    if (!entries) continue;
    const kept = Object.fromEntries(Object.entries(entries).filter(([, entry]) => keep(entry)));
    if (Object.keys(kept).length < Object.keys(entries).length) await store.writeFileAtomic(path, memoText(engine, kept));
  }
}

export interface Served {
  readonly key: string;
  readonly outputs: readonly StoredOutput[];
  readonly metrics: Record<string, number | string>;
  readonly warnings: readonly string[];
}

/**
 * The fields of a record the build knows before it looks the key up. With the step's shared key
 * parts they determine the key (its inputs' names and digests, its partition), so a served
 * instance's key is the remembered one, not hashed again.
 */
export type RecordHead = Pick<StepRecord, 'step' | 'instance' | 'partition' | 'kind' | 'source' | 'code_digest' | 'code_files' | 'params' | 'inputs'>;

/** Number stats (sub-µs times at today's dates) allocate far less than bigint ones: two per instance on a no-op. */
function fingerprint(path: string): string | undefined {
  const info = statSync(path, { throwIfNoEntry: false });
  return info?.isFile() ? `${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.ino}` : undefined;
}

export class UpToDateMemo {
  private readonly file: string;
  private readonly entries: Record<string, Entry>;
  private dirty = false;
  /** instance → the run its served record refers to. */
  readonly served = new Map<string, string>();
  /** instance → the stats taken after the usual path found it cached and put its outputs in place. */
  private readonly observed = new Map<string, { key: string; parts: string; stats: string[] }>();
  private readonly runsPresent = new Map<string, boolean>();

  constructor(
    private readonly store: Pick<Store, 'root' | 'runsDir' | 'actionPath' | 'writeFileAtomic'>,
    pipelineFile: string,
    private readonly outputRoot: string,
    private readonly engine: string,
  ) {
    // Named by a digest of where the pipeline and its out/ are: a cache shared by two folders keeps one memo each.
    this.file = join(memoDir(store.root), `${digestBytes(`${pipelineFile}\0${outputRoot}`).slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 32)}.json`);
    let text: string | undefined;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      /* no memo yet */
    }
    // Unusable (damaged, edited, another version): it is only a cache, so every instance is checked the usual way.
    // Each entry is checked when it is used (most builds use a few of 730): the digest already vouches for the whole.
    this.entries = (text === undefined ? undefined : parseMemo(text, engine, false).entries) ?? {};
  }

  /** The entry of an instance, when there is one and it is shaped as this engine writes them. */
  private entry(instance: string): Entry | undefined {
    const entry = Object.hasOwn(this.entries, instance) ? this.entries[instance] : undefined;
    return entry && !entryProblem(entry) ? entry : undefined;
  }

  /** The record's outputs, metrics and warnings when the instance is up to date as defined above; undefined otherwise. */
  serve(head: RecordHead, parts: string): Served | undefined {
    const entry = this.entry(head.instance);
    if (!entry || entry.parts !== parts) return undefined;
    const record = entry.record as unknown as Record<string, unknown>;
    for (const field in head) if (!sameJson(record[field], head[field as keyof RecordHead])) return undefined;
    const outputs = entry.record.outputs;
    if (entry.stats.length !== outputs.length + 1) return undefined;
    if (fingerprint(this.store.actionPath(entry.key)) !== entry.stats[0]) return undefined;
    for (let i = 0; i < outputs.length; i += 1) {
      if (outputs[i].kind !== 'file' || fingerprint(resolveUnder(this.outputRoot, outputs[i].path)) !== entry.stats[i + 1]) return undefined;
    }
    if (!this.runPresent(entry.run)) return undefined;
    this.served.set(head.instance, entry.run);
    return { key: entry.key, outputs, metrics: entry.record.metrics, warnings: entry.record.warnings };
  }

  /**
   * The remembered record of an instance the settled build still vouches for (settled.ts: none of its
   * own files changed since, its upstream neither), when the entry is the one that build vouched for
   * (same key, same run): served without its stats taken again. Undefined otherwise.
   */
  carry(instance: string, key: string, run: string): StepRecord | undefined {
    const entry = this.entry(instance);
    if (!entry || entry.key !== key || entry.run !== run || !this.runPresent(run)) return undefined;
    this.served.set(instance, run);
    return entry.record;
  }

  /** After the usual path found an instance cached and made out/ hold its outputs: their stats now. */
  observe(instance: string, key: string, parts: string, outputs: readonly StoredOutput[]): void {
    if (outputs.some((o) => o.kind !== 'file')) return;
    const stats = [this.store.actionPath(key), ...outputs.map((o) => resolveUnder(this.outputRoot, o.path))].map(fingerprint);
    if (stats.every((s): s is string => s !== undefined)) this.observed.set(instance, { key, parts, stats });
  }

  /**
   * Update from a finished build: `records` as the manifest holds them whole, `written` as it stored
   * them (a reference names the run that holds the record). Instances this build did not look at keep their entries.
   */
  async update(records: readonly StepRecord[], written: readonly StepRecord[], runId: string): Promise<void> {
    records.forEach((record, i) => {
      if (this.served.has(record.instance)) return; // unchanged: same key, stats and run
      const seen = this.observed.get(record.instance);
      const unchanged = record.status === 'cached' && record.reasons?.length === 1 && record.reasons[0].kind === 'unchanged' && !record.source;
      if (unchanged && seen && seen.key === record.cache_key) {
        const whole: Record<string, unknown> = {};
        for (const [field, value] of Object.entries(record)) if (!PER_RUN_IN_MEMO.has(field)) whole[field] = value;
        this.entries[record.instance] = { key: seen.key, parts: seen.parts, stats: seen.stats, run: written[i].unchanged_since ?? runId, record: whole as unknown as StepRecord };
        this.dirty = true;
      } else if (Object.hasOwn(this.entries, record.instance)) {
        delete this.entries[record.instance];
        this.dirty = true;
      }
    });
    if (this.dirty) await this.store.writeFileAtomic(this.file, memoText(this.engine, this.entries));
    this.dirty = false;
  }

  private runPresent(run: string): boolean {
    let present = this.runsPresent.get(run);
    if (present === undefined) {
      // `gc --keep-runs` may have removed the run a record refers to.
      present = existsSync(join(this.store.runsDir, `${run}.json`));
      this.runsPresent.set(run, present);
    }
    return present;
  }
}

/** Per-run fields are not remembered: a served record gets this build's. */
const PER_RUN_IN_MEMO = new Set(['status', 'reason', 'reasons', 'duration_ms', 'restored_files', 'unchanged_since']);
