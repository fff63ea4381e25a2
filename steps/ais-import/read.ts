// Read an AIS table file (CSV or XLSX) into a header and rows with their line/row numbers.
import { StepError } from '../../src/sdk/errors.js';
import { parseCsv } from './csv.js';
import { readXlsx } from '../../lib/maritime/xlsx.js';
import type { TableRows } from './formats.js';

export async function readAisFile(path: string, read: (path: string) => Promise<Buffer>): Promise<TableRows> {
  if (/\.xlsx$/i.test(path)) {
    const table = await readXlsx(path);
    if (table.header.length === 0) throw new StepError('the workbook has no header row', `${path}:1`);
    return table;
  }
  const records = parseCsv((await read(path)).toString('utf8'));
  if (records.length === 0) throw new StepError('the file is empty (a header row is needed)', `${path}:1`);
  const [header, ...rows] = records;
  // Rows with the wrong number of fields become rejects (importRows), not a failed import.
  return { header: header.fields, rows: rows.map((r) => ({ line: r.line, values: r.fields })) };
}
