// chip: a 256×256 reflectance GeoTIFF (plus SCL, footprint, sidecar, quicklook) around every AIS
// point stac-search matched to a scene. Wiring only; the work is in chip.ts, run.ts, raster.ts, geometry.ts.
import type { Kernel } from '../../src/sdk/kernel-api.js';
import { StepError } from '../../src/sdk/errors.js';
import { quoteLiteral, readTable, withDb, writeTable } from '../../src/sdk/table-io.js';
import { CHIP_COLUMNS, requestedBands, type ChipParams } from './chip.js';
import { orderTasks, parseMatches, runChips } from './run.js';

const REQUIRED = ['mmsi', 'ais_time', 'lat', 'lon', 'scene_id', 'scene_datetime', 'cloud_cover', 'epsg', 'assets'];

const kernel: Kernel = async (ctx) => {
  const params = ctx.params as unknown as ChipParams & { jobs: number };
  if (params.bands) {
    try {
      requestedBands(params.bands);
    } catch (error) {
      throw new StepError((error as Error).message, 'chip params');
    }
  }
  const matchesPath = ctx.inputs.matches;
  const columns = await withDb((db) => db.describe(`read_parquet(${quoteLiteral(matchesPath)})`));
  const missing = REQUIRED.filter((name) => !(name in columns));
  if (missing.length > 0) throw new StepError(`missing column(s) ${missing.join(', ')} (has ${Object.keys(columns).join(', ')})`, matchesPath);

  const { tasks, bad } = parseMatches(await readTable(matchesPath));
  // Every match is an item: an invalid row or a chip that could not be cut is a failed one (the step
  // fails when all fail, or more than max_failed_fraction).
  for (const problem of bad) ctx.itemFailed(`matches row ${problem.row}`, `field ${problem.field}: ${problem.message}; row skipped`);
  const ordered = orderTasks(tasks);
  ctx.log(`${ordered.length} chips to cut from ${new Set(ordered.map((t) => t.sceneId)).size} scene(s) with ${params.jobs} job(s)`);

  // Paths in the table are relative to the output root; the chips_dir output is chips/{date}.
  const outPrefix = ctx.partition.date ? `chips/${ctx.partition.date}` : 'chips';
  const { rows, stats } = await runChips(ordered, params, {
    outDir: ctx.outputs.chips_dir,
    outPrefix,
    jobs: params.jobs,
    // stac-search stores local asset hrefs relative to the pipeline folder.
    cache: { baseDir: ctx.resolvePath('.') },
    onChip: (done) => ctx.progress(done, ordered.length),
  });
  const failed = rows.filter((row) => row.status === 'failed');
  ctx.itemDone(rows.length - failed.length);
  for (const row of failed) ctx.itemFailed(`chip ${row.chip_id} (mmsi ${row.mmsi}, scene ${row.scene_id})`, String(row.reason));
  await writeTable(ctx.outputs.chips, CHIP_COLUMNS, rows as unknown as Record<string, unknown>[], { orderBy: ['chip_id'] });

  ctx.metric('chips_ok', rows.length - failed.length);
  ctx.metric('chips_failed', failed.length);
  ctx.metric('rows_invalid', bad.length);
  ctx.metric('bytes_read', stats.bytesRead);
  ctx.metric('read_requests', stats.requests);
  ctx.metric('tile_bytes_touched', stats.tileBytesTouched);
  ctx.metric('tile_bytes_fetched', stats.tileBytesFetched);
};

export default kernel;
