// Runs one step instance: a SQL script in DuckDB or a kernel in a worker thread, writing into the
// given output locations, then checks every output against its declared schema. Used by `build`
// (inside the cache) and `exec` (outside it).
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Ajv as AjvType, ValidateFunction } from 'ajv';
import type { DuckDBPreparedStatement } from '@duckdb/node-api';
import type { Db, Columns, TableFormat } from '../sdk/table-io.js';
import { isErrorCode, StepError, UserError } from '../sdk/errors.js';
import { normaliseType, type InputFormat, type OutputSpec, type StepSpec } from './pipeline.js';
import { KERNEL_WORKER_FILE } from './paths.js';
import { startModuleWorker } from '../sdk/module-worker.js';
import type { KernelJob, WorkerEvent, WorkerMessage } from './kernel-worker.js';

export interface ResolvedInput {
  readonly name: string;
  /** Local files behind the input (a directory input is one entry: the directory). */
  readonly files: readonly string[];
  readonly format: InputFormat;
  readonly columns?: Columns;
  /** A remote URI handed to a source step as-is. */
  readonly uri?: string;
}

export interface StepEvents {
  log?(message: string): void;
  progress?(done: number, total?: number): void;
}

export interface StepRunResult {
  readonly metrics: Record<string, number | string>;
  readonly warnings: string[];
  /** Row counts of table outputs. */
  readonly rows: Record<string, number>;
}

export async function runStep(
  step: StepSpec,
  inputs: readonly ResolvedInput[],
  params: Record<string, unknown>,
  partition: Record<string, string>,
  outputs: Record<string, string>,
  events: StepEvents = {},
  pipelineDir = process.cwd(),
  pool?: KernelPool,
  /** A folder of the running instance (not an output's) for temporary files; removed by the caller. */
  scratch?: string,
): Promise<StepRunResult> {
  for (const output of step.outputs) {
    if (output.format === 'directory') await mkdir(outputs[output.name], { recursive: true });
  }
  const metrics: Record<string, number | string> = {};
  const warnings: string[] = [];
  if (step.kind === 'sql') await runSql(step, inputs, params, partition, outputs, pipelineDir, scratch);
  else await runKernel(step, inputs, params, partition, outputs, metrics, warnings, events, pipelineDir, pool);
  const rows = await checkOutputs(step, outputs, pipelineDir);
  return { metrics, warnings, rows };
}

// ---------- SQL ----------

async function runSql(step: StepSpec, inputs: readonly ResolvedInput[], params: Record<string, unknown>, partition: Record<string, string>, outputs: Record<string, string>, pipelineDir: string, scratch: string | undefined): Promise<void> {
  const coalesceInto = scratch === undefined ? undefined : join(scratch, '.coalesced-inputs');
  let coalesced = false;
  try {
    await runSqlOnce(step, inputs, params, partition, outputs, pipelineDir, async (db, input, index) => {
      coalesced = (await createInputView(db, step, input, coalesceInto === undefined ? undefined : { into: join(coalesceInto, `${index}.csv`) })) || coalesced;
    });
  } catch (error) {
    if (!coalesced) throw error;
    // DuckDB's message would name the coalesced file and its line: run the script again over the
    // per-file views, so the error names the real input file and line. Running it twice is safe: a SQL
    // step writes only its outputs' scratch targets.
    await runSqlOnce(step, inputs, params, partition, outputs, pipelineDir, (db, input) => createInputView(db, step, input));
  } finally {
    if (coalesceInto) await rm(coalesceInto, { recursive: true, force: true });
  }
}

async function runSqlOnce(
  step: StepSpec,
  inputs: readonly ResolvedInput[],
  params: Record<string, unknown>,
  partition: Record<string, string>,
  outputs: Record<string, string>,
  pipelineDir: string,
  createView: (db: Db, input: ResolvedInput, index: number) => Promise<unknown>,
): Promise<void> {
  const sqlFile = relative(pipelineDir, step.code);
  const text = readFileSync(step.code, 'utf8');
  const bindings: Record<string, unknown> = { ...params };
  for (const [key, value] of Object.entries(partition)) bindings[`partition_${key}`] = value;
  const { withDb, quoteIdent } = await import('../sdk/table-io.js');
  await withDb(async (db) => {
    for (const [index, input] of inputs.entries()) await createView(db, input, index);
    const extracted = await db.connection.extractStatements(text).catch((error: Error) => {
      throw new StepError(`SQL does not parse: ${error.message}`, sqlFile);
    });
    for (let index = 0; index < extracted.count; index += 1) {
      let prepared: DuckDBPreparedStatement;
      try {
        prepared = await extracted.prepare(index);
        bindParams(prepared, bindings, step.name);
        await prepared.run();
      } catch (error) {
        if (error instanceof UserError) throw error;
        throw new StepError(`SQL statement ${index + 1} failed: ${(error as Error).message}`, sqlFile);
      }
    }
    for (const output of step.outputs) {
      if (output.format === 'directory' || output.format === 'geojson') throw new StepError(`a SQL step cannot write a ${output.format} output ("${output.name}")`, sqlFile);
      const relation = quoteIdent(output.name);
      await db.copyToFile(relation, outputs[output.name], output.format as TableFormat, output.orderBy).catch((error: Error) => {
        throw new StepError(`writing output "${output.name}" failed (the script must create a table or view named "${output.name}"): ${error.message}`, sqlFile);
      });
    }
  });
}

/**
 * Where many small CSV files of one input may be coalesced: a file path in the running instance's
 * scratch (never an output's folder), and at most how many bytes in all (default COALESCE_LIMIT).
 */
export interface Coalesce {
  readonly into: string;
  readonly maxBytes?: number;
}

/** Create the view an input is read through in SQL. Returns whether its files were coalesced into one. */
export async function createInputView(db: Db, step: Pick<StepSpec, 'name'>, input: ResolvedInput, coalesce?: Coalesce): Promise<boolean> {
  const { quoteIdent, quoteLiteral, readerFor } = await import('../sdk/table-io.js');
  const name = quoteIdent(input.name);
  let files = [...input.files];
  let format = input.format;
  if (format === 'directory' && files.length === 1) {
    const { listFiles } = await import('./store.js');
    const dir = files[0];
    const all = await listFiles(dir);
    const tables = all.filter((f) => f.endsWith('.parquet'));
    format = tables.length > 0 ? 'parquet' : 'csv';
    files = (tables.length > 0 ? tables : all.filter((f) => f.endsWith('.csv'))).map((f) => `${dir}/${f}`);
  }
  if (files.length === 0) {
    if (!input.columns) throw new StepError(`input "${input.name}" has no files and no declared columns to make an empty table from`, step.name);
    const columns = Object.entries(input.columns).map(([c, t]) => `CAST(NULL AS ${t}) AS ${quoteIdent(c)}`).join(', ');
    await db.run(`CREATE VIEW ${name} AS SELECT ${columns} WHERE false`);
    return false;
  }
  // One file is read typed too: sniffed, a bad value in a declared BIGINT column made it VARCHAR and
  // the step built; typed, DuckDB fails it here naming the file and line. Nothing to coalesce.
  const declared = format === 'csv' && input.columns ? readDeclaredCsv(files, input.columns, files.length === 1 ? 0 : coalesce?.maxBytes ?? (coalesce ? COALESCE_LIMIT : 0)) : undefined;
  if (declared?.headersMatch && input.columns) {
    // CSVs with the declared header (a fan-in over partitions): give DuckDB the types instead
    // of letting union_by_name sniff every file (365 files: ~0.4 CPU-s → ~0.05). DuckDB still sets up
    // a scanner and sniffs the dialect per file (~0.25 ms CPU each), so small plain files are read as
    // one file: their bodies under one header (365 ten-row files: ~120 ms CPU → ~35).
    let read = files;
    if (declared.coalesced && coalesce) {
      await mkdir(dirname(coalesce.into), { recursive: true });
      await writeFile(coalesce.into, declared.coalesced);
      read = [coalesce.into];
    }
    const columns = Object.entries(input.columns).map(([c, t]) => `${quoteLiteral(c)}: ${quoteLiteral(t)}`).join(', ');
    // The coalesced file's dialect is what readDeclaredCsv checked it to be (commas, LF, no quote or
    // escape byte): told, not sniffed again over its 3,650 rows (~14 ms CPU → ~2 at 365 dates).
    const dialect = read !== files ? `, auto_detect = false, delim = ',', quote = '"', escape = '"', new_line = '\\n'` : '';
    await db.run(`CREATE VIEW ${name} AS SELECT * FROM read_csv([${read.map(quoteLiteral).join(', ')}], header = true, columns = {${columns}}, hive_partitioning = false${dialect})`);
    return read !== files;
  } else if (format === 'parquet' || format === 'csv' || format === 'json') {
    await db.run(`CREATE VIEW ${name} AS SELECT * FROM ${readerFor(files, format)}`);
  } else if (format === 'ndjson') {
    await db.run(`CREATE VIEW ${name} AS SELECT * FROM read_json_auto(${`[${files.map((f) => `'${f.replaceAll("'", "''")}'`).join(', ')}]`}, format = 'newline_delimited')`);
  }
  // geojson/text inputs are for kernels; a SQL step that needs them reads them with DuckDB functions itself.
  return false;
}

/** At most this many bytes of CSV files in all are read whole to be coalesced. */
export const COALESCE_LIMIT = 8 * 1024 * 1024;

/** Declared types whose values DuckDB parses the same whatever rows it samples (no date/time format to detect). */
const PLAIN_TYPE = /^(BOOLEAN|U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL(\(\d+(,\d+)?\))?|VARCHAR)$/;

/**
 * Whether every file's first line is exactly the declared column names, comma-separated (as
 * copyToFile writes them), ending the same way in every file; and, when the files are at most
 * `maxBytes` in all and safe to join, them as one CSV: that header once, then each body in order.
 * Each file is opened once.
 */
function readDeclaredCsv(files: readonly string[], columns: Columns, maxBytes: number): { headersMatch: boolean; coalesced?: Buffer } {
  const names = Object.keys(columns);
  if (names.some((n) => /[",\r\n]/.test(n) || n.trim() !== n)) return { headersMatch: false };
  const expected = Buffer.from(names.join(','));
  // DuckDB picks its CSV reader by extension (x.csv.gz is decompressed), so only .csv files.
  let parts: Buffer[] | undefined = maxBytes > 0 && Object.values(columns).every((t) => PLAIN_TYPE.test(normaliseType(t))) && files.every((f) => /\.csv$/i.test(f)) ? [expected, NEWLINE] : undefined;
  let total = expected.length + 1;
  // The typed multi-file read applies the first file's sniffed newline to every file: a CRLF file
  // after an LF one loses its rows (DuckDB 1.5), so such a mix goes to the reader that sniffs each.
  let newline: string | undefined;
  for (const file of files) {
    let start: { bytes: Buffer; whole: boolean };
    try {
      // Read whole while coalescing and its body still fits; else its header line only.
      start = readStart(file, expected.length + 2, parts ? maxBytes - total + expected.length + 1 : 0);
    } catch {
      return { headersMatch: false };
    }
    const { bytes } = start;
    if (!bytes.subarray(0, expected.length).equals(expected)) return { headersMatch: false };
    const ending = bytes[expected.length] === 0x0a ? '\n' : bytes[expected.length] === 0x0d && bytes[expected.length + 1] === 0x0a ? '\r\n' : undefined;
    if (ending === undefined || (newline ??= ending) !== ending) return { headersMatch: false };
    if (!parts) continue;
    const body = bytes.subarray(expected.length + 1);
    if (!start.whole || ending !== '\n' || !plainCsvBody(body, names.length - 1)) {
      parts = undefined;
      continue;
    }
    parts.push(body);
    total += body.length;
    if (body.length > 0 && body[body.length - 1] !== 0x0a) {
      parts.push(NEWLINE);
      total += 1;
    }
  }
  return { headersMatch: true, coalesced: parts && Buffer.concat(parts) };
}

/** A file's first `length` bytes, or all of it when it is at most `wholeUpTo` bytes. */
function readStart(file: string, length: number, wholeUpTo: number): { bytes: Buffer; whole: boolean } {
  const fd = openSync(file, 'r');
  try {
    if (wholeUpTo > 0 && fstatSync(fd).size <= wholeUpTo) return { bytes: readFileSync(fd), whole: true };
    const head = Buffer.alloc(length);
    return { bytes: head.subarray(0, readSync(fd, head, 0, length, 0)), whole: false };
  } finally {
    closeSync(fd);
  }
}

const NEWLINE = Buffer.from('\n');

/**
 * Bytes DuckDB's dialect sniffer treats as a quote, escape, comment, other delimiter or line break
 * (per file, so a file of its own may be read differently than inside a bigger one), and NUL.
 */
const SNIFFED = new Uint8Array(256);
for (const c of '"\'\\#;|\t\r\0') SNIFFED[c.charCodeAt(0)] = 1;

/**
 * Whether a CSV body (after its header line) reads the same inside a concatenation as on its own: no
 * byte the sniffer might read as dialect, no blank line, and every line `commas` commas, so DuckDB
 * can only see comma-separated rows of the declared width.
 */
function plainCsvBody(body: Buffer, commas: number): boolean {
  let seen = 0;
  let lineStart = true;
  for (const byte of body) {
    if (SNIFFED[byte]) return false;
    if (byte === 0x0a) {
      if (lineStart || seen !== commas) return false;
      seen = 0;
      lineStart = true;
    } else {
      lineStart = false;
      if (byte === 0x2c) seen += 1;
    }
  }
  return lineStart || seen === commas;
}

function bindParams(prepared: DuckDBPreparedStatement, bindings: Record<string, unknown>, stepName: string): void {
  for (let index = 1; index <= prepared.parameterCount; index += 1) {
    const name = prepared.parameterName(index);
    if (!(name in bindings)) {
      throw new StepError(`the SQL uses $${name}, but step "${stepName}" declares no param "${name}" (params: ${Object.keys(bindings).join(', ') || 'none'})`);
    }
    const value = bindings[name];
    if (value === null || value === undefined) prepared.bindNull(index);
    else if (typeof value === 'boolean') prepared.bindBoolean(index, value);
    else if (typeof value === 'number') {
      if (Number.isInteger(value)) prepared.bindBigInt(index, BigInt(value));
      else prepared.bindDouble(index, value);
    } else if (typeof value === 'string') prepared.bindVarchar(index, value);
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) prepared.bindList(index, value as string[]);
    else prepared.bindVarchar(index, JSON.stringify(value));
  }
}

// ---------- kernels ----------

const requireHere = createRequire(import.meta.url);

// Some libraries (geotiff.js through web-worker) inspect workerData when loaded inside a worker
// thread and misbehave when it is undefined, so every kernel worker carries a small marker object.
const WORKER_DATA = { dagrunKernelWorker: true };

function startWorker(): Worker {
  return startModuleWorker(KERNEL_WORKER_FILE, WORKER_DATA);
}

/**
 * A kernel's failure, rebuilt on this side of the worker boundary: a UserError keeps its code and
 * location; anything else (a bug in the kernel) becomes its message plus the first stack frame in
 * the step's own folder — never tsx's URL-encoded stack of engine and loader frames.
 */
export function workerFailure(event: Extract<WorkerEvent, { type: 'failed' }>, kernelPath: string): Error {
  if (event.name === 'StepError') return new StepError(event.message, event.where);
  if (event.name === 'UserError') return new UserError(isErrorCode(event.code) ? event.code : 'STEP', event.message, event.where);
  const frame = firstFrameIn(event.stack ?? '', dirname(kernelPath));
  const error = new StepError(`${event.name === 'Error' ? '' : `${event.name}: `}${event.message}`, frame);
  error.name = 'KernelCrash';
  return error;
}

/**
 * `file:line:col` (relative to the working folder) of the first stack frame inside `dir`. A kernel in a
 * CommonJS package (`"type": "commonjs"`, as `npm init -y` writes) runs from a data: URL that tsx
 * builds from the compiled code, with the file in its `filePath=` query: that frame names the file only
 * (its line and column are the compiled code's, with no source map to lead back).
 */
export function firstFrameIn(stack: string, dir: string): string | undefined {
  for (const line of stack.split('\n')) {
    const compiled = /^\s*at .*\(data:text\/javascript,.*[?&]filePath=([^\s():&]+)(?::\d+:\d+)\)\s*$/.exec(line);
    if (compiled) {
      let path: string;
      try {
        path = decodeURIComponent(compiled[1]).replace(/\?.*$/, '');
      } catch {
        continue;
      }
      if (path.startsWith(dir + sep)) return relative(process.cwd(), path).split(sep).join('/');
      continue;
    }
    const frame = firstFileFrameIn(line, dir);
    if (frame) return frame;
  }
  return undefined;
}

function firstFileFrameIn(stack: string, dir: string): string | undefined {
  for (const match of stack.matchAll(/(?:file:\/\/)?((?:\/|[A-Za-z]:[\\/])[^\s():?]+)(?:\?[^\s():]*)?:(\d+):(\d+)/g)) {
    let path: string;
    try {
      path = decodeURIComponent(match[1]);
    } catch {
      path = match[1];
    }
    if (path.startsWith(dir + sep)) return `${relative(process.cwd(), path).split(sep).join('/')}:${match[2]}:${match[3]}`;
  }
  return undefined;
}

/**
 * Long-lived worker threads for kernels, at most `size` at once. A worker that dies (a kernel called
 * process.exit, or crashed the thread) fails its job and is replaced.
 */
export class KernelPool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiting: ((worker: Worker) => void)[] = [];
  private nextId = 1;

  constructor(private readonly size: number) {}

  private async acquire(): Promise<Worker> {
    const worker = this.idle.pop();
    if (worker) return worker;
    if (this.all.size < this.size) {
      const fresh = startWorker();
      fresh.unref();
      this.all.add(fresh);
      return fresh;
    }
    return new Promise((resolvePromise) => this.waiting.push(resolvePromise));
  }

  private release(worker: Worker, healthy: boolean): void {
    if (!healthy) {
      this.all.delete(worker);
      void worker.terminate();
      const next = this.waiting.shift();
      if (next) void this.acquire().then(next);
      return;
    }
    const next = this.waiting.shift();
    if (next) next(worker);
    else this.idle.push(worker);
  }

  async run(job: KernelJob, onEvent: (event: WorkerEvent) => void): Promise<void> {
    const worker = await this.acquire();
    const id = this.nextId++;
    await new Promise<void>((resolvePromise, reject) => {
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (message: WorkerMessage): void => {
        if (message.id !== id) return;
        const { event } = message;
        if (event.type === 'done') {
          cleanup();
          this.release(worker, true);
          resolvePromise();
        } else if (event.type === 'failed') {
          cleanup();
          this.release(worker, true);
          reject(workerFailure(event, job.kernel));
        } else onEvent(event);
      };
      const onError = (error: Error): void => {
        cleanup();
        this.release(worker, false);
        reject(error);
      };
      const onExit = (code: number): void => {
        cleanup();
        this.release(worker, false);
        reject(new Error(`the kernel worker for "${job.step}" exited with code ${code}`));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
    this.idle.length = 0;
  }
}

async function runKernel(
  step: StepSpec,
  inputs: readonly ResolvedInput[],
  params: Record<string, unknown>,
  partition: Record<string, string>,
  outputs: Record<string, string>,
  metrics: Record<string, number | string>,
  warnings: string[],
  events: StepEvents,
  projectDir: string,
  pool: KernelPool | undefined,
): Promise<void> {
  const job: KernelJob = {
    kernel: step.code,
    step: step.name,
    source: step.source,
    inputs: Object.fromEntries(inputs.filter((i) => i.uri || i.files.length > 0).map((i) => [i.name, i.uri ?? i.files[0]])),
    inputFiles: Object.fromEntries(inputs.map((i) => [i.name, i.uri ? [i.uri] : [...i.files]])),
    outputs,
    params,
    partition,
    projectDir,
    env: step.source ? { ...process.env } : undefined,
  };
  await (pool ?? sharedPool()).run(job, (event) => {
      switch (event.type) {
        case 'log':
          events.log?.(event.message);
          break;
        case 'warn':
          warnings.push(event.message);
          events.log?.(`warning: ${event.message}`);
          break;
        case 'progress':
          events.progress?.(event.done, event.total);
          break;
        case 'metric':
          metrics[event.name] = event.value;
          break;
      }
    });
}

let processPool: KernelPool | undefined;
/**
 * The pool `exec` (and any caller without a build) uses: kept for the life of the process, its
 * workers unref'd so they never hold the process open. Repeated exec calls in one process (tests,
 * scripts) then pay worker start-up and module loading once.
 */
function sharedPool(): KernelPool {
  processPool ??= new KernelPool(2);
  return processPool;
}

// ---------- output checks ----------

let ajv: AjvType | undefined;
const jsonValidators = new Map<string, ValidateFunction>();

/** Check each output exists and matches its declared columns or JSON Schema. Returns table row counts. */
export async function checkOutputs(step: StepSpec, outputs: Record<string, string>, pipelineDir: string): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const output of step.outputs) {
    const path = outputs[output.name];
    const shown = `${step.name}.${output.name}`;
    if (!existsSync(path)) throw new UserError('OUTPUT_SCHEMA', `step "${step.name}" did not write its output "${output.name}" (${output.path})`, step.name);
    const isDir = statSync(path).isDirectory();
    if ((output.format === 'directory') !== isDir) throw new UserError('OUTPUT_SCHEMA', `output "${shown}" should be ${output.format === 'directory' ? 'a directory' : 'a file'}`, step.name);
    if (output.format === 'parquet' || output.format === 'csv') rows[output.name] = await checkTable(output, path, shown);
    if (output.format === 'directory' && output.columns) await checkTableFiles(output, path, shown);
    if ((output.format === 'json' || output.format === 'geojson') && output.schemaFile) checkJson(output, path, shown, pipelineDir);
  }
  return rows;
}

/** A directory with declared columns (`table:`): each parquet or csv file in it is that table. */
async function checkTableFiles(output: OutputSpec, dir: string, shown: string): Promise<void> {
  const { listFiles } = await import('./store.js');
  for (const file of await listFiles(dir)) {
    const format = file.endsWith('.parquet') ? 'parquet' : file.endsWith('.csv') ? 'csv' : undefined;
    if (format) await checkTable(output, `${dir}/${file}`, `${shown} (${file})`, format);
  }
}

async function checkTable(output: OutputSpec, path: string, shown: string, format = output.format as TableFormat): Promise<number> {
  const { withDb, readerFor, quoteIdent } = await import('../sdk/table-io.js');
  return withDb(async (db) => {
    const relation = readerFor([path], format);
    const actual = await db.describe(`SELECT * FROM ${relation}`);
    const [{ n }] = await db.all(`SELECT count(*)::BIGINT AS n FROM ${relation}`);
    const declared = output.columns ?? {};
    if (format === 'parquet') {
      const problems: string[] = [];
      for (const [column, type] of Object.entries(declared)) {
        if (!(column in actual)) problems.push(`column "${column}" (${type}) is missing`);
        else if (normaliseType(actual[column]) !== normaliseType(type) && !emptyGeometry(Number(n), actual[column], type)) problems.push(`column "${column}" is ${actual[column]}, declared ${type}`);
      }
      for (const column of Object.keys(actual)) if (!(column in declared)) problems.push(`column "${column}" (${actual[column]}) is not declared`);
      if (problems.length > 0) throw new UserError('OUTPUT_SCHEMA', `output "${shown}" does not match its declared columns: ${problems.join('; ')}`, shown);
    } else {
      const missing = Object.keys(declared).filter((c) => !(c in actual));
      if (missing.length > 0) throw new UserError('OUTPUT_SCHEMA', `output "${shown}" lacks declared column(s) ${missing.join(', ')}`, shown);
      // A CSV holds text: checking names only let `not a number` through as a declared BIGINT, and
      // only the next step failed. A plain-typed column sniffed as another type must cast to its own.
      for (const [column, type] of Object.entries(declared)) {
        const plain = normaliseType(type);
        if (plain === 'VARCHAR' || !PLAIN_TYPE.test(plain) || normaliseType(actual[column]) === plain) continue;
        const field = quoteIdent(column);
        const [bad] = await db.all(`SELECT CAST(${field} AS VARCHAR) AS value FROM ${relation} WHERE ${field} IS NOT NULL AND TRY_CAST(${field} AS ${plain}) IS NULL LIMIT 1`);
        if (bad) throw new UserError('OUTPUT_SCHEMA', `output "${shown}" does not match its declared columns: column "${column}" is declared ${type} but holds ${JSON.stringify(bad.value)}`, shown);
      }
    }
    return Number(n);
  });
}

/**
 * GeoParquet with no rows: DuckDB writes no geo metadata for an empty GEOMETRY column, so it reads
 * back as its storage type (WKB BLOB). An index that lists nothing (every chip pruned) is valid.
 */
function emptyGeometry(rows: number, actual: string, declared: string): boolean {
  return rows === 0 && actual.toUpperCase() === 'BLOB' && /^GEOMETRY\b/i.test(declared.trim());
}

function checkJson(output: OutputSpec, path: string, shown: string, pipelineDir: string): void {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UserError('OUTPUT_SCHEMA', `output "${shown}" is not valid JSON: ${(error as Error).message}`, shown);
  }
  const schemaFile = output.schemaFile as string;
  let validate = jsonValidators.get(schemaFile);
  if (!validate) {
    if (!ajv) {
      const { Ajv } = requireHere('ajv') as typeof import('ajv');
      ajv = new Ajv({ allErrors: false, strict: false });
    }
    validate = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')));
    jsonValidators.set(schemaFile, validate);
  }
  if (!validate(document)) {
    const error = validate.errors?.[0];
    throw new UserError('OUTPUT_SCHEMA', `output "${shown}" does not match ${relative(pipelineDir, output.schemaFile as string)}: ${error?.instancePath || '/'} ${error?.message}`, shown);
  }
}
