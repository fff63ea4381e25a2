// Shared by the AIS and thin tests: import a real AIS file and run thin.sql the way the engine's SQL
// runner does (one view per input, each statement prepared and bound by name).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { DuckDBValue } from '@duckdb/node-api';
import { Db } from '../../../src/sdk/table-io.js';
import { importRows } from '../../../steps/ais-import/formats.js';
import { readAisFile } from '../../../steps/ais-import/read.js';
import { PROJECT_ROOT } from '../../helpers/paths.js';
import { readFile } from 'node:fs/promises';

export const THIN_SQL = readFileSync(`${PROJECT_ROOT}/steps/thin/thin.sql`, 'utf8');

export const THIN_DEFAULTS = {
  fast_sog_threshold_knots: 10,
  anchor_sog_threshold_knots: 0.5,
  fast_interval_min: 10,
  slow_interval_min: 15,
  anchor_interval_min: 60,
  voyage_gap_hours: 6,
  max_plausible_kn: 60,
};

export async function importFile(path: string) {
  return importRows(await readAisFile(path, (p) => readFile(p)), basename(path));
}

/** Run thin.sql against a relation already named `positions` in `db`; leaves table `thinned`. */
export async function runThin(db: Db, params: Record<string, number> = THIN_DEFAULTS): Promise<void> {
  const extracted = await db.connection.extractStatements(THIN_SQL);
  for (let i = 0; i < extracted.count; i++) {
    const prepared = await extracted.prepare(i);
    for (let p = 1; p <= prepared.parameterCount; p++) {
      const name = prepared.parameterName(p);
      const value = params[name];
      if (value === undefined) throw new Error(`no value for $${name}`);
      if (Number.isInteger(value)) prepared.bindBigInt(p, BigInt(value));
      else prepared.bindDouble(p, value);
    }
    await prepared.run();
  }
}

export type { DuckDBValue };
