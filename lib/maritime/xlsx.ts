// Excel snapshots (seed 001 layout: ais_overpass_{tile}.xlsx beside the parquet), written so the same
// rows give the same bytes: fixed document dates and fixed zip entry dates.
import { writeFileAtomic } from '../../src/sdk/atomic-write.js';

/** Zip entries and document properties carry this date instead of the clock. */
const FIXED_DATE = new Date(Date.UTC(2000, 0, 1));

export async function writeXlsx(path: string, sheetName: string, columns: readonly string[], rows: readonly Record<string, unknown>[]): Promise<void> {
  // exceljs takes seconds to load: only when a workbook is written or read.
  const { default: ExcelJS } = await import('exceljs');
  const workbook = new ExcelJS.Workbook();
  workbook.creator = 'dagrun';
  workbook.lastModifiedBy = 'dagrun';
  workbook.created = FIXED_DATE;
  workbook.modified = FIXED_DATE;
  const sheet = workbook.addWorksheet(sheetName);
  sheet.addRow([...columns]);
  for (const row of rows) sheet.addRow(columns.map((c) => cellValue(row[c])));
  const raw = Buffer.from(await workbook.xlsx.writeBuffer());
  const bytes = await normaliseZip(raw);
  await writeFileAtomic(path, bytes);
}

/** Re-pack a zip with every entry dated FIXED_DATE, in name order. */
async function normaliseZip(bytes: Buffer): Promise<Buffer> {
  const { default: JSZip } = await import('jszip');
  const source = await JSZip.loadAsync(bytes);
  const out = new JSZip();
  const names = Object.keys(source.files).filter((n) => !source.files[n].dir).sort();
  for (const name of names) out.file(name, await source.files[name].async('uint8array'), { date: FIXED_DATE, createFolders: false });
  return out.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 6 } });
}

function cellValue(value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number(value);
  return String(value);
}

/** The first sheet of a workbook as header-keyed rows, with each row's sheet row number. */
export async function readXlsx(path: string): Promise<{ header: string[]; rows: { line: number; values: unknown[] }[] }> {
  const { default: ExcelJS } = await import('exceljs');
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.readFile(path);
  const sheet = workbook.worksheets[0];
  if (!sheet) return { header: [], rows: [] };
  const header: string[] = [];
  const rows: { line: number; values: unknown[] }[] = [];
  sheet.eachRow({ includeEmpty: false }, (row, rowNumber) => {
    const values = (row.values as unknown[]).slice(1).map(plainCell);
    if (header.length === 0) header.push(...values.map((v) => String(v ?? '').trim()));
    else rows.push({ line: rowNumber, values: values.length < header.length ? [...values, ...Array(header.length - values.length).fill(null)] : values });
  });
  return { header, rows };
}

function plainCell(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    const v = value as { text?: unknown; result?: unknown; richText?: { text: string }[] };
    if (v.richText) return v.richText.map((t) => t.text).join('');
    if (v.result !== undefined) return plainCell(v.result);
    if (v.text !== undefined) return v.text;
  }
  return value;
}
