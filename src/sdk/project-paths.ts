// Paths as a pipeline folder sees them. Outputs, warnings and errors name files relative to the
// pipeline folder ('/'-separated), so a build is byte-identical wherever the checkout lives; such a
// stored path is resolved against the folder again when it is used.
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** A URI with a scheme (https:, s3:, wss:, file:) rather than a local path. Windows drive letters are paths. */
export function isUri(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(text) && !/^[a-z]:[\\/]/i.test(text);
}

/** `path` relative to `projectDir`, '/'-separated; URIs and already relative paths come back unchanged. */
export function projectRelative(projectDir: string, path: string): string {
  if (isUri(path) || !isAbsolute(path)) return path;
  return relative(projectDir, path).split(sep).join('/') || '.';
}

/** A path stored relative to `projectDir`, made absolute; URIs and absolute paths come back unchanged. */
export function projectResolve(projectDir: string, path: string): string {
  if (isUri(path) || isAbsolute(path)) return path;
  return resolve(projectDir, path);
}

/**
 * A function that rewrites every mention of `projectDir` in a text (a warning, an error, a metric)
 * to the relative form: `/home/me/proj/data/x.csv` → `data/x.csv`, `/home/me/proj` alone → `.`.
 */
export function relativiser(projectDir: string): (text: string) => string {
  const dir = projectDir.replace(/[\\/]+$/, '');
  if (dir.length <= 1) return (text) => text;
  const escaped = dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`${escaped}(?:[\\\\/]+|(?![\\w.-]))`, 'g');
  return (text) => (text.includes(dir) ? text.replace(pattern, (match) => (match.length > dir.length ? '' : '.')) : text);
}
