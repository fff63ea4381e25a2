// pipeline.yaml → a validated, typed Pipeline. The YAML is parsed with positions kept, checked against
// schemas/pipeline.schema.json, then normalised once here. Every problem in the file is reported (not
// only the first), each at its file:line:col.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { writeFileAtomicSync } from '../sdk/atomic-write.js';
import { basename, dirname, isAbsolute, join, relative, resolve, sep, normalize } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { getAjv, yaml } from './lazy-modules.js';
import { closest, decodeUtf8, duplicateKey, rangeOf, schemaErrors, type Locate } from './diagnostics.js';
import { COLUMN_TYPE_NAMES, columnTypeProblem } from './column-types.js';
import { formatLocation, isUserError, UserError, type Location } from '../sdk/errors.js';
import type { Columns } from '../sdk/table-io.js';
import { ENGINE_VERSION, SCHEMAS_DIR } from './paths.js';
import { DIGEST_PREFIX, digestBytes } from '../sdk/hash.js';
import type { RemoteCacheConfig } from './cache/config.js';
import { SAFE_PARTITION_VALUE, TemplateError, checkTemplate, discoverPartitions, isGlob, isTemplate } from './templates.js';
import { normaliseSchedules, type RawSchedule, type ScheduleSpec } from './schedule/spec.js';
import { isFetchableUri, isRemoteGlob } from './cache/remote-input.js';
import { redactUrl } from './cache/transfer.js';

export type OutputFormat = 'parquet' | 'csv' | 'json' | 'geojson' | 'directory';
export type InputFormat = OutputFormat | 'ndjson' | 'text';

export interface OutputSpec {
  readonly name: string;
  /** Path template relative to the output root, e.g. `plan/{date}/schedule.parquet`. */
  readonly path: string;
  readonly format: OutputFormat;
  readonly columns?: Columns;
  /** The named table (under `tables:`) the columns come from. */
  readonly table?: string;
  /** The named table whose columns come first (`extends:`); `columns` holds them all, resolved. */
  readonly extends?: string;
  /** Columns taken by name from a table or one of the step's inputs (not typed here): where each came from. */
  readonly columnSources?: ColumnSources;
  readonly orderBy?: readonly string[];
  /** Absolute path of the JSON Schema a json/geojson output must satisfy. */
  readonly schemaFile?: string;
}

/** Where a column named without a type came from: a named table (`extends:`, `include:`) or a step input. */
export type ColumnSource = { readonly table: string } | { readonly input: string };
export type ColumnSources = Readonly<Record<string, ColumnSource>>;

export interface StepInput {
  readonly name: string;
  readonly kind: 'step' | 'file' | 'remote';
  /** For kind 'step'. */
  readonly step?: string;
  readonly output?: string;
  /** The previous partition's output of this same step. */
  readonly previous: boolean;
  /**
   * For 'file': absolute path, possibly a template (`{date}`, `{yyyy}/{mm}/{dd}`) and/or a glob,
   * resolved per instance. For 'remote': the URI (https:, wss:, …).
   */
  readonly location?: string;
  readonly format?: InputFormat;
  /** The columns this step relies on: its own `columns:`, a named `table:`'s, else its producer's. */
  readonly columns?: Columns;
  readonly table?: string;
  readonly optional: boolean;
}

export interface ParamSpec {
  readonly name: string;
  readonly schema: Record<string, unknown>;
  readonly defaultValue: unknown;
}

export interface StepSpec {
  readonly name: string;
  readonly kind: 'sql' | 'kernel';
  /** Absolute path to the SQL file or kernel module. */
  readonly code: string;
  readonly source: boolean;
  readonly partition?: string;
  readonly inputs: readonly StepInput[];
  readonly params: readonly ParamSpec[];
  readonly outputs: readonly OutputSpec[];
  /** The definition as it enters the cache key (paths relative to the pipeline folder). */
  readonly definition: unknown;
}

export interface Pipeline {
  readonly file: string;
  readonly dir: string;
  readonly name: string;
  readonly outputRoot: string;
  readonly partitions: Readonly<Record<string, readonly string[]>>;
  /** Partition keys whose values are discovered from files (`from_files`): key → template. */
  readonly discovered?: Readonly<Record<string, string>>;
  readonly steps: ReadonlyMap<string, StepSpec>;
  /** Step names in a topological order (producers first; ties by declaration order). */
  readonly order: readonly string[];
  /** `cache: { remote, mode }`: the remote cache (cache/config.ts resolves it against CLI and env). */
  readonly cache?: RemoteCacheConfig;
  /** `schedules:`, normalised and checked (schedule/spec.ts). */
  readonly schedules?: Readonly<Record<string, ScheduleSpec>>;
  /** `tables:`: the named table schemas outputs and inputs refer to (types-gen.ts writes them for code). */
  readonly tables?: Readonly<Record<string, { readonly columns: Columns; readonly orderBy?: readonly string[]; readonly columnSources?: ColumnSources }>>;
  /** `file:line:col` of a node in the YAML, for error messages. */
  locate(path: readonly (string | number)[]): string;
}

let schemaValidator: ValidateFunction | undefined;
/** Bumped when what the memo holds changes shape or meaning (e.g. what a definition includes). */
const MEMO_FORMAT = 6;

function pipelineValidator(): ValidateFunction {
  schemaValidator ??= getAjv().compile(JSON.parse(readFileSync(resolve(SCHEMAS_DIR, 'pipeline.schema.json'), 'utf8')));
  return schemaValidator;
}

/**
 * Load and validate a pipeline file. A file whose exact text (and engine version) was validated
 * before is read back from a memo in the cache folder, after re-checking the files it names exist;
 * anything else goes through the full parse and validation.
 */
export function loadPipeline(file: string, memoDir?: string): Pipeline {
  const path = resolve(file);
  const shown = relative(process.cwd(), path) || path;
  if (!existsSync(path)) throw new UserError('CLI', `no pipeline file at ${shown} (use --pipeline FILE)`);
  if (statSync(path).isDirectory()) throw new UserError('CLI', `${shown} is a folder; --pipeline takes a pipeline file (such as ${join(shown, 'pipeline.yaml')})`, shown);
  const text = decodeUtf8(readFileSync(path), shown);
  // The key covers what validation depends on: engine version, the schema file, the file's name and
  // its text — not the folder it is in, so a moved or second checkout hits the same memo.
  const schema = statSync(resolve(SCHEMAS_DIR, 'pipeline.schema.json'));
  // Kept in the cache the build uses: a project whose cache is elsewhere (DAGRUN_CACHE) gets no cache/ folder.
  const memo = join(memoDir ?? (process.env.DAGRUN_CACHE ? resolve(process.env.DAGRUN_CACHE) : join(dirname(path), 'cache')), 'pipelines', `${digestBytes(`${MEMO_FORMAT}\0${ENGINE_VERSION}\0${schema.size}:${schema.mtimeMs}\0${basename(path)}\0${text}`).slice(DIGEST_PREFIX.length)}.json`);
  const remembered = readMemo(memo, text, path);
  if (remembered) return remembered;
  const pipeline = parsePipeline(text, path);
  try {
    writeFileAtomicSync(memo, JSON.stringify({ ...pipeline, steps: [...pipeline.steps.values()], locate: undefined }, memoPaths(pipeline.dir, 'store')));
  } catch {
    /* the memo is only a speed-up */
  }
  return pipeline;
}

function readMemo(memo: string, text: string, file: string): Pipeline | undefined {
  let stored: Omit<Pipeline, 'steps' | 'locate'> & { steps: StepSpec[] };
  try {
    stored = JSON.parse(readFileSync(memo, 'utf8'), memoPaths(dirname(file), 'load')) as typeof stored;
  } catch {
    return undefined;
  }
  // A damaged memo is only a lost speed-up: validate the file again.
  if (memoProblem(stored)) return undefined;
  // What validation checked on disk must still hold; otherwise re-parse for a located error.
  for (const step of stored.steps) {
    if (!existsSync(step.code)) return undefined;
    if (step.inputs.some((i) => i.kind === 'file' && !i.optional && !isPerInstance(i.location as string) && !existsSync(i.location as string))) return undefined;
    if (step.outputs.some((o) => o.schemaFile && !existsSync(o.schemaFile))) return undefined;
  }
  let parsed: Pipeline | undefined;
  const locate = (p: readonly (string | number)[]): string => {
    parsed ??= parsePipeline(text, file);
    return parsed.locate(p);
  };
  // Discovered partitions are the files on disk now, not when the memo was written.
  const partitions = { ...stored.partitions };
  for (const [key, template] of Object.entries(stored.discovered ?? {})) {
    const values = discoverPartitions(stored.dir, template, key);
    if (values.length === 0) return undefined; // the full parse reports it with a location
    partitions[key] = values;
  }
  return { ...stored, partitions, steps: new Map(stored.steps.map((s) => [s.name, s])), locate };
}

/**
 * Paths in a memo are stored relative to the pipeline folder, behind a mark no path can hold (paths
 * with control characters are refused): no machine path is written into the cache, and the memo is
 * valid wherever the folder is. Paths outside the folder (written absolute in the file) stay as written.
 */
const IN_PIPELINE_DIR = '\u0001';
function memoPaths(dir: string, direction: 'store' | 'load'): (key: string, value: unknown) => unknown {
  if (direction === 'load') return (_key, value) => (typeof value === 'string' && value.startsWith(IN_PIPELINE_DIR) ? join(dir, ...value.slice(1).split('/')) : value);
  return (_key, value) => {
    if (typeof value !== 'string') return value;
    if (value === dir) return IN_PIPELINE_DIR;
    return value.startsWith(dir + sep) ? `${IN_PIPELINE_DIR}${value.slice(dir.length + 1).split(sep).join('/')}` : value;
  };
}

/** A file input resolved per instance (a template or a glob), so not checked when the pipeline loads. */
export function isPerInstance(location: string): boolean {
  return isTemplate(location) || isGlob(location);
}

/** Why a parsed pipeline memo is not one (its shape), or undefined; `dagrun verify` reports the same. */
export function memoProblem(value: unknown): string | undefined {
  const memo = value as { file?: unknown; dir?: unknown; outputRoot?: unknown; partitions?: unknown; order?: unknown; steps?: unknown };
  if (typeof memo !== 'object' || memo === null || Array.isArray(memo)) return 'is not a JSON object';
  if (typeof memo.file !== 'string' || typeof memo.dir !== 'string' || typeof memo.outputRoot !== 'string') return 'lacks "file", "dir" or "outputRoot"';
  if (typeof memo.partitions !== 'object' || memo.partitions === null || !Array.isArray(memo.order) || !Array.isArray(memo.steps)) return 'lacks "partitions", "order" or "steps"';
  for (const step of memo.steps as Partial<StepSpec>[]) {
    if (typeof step !== 'object' || step === null || typeof step.name !== 'string' || typeof step.code !== 'string' || !Array.isArray(step.inputs) || !Array.isArray(step.outputs) || !Array.isArray(step.params)) return 'holds a malformed step';
  }
  return undefined;
}

/**
 * Files above this size are refused before parsing. Validation is linear (about 1 s per MB here, see
 * bench/pipeline-parse.bench.ts); 16 MB is far beyond any hand-written pipeline.
 */
export const MAX_PIPELINE_BYTES = 16 * 1024 * 1024;

export function parsePipeline(text: string, file: string): Pipeline {
  const { LineCounter, parseDocument } = yaml();
  const shown = relative(process.cwd(), file) || file;
  if (text.length > MAX_PIPELINE_BYTES) throw new UserError('SCHEMA', `the pipeline file is ${(text.length / 1024 / 1024).toFixed(1)} MB; the limit is ${MAX_PIPELINE_BYTES / 1024 / 1024} MB`, `${shown}:1:1`);
  const lineCounter = new LineCounter();
  // yaml's own uniqueKeys check compares every key with every other key of its map (quadratic:
  // a 10 MB file did not finish in 180 s); duplicateKey below does the same in one pass.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  /** A span of the file, 1-based, end exclusive. */
  const span = (start: number, end = start): Location => {
    const from = lineCounter.linePos(start);
    const to = lineCounter.linePos(Math.max(start, end));
    return { file: shown, line: from.line, col: from.col, endLine: to.line, endCol: to.col };
  };
  const at = (offset: number): Location => span(offset);
  const nul = text.indexOf('\0');
  if (nul >= 0) throw new UserError('YAML_SYNTAX', 'the file holds a NUL byte, which YAML does not allow', at(nul));
  if (doc.errors.length > 0) {
    // The first syntax error only: the parser's recovery turns the rest of the file into a cascade of
    // errors that all follow from it (and nothing after it can be checked).
    const error = doc.errors[0];
    const message = /Maximum call stack size exceeded/.test(error.message)
      ? 'YAML nested too deeply to read (brackets or indentation hundreds of levels deep); a pipeline needs a handful'
      : `YAML syntax error: ${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`;
    throw new UserError('YAML_SYNTAX', message, span(error.pos[0], error.pos[1]));
  }
  const duplicate = duplicateKey(doc);
  if (duplicate !== undefined) throw new UserError('YAML_SYNTAX', 'YAML syntax error: Map keys must be unique', at(duplicate));
  const locate: Locate = (nodePath, key = false) => span(...rangeOf(doc, nodePath, key));
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    // Unresolved or exploding aliases surface only when the document is converted.
    const alias = /alias \*?(\S+)/i.exec((error as Error).message)?.[1];
    const offset = alias ? Math.max(0, text.indexOf(`*${alias.replace(/[^\w-]/g, '')}`)) : 0;
    throw new UserError('YAML_SYNTAX', `YAML error: ${(error as Error).message}`, span(offset));
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError('SCHEMA', 'the pipeline file must be a YAML mapping with a `steps:` key', span(0));

  const validate = pipelineValidator();
  const problems: UserError[] = [];
  let checked = raw as RawPipeline;
  if (!validate(raw)) {
    problems.push(...schemaErrors(validate.errors ?? [], locate));
    // A step with a schema error is left out of the checks below (they assume its shape), and so are
    // references to it; an error anywhere else stops here.
    const broken = new Set<string>();
    for (const error of validate.errors ?? []) {
      const step = /^\/steps\/([^/]+)\//.exec(`${error.instancePath}/`)?.[1];
      if (step === undefined || error.instancePath === '/steps') throw UserError.all(sortProblems(problems));
      broken.add(step.replaceAll('~1', '/').replaceAll('~0', '~'));
    }
    const steps = (raw as RawPipeline).steps;
    checked = { ...(raw as RawPipeline), steps: Object.fromEntries(Object.entries(steps).filter(([name]) => !broken.has(name))) };
    return normalise(checked, file, locate, problems, broken);
  }
  return normalise(checked, file, locate, problems, new Set());
}

/** Problems in file order, so a reader fixes them top to bottom. */
function sortProblems(problems: UserError[]): UserError[] {
  const key = (e: UserError): [number, number] => (e.location && 'line' in e.location ? [e.location.line, e.location.col ?? 0] : [Infinity, 0]);
  return [...problems].sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}

/**
 * `columns:` as a mapping (name: TYPE, in order), or a list whose items are `name: TYPE` (this table's
 * own), a bare `name` (typed elsewhere: the `extends:` table, or on a step output the step's input
 * that has it) or `include: TABLE` (all of that table's columns, here).
 */
type RawColumns = Columns | (string | Record<string, string>)[];
/** An output: its path alone (format from the extension, a folder ends with /), or the full form. */
type RawOutput = string | RawOutputObject;
interface RawOutputObject { path: string; format?: OutputFormat; columns?: RawColumns; table?: string; extends?: string; order_by?: string[]; schema?: string }
/** An input's `columns:` are typed, or a list of names taken (with their types) from the producer's. */
interface RawInputObject { from: string; format?: InputFormat; columns?: Columns | string[]; table?: string; previous?: boolean; optional?: boolean }
interface RawTable { columns?: RawColumns; extends?: string; order_by?: string[]; description?: string }
/** A named table with `extends:` and `include:` resolved. */
interface ResolvedTable { columns: Columns; order_by?: string[]; columnSources?: ColumnSources }
interface RawStep {
  sql?: string;
  kernel?: string;
  source?: boolean;
  /** null: not partitioned, whatever `defaults:` says. */
  partition?: string | null;
  inputs?: Record<string, string | RawInputObject>;
  params?: Record<string, Record<string, unknown> & { default: unknown }>;
  outputs: Record<string, RawOutput>;
}
interface RawPartition { values?: string[]; from?: string; to?: string; from_files?: string }
interface RawPipeline {
  pipeline?: string;
  output_root?: string;
  partitions?: Record<string, RawPartition>;
  tables?: Record<string, RawTable>;
  /** What every step has unless it says otherwise: `kernel:` (`{step}` is the step's name) and `partition:`. */
  defaults?: { kernel?: string; partition?: string };
  /** Named JSON Schema files (paths relative to the pipeline file) that json outputs refer to by name. */
  schemas?: Record<string, string>;
  cache?: RemoteCacheConfig;
  steps: Record<string, RawStep>;
  schedules?: Record<string, RawSchedule>;
}

function normalise(raw: RawPipeline, file: string, locate: Locate, problems: UserError[], broken: Set<string>): Pipeline {
  const dir = dirname(file);
  /** Run one check; a user error is recorded and the next check goes on. */
  const attempt = <T>(check: () => T): T | undefined => {
    try {
      return check();
    } catch (error) {
      if (!isUserError(error)) throw error;
      problems.push(...(error as UserError).problems);
      return undefined;
    }
  };
  const report = (error: UserError): void => void problems.push(error);
  if (raw.output_root !== undefined) attempt(() => plainPath(raw.output_root as string, 'output_root', () => locate(['output_root'])));
  const outputRoot = resolve(dir, raw.output_root ?? 'out');
  const partitions: Record<string, string[]> = {};
  const discovered: Record<string, string> = {};
  for (const [key, spec] of Object.entries(raw.partitions ?? {})) {
    // A partition in error stays declared (with no values), so steps using it are not reported too.
    partitions[key] = attempt(() => partitionValues(key, spec, dir, locate)) ?? [];
    if (spec.from_files) discovered[key] = spec.from_files;
  }
  const rawTables = raw.tables ?? {};
  /** A `table:` or `extends:` reference → the declared table, or an error naming the closest one. */
  const declaredTable = (tableName: string, at: (string | number)[]): RawTable => {
    const table = rawTables[tableName];
    if (!table) {
      const near = closest(tableName, Object.keys(rawTables));
      throw new UserError('UNKNOWN_TABLE', `no table "${tableName}" under \`tables:\`${near ? ` (did you mean "${near}"?)` : ` (tables: ${Object.keys(rawTables).join(', ') || 'none'})`}`, locate(at));
    }
    return table;
  };
  const tables: Record<string, ResolvedTable> = {};
  /** Tables already found in error (reported once, not again from each table extending them). */
  const unresolvable = new Set<string>();
  /** A table's columns with its `extends:` chain resolved (parents first); undefined when in error (reported). */
  const resolveTable = (tableName: string, chain: readonly string[] = []): ResolvedTable | undefined => {
    if (tables[tableName] || unresolvable.has(tableName)) return tables[tableName];
    const table = rawTables[tableName];
    const fail = (): undefined => void unresolvable.add(tableName);
    if (chain.includes(tableName)) {
      report(new UserError('CYCLE', `table "${tableName}" extends itself: ${[...chain, tableName].join(' → ')}`, locate(['tables', tableName, 'extends'])));
      for (const name of chain) unresolvable.add(name);
      return fail();
    }
    let parent: ResolvedTable | undefined;
    if (table.extends !== undefined) {
      if (attempt(() => declaredTable(table.extends as string, ['tables', tableName, 'extends'])) === undefined) return fail();
      parent = resolveTable(table.extends, [...chain, tableName]);
      if (!parent) return fail();
    }
    const at = ['tables', tableName, 'columns'];
    const laid = attempt(() => {
      if (!Array.isArray(table.columns)) return { columns: extendColumns(parent?.columns, table.columns, at, `table "${tableName}"`, locate), columnSources: parent ? sourcesOf(parent.columns, { table: table.extends as string }) : {} };
      const lookup = namedFromTable(parent?.columns, table.extends, (name, where) => {
        if (attempt(() => declaredTable(name, where)) === undefined) return undefined;
        return resolveTable(name, [...chain, tableName])?.columns;
      });
      const result = layColumns(table.columns, at, `table "${tableName}"`, locate, lookup);
      if (parent) placesAll(result.columns, parent.columns, table.extends as string, `table "${tableName}"`, locate(['tables', tableName, 'extends']));
      return result;
    });
    if (!laid) return fail();
    const order_by = table.order_by ?? parent?.order_by;
    tables[tableName] = { columns: laid.columns, ...(order_by ? { order_by } : {}), ...(Object.keys(laid.columnSources).length > 0 ? { columnSources: laid.columnSources } : {}) };
    return tables[tableName];
  };
  for (const [tableName, table] of Object.entries(rawTables)) {
    if (!table.columns && !table.extends) {
      report(new UserError('SCHEMA', `table "${tableName}" needs \`columns:\` or \`extends:\``, locate(['tables', tableName], true)));
      continue;
    }
    if (table.columns && !Array.isArray(table.columns)) checkColumnTypes(table.columns, ['tables', tableName, 'columns'], locate, report);
    const resolved = resolveTable(tableName);
    if (resolved) checkOrderBy(table.order_by, resolved.columns, `table "${tableName}"`, ['tables', tableName, 'order_by'], locate, report);
  }
  const rawSchemas = raw.schemas ?? {};
  for (const [schemaName, path] of Object.entries(rawSchemas)) {
    if (!existsSync(resolve(dir, path))) report(new UserError('SCHEMA', `schema "${schemaName}": file ${path} does not exist`, locate(['schemas', schemaName])));
  }
  /**
   * An output's \`schema:\` → the JSON Schema file: a name under \`schemas:\` (declared, and checked, once
   * there), or a path relative to the pipeline file.
   */
  const schemaFileOf = (schema: string, at: (string | number)[]): string => {
    if (Object.hasOwn(rawSchemas, schema)) return resolve(dir, rawSchemas[schema]);
    if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(schema)) {
      const near = closest(schema, Object.keys(rawSchemas));
      throw new UserError('UNKNOWN_SCHEMA', `no schema "${schema}" under \`schemas:\`${near ? ` (did you mean "${near}"?)` : ` (schemas: ${Object.keys(rawSchemas).join(', ') || 'none'}; or give a file path)`}`, locate(at));
    }
    const file = resolve(dir, schema);
    if (!existsSync(file)) throw new UserError('SCHEMA', `schema file ${schema} does not exist`, locate(at));
    return file;
  };
  /** A `table:` reference → the resolved table; undefined for a table in error (reported where it is declared). */
  const tableNamed = (tableName: string, at: (string | number)[]): ResolvedTable | undefined => {
    declaredTable(tableName, at);
    return tables[tableName];
  };

  const steps = new Map<string, StepSpec>();
  /** Inputs whose `columns:` name the producer's columns to rely on. */
  const picks: { step: string; input: string; names: readonly string[] }[] = [];
  const outputPaths = new Map<string, string>();
  /** Folder → an output path below it. */
  const outputsBelow = new Map<string, string>();
  const defaults = raw.defaults ?? {};
  if (defaults.partition !== undefined && !partitions[defaults.partition]) {
    report(new UserError('SCHEMA', `\`defaults.partition\` is "${defaults.partition}", which is not declared under \`partitions:\``, locate(['defaults', 'partition'])));
  }
  /** Outputs whose `columns:` list names columns typed by the step's inputs: laid out once every producer is (below). */
  const pending: { step: string; output: string; list: ColumnList; orderBy?: string[] }[] = [];
  for (const [name, declared] of Object.entries(raw.steps ?? {})) {
    const where = (...p: (string | number)[]) => locate(['steps', name, ...p]);
    if (declared.sql !== undefined && declared.kernel !== undefined) {
      report(new UserError('SCHEMA', `step "${name}" must have exactly one of \`sql:\` or \`kernel:\``, locate(['steps', name], true)));
      broken.add(name);
      continue;
    }
    // `defaults:` fill what the step does not say; `partition: null` opts out of the default partition.
    const defaultKernel = declared.sql === undefined && declared.kernel === undefined && defaults.kernel !== undefined;
    const step: RawStep = { ...declared, kernel: declared.sql === undefined ? declared.kernel ?? defaults.kernel?.replaceAll('{step}', name) : undefined, partition: declared.partition === null ? undefined : declared.partition ?? defaults.partition };
    if (!step.sql && !step.kernel) {
      report(new UserError('SCHEMA', `step "${name}" needs \`sql:\` or \`kernel:\` (or a \`defaults.kernel\` for every step)`, locate(['steps', name], true)));
      broken.add(name);
      continue;
    }
    const partition = step.partition ?? undefined;
    const kind = step.sql ? 'sql' : 'kernel';
    const codeAt = (): Location => (defaultKernel ? locate(['steps', name], true) : where(kind));
    plainPath((step.sql ?? step.kernel) as string, `step "${name}" ${kind}`, codeAt);
    const code = resolve(dir, (step.sql ?? step.kernel) as string);
    if (!existsSync(code)) report(new UserError('SCHEMA', `step "${name}": ${kind} file ${step.sql ?? step.kernel}${defaultKernel ? ' (from `defaults.kernel`)' : ''} does not exist${defaultKernel ? '; give the step its own `kernel:` or `sql:`' : ''}`, codeAt()));
    if (declared.partition !== undefined && declared.partition !== null && !partitions[declared.partition]) {
      report(new UserError('SCHEMA', `step "${name}" is partitioned by "${step.partition}", which is not declared under \`partitions:\``, where('partition')));
    }

    const outputs: OutputSpec[] = [];
    for (const [outName, declaredOut] of Object.entries(step.outputs)) attempt(() => {
      const out = typeof declaredOut === 'string' ? { path: declaredOut } : declaredOut;
      const pathAt = (): Location => (typeof declaredOut === 'string' ? where('outputs', outName) : where('outputs', outName, 'path'));
      plainPath(out.path, `output "${name}.${outName}" path`, pathAt);
      // A folder may be written with a trailing slash; the path is stored without it.
      const template = out.path.replace(/\/+$/, '');
      const format = out.format ?? formatFromPath(out.path, `output "${name}.${outName}"`, pathAt);
      if (template !== out.path && format !== 'directory') throw new UserError('SCHEMA', `output "${name}.${outName}" path "${out.path}" ends with / (a folder), but its format is ${format}`, pathAt());
      if (template === '') throw new UserError('SCHEMA', `output "${name}.${outName}" path "${out.path}" names no file or folder`, pathAt());
      if (out.schema !== undefined) plainPath(out.schema, `output "${name}.${outName}" schema`, () => where('outputs', outName, 'schema'));
      const normalisedPath = normalize(template);
      if (isAbsolute(template) || normalisedPath === '..' || normalisedPath.startsWith(`..${sep}`) || template.split(/[\\/]/).includes('..')) {
        throw new UserError('PATH_ESCAPES_ROOT', `output "${name}.${outName}" path "${template}" leaves the output root; use a relative path without ".."`, pathAt());
      }
      const placeholders = [...template.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
      for (const key of placeholders) {
        if (key !== partition) throw new UserError('SCHEMA', `output "${name}.${outName}" path uses {${key}}, but the step is ${partition ? `partitioned by "${partition}"` : 'not partitioned'}`, pathAt());
      }
      if (partition && !placeholders.includes(partition)) {
        throw new UserError('SCHEMA', `output "${name}.${outName}" path must contain {${partition}}: every partition writes its own file`, pathAt());
      }
      const clash = outputPaths.get(normalisedPath);
      if (clash) throw new UserError('DUPLICATE_OUTPUT_PATH', `output "${name}.${outName}" writes "${template}", which "${clash}" also writes`, pathAt());
      // One output may not lie inside another: look up each folder above this path, and this path
      // among the folders above earlier ones (a pairwise scan was quadratic in the number of outputs).
      const parts = normalisedPath.split(sep);
      const above = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join(sep));
      const outer = above.find((dirPath) => outputPaths.has(dirPath));
      const inner = outer === undefined ? outputsBelow.get(normalisedPath) : undefined;
      const other = outer ?? inner;
      if (other !== undefined) {
        throw new UserError('DUPLICATE_OUTPUT_PATH', `output "${name}.${outName}" path "${template}" overlaps "${outputPaths.get(other)}" ("${other}")`, pathAt());
      }
      outputPaths.set(normalisedPath, `${name}.${outName}`);
      for (const dirPath of above) if (!outputsBelow.has(dirPath)) outputsBelow.set(dirPath, normalisedPath);
      if (out.table && out.columns) throw new UserError('SCHEMA', `output "${name}.${outName}" has both \`table:\` and \`columns:\`; keep one (or \`extends:\` the table and add columns)`, where('outputs', outName, 'columns'));
      if (out.table && out.extends) throw new UserError('SCHEMA', `output "${name}.${outName}" has both \`table:\` and \`extends:\`; keep one`, where('outputs', outName, 'extends'));
      const named = out.table ?? out.extends;
      const table = named ? tableNamed(named, ['steps', name, 'outputs', outName, out.table ? 'table' : 'extends']) : undefined;
      if (named && !table) return undefined;
      const at = ['steps', name, 'outputs', outName, 'columns'];
      const what = `output "${name}.${outName}"`;
      const list = Array.isArray(out.columns) ? out.columns : undefined;
      if (out.columns && !list) checkColumnTypes(out.columns as Columns, at, locate, report);
      let columns: Columns | undefined;
      let columnSources: ColumnSources = {};
      if (list && !out.extends && list.some((item) => typeof item === 'string')) {
        // Typed by the step's inputs, whose columns are known once their producers are.
        pending.push({ step: name, output: outName, list, orderBy: out.order_by });
      } else if (list) {
        ({ columns, columnSources } = layColumns(list, at, what, locate, namedFromTable(table?.columns, out.extends, (t, where) => tableNamed(t, where)?.columns)));
        if (table) placesAll(columns, table.columns, out.extends as string, what, where('outputs', outName, 'extends'));
      } else if (out.extends) {
        columns = extendColumns(table?.columns, out.columns as Columns | undefined, at, what, locate);
        columnSources = sourcesOf(table?.columns ?? {}, { table: out.extends });
      } else columns = table?.columns ?? (out.columns as Columns | undefined);
      if ((format === 'parquet' || format === 'csv') && !columns && !pending.some((p) => p.step === name && p.output === outName)) {
        throw new UserError('SCHEMA', `output "${name}.${outName}" is a table: declare its \`columns:\` or name a \`table:\``, where('outputs', outName));
      }
      const orderBy = out.order_by ?? table?.order_by;
      if (columns) checkOrderBy(out.order_by, columns, what, ['steps', name, 'outputs', outName, 'order_by'], locate, report);
      const schemaFile = out.schema ? schemaFileOf(out.schema, ['steps', name, 'outputs', outName, 'schema']) : undefined;
      outputs.push({ name: outName, path: template, format, columns, ...(out.table ? { table: out.table } : {}), ...(out.extends ? { extends: out.extends } : {}), ...(Object.keys(columnSources).length > 0 ? { columnSources } : {}), orderBy, schemaFile });
      return true;
    }) ?? broken.add(`${name}.${outName}`);

    const inputs: StepInput[] = [];
    for (const [inName, rawInput] of Object.entries(step.inputs ?? {})) attempt(() => {
      const spec: RawInputObject = typeof rawInput === 'string' ? { from: rawInput } : rawInput;
      const from = spec.from;
      const picked = Array.isArray(spec.columns) ? spec.columns : undefined;
      if (spec.table && spec.columns && !picked) throw new UserError('SCHEMA', `input "${name}.${inName}" has both \`table:\` and typed \`columns:\`; keep one (or list the table's column names it relies on)`, where('inputs', inName, 'columns'));
      if (spec.columns && !picked) checkColumnTypes(spec.columns as Columns, ['steps', name, 'inputs', inName, 'columns'], locate, report);
      if (picked && !spec.table && !/^[a-z][a-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*$/.test(from)) {
        throw new UserError('SCHEMA', `input "${name}.${inName}" lists column names, which take their types from a producing step or a \`table:\`; a ${from.split(':')[0]}: input declares \`columns:\` with types, or names a table`, where('inputs', inName, 'columns'));
      }
      const table = spec.table ? tableNamed(spec.table, ['steps', name, 'inputs', inName, 'table']) : undefined;
      if (spec.table && !table) return;
      // Names pick from the named table here, or from the producer once every step is read (below).
      const at = ['steps', name, 'inputs', inName, 'columns'];
      const columns = table ? (picked ? pickNamed(table.columns, picked, `input "${name}.${inName}"`, `table "${spec.table}"`, at, locate) : table.columns) : picked ? undefined : (spec.columns as Columns | undefined);
      if (picked && !table) picks.push({ step: name, input: inName, names: picked });
      const base = { name: inName, format: spec.format, columns, ...(spec.table ? { table: spec.table } : {}), optional: spec.optional ?? false, previous: spec.previous ?? false };
      if (from.startsWith('file:')) {
        plainPath(from, `input "${name}.${inName}"`, () => where('inputs', inName));
        const location = resolve(dir, from.slice('file:'.length));
        const problem = checkTemplate(from, partition);
        if (problem) throw new UserError('SCHEMA', `input "${name}.${inName}": ${from} ${problem}`, where('inputs', inName));
        // A template or glob is resolved (and checked) per instance; a plain path is checked now.
        if (!isPerInstance(location) && !existsSync(location) && !base.optional) throw new UserError('SCHEMA', `input "${name}.${inName}": ${from} does not exist`, where('inputs', inName));
        inputs.push({ ...base, kind: 'file', location });
      } else if (/^(https?|wss?|s3):\/\//.test(from)) {
        // Any step may read an s3:// or http(s):// file or an s3:// glob (the engine fetches it, cache/remote-input.ts);
        // other remote URIs are live sources, read by the step itself.
        if (!step.source && /^https?:\/\/[^?#]*[*?[]/i.test(from)) throw new UserError('SCHEMA', `input "${name}.${inName}": ${decodeURI(redactUrl(from))} is a glob, and globs need a listing, which only s3:// offers (name each https:// file, or read the objects through s3://)`, where('inputs', inName));
        if (!step.source && !isFetchableUri(from) && !isRemoteGlob(from)) throw new UserError('SCHEMA', `input "${name}.${inName}" reads ${from.split(':')[0]}: — only a step marked \`source: true\` may read a live remote URI (s3:// and http(s):// files are fetched by the engine)`, where('inputs', inName));
        if (!step.source) {
          const problem = checkTemplate(from, partition);
          if (problem) throw new UserError('SCHEMA', `input "${name}.${inName}": ${decodeURI(redactUrl(from))} ${problem}`, where('inputs', inName));
        }
        inputs.push({ ...base, kind: 'remote', location: from });
      } else {
        const match = /^([a-z][a-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)$/.exec(from);
        if (!match) throw new UserError('SCHEMA', `input "${name}.${inName}": "${from}" is neither step.output nor file:/https:/wss:`, where('inputs', inName));
        inputs.push({ ...base, kind: 'step', step: match[1], output: match[2] });
      }
    });

    const params: ParamSpec[] = [];
    for (const [paramName, schema] of Object.entries(step.params ?? {})) attempt(() => {
      const { default: defaultValue, ...rest } = schema;
      const check = compileParam(rest, () => locate(['steps', name, 'params', paramName]));
      if (!check(defaultValue)) {
        throw new UserError('PARAM_TYPE', `param "${name}.${paramName}" default ${JSON.stringify(defaultValue)} ${getAjv().errorsText(check.errors, { dataVar: 'value' })}`, where('params', paramName, 'default'));
      }
      params.push({ name: paramName, schema: rest, defaultValue });
    });

    steps.set(name, {
      name,
      kind,
      code,
      source: step.source ?? false,
      partition: partition,
      inputs,
      params,
      outputs,
      definition: undefined,
    });
  }

  const order = attempt(() => topologicalOrder(steps, locate));
  // Producers first: an input's picked columns, then outputs typed by the step's inputs, step by step.
  for (const stepName of order ?? [...steps.keys()]) {
    for (const pick of picks.filter((p) => p.step === stepName)) attempt(() => pickColumns(steps, pick, locate, broken));
    if (!order) continue; // a cycle (reported): inputs cannot be followed to their producers
    for (const laidOut of pending.filter((p) => p.step === stepName)) {
      attempt(() => layOutFromInputs(steps, laidOut, locate, report, broken)) ?? broken.add(`${laidOut.step}.${laidOut.output}`);
    }
  }
  for (const step of steps.values()) (step as { definition: unknown }).definition = definitionOf(step, dir);
  checkReferences(steps, locate, broken, attempt);
  const schedules: Record<string, ScheduleSpec> = {};
  for (const [name, schedule] of Object.entries(raw.schedules ?? {})) {
    Object.assign(schedules, attempt(() => normaliseSchedules({ [name]: schedule }, { steps, partitions }, (p) => formatLocation(locate(p)))));
  }
  if (problems.length > 0) throw UserError.all(sortProblems(problems));
  return { file, dir, name: raw.pipeline ?? 'pipeline', outputRoot, partitions, ...(Object.keys(discovered).length > 0 ? { discovered } : {}), steps, order: order ?? [], cache: raw.cache, schedules: raw.schedules ? schedules : undefined, ...(raw.tables ? { tables: Object.fromEntries(Object.entries(tables).map(([name, t]) => [name, { columns: t.columns, ...(t.order_by ? { orderBy: t.order_by } : {}), ...(t.columnSources ? { columnSources: t.columnSources } : {}) }])) } : {}), locate: (p) => formatLocation(locate(p)) };
}

/** The definition as it enters the cache key: what changes results, paths relative to the pipeline folder. */
function definitionOf(step: StepSpec, dir: string): unknown {
  return {
    kind: step.kind,
    code: relative(dir, step.code).split(sep).join('/'),
    source: step.source,
    partition: step.partition ?? null,
    inputs: step.inputs.map((i) => ({ ...i, location: i.kind === 'file' ? relative(dir, i.location as string).split(sep).join('/') : i.location ?? null })),
    // Only what changes results: a param's description or title is documentation.
    params: step.params.map((p) => ({ name: p.name, schema: semanticSchema(p.schema) })),
    // The resolved columns are what count: `extends:` and names typed elsewhere are how they were written.
    outputs: step.outputs.map(({ extends: _parent, columnSources: _sources, ...o }) => ({ ...o, schemaFile: o.schemaFile ? relative(dir, o.schemaFile).split(sep).join('/') : null })),
  };
}

/**
 * `extends:` — the parent's columns, then the table's (or output's) own. An own column may not
 * redeclare an inherited one: the schema would then say two things about it.
 */
function extendColumns(parent: Columns | undefined, own: Columns | undefined, at: (string | number)[], what: string, locate: Locate): Columns {
  if (!parent) return { ...own };
  for (const column of Object.keys(own ?? {})) {
    if (column in parent) throw new UserError('SCHEMA', `${what} redeclares column "${column}", which it inherits (${parent[column]}) through \`extends:\``, locate([...at, column]));
  }
  return { ...parent, ...own };
}

type ColumnList = Exclude<RawColumns, Columns>;

/** How a `columns:` list finds the type of a column it names without one. */
interface ColumnLookup {
  /** The type and origin of a named column, or a sentence saying why there is none. */
  named(column: string): { type: string; source: ColumnSource } | string;
  /** `include: TABLE` → the table's resolved columns (undefined: in error, reported where it is declared). */
  include(table: string, at: (string | number)[]): Columns | undefined;
}

/**
 * A `columns:` list, laid out in the order written: `name: TYPE` (own), a bare `name` (typed by the
 * lookup), `include: TABLE` (all of its columns here). Every problem is located at its item.
 */
function layColumns(list: ColumnList, at: (string | number)[], what: string, locate: Locate, lookup: ColumnLookup): { columns: Columns; columnSources: Record<string, ColumnSource> } {
  const problems: UserError[] = [];
  const columns: Record<string, string> = {};
  const columnSources: Record<string, ColumnSource> = {};
  const place = (column: string, type: string, where: (string | number)[], source?: ColumnSource): void => {
    if (column in columns) problems.push(new UserError('SCHEMA', `${what} places column "${column}" twice`, locate(where)));
    else {
      columns[column] = type;
      if (source) columnSources[column] = source;
    }
  };
  list.forEach((item, i) => {
    if (typeof item === 'string') {
      const found = lookup.named(item);
      if (typeof found === 'string') problems.push(new UserError('COLUMN_MISMATCH', `${what} names column "${item}" without a type, but ${found}`, locate([...at, i])));
      else place(item, found.type, [...at, i], found.source);
      return;
    }
    const [entry, ...more] = Object.entries(item);
    if (!entry || more.length > 0) {
      problems.push(new UserError('SCHEMA', `${what}: each item of a \`columns:\` list is one \`name: TYPE\`, a column name, or \`include: TABLE\``, locate([...at, i])));
      return;
    }
    const [key, value] = entry;
    if (key === 'include') {
      const included = lookup.include(value, [...at, i, 'include']);
      for (const [column, type] of Object.entries(included ?? {})) place(column, type, [...at, i, 'include'], { table: value });
      return;
    }
    const problem = columnTypeProblem(value);
    if (problem) {
      const near = closest(value.trim().toUpperCase(), COLUMN_TYPE_NAMES);
      problems.push(new UserError('COLUMN_TYPE', `column "${key}" has type "${value}": ${problem}${near ? ` (did you mean ${near}?)` : ''}`, locate([...at, i, key])));
    } else place(key, value, [...at, i, key]);
  });
  if (problems.length > 0) throw UserError.all(problems);
  return { columns, columnSources };
}

/** Names typed by an `extends:` table (and `include:` resolved by `include`). */
function namedFromTable(parent: Columns | undefined, parentName: string | undefined, include: ColumnLookup['include']): ColumnLookup {
  return {
    include,
    named: (column) => {
      if (!parent || parentName === undefined) return 'there is no `extends:` table to take it from (write `' + column + ': TYPE`, or `extends:` a table that has it)';
      if (parent[column] !== undefined) return { type: parent[column], source: { table: parentName } };
      const near = closest(column, Object.keys(parent));
      return `table "${parentName}" (its \`extends:\`) has no such column${near ? ` (did you mean "${near}"?)` : ''}`;
    },
  };
}

/** A list that `extends:` a table places every one of its columns (extending means having them all). */
function placesAll(columns: Columns, parent: Columns, parentName: string, what: string, where: Location): void {
  const missing = Object.keys(parent).filter((column) => !(column in columns));
  if (missing.length > 0) throw new UserError('COLUMN_MISMATCH', `${what} extends "${parentName}" but its \`columns:\` list does not place ${missing.map((c) => `"${c}"`).join(', ')} (name each where it goes, or \`include: ${parentName}\`)`, where);
}

function sourcesOf(columns: Columns, source: ColumnSource): Record<string, ColumnSource> {
  return Object.fromEntries(Object.keys(columns).map((column) => [column, source]));
}

/** An output's `columns:` list whose bare names are typed by the step's inputs (its producers are laid out by now). */
function layOutFromInputs(steps: Map<string, StepSpec>, pending: { step: string; output: string; list: ColumnList; orderBy?: string[] }, locate: Locate, report: (error: UserError) => void, broken: ReadonlySet<string>): true | undefined {
  const step = steps.get(pending.step) as StepSpec;
  // An input whose producer is in error (reported there) may be the one that has the column.
  if (step.inputs.some((i) => i.kind === 'step' && (broken.has(i.step as string) || broken.has(`${i.step}.${i.output}`)))) return undefined;
  const index = step.outputs.findIndex((o) => o.name === pending.output);
  const what = `output "${step.name}.${pending.output}"`;
  const available = step.inputs
    .map((input) => [input.name, input.columns ?? (input.kind === 'step' ? steps.get(input.step as string)?.outputs.find((o) => o.name === input.output)?.columns : undefined)] as const)
    .filter((entry): entry is readonly [string, Columns] => entry[1] !== undefined);
  const lookup: ColumnLookup = {
    include: () => undefined, // not reached: tables are included while the step is read
    named: (column) => {
      const having = available.filter(([, columns]) => columns[column] !== undefined).map(([input, columns]) => [input, columns[column]] as const);
      if (having.length === 0) {
        const near = closest(column, available.flatMap(([, columns]) => Object.keys(columns)));
        return `none of step "${step.name}"'s inputs has a column "${column}"${near ? ` (did you mean "${near}"?)` : ''}; write \`${column}: TYPE\``;
      }
      const other = having.find(([, type]) => normaliseType(type) !== normaliseType(having[0][1]));
      if (other) return `inputs "${having[0][0]}" (${having[0][1]}) and "${other[0]}" (${other[1]}) both have it, with different types; write \`${column}: TYPE\``;
      return { type: having[0][1], source: { input: having[0][0] } };
    },
  };
  const at = ['steps', step.name, 'outputs', pending.output, 'columns'];
  const { columns, columnSources } = layColumns(pending.list, at, what, locate, lookup);
  checkOrderBy(pending.orderBy, columns, what, ['steps', step.name, 'outputs', pending.output, 'order_by'], locate, report);
  (step.outputs as OutputSpec[])[index] = { ...step.outputs[index], columns, ...(Object.keys(columnSources).length > 0 ? { columnSources } : {}) };
  return true;
}

const FORMAT_OF_EXTENSION: Readonly<Record<string, OutputFormat>> = { '.parquet': 'parquet', '.csv': 'csv', '.json': 'json', '.geojson': 'geojson' };

/** An output's format from its path: the extension, or a trailing slash for a folder. */
function formatFromPath(path: string, what: string, where: () => Location): OutputFormat {
  if (path.endsWith('/')) return 'directory';
  const extension = /\.[A-Za-z0-9]+$/.exec(path)?.[0].toLowerCase();
  const format = extension ? FORMAT_OF_EXTENSION[extension] : undefined;
  if (!format) throw new UserError('SCHEMA', `${what} path "${path}" does not say its format: end it with ${Object.keys(FORMAT_OF_EXTENSION).join(', ')} or / (a folder), or give \`format:\``, where());
  return format;
}

/** An input's `columns: [names]` → those of its producer's columns, with their types, in the order listed. */
function pickColumns(steps: Map<string, StepSpec>, pick: { step: string; input: string; names: readonly string[] }, locate: Locate, broken: ReadonlySet<string>): void {
  const step = steps.get(pick.step) as StepSpec;
  const index = step.inputs.findIndex((i) => i.name === pick.input);
  const input = step.inputs[index];
  if (!input || broken.has(input.step as string) || broken.has(`${input.step}.${input.output}`)) return;
  const output = steps.get(input.step as string)?.outputs.find((o) => o.name === input.output);
  if (!output) return; // checkReferences names the missing producer
  const at = ['steps', pick.step, 'inputs', pick.input, 'columns'];
  if (!output.columns) throw new UserError('COLUMN_MISMATCH', `input "${pick.step}.${pick.input}" lists columns, but "${input.step}.${input.output}" is ${output.format} with no declared columns`, locate(at));
  const columns = pickNamed(output.columns, pick.names, `input "${pick.step}.${pick.input}"`, `"${input.step}.${input.output}"`, at, locate);
  (step.inputs as StepInput[])[index] = { ...input, columns };
}

/** Named columns of `provides` with their types, in the order named; every unknown or repeated name is a located problem. */
function pickNamed(provides: Columns, names: readonly string[], what: string, source: string, at: (string | number)[], locate: Locate): Columns {
  const problems: UserError[] = [];
  const columns: Record<string, string> = {};
  names.forEach((column, i) => {
    if (column in columns) problems.push(new UserError('SCHEMA', `${what} lists column "${column}" twice`, locate([...at, i])));
    else if (provides[column] === undefined) {
      const near = closest(column, Object.keys(provides));
      problems.push(new UserError('COLUMN_MISMATCH', `${what} expects column "${column}", which ${source} does not provide${near ? ` (did you mean "${near}"?)` : ` (it has: ${Object.keys(provides).join(', ')})`}`, locate([...at, i])));
    } else columns[column] = provides[column];
  });
  if (problems.length > 0) throw UserError.all(problems);
  return columns;
}

/** JSON Schema keywords that document and never constrain: left out of cache keys. */
const ANNOTATIONS = new Set(['description', 'title', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly']);

/** A JSON Schema without its annotations (recursively), for cache keys. Names under `properties` are kept whatever they are. */
export function semanticSchema<T>(schema: T, namesOnly = false): T {
  if (Array.isArray(schema)) return schema.map((item: unknown) => semanticSchema(item)) as T;
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    if (!namesOnly && ANNOTATIONS.has(key)) continue;
    out[key] = semanticSchema(value, !namesOnly && (key === 'properties' || key === 'patternProperties' || key === '$defs' || key === 'definitions' || key === 'dependentSchemas'));
  }
  return out as T;
}

/** Every declared column type must be one DuckDB knows: `DOUBL` fails here, at its location. */
function checkColumnTypes(columns: Columns, at: (string | number)[], locate: Locate, report: (error: UserError) => void): void {
  for (const [column, type] of Object.entries(columns)) {
    const problem = columnTypeProblem(type);
    if (!problem) continue;
    const near = closest(type.trim().toUpperCase(), COLUMN_TYPE_NAMES);
    report(new UserError('COLUMN_TYPE', `column "${column}" has type "${type}": ${problem}${near ? ` (did you mean ${near}?)` : ''}`, locate([...at, column])));
  }
}

function checkOrderBy(orderBy: readonly string[] | undefined, columns: Columns, what: string, at: (string | number)[], locate: Locate, report: (error: UserError) => void): void {
  (orderBy ?? []).forEach((column, index) => {
    if (columns[column] !== undefined) return;
    const near = closest(column, Object.keys(columns));
    report(new UserError('SCHEMA', `${what} orders by "${column}", which is not one of its columns${near ? ` (did you mean "${near}"?)` : ''}`, locate([...at, index])));
  });
}

/** The columns a step input relies on: its own (or its table's), else everything its producer declares. */
export function inputColumns(pipeline: Pipeline, input: StepInput): Columns | undefined {
  if (input.columns) return input.columns;
  if (input.kind !== 'step') return undefined;
  return pipeline.steps.get(input.step as string)?.outputs.find((o) => o.name === input.output)?.columns;
}

/**
 * A path in the pipeline file may not hold control characters: a NUL (written as "\0") cannot be in a
 * file name at all, and the others make names nobody can type.
 */
function plainPath(value: string, what: string, where: () => string | Location): void {
  const bad = /[\u0000-\u001f\u007f]/.exec(value);
  if (bad) throw new UserError('SCHEMA', `${what} ${JSON.stringify(value)} holds the control character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}; paths must be printable`, where());
}

export { SAFE_PARTITION_VALUE };

function partitionValues(key: string, spec: RawPartition, dir: string, locate: Locate): string[] {
  const ways = [spec.values !== undefined, spec.from !== undefined || spec.to !== undefined, spec.from_files !== undefined].filter(Boolean).length;
  if (ways > 1) throw new UserError('SCHEMA', `partition "${key}" takes one of \`values:\`, \`from:\`/\`to:\` or \`from_files:\``, locate(['partitions', key]));
  if (spec.from_files !== undefined) {
    const template = spec.from_files;
    const where = locate(['partitions', key, 'from_files']);
    if (isAbsolute(template) || template.split(/[\\/]/).includes('..')) throw new UserError('SCHEMA', `partition "${key}" from_files "${template}" must be a path inside the pipeline folder`, where);
    const problem = checkTemplate(template, key);
    if (problem) throw new UserError('SCHEMA', `partition "${key}" from_files "${template}" ${problem.replace('the step is partitioned by', 'the partition is')}`, where);
    const names = new Set(template.match(/\{([a-z_][a-z0-9_]*)\}/g) ?? []);
    if (!names.has(`{${key}}`) && !(names.has('{yyyy}') && names.has('{mm}') && names.has('{dd}'))) throw new UserError('SCHEMA', `partition "${key}" from_files "${template}" must contain {${key}} or all of {yyyy}, {mm}, {dd}`, where);
    let values: string[];
    try {
      values = discoverPartitions(dir, template, key);
    } catch (error) {
      if (error instanceof TemplateError) throw new UserError('SCHEMA', `partition "${key}" from_files "${template}": ${error.message}`, where);
      throw error;
    }
    if (values.length === 0) throw new UserError('SCHEMA', `partition "${key}" from_files "${template}" matches nothing under ${relative(process.cwd(), dir) || '.'}`, where);
    return values;
  }
  if (spec.values) {
    spec.values.forEach((value, index) => {
      if (!SAFE_PARTITION_VALUE.test(value)) throw new UserError('SCHEMA', `partition "${key}" value "${value}" must be a plain name (letters, digits, _ . = -): it becomes part of output paths`, locate(['partitions', key, 'values', index]));
    });
    return [...spec.values];
  }
  if (!spec.from || !spec.to) throw new UserError('SCHEMA', `partition "${key}" needs \`values:\` or both \`from:\` and \`to:\``, locate(['partitions', key]));
  const values: string[] = [];
  const start = Date.parse(`${spec.from}T00:00:00Z`);
  const end = Date.parse(`${spec.to}T00:00:00Z`);
  if (!(start <= end)) throw new UserError('SCHEMA', `partition "${key}": from ${spec.from} is after to ${spec.to}`, locate(['partitions', key, 'from']));
  for (let t = start; t <= end; t += 86_400_000) values.push(new Date(t).toISOString().slice(0, 10));
  return values;
}

const paramValidators = new Map<string, ValidateFunction>();
function compileParam(schema: Record<string, unknown>, where: string | Location | (() => string | Location)): ValidateFunction {
  const key = JSON.stringify(schema);
  let check = paramValidators.get(key);
  if (!check) {
    try {
      check = getAjv().compile(schema);
    } catch (error) {
      throw new UserError('SCHEMA', `param schema is not a valid JSON Schema: ${(error as Error).message}`, typeof where === 'function' ? where() : where);
    }
    paramValidators.set(key, check);
  }
  return check;
}

/**
 * A --set value in the shape of its param's default, where the schema accepts it that way (ajv's
 * coerceTypes, toward the default): a scalar given for a list becomes a one-element list, "5" for a
 * number becomes 5. So `--set predict.tiles=30UXB` is the default ["30UXB"], and rebuilds nothing.
 */
export function coerceParam(step: StepSpec, name: string, value: unknown): unknown {
  const spec = step.params.find((p) => p.name === name);
  if (!spec || value === null || value === undefined) return value;
  const check = compileParam(spec.schema, name);
  const candidates: unknown[] = [];
  const wanted = spec.defaultValue;
  if (Array.isArray(wanted) && !Array.isArray(value) && typeof value !== 'object') candidates.push([value]);
  if (typeof wanted === 'number' && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) candidates.push(Number(value));
  if (typeof wanted === 'boolean' && (value === 'true' || value === 'false')) candidates.push(value === 'true');
  if (typeof wanted === 'string' && (typeof value === 'number' || typeof value === 'boolean')) candidates.push(String(value));
  return candidates.find((candidate) => check(candidate)) ?? value;
}

/** Validate a param value (from --set or a test) against its declared schema. */
export function checkParam(step: StepSpec, name: string, value: unknown, origin: string): void {
  const spec = step.params.find((p) => p.name === name);
  if (!spec) {
    const known = step.params.map((p) => p.name).join(', ') || 'none';
    throw new UserError('PARAM_TYPE', `step "${step.name}" has no param "${name}" (its params: ${known})`, origin);
  }
  const check = compileParam(spec.schema, () => origin);
  if (!check(value)) throw new UserError('PARAM_TYPE', `param "${step.name}.${name}" = ${JSON.stringify(value)}: ${getAjv().errorsText(check.errors, { dataVar: 'value' })}`, origin);
}

function checkReferences(steps: Map<string, StepSpec>, locate: Locate, broken: ReadonlySet<string>, attempt: (check: () => void) => void): void {
  for (const step of steps.values()) {
    for (const input of step.inputs) attempt(() => {
      // A producer (or output) already reported as broken is not reported again from each consumer.
      if (input.kind !== 'step' || broken.has(input.step as string) || broken.has(`${input.step}.${input.output}`)) return;
      // Located only when there is an error: finding a node walks the document.
      const where = (): Location => locate(['steps', step.name, 'inputs', input.name]);
      const producer = steps.get(input.step as string);
      if (!producer) throw new UserError('UNKNOWN_STEP', `input "${step.name}.${input.name}" names step "${input.step}", which does not exist (steps: ${[...steps.keys(), ...[...broken].filter((name) => !name.includes('.'))].join(', ')})`, where());
      const output = producer.outputs.find((o) => o.name === input.output);
      if (!output) throw new UserError('UNKNOWN_OUTPUT', `input "${step.name}.${input.name}" names "${input.step}.${input.output}", but step "${input.step}" has no output "${input.output}" (outputs: ${producer.outputs.map((o) => o.name).join(', ')})`, where());
      if (input.previous && (producer.name !== step.name || !step.partition)) {
        throw new UserError('SCHEMA', `input "${step.name}.${input.name}": \`previous: true\` takes the previous partition of this same partitioned step`, where());
      }
      if (!input.previous && producer.name === step.name) throw new UserError('CYCLE', `step "${step.name}" reads its own output "${input.output}" (use \`previous: true\` for the previous partition)`, where());
      if (producer.partition && step.partition && producer.partition !== step.partition) {
        throw new UserError('SCHEMA', `input "${step.name}.${input.name}": step is partitioned by "${step.partition}" but "${producer.name}" by "${producer.partition}"`, where());
      }
      if (input.columns) {
        if (!output.columns) throw new UserError('COLUMN_MISMATCH', `input "${step.name}.${input.name}" expects columns, but "${producer.name}.${output.name}" is ${output.format} with no declared columns`, where());
        const provides = output.columns;
        for (const [column, type] of Object.entries(input.columns)) attempt(() => {
          const provided = provides[column];
          if (provided === undefined) throw new UserError('COLUMN_MISMATCH', `input "${step.name}.${input.name}" expects column "${column}" ${type}, which "${producer.name}.${output.name}" does not provide (it has: ${Object.keys(provides).join(', ')})`, locate(['steps', step.name, 'inputs', input.name, 'columns', column]));
          if (normaliseType(provided) !== normaliseType(type)) throw new UserError('COLUMN_MISMATCH', `input "${step.name}.${input.name}" expects column "${column}" as ${type}, but "${producer.name}.${output.name}" provides ${provided}`, locate(['steps', step.name, 'inputs', input.name, 'columns', column]));
        });
      }
    });
  }
}

/** DuckDB type aliases that name the same type. */
export function normaliseType(type: string): string {
  const t = type.trim().toUpperCase().replace(/\s+/g, ' ');
  const aliases: Record<string, string> = {
    INT: 'INTEGER', INT4: 'INTEGER', INT8: 'BIGINT', LONG: 'BIGINT', INT2: 'SMALLINT', SHORT: 'SMALLINT', INT1: 'TINYINT',
    FLOAT8: 'DOUBLE', NUMERIC: 'DECIMAL(18,3)', FLOAT4: 'FLOAT', REAL: 'FLOAT', STRING: 'VARCHAR', TEXT: 'VARCHAR', BOOL: 'BOOLEAN',
    'TIMESTAMP WITHOUT TIME ZONE': 'TIMESTAMP', DATETIME: 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP WITH TIME ZONE', TIMESTAMPTZ: 'TIMESTAMP WITH TIME ZONE', BYTEA: 'BLOB',
  };
  return aliases[t] ?? t.replace(/\s*,\s*/g, ',');
}

/** Producers first, in declaration order otherwise; iterative, so a chain of 60,000 steps cannot overflow the stack. */
function topologicalOrder(steps: Map<string, StepSpec>, locate: Locate): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  // A producer left out (reported broken) is not followed.
  const producers = (name: string): string[] => (steps.get(name) as StepSpec).inputs.filter((i) => i.kind === 'step' && !i.previous && steps.has(i.step as string)).map((i) => i.step as string);
  for (const root of steps.keys()) {
    if (state.has(root)) continue;
    const stack: { name: string; deps: string[]; next: number }[] = [{ name: root, deps: producers(root), next: 0 }];
    state.set(root, 'visiting');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next === top.deps.length) {
        state.set(top.name, 'done');
        order.push(top.name);
        stack.pop();
        continue;
      }
      const dep = top.deps[top.next];
      top.next += 1;
      const seen = state.get(dep);
      if (seen === 'done') continue;
      if (seen === 'visiting') {
        const trail = stack.map((frame) => frame.name);
        const cycle = [...trail.slice(trail.indexOf(dep)), dep];
        throw new UserError('CYCLE', `steps form a cycle: ${cycle.join(' → ')}`, locate(['steps', dep], true));
      }
      state.set(dep, 'visiting');
      stack.push({ name: dep, deps: producers(dep), next: 0 });
    }
  }
  return order;
}

/** Resolve an output path template for a partition value. */
export function outputPath(pipeline: Pipeline, step: StepSpec, output: OutputSpec, partitionValue: string | undefined): string {
  const relativePath = step.partition && partitionValue !== undefined ? output.path.replaceAll(`{${step.partition}}`, partitionValue) : output.path;
  return resolve(pipeline.outputRoot, relativePath);
}
