// Writing a simulation to disk in the layout rf-fuse reads: <root>/{ais,rf,truth}/YYYY/MM/DD/*.parquet
// plus <root>/entity_map.parquet. AIS goes out in the project's normalised AIS columns.
import { join } from 'node:path';
import { writeTable } from '../../src/sdk/table-io.js';
import { tables } from '../../pipeline.dagrun.js';
import type { SimResult } from './simulate.js';

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
  await writeSimulation(files, sim, options);
  return files;
}

/** Write a simulation's AIS, RF and (unless truth is false) spoof labels to the given files. */
export async function writeSimulation(files: SimulationFiles, sim: SimResult, options: { truth?: boolean } = {}): Promise<void> {
  await writeTable(files.ais, tables.ais_positions.columns, sim.ais.map((f) => ({ ...f, ts_utc: new Date(f.ts).toISOString() })), { orderBy: ['mmsi', 'ts_utc', 'lat'] });
  await writeTable(files.rf, tables.rf_detections.columns, sim.rf.map((r) => ({ ...r })), { orderBy: tables.rf_detections.orderBy });
  if (options.truth === false) return;
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
  await writeTable(files.spoofLabels, tables.spoof_labels.columns, labels, { orderBy: tables.spoof_labels.orderBy });
}

/** The vessel-ID mapping table (seed 003 §10): key_type, key_value, mmsi; de-duplicated and sorted. */
export async function writeEntityMap(path: string, rows: readonly SimResult['entityMap'][number][]): Promise<void> {
  const unique = new Map(rows.map((r) => [`${r.key_type}/${r.key_value}/${r.mmsi}`, r]));
  await writeTable(path, tables.rf_entity_map.columns, unique.values());
}
