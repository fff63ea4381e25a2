// A partitioned SQL project: per date an (id, v) CSV, a copy step, optionally a ×2 step, and a fan-in
// sum over every date. The engine tests build it small; bench/partitions.bench.ts at 365 dates.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DailyProject {
  /** The dates in order: the `date` partition runs from the first to the last. */
  readonly days: readonly string[];
  /** One date's CSV rows, without the `id,v` header (called once per date, in order). */
  readonly rows: (day: string) => readonly string[];
  /** A per-date ×2 step between copy and sum. */
  readonly double?: boolean;
  readonly name?: string;
}

/** inputs/{date}.csv for every date. */
export function writeDailyInputs(dir: string, days: readonly string[], rows: DailyProject['rows']): void {
  mkdirSync(join(dir, 'inputs'), { recursive: true });
  for (const day of days) writeFileSync(join(dir, 'inputs', `${day}.csv`), `id,v\n${rows(day).join('\n')}\n`);
}

export function writeDailyProject(dir: string, project: DailyProject): void {
  const { days, double = false } = project;
  writeDailyInputs(dir, days, project.rows);
  mkdirSync(join(dir, 'steps'), { recursive: true });
  const last = double ? 'doubled' : 'copied';
  writeFileSync(join(dir, 'steps', 'copy.sql'), 'CREATE TABLE copied AS SELECT id, v FROM raw;\n');
  if (double) writeFileSync(join(dir, 'steps', 'double.sql'), 'CREATE TABLE doubled AS SELECT id, v * 2 AS v FROM copied;\n');
  writeFileSync(join(dir, 'steps', 'sum.sql'), `CREATE TABLE total AS SELECT sum(v)::BIGINT AS v FROM ${last};\n`);
  const doubleStep = `  double:
    sql: steps/double.sql
    partition: date
    inputs:
      copied: copy.copied
    outputs:
      doubled: { path: "doubled/{date}.csv", format: csv, columns: { id: BIGINT, v: BIGINT } }
`;
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    `${project.name ? `pipeline: ${project.name}\n` : ''}partitions:
  date: { from: "${days[0]}", to: "${days[days.length - 1]}" }
steps:
  copy:
    sql: steps/copy.sql
    partition: date
    inputs:
      raw: { from: "file:inputs/{date}.csv", columns: { id: BIGINT, v: BIGINT } }
    outputs:
      copied: { path: "copied/{date}.csv", format: csv, columns: { id: BIGINT, v: BIGINT } }
${double ? doubleStep : ''}  sum:
    sql: steps/sum.sql
    inputs:
      ${last}: ${double ? 'double.doubled' : 'copy.copied'}
    outputs:
      total: { path: total.csv, format: csv, columns: { v: BIGINT } }
`,
  );
}
