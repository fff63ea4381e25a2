// rf-fuse: AIS–RF fusion for one date partition (seed 003). Wiring only; the work is in run.ts.
import { StepError } from '../../src/sdk/errors.js';
import type { Kernel } from '../../src/sdk/kernel-api.js';
import { kpiMetrics, resolveParams, runRfFuse } from './run.js';

const kernel: Kernel = async (ctx) => {
  const date = ctx.partition.date;
  if (!date) throw new StepError('rf-fuse runs per date partition (partition: date)', ctx.step);
  if (!ctx.inputs.ais) throw new StepError('rf-fuse needs an ais input', ctx.step);
  const params = resolveParams(ctx.params);
  const { kpi, warnings } = await runRfFuse(
    // `previous`: the day before's tail (none for the first partition), for gaps across midnight.
    { ais: ctx.inputs.ais, rf: ctx.inputs.rf, entityMap: ctx.inputs.entity_map, labels: ctx.inputs.labels, previous: ctx.inputFiles.previous ?? [] },
    { fused: ctx.outputs.fused, kpi: ctx.outputs.kpi, audit: ctx.outputs.audit, tail: ctx.outputs.tail },
    date,
    params,
  );
  for (const warning of warnings) ctx.warn(warning);
  for (const [name, value] of Object.entries(kpiMetrics(kpi))) ctx.metric(name, value);
  ctx.log(`rf-fuse ${date}: ${kpi.output.rows} N6 rows, gap coverage ${kpi.gap_fill.gap_coverage_pct ?? 'n/a'} %, ${kpi.spoof.corrected} corrected`);
};

export default kernel;
