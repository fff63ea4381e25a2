// `dagrun publish RUN --to TARGET` and `dagrun verify-release TARGET`: a reproducible dataset release.
//
// A release is the run's outputs in their relative layout (taken from the store by digest, so it is
// exactly what the run produced, whatever out/ holds now), plus
//   release.json   every file (path, digest, bytes, rows), and each step instance's lineage
//   SHA256SUMS     `sha256sum -c` format, over every file and release.json
// Files go up first, then release.json, then SHA256SUMS: a target with SHA256SUMS is complete.
// TARGET is a folder, s3://bucket/prefix or an http(s):// server that takes PUT (WebDAV).
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../sdk/errors.js';
import { DIGEST_PREFIX, digestBytes, digestFile } from '../../sdk/hash.js';
import { readManifest, type Manifest } from '../manifest.js';
import type { Store } from '../store.js';
import { openBlobs, type BlobStore } from './blobs.js';
import { isSafeRelativePath } from './paths.js';
import { redactUrl } from './transfer.js';
import { Semaphore } from '../semaphore.js';

export interface ReleaseFile {
  readonly path: string;
  readonly digest: string;
  readonly bytes: number;
  readonly rows?: number;
  /** The step instance and output that produced it. */
  readonly instance: string;
  readonly output: string;
}

export interface ReleaseDocument {
  readonly release_format: 1;
  readonly pipeline: string;
  readonly run_id: string;
  readonly engine: string;
  /** When the run finished (not when it was published: publishing twice gives the same bytes). */
  readonly built_at: string;
  readonly files: readonly ReleaseFile[];
  readonly lineage: readonly {
    readonly instance: string;
    readonly step: string;
    readonly partition: Readonly<Record<string, string>>;
    readonly code_digest?: string;
    readonly params: Readonly<Record<string, unknown>>;
    readonly inputs: readonly { readonly name: string; readonly source: string; readonly digest: string }[];
    readonly outputs: readonly string[];
  }[];
}

export interface PublishReport {
  readonly target: string;
  readonly run_id: string;
  readonly files: number;
  readonly bytes: number;
  /** The target already held this very release: nothing was written. */
  readonly unchanged: boolean;
}

export interface VerifyReport {
  readonly target: string;
  readonly files: number;
  readonly bytes: number;
  readonly problems: readonly string[];
}

const SUMS = 'SHA256SUMS';
const RELEASE = 'release.json';
const MAX_META_BYTES = 64 * 1024 * 1024;

export async function publishRun(store: Store, run: string, to: string, concurrency = 8): Promise<PublishReport> {
  const manifest = readManifest(store.runsDir, run);
  if (manifest.kind !== 'build' || manifest.status !== 'ok') throw new UserError('CLI', `run ${manifest.run_id} is a ${manifest.kind} whose status is ${manifest.status}: publish a build that succeeded`);
  const document = await releaseDocument(store, manifest);
  const releaseBytes = Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
  const sums = Buffer.from(sumsText([...document.files.map((f) => ({ path: f.path, digest: f.digest })), { path: RELEASE, digest: digestBytes(releaseBytes) }]));
  const bytes = document.files.reduce((sum, f) => sum + f.bytes, 0);

  const blobs = await openTarget(to, concurrency);
  try {
    const existing = await blobs.getBytes(SUMS, MAX_META_BYTES);
    if (existing?.equals(sums)) return { target: blobs.shown, run_id: manifest.run_id, files: document.files.length, bytes, unchanged: true };
    if (existing) throw new UserError('CLI', `${blobs.shown} already holds a different release (its ${SUMS} differs); publish to a new location`);
    const limiter = new Semaphore(concurrency);
    await Promise.all(
      document.files.map((file) =>
        limiter.run(async () => {
          // The store's copy is re-hashed first: a release never carries a corrupt object.
          const source = store.objectPath(file.digest);
          const actual = existsSync(source) ? (await digestFile(source)).digest : undefined;
          if (actual !== file.digest) throw new UserError('CLI', `${file.path}: the cache's object ${file.digest.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 12)} is ${actual ? 'corrupt' : 'missing (collected by gc?)'}; rebuild the run, then publish`);
          await blobs.upload(file.path, source, file.bytes);
        }),
      ),
    );
    await blobs.putBytes(RELEASE, releaseBytes);
    await blobs.putBytes(SUMS, sums);
    return { target: blobs.shown, run_id: manifest.run_id, files: document.files.length, bytes, unchanged: false };
  } finally {
    await blobs.close();
  }
}

/** Re-hash every file SHA256SUMS lists, and check release.json agrees with it. */
export async function verifyRelease(target: string, concurrency = 8): Promise<VerifyReport> {
  const blobs = await openTarget(target, concurrency);
  const scratch = await mkdtemp(join(tmpdir(), 'dagrun-verify-'));
  try {
    const sumsBytes = await blobs.getBytes(SUMS, MAX_META_BYTES);
    if (!sumsBytes) throw new UserError('CLI', `${blobs.shown} has no ${SUMS}: not a release, or a publish that did not finish`);
    const listed = parseSums(sumsBytes.toString('utf8'));
    const problems: string[] = [];
    let bytes = 0;
    const limiter = new Semaphore(concurrency);
    let counter = 0;
    await Promise.all(
      listed.map((entry) =>
        limiter.run(async () => {
          const temp = join(scratch, String((counter += 1)));
          const got = await blobs.download(entry.path, temp);
          await rm(temp, { force: true });
          if (!got) problems.push(`${entry.path}: missing`);
          else if (got.digest !== entry.digest) problems.push(`${entry.path}: hashes to ${got.digest.slice(DIGEST_PREFIX.length)}, ${SUMS} says ${entry.digest.slice(DIGEST_PREFIX.length)}`);
          else bytes += got.size;
        }),
      ),
    );
    const releaseEntry = listed.find((e) => e.path === RELEASE);
    if (!releaseEntry) problems.push(`${SUMS} does not list ${RELEASE}`);
    else {
      const releaseBytes = await blobs.getBytes(RELEASE, MAX_META_BYTES);
      let document: ReleaseDocument | undefined;
      try {
        document = releaseBytes ? (JSON.parse(releaseBytes.toString('utf8')) as ReleaseDocument) : undefined;
      } catch {
        problems.push(`${RELEASE}: not JSON`);
      }
      if (document && Array.isArray(document.files)) {
        const sums = new Map(listed.map((e) => [e.path, e.digest]));
        for (const file of document.files) {
          if (sums.get(file.path) !== file.digest) problems.push(`${RELEASE} lists ${file.path} as ${file.digest}, ${SUMS} ${sums.has(file.path) ? 'differs' : 'does not list it'}`);
        }
        const inDocument = new Set(document.files.map((f) => f.path));
        for (const entry of listed) if (entry.path !== RELEASE && !inDocument.has(entry.path)) problems.push(`${SUMS} lists ${entry.path}, ${RELEASE} does not`);
      }
    }
    return { target: blobs.shown, files: listed.length, bytes, problems: problems.sort() };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await blobs.close();
  }
}

async function openTarget(location: string, concurrency: number): Promise<BlobStore> {
  try {
    return await openBlobs(location, concurrency);
  } catch (error) {
    throw new UserError('CLI', `${redactUrl(location)}: ${(error as Error).message}`);
  }
}

async function releaseDocument(store: Store, manifest: Manifest): Promise<ReleaseDocument> {
  const files: ReleaseFile[] = [];
  for (const step of manifest.steps) {
    for (const output of step.outputs) {
      if (output.kind === 'tree') {
        for (const entry of await store.readTree(output.digest)) files.push({ path: `${output.path}/${entry.path}`, digest: entry.digest, bytes: entry.size, instance: step.instance, output: output.name });
      } else files.push({ path: output.path, digest: output.digest, bytes: output.bytes, rows: output.rows, instance: step.instance, output: output.name });
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of files) {
    if (!isSafeRelativePath(file.path) || file.path === RELEASE || file.path === SUMS) throw new UserError('CLI', `output path ${JSON.stringify(file.path)} cannot be part of a release`);
  }
  return {
    release_format: 1,
    pipeline: manifest.pipeline.name,
    run_id: manifest.run_id,
    engine: manifest.versions.engine,
    built_at: manifest.finished_at,
    files,
    lineage: manifest.steps.map((s) => ({
      instance: s.instance,
      step: s.step,
      partition: s.partition,
      code_digest: s.code_digest,
      params: s.params,
      inputs: s.inputs.map((i) => ({ name: i.name, source: i.source, digest: i.digest })),
      outputs: s.outputs.map((o) => o.path),
    })),
  };
}

function sumsText(entries: readonly { path: string; digest: string }[]): string {
  return [...entries]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((e) => `${e.digest.slice(DIGEST_PREFIX.length)}  ${e.path}\n`)
    .join('');
}

/** `sha256sum` lines: 64 hex digits, two spaces (or space and '*'), a safe relative path. */
export function parseSums(text: string): { path: string; digest: string }[] {
  const out: { path: string; digest: string }[] = [];
  text.split('\n').forEach((line, index) => {
    if (line === '') return;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match || !isSafeRelativePath(match[2])) throw new UserError('CLI', `not a sha256sum line: ${JSON.stringify(line.slice(0, 120))}`, `${SUMS}:${index + 1}`);
    out.push({ digest: `${DIGEST_PREFIX}${match[1]}`, path: match[2] });
  });
  return out;
}
