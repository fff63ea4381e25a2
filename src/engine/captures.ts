// Durable captures: what a live source step (ais-capture in live mode, stac-search against an API)
// recorded, kept apart from the action cache because it cannot be recorded again.
//
//   cache/captures/<hex>.json   one record per source step × partition × capture key (content in objects/)
//
// A capture key holds only what the capture is *of*: the step, its partition, its semantic definition,
// its params and its inputs — not the engine version, the library versions or the step's code, so a
// capture is reused across upgrades and documentation edits until `--refresh STEP`. `gc` keeps every
// capture's objects unless `gc --captures --older-than D` drops the capture first. Captures travel as
// one file (`dagrun captures export` / `import`): a JSON header line, then each object's bytes, or
// through the remote cache (`captures/{hex}` next to its `cas/` objects: cache/tiered.ts), pushed after
// a capture and pulled on a local miss. A capture is never replaced by a different one from elsewhere
// (import, pull, push): the refusal names both records' digests; only `--refresh` replaces one locally.
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, writeSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DIGEST_PREFIX, canonicalJson, digestBytes, digestFile, digestJson, shortDigest } from '../sdk/hash.js';
import { UserError } from '../sdk/errors.js';
import { writeFileAtomic } from '../sdk/atomic-write.js';
import { isDigest, type Store, type StoredOutput } from './store.js';
import { isSafeRelativePath } from './tree-walk.js';

export interface CaptureRecord {
  readonly key: string;
  readonly step: string;
  readonly instance: string;
  readonly partition: Record<string, string>;
  readonly captured_at: string;
  /** Where the data came from: `file:relative/path`, a URI without its query string, or `step.output`. */
  readonly sources: readonly string[];
  readonly params: Record<string, unknown>;
  readonly outputs: readonly StoredOutput[];
  readonly metrics: Record<string, number | string>;
  readonly warnings: readonly string[];
  /** What produced it, to say so when it is reused under other code or versions. */
  readonly engine: string;
  readonly code_digest: string;
  readonly packages: string;
  readonly run_id: string;
}

const BUNDLE_FORMAT = 'dagrun-captures/1';

/**
 * What is wrong with a capture record read from a file (an imported bundle, cache/captures/), or
 * undefined: its shape, each output's name, kind, digest and a path that stays inside out/, and when
 * the step is known, the outputs it declares (a record naming another step's output path would
 * overwrite that output when served).
 */
export function captureProblem(value: unknown, expected?: readonly { readonly name: string; readonly path: string; readonly kind: string }[]): string | undefined {
  const r = value as Partial<CaptureRecord> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'is not a JSON object';
  if (!isDigest(r.key) || typeof r.step !== 'string' || typeof r.instance !== 'string' || typeof r.captured_at !== 'string') return 'lacks its key, step, instance or time';
  if (typeof r.partition !== 'object' || r.partition === null || !Object.values(r.partition).every((v) => typeof v === 'string')) return 'has a partition that is not a map of names to values';
  if (!Array.isArray(r.sources) || typeof r.params !== 'object' || r.params === null) return 'lacks its sources or params';
  if (typeof r.metrics !== 'object' || r.metrics === null || !Array.isArray(r.warnings) || !r.warnings.every((w) => typeof w === 'string')) return 'lacks its metrics or warnings';
  if (!Array.isArray(r.outputs)) return 'has no outputs list';
  const names = new Set<string>();
  for (const output of r.outputs as Partial<StoredOutput>[]) {
    if (typeof output !== 'object' || output === null || typeof output.name !== 'string' || names.has(output.name)) return 'lists an output without a name, or one twice';
    names.add(output.name);
    if (!isSafeRelativePath(output.path) || (output.kind !== 'file' && output.kind !== 'tree')) return `output ${output.name} has an unsafe path ${JSON.stringify(output.path)} or an unknown kind`;
    if (!isDigest(output.digest) || !Number.isSafeInteger(output.bytes)) return `output ${output.name} has a malformed digest or size`;
  }
  if (expected) {
    if (r.outputs.length !== expected.length) return `lists ${r.outputs.length} outputs, the step declares ${expected.length}`;
    for (const want of expected) {
      const got = (r.outputs as StoredOutput[]).find((o) => o.name === want.name);
      if (!got) return `lacks output ${want.name}`;
      if (got.path !== want.path || got.kind !== want.kind) return `has output ${want.name} at ${JSON.stringify(got.path)} (${got.kind}); the step writes it at ${JSON.stringify(want.path)} (${want.kind})`;
    }
  }
  return undefined;
}

/** The digest of a capture record as data (its canonical JSON): equal records, equal digests, wherever stored. */
export function captureDigest(record: CaptureRecord): string {
  return digestJson(record);
}

/** Another record for the same capture key is already there: refused, naming both, never overwritten. */
export class CaptureConflict extends UserError {
  constructor(
    readonly record: CaptureRecord,
    place: string,
    readonly theirs: string,
    readonly ours: string,
  ) {
    super('CLI', `capture ${record.instance} (${shortDigest(record.key)}): ${place} already holds a different capture (record ${theirs}); this one is ${ours}; not overwritten`);
  }
}

export class Captures {
  readonly dir: string;

  constructor(readonly store: Store) {
    this.dir = join(store.root, 'captures');
  }

  private path(key: string): string {
    return join(this.dir, `${key.slice(DIGEST_PREFIX.length)}.json`);
  }

  read(key: string): CaptureRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.path(key), 'utf8')) as CaptureRecord;
    } catch {
      return undefined;
    }
  }

  async write(record: CaptureRecord): Promise<void> {
    await writeFileAtomic(this.path(record.key), `${JSON.stringify(record, null, 2)}\n`);
  }

  /** A capture from elsewhere (import, the remote): added, or 'same' when this cache has it; a different one is refused. */
  async adopt(record: CaptureRecord): Promise<'added' | 'same'> {
    if (this.conflict(record) === 'same') return 'same';
    await this.write(record);
    return 'added';
  }

  /** Throws CaptureConflict when this cache holds another record for the key; 'same' when it holds this one. */
  conflict(record: CaptureRecord): 'same' | 'none' {
    const local = this.read(record.key);
    if (!local) return 'none';
    const [theirs, ours] = [captureDigest(local), captureDigest(record)];
    if (theirs === ours) return 'same';
    throw new CaptureConflict(record, 'this cache', theirs, ours);
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  /** Every capture, by instance then time. */
  list(): CaptureRecord[] {
    if (!existsSync(this.dir)) return [];
    const records: CaptureRecord[] = [];
    for (const file of readdirSync(this.dir)) {
      if (!file.endsWith('.json') || file.startsWith('.')) continue;
      try {
        records.push(JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as CaptureRecord);
      } catch {
        /* a half-written record cannot exist (temp + rename); an unreadable one is not a capture */
      }
    }
    return records.sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : a.captured_at < b.captured_at ? -1 : 1));
  }

  /** Captures whose step or instance is named (all when none is). */
  select(names: readonly string[]): CaptureRecord[] {
    const all = this.list();
    if (names.length === 0) return all;
    const picked = all.filter((r) => names.includes(r.step) || names.includes(r.instance) || names.some((n) => r.key.startsWith(n) || r.key.slice(DIGEST_PREFIX.length).startsWith(n)));
    const unknown = names.filter((n) => !all.some((r) => r.step === n || r.instance === n || r.key.slice(DIGEST_PREFIX.length).startsWith(n)));
    if (unknown.length > 0) throw new UserError('CLI', `no capture of ${unknown.map((n) => `"${n}"`).join(', ')} (captures: ${[...new Set(all.map((r) => r.instance))].join(', ') || 'none'})`);
    return picked;
  }

  /** The objects a capture needs: its output files, tree objects and the files they list. */
  async objectsOf(record: CaptureRecord): Promise<{ digest: string; size: number }[]> {
    const objects = new Map<string, number>();
    for (const output of record.outputs) {
      if (output.kind === 'file') {
        objects.set(output.digest, output.bytes);
        continue;
      }
      const entries = await this.store.readTree(output.digest);
      objects.set(output.digest, readFileSync(this.store.objectPath(output.digest)).length);
      for (const entry of entries) objects.set(entry.digest, entry.size);
    }
    return [...objects].map(([digest, size]) => ({ digest, size }));
  }

  /** Problems with each capture's objects (missing or not hashing to their name), for `verify`. */
  async check(): Promise<{ instance: string; key: string; problem: string }[]> {
    const problems: { instance: string; key: string; problem: string }[] = [];
    for (const record of this.list()) {
      const shape = captureProblem(record);
      if (shape) {
        problems.push({ instance: String(record.instance), key: String(record.key), problem: `its record ${shape}` });
        continue;
      }
      try {
        for (const { digest } of await this.objectsOf(record)) {
          const path = this.store.objectPath(digest);
          if (!existsSync(path)) problems.push({ instance: record.instance, key: record.key, problem: `object ${digest} is missing` });
          else if ((await digestFile(path)).digest !== digest) problems.push({ instance: record.instance, key: record.key, problem: `object ${digest} is corrupt` });
        }
      } catch (error) {
        problems.push({ instance: record.instance, key: record.key, problem: (error as Error).message });
      }
    }
    return problems;
  }

  /** Write the selected captures and their objects into one file. */
  async export(records: readonly CaptureRecord[], file: string): Promise<{ captures: number; objects: number; bytes: number }> {
    const objects = new Map<string, number>();
    for (const record of records) for (const object of await this.objectsOf(record)) objects.set(object.digest, object.size);
    const list = [...objects].sort(([a], [b]) => (a < b ? -1 : 1));
    const header = canonicalJson({ format: BUNDLE_FORMAT, captures: records, objects: list });
    await mkdir(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w');
    let bytes = 0;
    try {
      writeSync(fd, `${header}\n`);
      for (const [digest] of list) {
        const data = readFileSync(this.store.objectPath(digest));
        if (digestBytes(data) !== digest) throw new UserError('CLI', `cache object ${digest} is corrupt; run \`dagrun verify\` before exporting`);
        writeSync(fd, data);
        bytes += data.length;
      }
    } finally {
      closeSync(fd);
    }
    await rename(temp, file);
    return { captures: records.length, objects: list.length, bytes };
  }

  /** Read a file written by `export`: every object is checked against its digest before anything is recorded. */
  async import(file: string, shown = file): Promise<{ captures: CaptureRecord[]; objects: number; bytes: number }> {
    if (!existsSync(file)) throw new UserError('CLI', `${shown} does not exist`);
    const fd = openSync(file, 'r');
    try {
      const header = readHeader(fd, shown);
      let offset = Buffer.byteLength(header.text) + 1;
      let bytes = 0;
      for (const [digest, size] of header.objects) {
        const data = Buffer.alloc(size);
        const read = size === 0 ? 0 : readSync(fd, data, 0, size, offset);
        if (read !== size) throw new UserError('CLI', `${shown} is truncated: object ${digest} needs ${size} bytes at offset ${offset}, found ${read}`);
        if (digestBytes(data) !== digest) throw new UserError('CLI', `${shown}: object ${digest} at offset ${offset} does not match its digest (the file is damaged)`);
        offset += size;
        bytes += size;
        const target = this.store.objectPath(digest);
        if (!existsSync(target)) await writeFileAtomic(target, data);
      }
      // All or nothing: a malformed record or a conflict anywhere refuses the file before any record is written.
      for (const [index, record] of header.captures.entries()) {
        const problem = captureProblem(record);
        if (problem) throw new UserError('CLI', `${shown}: capture ${index + 1} (${typeof record.instance === 'string' ? record.instance : '?'}) ${problem}; nothing imported`);
      }
      for (const record of header.captures) this.conflict(record);
      for (const record of header.captures) await this.adopt(record);
      return { captures: header.captures, objects: header.objects.length, bytes };
    } finally {
      closeSync(fd);
    }
  }
}

function readHeader(fd: number, shown: string): { text: string; captures: CaptureRecord[]; objects: [string, number][] } {
  const chunks: Buffer[] = [];
  let position = 0;
  for (;;) {
    const chunk = Buffer.alloc(65536);
    const read = readSync(fd, chunk, 0, chunk.length, position);
    if (read === 0) throw new UserError('CLI', `${shown} is not a captures file (no header line)`);
    const newline = chunk.subarray(0, read).indexOf(10);
    chunks.push(chunk.subarray(0, newline === -1 ? read : newline));
    if (newline !== -1) break;
    position += read;
    if (position > 256 * 1024 * 1024) throw new UserError('CLI', `${shown} is not a captures file (header too long)`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: { format?: string; captures?: CaptureRecord[]; objects?: [string, number][] };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    throw new UserError('CLI', `${shown} is not a captures file: line 1 is not JSON (${(error as Error).message})`);
  }
  if (parsed.format !== BUNDLE_FORMAT) throw new UserError('CLI', `${shown} is not a captures file (format ${JSON.stringify(parsed.format)}, expected ${BUNDLE_FORMAT})`);
  const digestPattern = /^sha256:[0-9a-f]{64}$/;
  if (!Array.isArray(parsed.objects) || !parsed.objects.every((o) => Array.isArray(o) && typeof o[0] === 'string' && digestPattern.test(o[0]) && Number.isSafeInteger(o[1]) && o[1] >= 0)) {
    throw new UserError('CLI', `${shown}: the header's "objects" must list [digest, size] pairs`);
  }
  if (!Array.isArray(parsed.captures) || !parsed.captures.every((c) => c && typeof c.key === 'string' && digestPattern.test(c.key) && typeof c.step === 'string' && Array.isArray(c.outputs))) {
    throw new UserError('CLI', `${shown}: the header's "captures" are not capture records`);
  }
  return { text, captures: parsed.captures, objects: parsed.objects };
}

/** `30d`, `12h`, `90m`, `45s` → milliseconds. */
export function parseAge(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(d|h|m|s)$/.exec(text.trim());
  if (!match) throw new UserError('CLI', `${flag} takes an age like 30d, 12h, 90m or 45s, not "${text}"`);
  return Number(match[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[match[2] as 'd' | 'h' | 'm' | 's'];
}
