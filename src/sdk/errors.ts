// Errors as data. Anything that is the user's to fix (a bad pipeline file, a malformed input row, a
// wrong flag) is a UserError: a code from one union, a structured location, and an exit category.
// The CLI renders it (errors-render.ts: file:line:col, the source line and a caret; or JSON) and never
// prints a stack trace. Anything else is a bug and keeps its stack.

/** Every code a UserError can carry. Each has an exit category (EXIT_CATEGORY) and a default sentence. */
export type ErrorCode =
  | 'YAML_SYNTAX'
  | 'SCHEMA'
  | 'UNKNOWN_STEP'
  | 'UNKNOWN_OUTPUT'
  | 'UNKNOWN_TABLE'
  | 'UNKNOWN_SCHEMA'
  | 'CYCLE'
  | 'DUPLICATE_OUTPUT_PATH'
  | 'PATH_ESCAPES_ROOT'
  | 'PARAM_TYPE'
  | 'COLUMN_TYPE'
  | 'COLUMN_MISMATCH'
  | 'TYPES_STALE'
  | 'CLI'
  | 'LOCKED'
  | 'CACHE'
  | 'INTERRUPTED'
  | 'DISK_FULL'
  | 'BAD_INPUT'
  | 'OUTPUT_SCHEMA'
  | 'STEP'
  | 'NETWORK'
  | 'AUTH';

/**
 * How the process ends: `usage` (exit 2) — the pipeline file, the command line or the cache is the
 * user's to fix before anything runs; `failure` (exit 1) — a step met bad data, a service or a
 * declared check and failed.
 */
export type ExitCategory = 'usage' | 'failure';

const EXIT_CATEGORY: Record<ErrorCode, ExitCategory> = {
  YAML_SYNTAX: 'usage', SCHEMA: 'usage', UNKNOWN_STEP: 'usage', UNKNOWN_OUTPUT: 'usage', UNKNOWN_TABLE: 'usage', UNKNOWN_SCHEMA: 'usage', CYCLE: 'usage',
  DUPLICATE_OUTPUT_PATH: 'usage', PATH_ESCAPES_ROOT: 'usage', PARAM_TYPE: 'usage', COLUMN_TYPE: 'usage', COLUMN_MISMATCH: 'usage',
  TYPES_STALE: 'usage', CLI: 'usage', LOCKED: 'usage', CACHE: 'usage', INTERRUPTED: 'failure', DISK_FULL: 'failure',
  BAD_INPUT: 'failure', OUTPUT_SCHEMA: 'failure', STEP: 'failure', NETWORK: 'failure', AUTH: 'failure',
};

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(EXIT_CATEGORY, code);
}

export const EXIT_CODE: Record<ExitCategory, number> = { usage: 2, failure: 1 };

/** Codes that turn into a plain sentence when no message is given (zx-style error table). */
const ERROR_SENTENCES: Partial<Record<ErrorCode, string>> = {
  YAML_SYNTAX: 'the file is not valid YAML',
  SCHEMA: 'the pipeline does not match its schema',
  UNKNOWN_STEP: 'an input names a step that does not exist',
  UNKNOWN_OUTPUT: 'an input names an output the step does not declare',
  CYCLE: 'the steps depend on each other in a cycle',
  DUPLICATE_OUTPUT_PATH: 'two outputs write the same path',
  PATH_ESCAPES_ROOT: 'an output path leaves the output root',
  PARAM_TYPE: 'a param has the wrong type',
  COLUMN_MISMATCH: 'a consumer expects columns the producer does not provide',
  LOCKED: 'another build holds the cache lock',
  BAD_INPUT: 'an input file is malformed',
  OUTPUT_SCHEMA: 'a step output does not match its declared schema',
  CLI: 'the command line is not valid',
  NETWORK: 'a remote service could not be reached',
  AUTH: 'the remote service refused the credentials',
  INTERRUPTED: 'the build was interrupted',
  DISK_FULL: 'no space left on the device',
  CACHE: 'a file in the cache folder is damaged (dagrun verify --repair drops it)',
};

/**
 * Where an error is: a span in a text file (1-based line and column; the end is exclusive), a row
 * (1-based) and field of a data file, or anything else by name (a URL, a step, a flag).
 */
export type Location =
  | { readonly file: string; readonly line: number; readonly col?: number; readonly endLine?: number; readonly endCol?: number }
  | { readonly file: string; readonly row: number; readonly field?: string }
  | { readonly at: string };

/** `file:line:col`, `file:line`, `file row N … field F`, or the name as is. */
export function formatLocation(location: Location): string {
  if ('at' in location) return location.at;
  if ('row' in location) return `${location.file} row ${location.row}${location.field !== undefined ? ` field ${location.field}` : ''}`;
  return location.col !== undefined ? `${location.file}:${location.line}:${location.col}` : `${location.file}:${location.line}`;
}

/** A location written as text (what most call sites give) read back into its structure. */
export function parseLocation(text: string): Location {
  const span = /^(.+?):(\d+)(?::(\d+))?$/.exec(text);
  if (span && !/^[a-z][a-z0-9+.-]*:\/\/[^/]*$/i.test(text)) {
    return span[3] !== undefined ? { file: span[1], line: Number(span[2]), col: Number(span[3]) } : { file: span[1], line: Number(span[2]) };
  }
  const row = /^(.+?) row (\d+)\b.*?(?: field (.+))?$/.exec(text);
  if (row) return row[3] !== undefined ? { file: row[1], row: Number(row[2]), field: row[3] } : { file: row[1], row: Number(row[2]) };
  return { at: text };
}

export class UserError extends Error {
  readonly code: ErrorCode;
  readonly location: Location | undefined;
  /** The location as printed before the message (kept verbatim when it was given as text). */
  readonly where: string | undefined;
  /** When one check found several problems (validate): all of them, this one first. */
  readonly problems: readonly UserError[];

  constructor(code: ErrorCode, message?: string, where?: string | Location) {
    super(message ?? ERROR_SENTENCES[code] ?? code);
    this.name = 'UserError';
    this.code = code;
    this.location = where === undefined ? undefined : typeof where === 'string' ? parseLocation(where) : where;
    this.where = where === undefined ? undefined : typeof where === 'string' ? where : formatLocation(where);
    this.problems = [this];
  }

  get category(): ExitCategory {
    return EXIT_CATEGORY[this.code] ?? 'usage';
  }

  /** The one line for a log or a manifest: `where: message`. */
  format(): string {
    return this.where ? `${this.where}: ${this.message}` : this.message;
  }

  /** The error as data, for --json, manifests and the worker boundary. */
  toJSON(): { code: ErrorCode; message: string; category: ExitCategory; location?: Location } {
    return { code: this.code, message: this.message, category: this.category, ...(this.location ? { location: this.location } : {}) };
  }

  /** One error standing for all of `problems` (the first leads); throw it when there is any. */
  static all(problems: readonly UserError[]): UserError {
    const [first] = problems;
    if (problems.length > 1) (first as { problems: readonly UserError[] }).problems = [...problems];
    return first;
  }
}

/** A step failed because of its data or params (not a bug): reported without a stack trace. */
export class StepError extends UserError {
  constructor(message: string, where?: string | Location) {
    super('STEP', message, where);
    this.name = 'StepError';
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError || (typeof error === 'object' && error !== null && (error as { name?: string }).name === 'UserError');
}

export function describeError(error: unknown): string {
  if (isUserError(error)) return (error as UserError).format();
  if (error instanceof Error) return error.stack ?? error.message;
  return String(error);
}
