// The up-to-date memo: per instance, the record of the last build that found it cached, with the
// stats its outputs in out/ and its action entry had then.
//
//   cache/memo/<hash of the pipeline file's path>.json   { version, engine, entries: { instance → Entry } }
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
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { digestBytes, DIGEST_PREFIX } from '../sdk/hash.js';
import { sameJson, type StepRecord } from './manifest.js';
import { resolveUnder } from './paths.js';
import type { Store, StoredOutput } from './store.js';

const VERSION = 3;

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
  readonly entries: Record<string, Entry>;
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
    this.file = join(store.root, 'memo', `${digestBytes(`${pipelineFile}\0${outputRoot}`).slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 32)}.json`);
    let entries: Record<string, Entry> = {};
    try {
      const loaded = JSON.parse(readFileSync(this.file, 'utf8')) as MemoFile;
      if (loaded.version === VERSION && loaded.engine === engine && loaded.entries && typeof loaded.entries === 'object') entries = loaded.entries;
    } catch {
      /* no memo yet, or unreadable: it is only a cache */
    }
    this.entries = entries;
  }

  /** The record's outputs, metrics and warnings when the instance is up to date as defined above; undefined otherwise. */
  serve(head: RecordHead, parts: string): Served | undefined {
    const entry = Object.hasOwn(this.entries, head.instance) ? this.entries[head.instance] : undefined;
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
    if (this.dirty) await this.store.writeFileAtomic(this.file, JSON.stringify({ version: VERSION, engine: this.engine, entries: this.entries } satisfies MemoFile));
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
