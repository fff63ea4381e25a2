// predict (partitioned by date): the Sentinel-2 overpass schedule for the partition's window.
import type { Kernel } from '../../src/sdk/kernel-api.js';
import { readTable } from '../../src/sdk/table-io.js';
import { buildScheduleRows, SCHEDULE_COLUMNS, SCHEDULE_ORDER, scheduleTargets, tleRecordsFromTable, windowStart } from './schedule.js';
import { predictOverpasses } from './overpass.js';
import { writeTable } from '../../src/sdk/table-io.js';

const kernel: Kernel = async (ctx) => {
  const tleFile = ctx.inputs.tles;
  const { records, otherSatellites } = tleRecordsFromTable(await readTable(tleFile), tleFile);
  if (otherSatellites.length > 0) ctx.warn(`${tleFile}: ignored ${otherSatellites.length} element set(s) for satellites other than Sentinel-2 (NORAD ${[...new Set(otherSatellites)].join(', ')})`);
  const targets = scheduleTargets(ctx.params);
  const startMs = windowStart(ctx.partition.date);
  const days = Number(ctx.params.days ?? 7);
  const { overpasses, warnings } = predictOverpasses(records, targets, {
    startMs,
    days,
    swathKm: Number(ctx.params.swath_km ?? 290),
    maxTleAgeDays: Number(ctx.params.max_tle_age_days ?? 30),
    minSunElevationDeg: Number(ctx.params.min_sun_elevation_deg ?? 0),
  });
  for (const warning of warnings) ctx.warn(warning);
  const rows = buildScheduleRows(overpasses, Number(ctx.params.overpass_window_minutes ?? 5));
  if (rows.length === 0) ctx.warn(`no overpasses of ${targets.length} target(s) in ${days} day(s) from ${ctx.partition.date}`);
  ctx.metric('targets', targets.length);
  ctx.metric('overpasses', rows.length);
  ctx.metric('element_sets', records.length);
  await writeTable(ctx.outputs.schedule, SCHEDULE_COLUMNS, rows, { orderBy: SCHEDULE_ORDER });
  await writeTable(ctx.outputs.schedule_csv, SCHEDULE_COLUMNS, rows, { format: 'csv', orderBy: SCHEDULE_ORDER });
};

export default kernel;
