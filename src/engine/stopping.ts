// A build that has to stop early: on SIGINT/SIGTERM (the CLI aborts the build's signal) or when the
// disk fills up (ENOSPC from any write: a kernel's, DuckDB's, the store's). Either way nothing more
// starts, running kernels are stopped, scratch is removed, the manifest of what finished is written
// if it can be, and the build ends with one sentence.
import { readdirSync, lstatSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { UserError } from '../sdk/errors.js';

export type StopWhy = 'interrupted' | 'disk-full';

/** ENOSPC as node reports it (code), or as a kernel worker or DuckDB passes it on (message). */
export function isDiskFull(error: unknown): boolean {
  if (typeof error === 'string') return /ENOSPC|No space left on device/i.test(error);
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ENOSPC' || (typeof e?.message === 'string' && isDiskFull(e.message));
}

/** Bytes below `dir` (scratch about to be removed), without following links. */
export function bytesBelow(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesBelow(path);
    else {
      try {
        total += lstatSync(path).size;
      } catch {
        /* gone already */
      }
    }
  }
  return total;
}

async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const info = await statfs(path);
    return Number(info.bavail) * Number(info.bsize);
  } catch {
    return undefined;
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * The one sentence a full disk ends a build with. It names the fuller of the two folders the build
 * writes (cache/ or the output root), relative to the working folder, never an absolute path.
 */
export async function diskFullError(cacheRoot: string, outputRoot: string, freed: number, manifest: string | undefined): Promise<UserError> {
  const [cacheFree, outFree] = await Promise.all([freeBytes(cacheRoot), freeBytes(outputRoot)]);
  const outFuller = outFree !== undefined && cacheFree !== undefined && outFree < cacheFree;
  const folder = `${relative(process.cwd(), outFuller ? outputRoot : cacheRoot) || '.'}/`;
  const free = outFuller ? outFree : cacheFree;
  const details = [free === undefined ? undefined : `${formatBytes(free)} free`, manifest ? `what finished is in ${manifest}` : 'no manifest could be written'].filter(Boolean).join('; ');
  return new UserError('DISK_FULL', `no space left on the device holding ${folder} (${details}): freed ${freed} bytes of scratch; nothing built was lost`);
}

/** Thrown inside an instance that was about to start when the build stopped. */
export class NotStarted extends Error {
  constructor(readonly why: StopWhy) {
    super(`not started: ${why}`);
    this.name = 'NotStarted';
  }
}

/** What an executor closed mid-build answers for an instance it was still running (a distributed job). */
export class StoppedWhileRunning extends UserError {
  constructor() {
    super('INTERRUPTED', 'the build stopped before the job finished');
    this.name = 'StoppedWhileRunning';
  }
}
