// Reading the joined inputs and writing every index output (the index kernel's work, callable from tests).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StepError } from '../../src/sdk/errors.js';
import { quoteIdent, readerFor, withDb, writeTable } from '../../src/sdk/table-io.js';
import { DEFAULT_SCENE_LINK_BASE, STAC_DIR, dailyCollections, labelCollection, prunedRow, selectChips, stacCollection, stacItem, tilesGeoMetadata, tilesRow, type ChipItems, type IndexInput, type Listed, type PruneTolerances } from './index-build.js';
import { inputColumns, outputColumns, outputOrderBy } from './index.dagrun.js';

// The columns each input must have, as pipeline.yaml lists them on the index step's inputs.
const CHIP_COLUMNS = Object.keys(inputColumns.chips);
const GATE_COLUMNS = Object.keys(inputColumns.gate);
const POSITION_COLUMNS = Object.keys(inputColumns.positions);

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** Chips joined with their gate verdict and the recorded AIS fix of the same MMSI nearest the scene time. */
export async function readJoined(chips: readonly string[], gate: readonly string[], positions: readonly string[]): Promise<IndexInput[]> {
  return withDb(async (db) => {
    const check = async (name: string, files: readonly string[], wanted: string[]) => {
      if (files.length === 0) return;
      const columns = await db.describe(`SELECT * FROM ${readerFor(files)}`);
      const missing = wanted.filter((c) => !(c in columns));
      if (missing.length) throw new StepError(`${name} lacks column(s) ${missing.join(', ')}`, files[0]);
    };
    await check('chips', chips, CHIP_COLUMNS);
    await check('gate', gate, GATE_COLUMNS);
    await check('positions', positions, POSITION_COLUMNS);
    if (chips.length === 0) return [];
    // scene_href is optional: chips tables from before stac-search recorded it have none.
    const hasHref = 'scene_href' in (await db.describe(`SELECT * FROM ${readerFor(chips)}`));
    await db.run(`CREATE TABLE chips AS SELECT ${CHIP_COLUMNS.join(', ')}, ${hasHref ? 'scene_href' : 'NULL::VARCHAR AS scene_href'} FROM ${readerFor(chips)}`);
    await db.run(
      gate.length
        ? `CREATE TABLE gate AS SELECT ${GATE_COLUMNS.join(', ')} FROM ${readerFor(gate)}`
        : `CREATE TABLE gate (${Object.entries(inputColumns.gate).map(([name, type]) => `${quoteIdent(name)} ${type}`).join(', ')})`,
    );
    await db.run(
      positions.length
        ? `CREATE TABLE fixes AS
             SELECT c.chip_id, p.ts_utc::TIMESTAMP AS fix_time, p.lat AS fix_lat, p.lon AS fix_lon
             FROM chips c JOIN ${readerFor(positions)} p ON p.mmsi = c.mmsi
             WHERE p.ts_utc IS NOT NULL AND p.lat IS NOT NULL AND p.lon IS NOT NULL
             QUALIFY row_number() OVER (PARTITION BY c.chip_id ORDER BY abs(epoch(p.ts_utc::TIMESTAMP) - epoch(c.scene_datetime::TIMESTAMP)), p.ts_utc, p.lat, p.lon) = 1`
        : `CREATE TABLE fixes (chip_id VARCHAR, fix_time TIMESTAMP, fix_lat DOUBLE, fix_lon DOUBLE)`,
    );
    // The vessel type (AIS static data, often absent from position rows): the latest reported per MMSI.
    const hasVesselType = positions.length > 0 && 'vessel_type' in (await db.describe(`SELECT * FROM ${readerFor(positions)}`));
    await db.run(
      hasVesselType
        ? `CREATE TABLE vessels AS SELECT mmsi, arg_max(vessel_type, ts_utc) FILTER (WHERE vessel_type IS NOT NULL) AS vessel_type FROM ${readerFor(positions)} GROUP BY mmsi`
        : `CREATE TABLE vessels (mmsi BIGINT, vessel_type INTEGER)`,
    );
    const rows = await db.all(
      `SELECT c.*, g.decision, g.reason AS gate_reason, g.qa_cloud_frac, g.qa_water_frac, g.qa_land_frac, f.fix_time, f.fix_lat, f.fix_lon, v.vessel_type::INTEGER AS vessel_type
       FROM chips c LEFT JOIN gate g USING (chip_id) LEFT JOIN fixes f USING (chip_id) LEFT JOIN vessels v ON v.mmsi = c.mmsi ORDER BY c.chip_id`,
    );
    return rows as unknown as IndexInput[];
  });
}

export interface IndexOutputs {
  tiles: string;
  pruned: string;
  /** Directory for tiles_YYYYMMDD.geojson. */
  daily: string;
  /** Directory for collection.json and items/. */
  stac: string;
}

export interface IndexInputs {
  chips: readonly string[];
  gate: readonly string[];
  positions: readonly string[];
}

/**
 * Build every index output; returns counts for the manifest. `sceneLinkBase` turns a local scene item
 * path (relative to the pipeline folder) into an href from the STAC items folder (see derivedFromHref).
 */
export async function buildIndexes(inputs: IndexInputs, outputs: IndexOutputs, tolerances: PruneTolerances, sceneLinkBase = DEFAULT_SCENE_LINK_BASE, items?: ChipItems): Promise<{ chipsIn: number; listed: number; pruned: number }> {
  const joined = await readJoined(inputs.chips, inputs.gate, inputs.positions);
  let selection;
  try {
    selection = selectChips(joined, tolerances, items);
  } catch (error) {
    throw new StepError((error as Error).message, inputs.chips[0]);
  }
  const { listed, pruned } = selection;
  await writeTiles(outputs.tiles, listed);
  await writeTable(outputs.pruned, outputColumns.pruned, pruned.map(prunedRow), { orderBy: outputOrderBy.pruned });
  await mkdir(outputs.daily, { recursive: true });
  for (const [name, collection] of dailyCollections(listed)) await writeFile(join(outputs.daily, name), json(collection));
  await mkdir(join(outputs.stac, 'items'), { recursive: true });
  await writeFile(join(outputs.stac, 'collection.json'), json(stacCollection(listed)));
  for (const entry of listed) {
    await writeFile(join(outputs.stac, 'items', `${entry.chip.chip_id}.json`), json(stacItem(entry, STAC_DIR, sceneLinkBase)));
    await writeFile(join(outputs.stac, 'items', `${entry.chip.chip_id}.labels.geojson`), json(labelCollection(entry)));
  }
  return { chipsIn: joined.length, listed: listed.length, pruned: pruned.length };
}

/**
 * tiles.parquet as GeoParquet 1.1: footprint as WKB (so DuckDB adds no 1.0 `geo` key of its own), a
 * `bbox` struct covering column, and our `geo` metadata naming it (see tilesGeoMetadata).
 */
export async function writeTiles(path: string, listed: readonly Listed[]): Promise<void> {
  await withDb(async (db) => {
    await db.createTable('tiles', outputColumns.tiles, listed.map(tilesRow));
    const columns = Object.keys(outputColumns.tiles).map((name) => (name === 'footprint' ? 'ST_AsWKB(footprint) AS footprint' : quoteIdent(name)));
    await db.run(`CREATE TABLE tiles_out AS SELECT ${columns.join(', ')} FROM tiles`);
    await db.copyToFile('tiles_out', path, 'parquet', outputOrderBy.tiles, { geo: tilesGeoMetadata(listed) });
  });
}
