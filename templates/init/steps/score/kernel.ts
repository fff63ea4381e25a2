// A kernel: the default export gets a context with its inputs, outputs, params and a logger.
// The scoring is a pure function so a test can call it directly.
// Its params, rows and columns come from pipeline.yaml: `npx dagrun types` wrote score.dagrun.ts (run it
// again after changing pipeline.yaml; a kernel that disagrees then fails to type-check).
import { readTable, writeTable } from 'dagrun/sdk';
import { outputColumns, outputOrderBy, type InputRows, type StepKernel } from './score.dagrun.js';

export interface Score {
  station: string;
  readings: number;
  mean: number;
  above: boolean;
}

export function score(rows: readonly { station: string; value: number }[], threshold: number): Score[] {
  const byStation = new Map<string, number[]>();
  for (const row of rows) byStation.set(row.station, [...(byStation.get(row.station) ?? []), row.value]);
  return [...byStation].map(([station, values]) => {
    const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
    return { station, readings: values.length, mean, above: mean > threshold };
  });
}

const kernel: StepKernel = async (ctx) => {
  const rows = (await readTable(ctx.inputs.clean)) as InputRows['clean'][];
  const scores = score(rows.flatMap((r) => (r.station === null || r.value === null ? [] : [{ station: r.station, value: r.value }])), ctx.params.threshold);
  ctx.metric('stations', scores.length);
  await writeTable(ctx.outputs.scores, outputColumns.scores, scores, { format: 'csv', orderBy: outputOrderBy.scores });
};
export default kernel;
