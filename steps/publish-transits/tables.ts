// PostgreSQL column types of the published tables, derived from the step outputs' DuckDB columns so
// the two definitions cannot drift.
import { TRANSIT_COLUMNS } from '../transit-reconcile/transits.js';
import { DARK_EVENT_COLUMNS } from '../verify-dark-fleet-sar/dark-events.js';
import { SAR_DETECTION_COLUMNS } from '../verify-dark-fleet-sar/kernel.js';
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

export const VESSEL_TRANSITS: TableSpec = { table: 'vessel_transits', columns: pgColumns(TRANSIT_COLUMNS, 'vessel_transits') };
export const DARK_EVENTS: TableSpec = { table: 'dark_events', columns: pgColumns(DARK_EVENT_COLUMNS, 'dark_events') };
export const SAR_DETECTIONS: TableSpec = { table: 'sar_detections', columns: pgColumns(SAR_DETECTION_COLUMNS, 'sar_detections') };
