// index: tiles.parquet (GeoParquet), daily tiles_YYYYMMDD.geojson and a STAC catalog of the chips that
// passed the gate and prune-by-AIS, over every date (fan-in). Pruned chips are listed in `pruned`.
import type { Kernel } from '../../src/sdk/kernel-api.js';
import { buildIndexes } from './build.js';

const kernel: Kernel = async (ctx) => {
  const files = (name: string) => ctx.inputFiles[name] ?? (ctx.inputs[name] ? [ctx.inputs[name]] : []);
  const counts = await buildIndexes(
    { chips: files('chips'), gate: files('gate'), positions: files('positions') },
    { tiles: ctx.outputs.tiles, pruned: ctx.outputs.pruned, daily: ctx.outputs.daily, stac: ctx.outputs.stac },
    { timeMinutes: Number(ctx.params.prune_time_tolerance_min), distanceM: Number(ctx.params.prune_distance_tolerance_m) },
    typeof ctx.params.scene_link_base === 'string' ? ctx.params.scene_link_base : undefined,
    // Every gate-accepted chip is an item: one whose row is malformed is not indexed, the others are.
    { done: () => ctx.itemDone(), failed: (item, reason) => ctx.itemFailed(item, reason) },
  );
  ctx.metric('chips_in', counts.chipsIn);
  ctx.metric('listed', counts.listed);
  ctx.metric('pruned', counts.pruned);
  ctx.metric('not_accepted', counts.chipsIn - counts.listed - counts.pruned);
};

export default kernel;
