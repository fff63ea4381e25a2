// User-facing errors. Anything that is the user's to fix (a bad pipeline file, a malformed input row,
// a wrong key) is a UserError: the CLI prints `where: message` and exits non-zero, with no stack trace.
// Anything else is a bug and keeps its stack.

/** Codes that turn into a plain sentence when no message is given (zx-style error table). */
const ERROR_SENTENCES: Record<string, string> = {
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
};

export class UserError extends Error {
  readonly code: string;
  /** `file:line:col`, `file:line`, `file row N field F`, or a step name. */
  readonly where: string | undefined;

  constructor(code: string, message?: string, where?: string) {
    super(message ?? ERROR_SENTENCES[code] ?? code);
    this.name = 'UserError';
    this.code = code;
    this.where = where;
  }

  /** The one line the CLI prints. */
  format(): string {
    return this.where ? `${this.where}: ${this.message}` : this.message;
  }
}

/** A step failed because of its data or params (not a bug): reported without a stack trace. */
export class StepError extends UserError {
  constructor(message: string, where?: string) {
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
