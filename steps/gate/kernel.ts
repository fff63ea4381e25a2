// gate: accept or reject every chip from its centre window (seed 001 §10 "AIS+Sanity gate").
import { StepError } from '../../src/sdk/errors.js';
import { readTable, writeTable } from '../../src/sdk/table-io.js';
import { outputColumns, outputOrderBy, type StepKernel } from './gate.dagrun.js';
import { gateChip, type ChipRecord, type GateParams, type GateRow } from './gate.js';

const kernel: StepKernel = async (ctx) => {
  const p = ctx.params;
  const params: GateParams = {
    centerWindowPx: Number(p.center_window_px),
    sclCloudClasses: p.scl_cloud_classes as number[],
    sclLandClasses: p.scl_land_classes as number[],
    ndwiWaterThresh: Number(p.ndwi_water_thresh),
    maxCloudCenterFrac: Number(p.max_cloud_center_frac),
    maxLandCenterFrac: Number(p.max_land_center_frac),
    minWaterCenterFrac: Number(p.min_water_center_frac),
  };
  const chips = await readTable(ctx.inputs.chips);
  const rows: GateRow[] = [];
  for (const [index, chip] of chips.entries()) {
    if (typeof chip.chip_id !== 'string' || chip.chip_id === '') throw new StepError('chip_id is missing', `${ctx.inputs.chips} row ${index + 1} field chip_id`);
    const row = await gateChip(chip as unknown as ChipRecord, ctx.inputs.chips_dir, params);
    rows.push(row);
    // A chip the gate could not measure (file missing or unreadable, bands lacking) is a failed item;
    // one the chip step already failed is that step's to count, not this one's.
    if (row.qa_source !== null) ctx.itemDone();
    else if (!chip.status || chip.status === 'ok') ctx.itemFailed(`chip ${chip.chip_id}`, row.reason);
    ctx.progress(index + 1, chips.length);
  }
  await writeTable(ctx.outputs.gate, outputColumns.gate, rows as never, { orderBy: outputOrderBy.gate });
  const accepted = rows.filter((r) => r.decision === 'accept').length;
  ctx.metric('chips', rows.length);
  ctx.metric('accepted', accepted);
  ctx.metric('rejected', rows.length - accepted);
  ctx.metric('spectral_fallback', rows.filter((r) => r.qa_source === 'spectral').length);
};

export default kernel;
