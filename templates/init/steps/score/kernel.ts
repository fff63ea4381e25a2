// A kernel: the default export gets a context with its inputs, outputs, params and a logger.
// The scoring is a pure function so a test can call it directly.
import { readTable, writeTable, type Kernel } from 'dagrun/sdk';

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

const kernel: Kernel = async (ctx) => {
  const rows = (await readTable(ctx.inputs.clean)) as { station: string; value: number }[];
  const scores = score(rows, ctx.params.threshold as number);
  ctx.metric('stations', scores.length);
  await writeTable(ctx.outputs.scores, { station: 'VARCHAR', readings: 'BIGINT', mean: 'DOUBLE', above: 'BOOLEAN' }, scores, { format: 'csv', orderBy: ['station'] });
};
export default kernel;
