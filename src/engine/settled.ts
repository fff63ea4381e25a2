// The settled build: `dagrun build` asked again, the same way, when nothing the last build depended on
// has changed, is answered from one file before the engine's modules load (bin/dagrun.js asks
// serveSettled first; anything it cannot vouch for goes the usual way).
//
//   cache/memo/settled-<digest of the invocation>.json
//
// The invocation is the command line (targets, --partition, --set, --jobs, every option), the working
// folder, the pipeline file, the cache folder, DAGRUN_CACHE and the engine version. The file lists
// everything the build's result depended on, each with its stat (size, mtime, ctime, inode; or absent):
// the pipeline file, each step's code files and output schema files, the package.json files its package
// versions were read from (and where none was found), the project's package.json and lock, every file
// input (templates filled, globs' matches), every folder a glob or a `from_files` discovery listed (a
// folder's mtime and ctime change when an entry is added, removed or renamed), every output in out/,
// every action entry and the manifests its records refer to; a directory input is watched by its tree
// fingerprint (every entry's stat, tree-fingerprint.ts). When all of them stat the same, a build
// now would find every instance cached with the same record: the answer is those records, written as
// a manifest of references with each instance's line, under the cache lock.
//
// Written only by a successful local build (no remote cache, no executor, no source steps, no remote
// inputs, no directory outputs, no --refresh/--force, no fan-in left stale), and only when
// no watched file changed while it ran (a ctime after its start, less the coarsest file-time
// granularity): a file edited mid-build would otherwise be vouched for with the state before the edit.
// The file ends with the SHA-256 of the text before it: a damaged or hand-edited one (a run name with a
// character changed would be written into the manifest as a reference) is never served.
//
// Each instance also names the watched entries that are its own (its file inputs, its outputs, its
// action entry, the manifest holding its record); the rest (pipeline, code, packages, listed folders)
// every instance shares. When only some instances' own entries changed — one date's input landed —
// the usual build asks `settledChanges` which, and serves every other instance whose upstream is
// untouched as its up-to-date memo entry, without looking at it again (runner.ts): a one-date rebuild
// then costs what the changed instances cost, not what all 365 dates do. A source that changed too close to the build's start to
// be sure (a racy stat) is recorded as `racy`, which no stat equals: its instances are looked at again.
import { readFileSync, rmSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeFileAtomicSync } from '../sdk/atomic-write.js';
import { CLI_OPTIONS, findPipelineFile } from './cli-options.js';
import { formatRecord } from './cli-format.js';
import { acquireLock } from './lock.js';
import { ENGINE_ROOT, ENGINE_VERSION } from './paths.js';
import { newRunId } from './run-id.js';
import { treeFingerprint, type TreeFingerprint } from './tree-fingerprint.js';
import type { Manifest, StepRecord } from './manifest.js';

const VERSION = 3;
/** A watched directory input: its tree fingerprint (every entry's stat), not the folder's own stat. */
const TREE = 'tree:';
/** Files changed this close before a build started may not show it in their times (FAT rounds to 2 s). */
const RACY_MS = 2000;
/** This module's own file: a rebuilt engine (same version, new code) is another engine. */
const ENGINE_FILE = fileURLToPath(import.meta.url);
/** Prefix of a watched path inside the engine's own package when that lies outside the project (a global install). */
const ENGINE_PREFIX = 'dagrun:';
/** The stat of a watched source that changed too close to the build's start to vouch for: no stat equals it. */
const RACY = 'racy';

/**
 * How a watched path is stored: relative to the project, or to the engine's package when it lies
 * outside the project — a `../../usr/lib/…` walk would spell out the machine's folders.
 */
function watchedName(path: string, pipelineDir: string): string {
  const inProject = relative(pipelineDir, path);
  const inEngine = relative(ENGINE_ROOT, path);
  const outside = (rel: string): boolean => rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
  const name = outside(inProject) && !outside(inEngine) ? `${ENGINE_PREFIX}${inEngine}` : inProject;
  return name.split(sep).join('/');
}

/** A '/'-separated relative path with no empty, `.` or `..` segment: joined to a folder, it needs no normalising. */
const PLAIN_RELATIVE = /^(?!\.\.?(\/|$))(?!.*\/\.\.?(\/|$))(?!.*\/\/)[^]+$/;

/** watchedName for many paths of one project: a path inside it is a slice, not a path.relative (measurable at 365 partitions). */
function watchedNamer(pipelineDir: string): (path: string) => string {
  const prefix = pipelineDir.endsWith(sep) ? pipelineDir : `${pipelineDir}${sep}`;
  return (path) => {
    if (!path.startsWith(prefix)) return watchedName(path, pipelineDir);
    const tail = path.slice(prefix.length, path.endsWith(sep) ? -1 : undefined);
    const name = sep === '/' ? tail : tail.split(sep).join('/');
    return PLAIN_RELATIVE.test(name) ? name : watchedName(path, pipelineDir);
  };
}

/** watchedPath for many names of one project: a plain name inside it is a concatenation, not a path.resolve. */
function watchedPather(pipelineDir: string): (name: string) => string {
  const prefix = pipelineDir.endsWith(sep) ? pipelineDir : `${pipelineDir}${sep}`;
  return (name) => (name.startsWith(ENGINE_PREFIX) || !PLAIN_RELATIVE.test(name) ? watchedPath(name, pipelineDir) : `${prefix}${sep === '/' ? name : name.split('/').join(sep)}`);
}

/** The file a stored watched name stands for. */
function watchedPath(name: string, pipelineDir: string): string {
  return name.startsWith(ENGINE_PREFIX) ? resolve(ENGINE_ROOT, name.slice(ENGINE_PREFIX.length)) : resolve(pipelineDir, name);
}

export interface Invocation {
  /** What the build was asked, as one string (it names machine folders: only its digest is stored). */
  readonly text: string;
  readonly pipelineFile: string;
  readonly cacheDir: string;
}

type CliValues = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: typeof CLI_OPTIONS }>>['values'];

/**
 * The invocation of a `dagrun build` the settled path may answer; undefined for anything else: other
 * commands, machine-readable output (--json, --events), --verbose, --refresh/--force, a remote cache or executor.
 */
export function settledInvocation(values: CliValues, positionals: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Invocation | undefined {
  if (positionals[0] !== 'build') return undefined;
  if (values.json || values.events !== undefined || values.verbose || values.help || values.version) return undefined;
  if (values.refresh || values.force || values['remote-cache'] !== undefined || values['remote-mode'] !== undefined || values.executor !== undefined || env.DAGRUN_REMOTE_CACHE) return undefined;
  const pipelineFile = values.pipeline ? resolve(values.pipeline) : findPipelineFile(cwd);
  const cacheDir = values.cache ? resolve(values.cache) : env.DAGRUN_CACHE ? resolve(env.DAGRUN_CACHE) : join(dirname(pipelineFile), 'cache');
  const options = Object.fromEntries(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const text = JSON.stringify({ engine: ENGINE_VERSION, cwd, pipelineFile, cacheDir, positionals, options, DAGRUN_CACHE: env.DAGRUN_CACHE ?? null });
  return { text, pipelineFile, cacheDir };
}

interface SettledStep {
  readonly step: string;
  readonly instance: string;
  readonly partition: Record<string, string>;
  /** The run whose manifest holds the record whole. */
  readonly run: string;
  /** What its line shows: rows per output, warnings. */
  readonly rows: readonly (readonly [string, number])[];
  readonly warnings: readonly string[];
  /** Its action key, as its up-to-date memo entry must hold it to be served without a look. */
  readonly key: string;
  /** Indexes into `watched` of the entries that are its own (file inputs, outputs, action entry, manifest). */
  readonly own: readonly number[];
}

interface SettledFile {
  readonly version: number;
  readonly invocation: string;
  /** '/'-separated paths relative to the pipeline folder, each with its stat (fingerprint). */
  readonly watched: readonly (readonly [string, string])[];
  /** The manifest's fields that depend only on the invocation and the pipeline. */
  readonly head: Pick<Manifest, '$schema' | 'pipeline' | 'options'> & { readonly duckdb: string };
  /** The sentence of an unchanged instance's reason. */
  readonly reason: string;
  readonly steps: readonly SettledStep[];
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function settledFile(invocation: Invocation): string {
  return join(invocation.cacheDir, 'memo', `settled-${digestOf(invocation.text).slice(0, 32)}.json`);
}

/** A stat as the settled file remembers it; `-` when absent. Number stats: sub-µs times are not needed to see a write. */
function fingerprint(path: string): string {
  return fingerprintOf(statSync(path, { throwIfNoEntry: false }));
}

function fingerprintOf(info: Stats | undefined): string {
  if (!info) return '-';
  return `${info.isDirectory() ? 'd' : info.isFile() ? 'f' : 'o'}${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.ino}`;
}

/** What a build that ended well depended on, by role: only `sources` are checked for edits made while it ran. */
export interface SettledDependencies {
  /** Files and folders the build read or looked for (pipeline, code, inputs, listed folders, package.json files). */
  readonly sources: Iterable<string>;
  /** The sources the build found and read (not merely looked for): absent at its end means removed while it ran. */
  readonly read: ReadonlySet<string>;
  /** Files the build itself wrote or vouches for (outputs in out/, action entries, manifests). */
  readonly products: Iterable<string>;
  /** Directory inputs, each with the stat fingerprint the build took of it. */
  readonly trees: ReadonlyMap<string, TreeFingerprint>;
  /**
   * Whether each output in out/ still holds what the build recorded (asked after the products are
   * fingerprinted): an output edited after its step finished, while the build went on, would otherwise
   * be vouched for as it is now.
   */
  readonly outputsIntact: () => boolean;
  /**
   * Per instance, the watched paths that are its own: its file inputs (a directory input as
   * `treeKey(dir)`), its outputs, its action entry, the manifest holding its record. Each must also be
   * among the sources, products or trees.
   */
  readonly owned: ReadonlyMap<string, readonly string[]>;
  /**
   * Stats this build's settledChanges verified at its start (by watched name), and the paths they may
   * not stand for (what this build may have written: the products of the instances it looked at). A
   * verified stat is vouched for as it was: a change since shows as a difference next time. Saves
   * statting every watched file twice at 365 partitions.
   */
  readonly verified?: { readonly stats: ReadonlyMap<string, string>; readonly except: ReadonlySet<string> };
  /**
   * What this build carried (served without a look), as the last settled file has it: each carried
   * instance's own watched names, and the stats kept for them and for the shared entries this build
   * did not work out again (e.g. the folders their globs list) — all verified at its start.
   */
  readonly kept?: { readonly own: ReadonlyMap<string, readonly string[]>; readonly stats: ReadonlyMap<string, string> };
}

/** How a directory input is named among the watched entries (its tree fingerprint, not its stat). */
export const treeKey = (dir: string): string => `${dir}${sep}`;

export interface SettledBuild {
  readonly invocation: Invocation;
  readonly pipelineDir: string;
  /** When the build started (ms since the epoch). */
  readonly startedMs: number;
  readonly manifest: Manifest;
  /** The records as the manifest stored them (a reference names the run that holds the record whole). */
  readonly written: readonly StepRecord[];
  readonly dependencies: SettledDependencies;
  /** The sentence of an unchanged instance's reason (events/reasons.ts). */
  readonly unchangedReason: string;
}

/**
 * After a build that ended well and may be answered again from its records (the caller checks what
 * qualifies): write the settled file, or remove a stale one when a watched file changed while it ran.
 */
export function recordSettled(build: SettledBuild): boolean {
  const file = settledFile(build.invocation);
  const { manifest, pipelineDir } = build;
  // By watched name: what this build carried is known by name only (the last settled file's).
  const watched = new Map<string, string>();
  const limit = build.startedMs - RACY_MS;
  const names = watchedNamer(pipelineDir);
  const { verified, kept } = build.dependencies;
  const known = (path: string, name: string): string | undefined => (verified && !verified.except.has(path) ? verified.stats.get(name) : undefined);
  for (const path of [ENGINE_FILE, ...build.dependencies.sources]) {
    const name = names(path);
    if (watched.has(name)) continue;
    const stat = known(path, name);
    if (stat !== undefined) {
      watched.set(name, stat);
      continue;
    }
    const info = statSync(path, { throwIfNoEntry: false });
    // Changed while the build ran (or too close before it to tell), or read and now absent (removed
    // while it ran): not vouched for, so whatever depends on it is looked at again next time.
    const racy = (info && info.ctimeMs >= limit) || (!info && build.dependencies.read.has(path));
    watched.set(name, racy ? RACY : fingerprintOf(info));
  }
  for (const [path, tree] of build.dependencies.trees) {
    watched.set(names(treeKey(path)), `${TREE}${tree.newestChangeMs() >= limit ? RACY : tree.fingerprint}`);
  }
  for (const path of build.dependencies.products) {
    const name = names(path);
    watched.set(name, known(path, name) ?? fingerprint(path));
  }
  // What the carried instances own and depend on (a listed folder of a glob nobody resolved this time), as verified at the start.
  for (const [name, stat] of kept?.stats ?? []) if (!watched.has(name)) watched.set(name, stat);
  if (!build.dependencies.outputsIntact()) {
    forgetSettled(build.invocation);
    return false;
  }
  const index = new Map([...watched.keys()].map((name, i) => [name, i]));
  const own = (instance: string): number[] => {
    const carried = kept?.own.get(instance);
    const indexes = carried ? carried.map((name) => index.get(name)) : (build.dependencies.owned.get(instance) ?? []).map((path) => index.get(names(path)));
    if (indexes.some((i) => i === undefined)) throw new Error(`settled: ${instance} owns a path that is not watched`);
    return [...new Set(indexes as number[])].sort((a, b) => a - b);
  };
  const settled: SettledFile = {
    version: VERSION,
    invocation: digestOf(build.invocation.text),
    watched: [...watched],
    head: { $schema: manifest.$schema, pipeline: manifest.pipeline, options: manifest.options, duckdb: manifest.versions.duckdb },
    reason: build.unchangedReason,
    steps: manifest.steps.map((record, i) => ({
      step: record.step,
      instance: record.instance,
      partition: record.partition,
      run: build.written[i].unchanged_since ?? manifest.run_id,
      rows: record.outputs.filter((o) => o.rows !== undefined).map((o) => [o.name, o.rows as number] as const),
      warnings: record.warnings,
      key: record.cache_key as string,
      own: own(record.instance),
    })),
  };
  writeFileAtomicSync(file, sealed(JSON.stringify(settled)));
  return true;
}

/** No settled answer for this invocation (its build could not vouch for one). */
export function forgetSettled(invocation: Invocation): void {
  rmSync(settledFile(invocation), { force: true });
}

/** A settled file's JSON text with the digest of that text added as its last field. */
function sealed(body: string): string {
  return `${body.slice(0, -1)},"digest":"${digestOf(body)}"}`;
}

/** A settled file's text read back: its content when it is whole (its digest matches) and shaped, else why not. */
export function parseSettled(text: string): { settled?: SettledFile; problem?: string } {
  let value: SettledFile & { digest?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch (error) {
    return { problem: `does not parse (${(error as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'is not a JSON object' };
  if (value.version !== VERSION) return {}; // another engine's: not used, not damage
  const tail = `,"digest":"${String(value.digest)}"}`;
  if (typeof value.digest !== 'string' || !text.endsWith(tail) || digestOf(`${text.slice(0, -tail.length)}}`) !== value.digest) return { problem: 'does not match its digest (edited or damaged)' };
  const shaped =
    typeof value.invocation === 'string' &&
    Array.isArray(value.watched) && value.watched.every((w) => Array.isArray(w) && typeof w[0] === 'string' && typeof w[1] === 'string') &&
    Array.isArray(value.steps) &&
    value.steps.every((s) => typeof s === 'object' && s !== null && typeof s.instance === 'string' && typeof s.run === 'string' && typeof s.key === 'string' && Array.isArray(s.rows) && Array.isArray(s.warnings) && Array.isArray(s.own) && s.own.every((i: unknown) => Number.isSafeInteger(i) && (i as number) >= 0 && (i as number) < value.watched.length));
  return shaped ? { settled: value } : { problem: 'is not a settled build record (invocation, watched, steps)' };
}

/** The settled file for this invocation; undefined when there is none (or it is unreadable, damaged, or of another version). */
function readSettled(invocation: Invocation): SettledFile | undefined {
  let text: string;
  try {
    text = readFileSync(settledFile(invocation), 'utf8');
  } catch {
    return undefined;
  }
  const { settled } = parseSettled(text);
  return settled && settled.invocation === digestOf(invocation.text) ? settled : undefined;
}

/** Whether a watched entry stats as the settled file remembers it. */
function unchanged([name, stat]: readonly [string, string], pipelineDir: string): boolean {
  const path = watchedPath(name, pipelineDir);
  const now = stat.startsWith(TREE) ? `${TREE}${treeFingerprint(path).fingerprint}` : fingerprint(path);
  return now === stat;
}

/** A settled file written by this very engine: it watches the engine's own file. */
function byThisEngine(settled: SettledFile, pipelineDir: string): boolean {
  const engine = watchedName(ENGINE_FILE, pipelineDir);
  return settled.watched.some(([name]) => name === engine);
}

/** What the last settled build of an invocation vouches for now that some of what it watched changed. */
export interface SettledChanges {
  /** Instance → the key and run its up-to-date memo entry must hold: nothing that is its own changed. */
  readonly untouched: ReadonlyMap<string, { readonly key: string; readonly run: string; readonly own: readonly string[] }>;
  /** How many watched entries changed (0: the build is settled whole). */
  readonly changed: number;
  /** The stats that are as the settled file remembers them (not trees, not racy ones), by watched name. */
  readonly verified: ReadonlyMap<string, string>;
  /** The watched names some instance owns (the others are shared: pipeline, code, listed folders…). */
  readonly owned: ReadonlySet<string>;
}

/**
 * Which instances the invocation's settled file still vouches for, asked by the usual build under
 * the cache lock: undefined when there is no usable settled file or a shared entry changed (the
 * pipeline, code, packages, a listed folder: anything may differ then). An instance is untouched
 * when none of its own entries changed; one with a directory input is never (its tree is not
 * fingerprinted unless it is looked at). Whether its upstream is untouched is the caller's to check.
 */
export function settledChanges(invocation: Invocation): SettledChanges | undefined {
  const settled = readSettled(invocation);
  return settled && changesSince(settled, dirname(invocation.pipelineFile));
}

function changesSince(settled: SettledFile, pipelineDir: string): SettledChanges | undefined {
  if (!byThisEngine(settled, pipelineDir)) return undefined;
  // Which entries are some instance's own: worked out at the first change (a settled no-op needs none of it).
  let owned: Set<number> | undefined;
  const isOwned = (i: number): boolean => (owned ??= new Set(settled.steps.flatMap((step) => step.own))).has(i);
  const changed = new Set<number>();
  const paths = watchedPather(pipelineDir);
  const trees: number[] = [];
  for (const [i, [name, stat]] of settled.watched.entries()) {
    if (stat.startsWith(TREE)) trees.push(i);
    else if (fingerprint(paths(name)) !== stat) {
      if (!isOwned(i)) return undefined;
      changed.add(i);
    }
  }
  // A directory input is fingerprinted (every entry's stat) only when nothing else changed: the whole
  // build may be settled then. Otherwise the instances reading it are looked at, and the walk is theirs.
  for (const i of trees) {
    if (changed.size === 0 && unchanged(settled.watched[i], pipelineDir)) continue;
    if (!isOwned(i)) return undefined;
    changed.add(i);
  }
  // An instance reading a directory is never untouched, even when every tree is unchanged (a build
  // that found nothing changed, e.g. after waiting for the cache lock): a carried instance is watched
  // by the stats verified here, and a tree is not among them (the folder's own stat misses an edit inside).
  const tree = new Set(trees);
  const untouched = new Map<string, { key: string; run: string; own: string[] }>();
  const verified = new Map<string, string>();
  if (changed.size === 0) return { untouched, changed: 0, verified, owned: new Set() };
  for (const step of settled.steps) if (!step.own.some((i) => changed.has(i) || tree.has(i))) untouched.set(step.instance, { key: step.key, run: step.run, own: step.own.map((i) => settled.watched[i][0]) });
  for (const [i, [name, stat]] of settled.watched.entries()) if (!changed.has(i) && !stat.startsWith(TREE)) verified.set(name, stat);
  return { untouched, changed: changed.size, verified, owned: new Set([...(owned ?? [])].map((i) => settled.watched[i][0])) };
}

/** The invocation of a command line (argv as given to the CLI) the settled path may answer; undefined otherwise. */
export function invocationFor(argv: readonly string[], cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Invocation | undefined {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: CLI_OPTIONS });
    return settledInvocation(values, positionals, cwd, env);
  } catch {
    return undefined; // the CLI reports a bad command line
  }
}

/**
 * What the settled check hands the usual build when only some instances' own files changed: which,
 * and the cache lock it holds, so nothing can change between the check and the build (and nothing
 * is stat'd twice). The build releases it.
 */
export interface SettledHandoff {
  readonly invocation: Invocation;
  readonly changes: SettledChanges;
  readonly release: () => void;
}

/**
 * Answer `dagrun build` (argv as given to the CLI) from the settled file: print each instance's line
 * and the run's, write its manifest, return the exit code. Undefined — nothing written or printed —
 * whenever the usual build must decide: another command or option, a watched change, the cache
 * lock held, anything unreadable; a handoff (holding the lock) when only some instances' own files changed.
 */
export async function serveSettled(argv: readonly string[], out: NodeJS.WritableStream = process.stdout, cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Promise<number | SettledHandoff | undefined> {
  const invocation = invocationFor(argv, cwd, env);
  const settled = invocation && readSettled(invocation);
  if (!invocation || !settled) return undefined;
  let release: (() => void) | undefined;
  try {
    release = await acquireLock(invocation.cacheDir, 0);
  } catch {
    return undefined; // another build holds the cache: the usual build waits for it and says so
  }
  let manifest: Manifest;
  let manifestFile: string;
  let handedOff = false;
  try {
    // Checked under the lock: no build can change out/ or the cache meanwhile.
    const changes = changesSince(settled, dirname(invocation.pipelineFile));
    if (!changes) return undefined;
    if (changes.changed > 0) {
      handedOff = true;
      return { invocation, changes, release };
    }
    const started = new Date();
    const runId = newRunId();
    const unchanged = [{ kind: 'unchanged' as const }];
    manifest = {
      $schema: settled.head.$schema,
      run_id: runId,
      kind: 'build',
      status: 'ok',
      pipeline: settled.head.pipeline,
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      versions: { engine: ENGINE_VERSION, node: process.version, duckdb: settled.head.duckdb },
      options: settled.head.options,
      steps: settled.steps.map((s) => ({ step: s.step, instance: s.instance, partition: s.partition, status: 'cached', reason: settled.reason, reasons: unchanged, duration_ms: 0, unchanged_since: s.run }) as unknown as StepRecord),
    };
    manifestFile = join(invocation.cacheDir, 'runs', `${runId}.json`);
    // The lines first: nothing is written unless all of the answer can be.
    const lines = settled.steps.map((s) => formatRecord({ status: 'cached', instance: s.instance, outputs: s.rows.map(([name, rows]) => ({ name, rows })), warnings: s.warnings } as unknown as StepRecord));
    writeFileAtomicSync(manifestFile, `${JSON.stringify(manifest)}\n`);
    lines.push(`run ${runId}: 0 built, ${settled.steps.length} cached, 0 failed — manifest ${relative(cwd, manifestFile).split(sep).join('/') || '.'}`);
    out.write(`${lines.join('\n')}\n`);
  } catch {
    return undefined;
  } finally {
    if (!handedOff) release();
  }
  return 0;
}
