// Tables in and out of DuckDB, for the engine and for kernels. Every table the pipeline writes goes
// through `copyToFile`, so every parquet/CSV file is written the same deterministic way.
import { DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { replaceFile } from './atomic-write.js';

export type TableFormat = 'parquet' | 'csv' | 'json';
/** DuckDB column types by column name, in column order. */
export type Columns = Record<string, string>;

/** Some of a table's columns, in the order named (generated modules use it for an input's `columns: [names]`). */
export function pickColumns<C extends Columns, K extends keyof C & string>(columns: C, names: readonly K[]): Pick<C, K> {
  return Object.fromEntries(names.map((name) => [name, columns[name]])) as Pick<C, K>;
}
export type Row = Record<string, unknown>;

/** Row group size fixed so the same rows always give the same bytes. */
export const PARQUET_ROW_GROUP_SIZE = 122_880;

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The DuckDB table function that reads a file of this format. */
export function readerFor(paths: readonly string[], format: TableFormat | 'geojson' = 'parquet'): string {
  const list = `[${paths.map(quoteLiteral).join(', ')}]`;
  switch (format) {
    case 'parquet':
      return `read_parquet(${list}, union_by_name = true, hive_partitioning = false)`;
    case 'csv':
      return `read_csv(${list}, header = true, union_by_name = true, hive_partitioning = false)`;
    default:
      return `read_json_auto(${list})`;
  }
}

/**
 * One DuckDB instance per thread (module state is per worker thread), created on first use: creating
 * and closing an instance costs ~20 ms CPU and ~70 ms wall, more than a small SQL step itself.
 */
let sharedInstance: Promise<DuckDBInstance> | undefined;
let catalogCounter = 0;

function threadInstance(): Promise<DuckDBInstance> {
  sharedInstance ??= DuckDBInstance.create(':memory:', { preserve_insertion_order: 'true' }).catch((error: unknown) => {
    sharedInstance = undefined;
    throw error;
  });
  return sharedInstance;
}

export class Db {
  private constructor(
    readonly connection: DuckDBConnection,
    /** The catalog this Db's tables and views live in; dropped by close(). */
    private readonly catalog: string | undefined,
    /** Set only for a Db with its own instance (a `threads` option): closed with it. */
    private readonly ownInstance: DuckDBInstance | undefined,
  ) {}

  /**
   * A fresh connection whose default catalog is a new, empty in-memory database on the thread's
   * shared instance: tables, views and macros land there and are dropped by close(); temp tables
   * are the connection's own. Nothing one Db creates is visible to the next.
   */
  static async open(options: DbOptions = {}): Promise<Db> {
    if (options.threads || options.memoryLimit) {
      const config: Record<string, string> = { preserve_insertion_order: 'true' };
      if (options.threads) config.threads = String(options.threads);
      if (options.memoryLimit) config.memory_limit = options.memoryLimit;
      if (options.tempDirectory) config.temp_directory = options.tempDirectory;
      const instance = await DuckDBInstance.create(':memory:', config);
      return new Db(await instance.connect(), undefined, instance);
    }
    const connection = await (await threadInstance()).connect();
    catalogCounter += 1;
    const catalog = `dagrun_${process.pid}_${catalogCounter}`;
    try {
      await connection.run(`ATTACH ':memory:' AS ${quoteIdent(catalog)}`);
      await connection.run(`USE ${quoteIdent(catalog)}`);
    } catch (error) {
      connection.closeSync();
      throw error;
    }
    return new Db(connection, catalog, undefined);
  }

  /** Run one statement with bound params ($name or ?). */
  async run(sql: string, params?: Record<string, DuckDBValue> | DuckDBValue[]): Promise<void> {
    await this.connection.run(sql, params as never);
  }
  /** Run one query and return its rows as plain objects (BIGINT → number when safe, timestamps → ISO strings). */
  async all(sql: string, params?: Record<string, DuckDBValue> | DuckDBValue[]): Promise<Row[]> {
    const reader = await this.connection.runAndReadAll(sql, params as never);
    return reader.getRowObjectsJS().map(normaliseRow);
  }

  /** Column names and DuckDB types of a query (`SELECT …`), a table name, or a table function call. */
  async describe(relation: string): Promise<Columns> {
    const query = /^\s*(SELECT|FROM|WITH)\b/i.test(relation) ? relation : `SELECT * FROM ${relation}`;
    const rows = await this.all(`DESCRIBE ${query}`);
    const columns: Columns = {};
    for (const row of rows) columns[String(row.column_name)] = String(row.column_type);
    return columns;
  }

  /** Create a table from JS rows, typed by `columns` (values are staged as text/number and cast). */
  async createTable(name: string, columns: Columns, rows: Iterable<Row>): Promise<void> {
    const names = Object.keys(columns);
    const staging = `__stage_${name}`;
    await this.run(`CREATE OR REPLACE TABLE ${quoteIdent(staging)} (${names.map((n) => `${quoteIdent(n)} ${stagingType(columns[n])}`).join(', ')})`);
    const appender = await this.connection.createAppender(staging);
    for (const row of rows) {
      for (const column of names) appendStaged(appender, stagingType(columns[column]), row[column]);
      appender.endRow();
    }
    appender.closeSync();
    const casts = names.map((n) => `CAST(${quoteIdent(n)} AS ${columns[n]}) AS ${quoteIdent(n)}`).join(', ');
    await this.run(`CREATE OR REPLACE TABLE ${quoteIdent(name)} AS SELECT ${casts} FROM ${quoteIdent(staging)}`);
    await this.run(`DROP TABLE ${quoteIdent(staging)}`);
  }

  /**
   * Write a relation to a file deterministically: rows in `orderBy` order (default: every column,
   * left to right), fixed row groups, written to a temp name and renamed. `constants` (name → SQL
   * expression of no column, e.g. a run id) are appended as the last columns after the sort, so they
   * do not travel through it: on a big table that is memory the sort does not need.
   */
  async copyToFile(
    relation: string,
    path: string,
    format: TableFormat,
    orderBy?: readonly string[],
    parquetMetadata?: Readonly<Record<string, string>>,
    constants?: Readonly<Record<string, string>>,
  ): Promise<void> {
    const order = orderBy && orderBy.length > 0 ? orderBy.map(quoteIdent).join(', ') : 'ALL';
    const sorted = `SELECT * FROM ${relation} ORDER BY ${order}`;
    const appended = Object.entries(constants ?? {});
    const query = appended.length === 0 ? sorted : `SELECT *, ${appended.map(([name, sql]) => `${sql} AS ${quoteIdent(name)}`).join(', ')} FROM (${sorted})`;
    // Extra parquet key-value metadata (e.g. GeoParquet's `geo`), written as given.
    const kvOption = (metadata: Readonly<Record<string, string>> | undefined): string =>
      metadata && Object.keys(metadata).length > 0 ? `, KV_METADATA {${Object.entries(metadata).map(([k, v]) => `${quoteIdent(k)}: ${quoteLiteral(v)}`).join(', ')}}` : '';
    const options = (metadata = parquetMetadata): string =>
      format === 'parquet'
        ? `FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${PARQUET_ROW_GROUP_SIZE}${kvOption(metadata)}`
        : format === 'csv'
          ? `FORMAT csv, HEADER true`
          : `FORMAT json, ARRAY true`;
    // DuckDB writes the GeoParquet `geo` key only when a geometry column holds a value, so an empty
    // (or all-NULL) geometry column would read back as BLOB: those files get the key written for them.
    const geometry = format === 'parquet' && !parquetMetadata?.geo ? Object.entries(await this.describe(query)).filter(([, type]) => /^GEOMETRY\b/i.test(type)).map(([name]) => name) : [];
    await replaceFile(path, async (temp) => {
      const copy = (metadata?: Readonly<Record<string, string>>): Promise<void> => this.run(`COPY (${query}) TO ${quoteLiteral(temp)} (${options(metadata)})`);
      await copy();
      if (geometry.length === 0) return;
      const [{ n }] = await this.all(`SELECT count(*)::INTEGER AS n FROM parquet_kv_metadata(${quoteLiteral(temp)}) WHERE decode(key) = 'geo'`);
      if (Number(n) === 0) await copy({ ...parquetMetadata, geo: JSON.stringify(geoParquetMetadata(geometry)) });
    });
  }

  /** Drop this Db's catalog and close its connection (the shared instance stays for the next Db). */
  async close(): Promise<void> {
    try {
      if (this.catalog) {
        // A script may have switched catalogs or left a failed transaction open; the catalog to drop
        // must not be the default one, and DETACH refuses inside an aborted transaction.
        const detach = async (): Promise<void> => {
          await this.connection.run('USE memory');
          await this.connection.run(`DETACH DATABASE IF EXISTS ${quoteIdent(this.catalog as string)}`);
        };
        await detach().catch(async () => {
          await this.connection.run('ROLLBACK').catch(() => undefined);
          await detach();
        });
      }
    } finally {
      this.connection.closeSync();
      this.ownInstance?.closeSync();
    }
  }
}

/**
 * A Db with `threads` or `memoryLimit` gets its own DuckDB instance: the shared one's settings are
 * left alone. `memoryLimit` (e.g. '4GB') caps DuckDB's buffers; past it, sorts and joins spill to
 * `tempDirectory` (give one inside a folder the caller owns and removes).
 */
export interface DbOptions {
  threads?: number;
  memoryLimit?: string;
  tempDirectory?: string;
}

/** Open an in-memory DuckDB, run `fn`, and close it whatever happens. */
export async function withDb<T>(fn: (db: Db) => Promise<T>, options?: DbOptions): Promise<T> {
  const db = await Db.open(options);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Read a whole table file (parquet, csv, json) into rows. For small and medium tables. */
export async function readTable(path: string | readonly string[], format: TableFormat = 'parquet'): Promise<Row[]> {
  const paths = typeof path === 'string' ? [path] : path;
  return withDb((db) => db.all(`SELECT * FROM ${readerFor(paths, format)}`));
}

/** Write JS rows to a table file with the given column types, deterministically ordered. */
export async function writeTable(
  path: string,
  columns: Columns,
  rows: Iterable<Row>,
  options: { format?: TableFormat; orderBy?: readonly string[] } = {},
): Promise<void> {
  await withDb(async (db) => {
    await db.createTable('out', columns, rows);
    await db.copyToFile('"out"', path, options.format ?? 'parquet', options.orderBy);
  });
}

/** GeoParquet 1.0 file metadata for WKB geometry columns with no values (CRS omitted: OGC:CRS84, as DuckDB writes it). */
function geoParquetMetadata(columns: readonly string[]): unknown {
  return {
    version: '1.0.0',
    primary_column: columns[0],
    columns: Object.fromEntries(columns.map((name) => [name, { encoding: 'WKB', geometry_types: [] }])),
  };
}

type StagingType = 'DOUBLE' | 'BIGINT' | 'BOOLEAN' | 'VARCHAR' | 'BLOB';

function stagingType(declared: string): StagingType {
  const t = declared.toUpperCase();
  if (t === 'BLOB') return 'BLOB';
  if (t === 'BOOLEAN') return 'BOOLEAN';
  if (/^(BIGINT|HUGEINT|UBIGINT)$/.test(t)) return 'BIGINT';
  if (/^(DOUBLE|FLOAT|REAL|INTEGER|SMALLINT|TINYINT|UINTEGER|USMALLINT|UTINYINT|DECIMAL.*)$/.test(t)) return 'DOUBLE';
  return 'VARCHAR';
}

function appendStaged(appender: import('@duckdb/node-api').DuckDBAppender, type: StagingType, value: unknown): void {
  if (value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value))) {
    appender.appendNull();
    return;
  }
  switch (type) {
    case 'DOUBLE':
      appender.appendDouble(Number(value));
      return;
    case 'BIGINT':
      appender.appendBigInt(BigInt(typeof value === 'number' ? Math.trunc(value) : (value as bigint | string)));
      return;
    case 'BOOLEAN':
      appender.appendBoolean(Boolean(value));
      return;
    case 'BLOB':
      appender.appendBlob(value as Uint8Array);
      return;
    default:
      appender.appendVarchar(
        value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value),
      );
  }
}

function normaliseRow(row: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(row)) out[key] = normaliseValue(value);
  return out;
}

function normaliseValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(normaliseValue);
  return value;
}
