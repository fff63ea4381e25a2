// Writing a simulation to disk in the layout rf-fuse reads: <root>/{ais,rf,truth}/YYYY/MM/DD/*.parquet
// plus <root>/entity_map.parquet. AIS goes out in the project's normalised AIS columns.
import { join } from 'node:path';
import { writeTable } from '../../src/sdk/table-io.js';
import { AIS_COLUMNS } from '../../lib/maritime/ais.js';
import type { SimResult } from './simulate.js';

/** RF rows carry ts_utc as epoch ms (seed 003 allows either). */
export const RF_COLUMNS = {
  rf_id: 'VARCHAR',
  ts_utc: 'BIGINT',
  est_lat: 'DOUBLE',
  est_lon: 'DOUBLE',
  freq_band: 'VARCHAR',
  rssi: 'DOUBLE',
  toa: 'BIGINT',
  tdoa_cluster_id: 'VARCHAR',
  geoloc_method: 'VARCHAR',
  geo_uncertainty_m: 'DOUBLE',
  mmsi: 'BIGINT',
  imo: 'VARCHAR',
  call_sign: 'VARCHAR',
};

export const dayFolder = (date: string) => join(...date.split('-'));

export interface SimulationFiles {
  ais: string;
  rf: string;
  spoofLabels: string;
}

/** Write one day of a simulation below `root`. Returns the files it wrote. */
export async function writeSimulationDay(root: string, date: string, sim: SimResult, options: { truth?: boolean } = {}): Promise<SimulationFiles> {
  const day = dayFolder(date);
  const files: SimulationFiles = {
    ais: join(root, 'ais', day, 'ais.parquet'),
    rf: join(root, 'rf', day, 'rf.parquet'),
    spoofLabels: join(root, 'truth', day, 'spoof_labels.parquet'),
  };
  await writeTable(files.ais, AIS_COLUMNS, sim.ais.map((f) => ({ ...f, ts_utc: new Date(f.ts).toISOString() })), { orderBy: ['mmsi', 'ts_utc', 'lat'] });
  await writeTable(files.rf, RF_COLUMNS, sim.rf.map((r) => ({ ...r })), { orderBy: ['ts_utc', 'rf_id', 'est_lat'] });
  if (options.truth !== false) {
    // Analyst-style labels for every AIS fix of the day: spoofed or not.
    const spoofed = new Set(sim.truth.spoofs.map((s) => `${s.mmsi}/${s.ts}`));
    const seen = new Set<string>();
    const labels = [];
    for (const fix of sim.ais) {
      const key = `${fix.mmsi}/${fix.ts}`;
      if (fix.lat > 90 || seen.has(key)) continue;
      seen.add(key);
      labels.push({ mmsi: fix.mmsi, ts_utc: new Date(fix.ts).toISOString(), spoofed: spoofed.has(key) });
    }
    await writeTable(files.spoofLabels, { mmsi: 'BIGINT', ts_utc: 'TIMESTAMP', spoofed: 'BOOLEAN' }, labels, { orderBy: ['mmsi', 'ts_utc'] });
  }
  return files;
}

/** The vessel-ID mapping table (seed 003 §10): key_type, key_value, mmsi; de-duplicated and sorted. */
export async function writeEntityMap(path: string, rows: readonly SimResult['entityMap'][number][]): Promise<void> {
  const unique = new Map(rows.map((r) => [`${r.key_type}/${r.key_value}/${r.mmsi}`, r]));
  await writeTable(path, { key_type: 'VARCHAR', key_value: 'VARCHAR', mmsi: 'BIGINT' }, unique.values());
}
