// ais-import: a historical AIS file (MarineCadastre CSV, DMA aisdk CSV, or a user CSV/XLSX with
// mmsi, lat, lon[, overpass_time]) → the normalised AIS table and its rejects.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { writeTable } from '../../src/sdk/table-io.js';
import { rejectCounts } from '../../lib/maritime/ais.js';
import { outputColumns, outputOrderBy, type StepKernel } from './ais-import.dagrun.js';
import { readAisFile } from './read.js';
import { importRows, type ImportFormat } from './formats.js';

const kernel: StepKernel = async (ctx) => {
  const path = ctx.inputs.file;
  const format: ImportFormat | 'auto' = ctx.params.format ?? 'auto';
  const table = await readAisFile(path, (p) => readFile(p));
  const result = importRows(table, basename(path), format);
  await writeTable(ctx.outputs.positions, outputColumns.positions, result.positions as never, { orderBy: outputOrderBy.positions });
  await writeTable(ctx.outputs.rejects, outputColumns.rejects, result.rejects as never, { orderBy: outputOrderBy.rejects });
  ctx.metric('format', result.format);
  ctx.metric('rows', table.rows.length);
  ctx.metric('positions', result.positions.length);
  ctx.metric('rejects', result.rejects.length);
  for (const [name, count] of Object.entries(rejectCounts(result.rejects)).sort()) ctx.metric(name, count);
  for (const [field, count] of Object.entries(result.nulled)) if (count > 0) ctx.metric(`nulled_${field}`, count);
  if (result.rejects.length > 0) ctx.warn(`${result.rejects.length} of ${table.rows.length} rows rejected (see the rejects output)`);
};

export default kernel;
