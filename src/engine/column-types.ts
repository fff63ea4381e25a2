// DuckDB column types as pipeline.yaml writes them: checked when the pipeline is loaded, so `DOUBL`
// is an error at its line and column rather than a failure after the step ran; and the TypeScript
// type a kernel sees for each (used by `dagrun types`).

/** Type names DuckDB accepts, aliases included (normaliseType maps aliases to one spelling). */
const BASE_TYPES = new Set([
  'BOOLEAN', 'BOOL', 'LOGICAL',
  'TINYINT', 'INT1', 'SMALLINT', 'INT2', 'SHORT', 'INTEGER', 'INT', 'INT4', 'SIGNED', 'BIGINT', 'INT8', 'LONG', 'HUGEINT',
  'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT',
  'FLOAT', 'FLOAT4', 'REAL', 'DOUBLE', 'FLOAT8', 'DECIMAL', 'NUMERIC',
  'VARCHAR', 'STRING', 'TEXT', 'CHAR', 'BPCHAR', 'BLOB', 'BYTEA', 'BINARY', 'VARBINARY', 'BIT', 'BITSTRING', 'UUID', 'JSON',
  'DATE', 'TIME', 'TIMESTAMP', 'DATETIME', 'TIMESTAMPTZ', 'TIMESTAMP_S', 'TIMESTAMP_MS', 'TIMESTAMP_NS', 'TIMESTAMP_US', 'INTERVAL',
  'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP WITHOUT TIME ZONE', 'TIME WITH TIME ZONE', 'TIMETZ',
  // DuckDB's spatial types (GEOMETRY('OGC:CRS84') names a CRS).
  'GEOMETRY', 'POINT_2D', 'LINESTRING_2D', 'POLYGON_2D', 'BOX_2D', 'WKB_BLOB',
]);

/** The spellings offered as "did you mean" (aliases left out). */
export const COLUMN_TYPE_NAMES = ['BOOLEAN', 'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'FLOAT', 'DOUBLE', 'DECIMAL', 'VARCHAR', 'BLOB', 'UUID', 'JSON', 'DATE', 'TIME', 'TIMESTAMP', 'TIMESTAMPTZ', 'INTERVAL'];

/** Undefined when `type` is a DuckDB type; else what is wrong with it, in a few words. */
export function columnTypeProblem(type: string): string | undefined {
  const text = type.trim().toUpperCase().replace(/\s+/g, ' ');
  if (text === '') return 'is empty';
  const parser = new TypeParser(text);
  try {
    parser.type();
    parser.end();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

class TypeParser {
  private at = 0;
  constructor(private readonly text: string) {}

  type(): void {
    const name = this.name();
    if (name === 'STRUCT' || name === 'MAP' || name === 'UNION') this.compound(name);
    else if (name === 'LIST') this.list();
    else if (name === 'ENUM') this.enumValues();
    else {
      if (!BASE_TYPES.has(name)) throw new Error(`"${name}" is not a DuckDB type`);
      if (this.peek('(')) this.numbers(name);
    }
    // T[] and T[n], possibly repeated.
    while (this.peek('[')) {
      this.expect('[');
      this.skipSpaces();
      while (/\d/.test(this.text[this.at] ?? '')) this.at += 1;
      this.expect(']');
    }
  }

  end(): void {
    this.skipSpaces();
    if (this.at < this.text.length) throw new Error(`unexpected "${this.text.slice(this.at)}"`);
  }

  private name(): string {
    this.skipSpaces();
    const match = /^[A-Z_][A-Z0-9_]*(?: WITH(?:OUT)? TIME ZONE)?/.exec(this.text.slice(this.at));
    if (!match) throw new Error(`expected a type name at "${this.text.slice(this.at) || 'the end'}"`);
    this.at += match[0].length;
    return match[0];
  }

  private numbers(name: string): void {
    this.expect('(');
    const match = (name === 'GEOMETRY' ? /^\s*'[^']*'\s*/ : /^\s*\d+\s*(,\s*\d+\s*)?/).exec(this.text.slice(this.at));
    if (!match) throw new Error(name === 'GEOMETRY' ? "GEOMETRY(…) takes a quoted CRS, e.g. GEOMETRY('OGC:CRS84')" : `${name}(…) takes numbers, e.g. DECIMAL(18,3)`);
    this.at += match[0].length;
    this.expect(')');
  }

  private compound(name: string): void {
    this.expect('(');
    for (;;) {
      if (name === 'STRUCT' || name === 'UNION') {
        this.skipSpaces();
        const field = /^("[^"]+"|[A-Z_][A-Z0-9_]*)\s+/.exec(this.text.slice(this.at));
        if (!field) throw new Error(`${name}(…) lists "name TYPE" pairs`);
        this.at += field[0].length;
      }
      this.type();
      this.skipSpaces();
      if (this.peek(',')) this.expect(',');
      else break;
    }
    this.expect(')');
  }

  private list(): void {
    this.expect('(');
    this.type();
    this.expect(')');
  }

  private enumValues(): void {
    this.expect('(');
    const match = /^\s*'[^']*'(\s*,\s*'[^']*')*\s*/.exec(this.text.slice(this.at));
    if (!match) throw new Error("ENUM(…) lists quoted values, e.g. ENUM('a', 'b')");
    this.at += match[0].length;
    this.expect(')');
  }

  private peek(char: string): boolean {
    this.skipSpaces();
    return this.text[this.at] === char;
  }

  private expect(char: string): void {
    this.skipSpaces();
    if (this.text[this.at] !== char) throw new Error(`expected "${char}" at "${this.text.slice(this.at) || 'the end'}"`);
    this.at += 1;
  }

  private skipSpaces(): void {
    while (this.text[this.at] === ' ') this.at += 1;
  }
}

/** The TypeScript type of a value of this DuckDB type as readTable hands it to a kernel (NULL aside). */
export function tsTypeOf(type: string): string {
  const t = type.trim().toUpperCase().replace(/\s+/g, ' ');
  if (/\[\d*\]$/.test(t)) return `${wrap(tsTypeOf(t.replace(/\[\d*\]$/, '')))}[]`;
  if (/^LIST\(/.test(t)) return `${wrap(tsTypeOf(t.slice(5, -1)))}[]`;
  if (/^(STRUCT|MAP|UNION)\(/.test(t)) return 'Record<string, unknown>';
  const base = t.replace(/\(.*\)$/, '');
  if (['BOOLEAN', 'BOOL', 'LOGICAL'].includes(base)) return 'boolean';
  if (['TINYINT', 'INT1', 'SMALLINT', 'INT2', 'SHORT', 'INTEGER', 'INT', 'INT4', 'SIGNED', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'FLOAT', 'FLOAT4', 'REAL', 'DOUBLE', 'FLOAT8'].includes(base)) return 'number';
  if (['BIGINT', 'INT8', 'LONG', 'UBIGINT', 'HUGEINT', 'UHUGEINT'].includes(base)) return 'number | bigint';
  if (['DECIMAL', 'NUMERIC'].includes(base)) return 'number';
  if (['BLOB', 'BYTEA', 'BINARY', 'VARBINARY'].includes(base)) return 'Uint8Array';
  if (['GEOMETRY', 'POINT_2D', 'LINESTRING_2D', 'POLYGON_2D', 'BOX_2D', 'WKB_BLOB'].includes(base)) return 'unknown';
  // Dates and timestamps arrive as ISO strings (table-io normalises them); VARCHAR, UUID, JSON … as strings.
  return 'string';
}

function wrap(type: string): string {
  return type.includes(' ') ? `(${type})` : type;
}
