// A directory input's stat fingerprint, from GNU find where there is one (a C walker), else from the
// Node walker. An unchanged folder fingerprints the same; the stat cache (store.ts) and the settled
// build (settled.ts) compare it with the last one.
//
// No mtime: every change the kernel makes to a file — its bytes, its size, its mode, its links, its
// name (rename), and setting its mtime (`touch -m -d`, utimes) — also sets its ctime to the current
// time, and nothing but the clock sets a ctime. An mtime put back after an edit therefore shows in the
// ctime, and a file system that keeps no ctime of its own reports the mtime there (SFTP mounts, for
// one), so the mtime would show no change the ctime does not show.
//
// find names only the folders: each file is a line of its folder's entries, in the order they are
// read. Every entry created, removed or renamed in a folder sets that folder's ctime (POSIX asks it of
// creat, link, unlink, rename; Linux sets a renamed file's own ctime as well), so a file renamed,
// added or removed shows in its folder's line, and what is in a file in its own ctime and inode. 100,000 files list in 3.3 MB instead of 5.2 MB with a path per file:
// less to format, pipe and hash on every no-op.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { sep } from 'node:path';
import { walkFiles } from './tree-walk.js';

export interface TreeFingerprint {
  readonly fingerprint: string;
  /** The files, when the Node walker listed them (find's listing is not parsed on the no-op path). */
  readonly files?: string[];
  /** The latest ctime of any entry (ms): a build vouches only for a tree that did not change while it ran. */
  newestChangeMs(): number;
}

export function treeFingerprint(dir: string): TreeFingerprint {
  const listing = findListing(dir);
  if (listing !== undefined) return { fingerprint: `find:${createHash('sha256').update(listing).digest('hex')}`, newestChangeMs: () => newestInListing(listing) };
  const files = walkFiles(dir, 'follow');
  const walked = walkFingerprint(dir, files);
  return { fingerprint: walked.fingerprint, files, newestChangeMs: () => walked.newestChangeMs };
}

/** The largest %C@ (ctime, seconds) of find's listing, in ms (a folder's line starts with its path): only asked when a build records the tree. */
function newestInListing(listing: Buffer): number {
  let newest = 0;
  for (const line of listing.toString('latin1').split('\n')) {
    const stat = line.slice(line.indexOf('\0') + 1).split(':');
    const ctime = Number(stat[0]) * 1000;
    if (ctime > newest) newest = ctime;
  }
  return newest;
}

/**
 * Every entry below `dir` as GNU find prints it, symlinks followed like the walkers (a retargeted link
 * shows its new target's inode): a folder as its path, ctime and inode, then its files, each as its
 * ctime, inode and size. A C walker stats 100,000 files for about what `git status` pays, where
 * Node's statSync costs twice that in Stats objects. Readdir order, not sorted: an unchanged folder
 * lists the same, and a listing that differs only costs the full check. Undefined where find is not
 * GNU find or fails (a loop, an unreadable folder): the Node walker decides then.
 */
export function findListing(dir: string): Buffer | undefined {
  if (process.platform !== 'linux') return undefined;
  // LC_ALL=C: the decimal point of %C@ must not follow the user's locale.
  const result = spawnSync('find', ['-L', '.', '(', '-type', 'd', '-printf', '%P\\0%C@:%i\\n', ')', '-o', '-printf', '%C@:%i:%s\\n'], { cwd: dir, env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  return result.status === 0 && !result.error ? result.stdout : undefined;
}

/** The Node walker's fingerprint of a listed tree: each file's relative path, ctime, inode and size. */
function walkFingerprint(dir: string, files: readonly string[]): { fingerprint: string; newestChangeMs: number } {
  const hasher = createHash('sha256');
  // Paths by concatenation (path.join normalises each: ~15% of a no-op over 100,000 files) and
  // the hash fed in chunks rather than once per file.
  const prefix = dir.endsWith(sep) ? dir : `${dir}${sep}`;
  const native = sep === '/';
  let chunk = '';
  let newest = 0;
  for (const file of files) {
    // Number stats (µs-precise times) are several times cheaper than bigint ones at this count.
    const info = statSync(`${prefix}${native ? file : file.split('/').join(sep)}`);
    chunk += `${file}\0${info.ctimeMs}:${info.ino}:${info.size}\n`;
    if (info.ctimeMs > newest) newest = info.ctimeMs;
    if (chunk.length > 65_536) {
      hasher.update(chunk);
      chunk = '';
    }
  }
  hasher.update(chunk);
  return { fingerprint: hasher.digest('hex'), newestChangeMs: newest };
}

