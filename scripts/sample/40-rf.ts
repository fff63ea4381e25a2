// Sample data for rf-fuse: generated vessel tracks in the Solent and the English Channel (no real data
// is copied), run through the RF simulator for each sample date. Writes datasets/sample/rf/:
//   ais/YYYY/MM/DD/ais.parquet      AIS as a receiver logged it (normalised AIS columns; gaps cut, spoofs in)
//   rf/YYYY/MM/DD/rf.parquet        RF detections (epoch-ms ts_utc, TDOA clusters, decoys, anonymous, bad rows)
//   truth/YYYY/MM/DD/spoof_labels.parquet   analyst-style spoof labels for every AIS fix (KPI precision)
//   entity_map.parquet              vessel-ID mapping table (imo → mmsi)
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { simulate, syntheticTracks, type SimResult } from '../../steps/rf-fuse/simulate.js';
import { writeEntityMap, writeSimulationDay } from '../../steps/rf-fuse/simulate-io.js';

const DATES = ['2026-05-25', '2026-05-26'];

export async function generate(root: string): Promise<void> {
  const out = join(root, 'datasets', 'sample', 'rf');
  await rm(out, { recursive: true, force: true });
  const entityMap: SimResult['entityMap'] = [];
  for (const [index, date] of DATES.entries()) {
    const tracks = syntheticTracks({ seed: 4000 + index, date, vessels: 30, hours: 2, intervalSec: 60 });
    const sim = simulate(tracks, { seed: 4100 + index, rfIdPrefix: `RF${date.replaceAll('-', '')}` });
    await writeSimulationDay(out, date, sim);
    entityMap.push(...sim.entityMap);
  }
  await writeEntityMap(join(out, 'entity_map.parquet'), entityMap);
}
