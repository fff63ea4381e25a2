// PostgreSQL column types of the published tables, derived from this step's input columns (generated
// from pipeline.yaml) so the two definitions cannot drift.
import { inputColumns } from './publish-transits.dagrun.js';
import type { PgType, TableSpec } from './store.js';

const PG_TYPE: Record<string, PgType> = {
  UUID: 'uuid',
  VARCHAR: 'text',
  BIGINT: 'bigint',
  INTEGER: 'integer',
  DOUBLE: 'double precision',
  TIMESTAMP: 'timestamptz',
  BOOLEAN: 'boolean',
};

export function pgColumns(columns: Readonly<Record<string, string>>, label: string): Record<string, PgType> {
  return Object.fromEntries(
    Object.entries(columns).map(([name, type]) => {
      const pgType = PG_TYPE[type];
      if (!pgType) throw new Error(`${label}.${name}: no PostgreSQL type for DuckDB ${type}`);
      return [name, pgType];
    }),
  );
}

export const VESSEL_TRANSITS: TableSpec = { table: 'vessel_transits', columns: pgColumns(inputColumns.transits, 'vessel_transits') };
export const DARK_EVENTS: TableSpec = { table: 'dark_events', columns: pgColumns(inputColumns.dark_events, 'dark_events') };
export const SAR_DETECTIONS: TableSpec = { table: 'sar_detections', columns: pgColumns(inputColumns.sar_detections, 'sar_detections') };
