// Partition templates: `{date}` (any declared partition key) and the date parts `{yyyy}`, `{mm}`,
// `{dd}` of a YYYY-MM-DD value, in file paths, globs and remote URIs. Expansion is one pure function
// (remote inputs use it on URIs); discovery (`from_files`) runs the same template backwards.
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { entryKind } from './store.js';
import { WalkProblem } from './tree-walk.js';

export const DATE_PARTS = ['yyyy', 'mm', 'dd'] as const;
const PLACEHOLDER = /\{([a-z_][a-z0-9_]*)\}/g;
const DATE_VALUE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A template problem, as data: the caller adds where it was declared. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Placeholder names used in a template, in order of appearance (repeats kept once). */
export function templatePlaceholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

export function isTemplate(text: string): boolean {
  return templatePlaceholders(text).length > 0;
}

/**
 * Placeholders a step partitioned by `key` may use; anything else is named in the returned sentence.
 * Date parts are allowed for any key (a non-date value is refused when expanded).
 */
export function checkTemplate(template: string, key: string | undefined): string | undefined {
  for (const name of templatePlaceholders(template)) {
    if (!key) return `uses {${name}}, but the step is not partitioned`;
    if (name !== key && !(DATE_PARTS as readonly string[]).includes(name)) return `uses {${name}}, but the step is partitioned by "${key}" (placeholders: {${key}}, {yyyy}, {mm}, {dd})`;
  }
  return undefined;
}

/** Fill a template for one partition: `{key}` is the value, date parts come from a YYYY-MM-DD value. */
export function expandTemplate(template: string, partition: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (name in partition) return partition[name];
    if ((DATE_PARTS as readonly string[]).includes(name)) {
      const dates = Object.entries(partition).filter(([, v]) => DATE_VALUE.test(v));
      if (dates.length !== 1) throw new TemplateError(`{${name}} needs a YYYY-MM-DD partition value (partition: ${describePartition(partition)})`);
      const [, yyyy, mm, dd] = DATE_VALUE.exec(dates[0][1]) as RegExpExecArray;
      return name === 'yyyy' ? yyyy : name === 'mm' ? mm : dd;
    }
    throw new TemplateError(`{${name}} is not a partition of this instance (partition: ${describePartition(partition)})`);
  });
}

function describePartition(partition: Readonly<Record<string, string>>): string {
  const entries = Object.entries(partition);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

// ---------- globs ----------

const GLOB_CHARS = /[*?[]/;

export function isGlob(path: string): boolean {
  return GLOB_CHARS.test(path);
}

/** One path segment's glob (`*`, `?`, `[abc]`) as a regular expression; `*` never crosses a `/`. */
function segmentRegex(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i += 1) {
    const c = segment[i];
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        const body = segment.slice(i + 1, end).replace(/\\/g, '\\\\');
        source += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * A matcher for '/'-separated names (object keys) with the rules of globFiles: `*`, `?`, `[…]` within a
 * segment, `**` for any number of segments, hidden names only for a segment starting with `.`.
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  const segments = pattern.split('/');
  const matchers = segments.map((segment) => (segment === '**' ? undefined : isGlob(segment) ? segmentRegex(segment) : segment));
  const match = (parts: readonly string[], p: number, k: number): boolean => {
    if (p === segments.length) return k === parts.length;
    const matcher = matchers[p];
    if (matcher === undefined) {
      // `**`: zero segments, or one more (not hidden) with `**` still to apply.
      return match(parts, p + 1, k) || (k < parts.length && !parts[k].startsWith('.') && match(parts, p, k + 1));
    }
    if (k === parts.length) return false;
    const part = parts[k];
    const ok = typeof matcher === 'string' ? part === matcher : matcher.test(part) && !(part.startsWith('.') && !segments[p].startsWith('.'));
    return ok && match(parts, p + 1, k + 1);
  };
  return (name) => match(name.split('/'), 0, 0);
}

/** The part of a '/'-separated glob before its first segment with a wildcard (`raw/2024/` of `raw/2024/*.csv`). */
export function globPrefix(pattern: string): string {
  const segments = pattern.split('/');
  const fixed = segments.findIndex((segment) => isGlob(segment));
  return fixed <= 0 ? '' : `${segments.slice(0, fixed).join('/')}/`;
}

/**
 * Files matching an absolute glob (`*`, `?`, `[…]` within a segment, `**` for any depth), sorted.
 * Hidden names (leading `.`) match only a pattern segment that starts with `.`; symlinks are followed
 * as the tree walker follows them, and a link to a folder already on the way down is a loop
 * (WalkProblem, its path relative to the glob's fixed part), never `**` descending 40 levels.
 * `visit` is told each folder whose listing decides the result (the settled-build check watches
 * them: a file added there changes the match).
 */
export function globFiles(pattern: string, visit?: (dir: string) => void): string[] {
  const segments = pattern.split(/[\\/]/);
  let fixed = 0;
  while (fixed < segments.length && !isGlob(segments[fixed])) fixed += 1;
  const base = segments.slice(0, fixed).join(sep) || sep;
  const rest = segments.slice(fixed);
  const found = new Set<string>();
  /** dev:ino of the folders on the way down. */
  const ancestors: string[] = [];
  const identity = (path: string): string | undefined => {
    const info = statSync(path, { bigint: true, throwIfNoEntry: false });
    return info ? `${info.dev}:${info.ino}` : undefined;
  };
  const descend = (dir: string, index: number): void => {
    // A folder that is not there is still walked (and visited): its absence decides the match too.
    const id = identity(dir);
    if (id !== undefined && ancestors.includes(id)) throw new WalkProblem('link-loop', relative(base, dir).split(sep).join('/'));
    if (id !== undefined) ancestors.push(id);
    try {
      walk(dir, index);
    } finally {
      if (id !== undefined) ancestors.pop();
    }
  };
  const walk = (dir: string, index: number): void => {
    if (index === rest.length) return;
    const segment = rest[index];
    const last = index === rest.length - 1;
    const entries = listVisited(dir, visit);
    if (!entries) return;
    if (segment === '**') {
      // Zero directories, then one more level with `**` still to apply.
      walk(dir, index + 1);
      for (const entry of entries) if (!entry.name.startsWith('.') && entryKind(entry, join(dir, entry.name)) === 'dir') descend(join(dir, entry.name), index);
      return;
    }
    const matcher = isGlob(segment) ? segmentRegex(segment) : undefined;
    for (const entry of entries) {
      if (matcher ? !matcher.test(entry.name) || (entry.name.startsWith('.') && !segment.startsWith('.')) : entry.name !== segment) continue;
      if (entry.name.endsWith('.tmp')) continue;
      const full = join(dir, entry.name);
      const kind = entryKind(entry, full);
      if (last && kind === 'file') found.add(full);
      else if (!last && kind === 'dir') descend(full, index + 1);
    }
  };
  if (rest.length === 0) return [];
  descend(base, 0);
  return [...found].sort();
}

/** A folder's entries, after telling `visit` its listing was consulted; undefined when it cannot be listed (absent counts too). */
function listVisited(dir: string, visit: ((path: string) => void) | undefined): Dirent[] | undefined {
  visit?.(dir);
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
}

// ---------- discovery ----------

/** Partition values become path segments: plain names only. */
export const SAFE_PARTITION_VALUE = /^(?!\.{1,2}$)[A-Za-z0-9_.=-]+$/;

/**
 * Partition values found on disk for a template relative to `root` (`raw/{date}/`,
 * `raw/{yyyy}/{mm}/{dd}/`, `inputs/{date}.csv`): a trailing `/` matches directories, otherwise files.
 * Date parts combine into YYYY-MM-DD; a value that is not a real date is skipped, and so is one that
 * is not a plain name (`day...csv` would give `..`, a path segment leaving out/). Sorted, unique.
 * `visit` is told each path whose listing or existence decides the values (settled.ts watches them).
 */
export function discoverPartitions(root: string, template: string, key: string, visit?: (path: string) => void): string[] {
  const wantDirs = /[\\/]$/.test(template);
  const segments = template.replace(/[\\/]+$/, '').split(/[\\/]/);
  const values = new Set<string>();
  const walk = (dir: string, index: number, bound: Record<string, string>): void => {
    const segment = segments[index];
    const last = index === segments.length - 1;
    const names = templatePlaceholders(segment);
    if (names.length === 0 && !isGlob(segment)) {
      const full = join(dir, segment);
      visit?.(full);
      if (last) {
        if (entryKind(statEntry(full), full) === (wantDirs ? 'dir' : 'file')) finish(bound);
      } else walk(full, index + 1, bound);
      return;
    }
    const matcher = segmentMatcher(segment, key);
    const entries = listVisited(dir, visit);
    if (!entries) return;
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name.endsWith('.tmp')) continue;
      const match = matcher.exec(entry.name);
      if (!match) continue;
      const next = { ...bound };
      let consistent = true;
      for (const [name, value] of Object.entries(match.groups ?? {})) {
        if (next[name] !== undefined && next[name] !== value) consistent = false;
        next[name] = value;
      }
      if (!consistent) continue;
      const full = join(dir, entry.name);
      const kind = entryKind(entry, full);
      if (last) {
        if (kind === (wantDirs ? 'dir' : 'file')) finish(next);
      } else if (kind === 'dir') walk(full, index + 1, next);
    }
  };
  const finish = (bound: Record<string, string>): void => {
    const parts = bound.yyyy !== undefined && bound.mm !== undefined && bound.dd !== undefined ? `${bound.yyyy}-${bound.mm}-${bound.dd}` : undefined;
    const value = bound[key] ?? parts;
    if (value === undefined || !SAFE_PARTITION_VALUE.test(value)) return;
    if (parts !== undefined && bound[key] !== undefined && parts !== bound[key]) return;
    if (parts !== undefined || DATE_VALUE.test(value)) {
      if (!isRealDate(value)) return;
    }
    values.add(value);
  };
  walk(root, 0, {});
  return [...values].sort();
}

function statEntry(full: string): { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean } {
  try {
    return statSync(full);
  } catch {
    return { isFile: () => false, isDirectory: () => false, isSymbolicLink: () => false };
  }
}

/** A segment like `{date}.csv`, `day={date}` or `{dd}` as a regex with one named group per placeholder. */
function segmentMatcher(segment: string, key: string): RegExp {
  let source = '';
  let last = 0;
  const seen = new Set<string>();
  for (const m of segment.matchAll(PLACEHOLDER)) {
    source += globSource(segment.slice(last, m.index));
    const name = m[1];
    const pattern = name === 'yyyy' ? '\\d{4}' : name === 'mm' || name === 'dd' ? '\\d{2}' : name === key ? '[A-Za-z0-9_.=-]+?' : undefined;
    if (pattern === undefined) throw new TemplateError(`{${name}} is neither the partition key "${key}" nor one of {yyyy}, {mm}, {dd}`);
    source += seen.has(name) ? `\\k<${name}>` : `(?<${name}>${pattern})`;
    seen.add(name);
    last = (m.index as number) + m[0].length;
  }
  source += globSource(segment.slice(last));
  return new RegExp(`^${source}$`);
}

function globSource(text: string): string {
  return segmentRegex(text).source.slice(1, -1);
}

function isRealDate(value: string): boolean {
  const t = Date.parse(`${value}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === value;
}
