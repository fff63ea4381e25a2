// Paths that come from elsewhere (a remote entry's tree, a release's file list) must stay below the
// folder they are written into.

/** A relative '/'-separated path that stays below its root. */
export function isSafeRelativePath(path: string): boolean {
  if (typeof path !== 'string' || path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
