// The one way a file is replaced: write to a hidden temp name beside it, then rename over it, so a
// crash leaves either the old file or the new one, never half of one. The temp name is hidden and
// ends in `.tmp`, which every folder walker skips.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let tempCounter = 0;

/** A fresh hidden temp path in the same folder as `path` (same file system, so rename is atomic). */
export function tempPathFor(path: string): string {
  tempCounter += 1;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${tempCounter}.tmp`);
}

/**
 * Replace `path` with what `fill` writes to the temp path it is given. If `fill` throws (a failed
 * check included), the temp file is removed and `path` is left as it was.
 */
export async function replaceFile(path: string, fill: (temp: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempPathFor(path);
  try {
    await fill(temp);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Write a whole file atomically. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await replaceFile(path, (temp) => writeFile(temp, data));
}

/** Synchronous twin, for code that must not yield (the pipeline memo). */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = tempPathFor(path);
  try {
    writeFileSync(temp, data);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
