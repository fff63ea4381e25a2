// predict (partitioned by date): the Sentinel-2 overpass schedule for the partition's window, from
// TLEs (SGP4) and/or ESA acquisition plans (KML), and the plan checked against the TLE prediction.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kernel } from '../../src/sdk/kernel-api.js';
import { StepError } from '../../src/sdk/errors.js';
import { readTable, writeTable } from '../../src/sdk/table-io.js';
import { buildScheduleRows, planCheckRows, SCHEDULE_COLUMNS, SCHEDULE_ORDER, scheduleTargets, tleRecordsFromTable, windowStart } from './schedule.js';
import { predictOverpasses } from './overpass.js';
import { outputColumns, outputOrderBy } from './predict.dagrun.js';
import { parsePlanKml, planOverpasses, type Datatake } from './esa-plan.js';

/** The plan files behind the `plans` input: files as given, a folder's *.kml in name order. */
async function planFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    if ((await stat(path)).isDirectory()) files.push(...(await readdir(path)).filter((f) => f.toLowerCase().endsWith('.kml')).sort().map((f) => join(path, f)));
    else files.push(path);
  }
  return files;
}

const kernel: Kernel = async (ctx) => {
  const tleFile = ctx.inputs.tles;
  const { records, otherSatellites } = tleRecordsFromTable(await readTable(tleFile), tleFile);
  if (otherSatellites.length > 0) ctx.warn(`${tleFile}: ignored ${otherSatellites.length} element set(s) for satellites other than Sentinel-2 (NORAD ${[...new Set(otherSatellites)].join(', ')})`);
  const targets = scheduleTargets(ctx.params);
  const startMs = windowStart(ctx.partition.date);
  const days = Number(ctx.params.days ?? 7);
  const source = String(ctx.params.overpass_source ?? 'tle');
  const { overpasses, warnings } = predictOverpasses(records, targets, {
    startMs,
    days,
    swathKm: Number(ctx.params.swath_km ?? 290),
    maxTleAgeDays: Number(ctx.params.max_tle_age_days ?? 30),
    minSunElevationDeg: Number(ctx.params.min_sun_elevation_deg ?? 0),
  });
  for (const warning of warnings) ctx.warn(warning);

  // ESA acquisition plans: every NOBS datatake, and per satellite the time the plans cover.
  const datatakes: Datatake[] = [];
  const planWindows = new Map<string, { fromMs: number; toMs: number }[]>();
  const files = await planFiles(ctx.inputFiles.plans ?? (ctx.inputs.plans ? [ctx.inputs.plans] : []));
  // Every plan file is an item: one that cannot be read or parsed is a failed item and the others are
  // used; the step fails when all fail, or more than max_failed_fraction.
  for (const file of files) {
    const shown = ctx.relativePath(file);
    let plan;
    try {
      plan = parsePlanKml(await readFile(file, 'utf8'), shown);
    } catch (error) {
      // A located parse error names the file and line itself.
      ctx.itemFailed(`plan ${(error as { where?: string }).where ?? shown}`, (error as Error).message);
      continue;
    }
    ctx.itemDone();
    const skipped = Object.entries(plan.skipped).map(([mode, n]) => `${n} ${mode}`);
    ctx.log(`${shown}: ${plan.datatakes.length} NOBS datatake(s)${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}`);
    if (plan.datatakes.length === 0) ctx.warn(`${shown}: no NOBS (nominal) datatake in the plan`);
    datatakes.push(...plan.datatakes);
    for (const satellite of new Set(plan.datatakes.map((d) => d.satellite))) {
      const own = plan.datatakes.filter((d) => d.satellite === satellite);
      const window = plan.validity ?? { fromMs: Math.min(...own.map((d) => d.startMs)), toMs: Math.max(...own.map((d) => d.stopMs)) };
      planWindows.set(satellite, [...(planWindows.get(satellite) ?? []), window]);
    }
  }
  if (source !== 'tle' && files.length === 0) throw new StepError(`overpass_source ${source} needs ESA acquisition plan files (input plans), and there are none`, 'param overpass_source');
  const planned = planOverpasses(datatakes, targets, { startMs, days });

  const windowMinutes = Number(ctx.params.overpass_window_minutes ?? 5);
  const rows = [...(source === 'esa_plan' ? [] : buildScheduleRows(overpasses, windowMinutes)), ...(source === 'tle' ? [] : buildScheduleRows(planned, windowMinutes))];
  if (rows.length === 0) ctx.warn(`no overpasses of ${targets.length} target(s) in ${days} day(s) from ${ctx.partition.date} (source ${source})`);
  const check = files.length > 0 ? planCheckRows(overpasses, planned, planWindows) : [];
  ctx.metric('targets', targets.length);
  ctx.metric('overpasses', rows.length);
  ctx.metric('element_sets', records.length);
  ctx.metric('plan_datatakes', datatakes.length);
  ctx.metric('plan_overpasses', planned.length);
  const diffs = check.filter((r) => typeof r.center_diff_s === 'number').map((r) => Math.abs(r.center_diff_s as number));
  if (diffs.length > 0) ctx.metric('plan_vs_tle_max_abs_diff_s', Math.max(...diffs));
  await writeTable(ctx.outputs.schedule, SCHEDULE_COLUMNS, rows, { orderBy: SCHEDULE_ORDER });
  await writeTable(ctx.outputs.schedule_csv, SCHEDULE_COLUMNS, rows, { format: 'csv', orderBy: SCHEDULE_ORDER });
  await writeTable(ctx.outputs.plan_check, outputColumns.plan_check, check, { orderBy: outputOrderBy.plan_check });
};

export default kernel;
