// Walking a directory tree, with an explicit rule for symbolic links, because each walker has a
// different job:
//
//   follow  inputs: a link counts by its target's content (a user may link data in); a link back to a
//           directory already on the way down is a loop and an error, never 40 levels of copies.
//   refuse  step outputs being ingested: a link is an error, so the build never copies, moves or
//           stores what lies outside the step's own scratch folder.
//   list    the out/ copy being replaced: a link is an entry like a file (to be removed itself) and is
//           never descended, so nothing it points to is read or deleted.
//
// Paths come back '/'-separated, relative and sorted; hidden `.tmp` files (atomic writes in flight)
// are skipped.
import { readdirSync, readlinkSync, statSync, type Dirent } from 'node:fs';
import { sep } from 'node:path';

export type LinkRule = 'follow' | 'refuse' | 'list';

/** Why a walk stopped: `path` is relative to the walked folder. */
export class WalkProblem extends Error {
  constructor(
    readonly problem: 'link-loop' | 'link' | 'not-a-file',
    readonly path: string,
  ) {
    super(
      problem === 'link-loop'
        ? `${path} is a symbolic link to a folder that contains it (a link loop)`
        : problem === 'link'
          ? `${path} is a symbolic link`
          : `${path} is neither a regular file nor a folder`,
    );
    this.name = 'WalkProblem';
  }
}

export function walkFiles(dir: string, links: LinkRule): string[] {
  const files: string[] = [];
  // Identities (dev:ino) of the folders on the way down, only needed when links are followed.
  const ancestors: string[] = [];
  const identity = (path: string): string => {
    const info = statSync(path, { bigint: true });
    return `${info.dev}:${info.ino}`;
  };
  // Relative paths are built while walking: path.relative per file is measurable at 10,000 files.
  const walk = (current: string, prefix: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = `${current}${sep}${entry.name}`;
      const rel = `${prefix}${entry.name}`;
      if (entry.isDirectory()) {
        if (links === 'follow') {
          ancestors.push(identity(full));
          walk(full, `${rel}/`);
          ancestors.pop();
        } else walk(full, `${rel}/`);
        continue;
      }
      if (entry.name.endsWith('.tmp')) continue;
      if (entry.isFile()) {
        files.push(rel);
        continue;
      }
      if (links === 'list') {
        files.push(rel);
        continue;
      }
      if (!entry.isSymbolicLink()) {
        if (links === 'refuse') throw new WalkProblem('not-a-file', rel);
        continue;
      }
      if (links === 'refuse') throw new WalkProblem('link', rel);
      let target;
      try {
        target = statSync(full, { bigint: true });
      } catch {
        continue; // a dangling link holds no content
      }
      if (target.isFile()) files.push(rel);
      else if (target.isDirectory()) {
        const id = `${target.dev}:${target.ino}`;
        if (ancestors.includes(id)) throw new WalkProblem('link-loop', `${rel} -> ${safeLinkText(full)}`);
        ancestors.push(id);
        walk(full, `${rel}/`);
        ancestors.pop();
      }
    }
  };
  if (links === 'follow') {
    try {
      ancestors.push(identity(dir));
    } catch {
      return [];
    }
  }
  walk(dir, '');
  return files.sort();
}

/** A link's own text when it stays relative (an absolute target would put a machine path in a message). */
function safeLinkText(path: string): string {
  try {
    const text = readlinkSync(path);
    return text.startsWith('/') || /^[A-Za-z]:/.test(text) ? '(a folder above it)' : text;
  } catch {
    return '?';
  }
}

/**
 * A path read from the store (an action entry, a tree object) is untrusted: it must be relative,
 * '/'-separated, and stay inside the folder it is resolved against.
 */
export function isSafeRelativePath(path: unknown): path is string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096) return false;
  if (path.includes('\0') || path.includes('\\') || path.startsWith('/') || /^[A-Za-z]:/.test(path)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
