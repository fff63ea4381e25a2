// The two ways an error leaves the CLI: for a terminal, each problem as `file:line:col: sentence`
// followed by the source line with a caret under the span (like a compiler); for --json, one document
// with every problem's code, message, category and structured location.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeError, EXIT_CODE, isUserError, UserError, type Location } from '../sdk/errors.js';

/** Any thrown value as a UserError when it is the user's to fix, else undefined (a bug: keep the stack). */
export function asUserError(error: unknown): UserError | undefined {
  if (isUserError(error)) return error as UserError;
  // node:util parseArgs: an unknown flag or a missing value.
  if ((error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) return new UserError('CLI', `${(error as Error).message} (see dagrun --help)`);
  return undefined;
}

export function exitCodeOf(error: unknown): number {
  const user = asUserError(error);
  // 130: stopped by SIGINT/SIGTERM, as a shell reports a process ended by Ctrl-C.
  if (user?.code === 'INTERRUPTED') return 130;
  return user ? EXIT_CODE[user.category] : 1;
}

/**
 * Terminal text: every problem, each with its source excerpt when its file can be read from `cwd`.
 * `clean` rewrites what is shown (machine paths, secrets).
 */
export function renderForTerminal(error: unknown, options: { cwd?: string; clean?: (text: string) => string } = {}): string {
  const clean = options.clean ?? ((text: string) => text);
  const user = asUserError(error);
  if (!user) return clean(describeError(error));
  const texts = new Map<string, string[] | null>();
  return user.problems
    .map((problem) => {
      const excerpt = problem.location ? sourceExcerpt(problem.location, options.cwd ?? process.cwd(), texts) : [];
      return [clean(problem.format()), ...excerpt.map(clean)].join('\n');
    })
    .join('\n');
}

/** The --json document for a failed command. */
export function renderForJson(error: unknown, clean: (text: string) => string = (text) => text): { ok: false; error: string; errors: unknown[] } {
  const user = asUserError(error);
  if (!user) return { ok: false, error: clean(describeError(error)), errors: [{ code: 'INTERNAL', message: clean(describeError(error).split('\n')[0]), category: 'failure' }] };
  return {
    ok: false,
    error: clean(user.format()),
    errors: user.problems.map((p) => JSON.parse(clean(JSON.stringify(p.toJSON()))) as unknown),
  };
}

/** `  12 |     ouputs:` and `     |     ^^^^^^` under the span; nothing when the file or line is not there. */
export function sourceExcerpt(location: Location, cwd: string, cache = new Map<string, string[] | null>()): string[] {
  if (!('line' in location) || location.line < 1) return [];
  let lines = cache.get(location.file);
  if (lines === undefined) {
    try {
      lines = readFileSync(resolve(cwd, location.file), 'utf8').split(/\r?\n/);
    } catch {
      lines = null;
    }
    cache.set(location.file, lines);
  }
  const text = lines?.[location.line - 1];
  if (text === undefined || text.trim() === '') return [];
  const col = Math.max(1, location.col ?? firstNonBlank(text));
  // The caret spans the node on its first line (a multi-line node: to the end of that line).
  const end = location.endLine === location.line && location.endCol !== undefined && location.endCol > col ? location.endCol : location.endLine !== undefined && location.endLine > location.line ? text.trimEnd().length + 1 : col + 1;
  const gutter = String(location.line);
  const shown = text.replace(/\t/g, ' ');
  return [`  ${gutter} | ${shown}`, `  ${' '.repeat(gutter.length)} | ${' '.repeat(col - 1)}${'^'.repeat(Math.max(1, Math.min(end, shown.length + 1) - col))}`];
}

function firstNonBlank(text: string): number {
  const match = /\S/.exec(text);
  return match ? match.index + 1 : 1;
}
