// A partitioned SQL project: per date an (id, v) CSV, a copy step, optionally a ×2 step, and a fan-in
// sum over every date. The engine tests build it small; bench/partitions.bench.ts at 365 dates.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface DailyProject {
  /** The dates in order: the `date` partition's values (or, with `fromFiles`, the files written). */
  readonly days: readonly string[];
  /** One date's CSV rows, without the `id,v` header (called once per date, in order). Default: (1, i+1) and (2, i+10) for the i-th date. */
  readonly rows?: (day: string, index: number) => readonly string[];
  /** A per-date ×2 step between copy and sum. */
  readonly double?: boolean;
  readonly name?: string;
  /** How `date` is declared: from the first day to the last (default), the days as a `values:` list, or discovered by `from_files:`. */
  readonly partition?: 'range' | 'values' | { readonly fromFiles: string };
  /** Where a date's rows are written and what copy reads as `file:` (a glob sees files added later). Default inputs/{date}.csv for both. */
  readonly input?: { readonly file: string; readonly read?: string };
  /** copy's output path under out/. Default copied/{date}.csv. */
  readonly copied?: string;
  /** The v that copy writes, an SQL expression over raw: `v * 2`, `v * $factor`. Default `v`. */
  readonly copyValue?: string;
  /** copy's `params:`, each name with its YAML flow-mapping declaration. */
  readonly copyParams?: Readonly<Record<string, string>>;
  /** The fan-in sum over every date. Default true. */
  readonly sum?: boolean;
}

const INPUT = 'inputs/{date}.csv';
const defaultRows = (_day: string, index: number): readonly string[] => [`1,${index + 1}`, `2,${index + 10}`];

/** The input file of every date (default inputs/{date}.csv). */
export function writeDailyInputs(dir: string, days: readonly string[], rows: DailyProject['rows'] = defaultRows, file = INPUT): void {
  for (const [index, day] of days.entries()) {
    const path = join(dir, file.replaceAll('{date}', day));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `id,v\n${rows(day, index).join('\n')}\n`);
  }
}

function partitionDeclaration({ days, partition = 'range' }: DailyProject): string {
  if (partition === 'range') return `{ from: "${days[0]}", to: "${days[days.length - 1]}" }`;
  if (partition === 'values') return `{ values: [${days.map((day) => JSON.stringify(day)).join(', ')}] }`;
  return `{ from_files: "${partition.fromFiles}" }`;
}

/** The project's pipeline.yaml text (tests rewrite it with other options, e.g. another param default). */
export function dailyPipeline(project: DailyProject): string {
  const { double = false, sum = true, copyParams = {} } = project;
  const params = Object.entries(copyParams).map(([name, declaration]) => `      ${name}: ${declaration}\n`).join('');
  const copyStep = `  copy:
    sql: steps/copy.sql
    partition: date
${params ? `    params:\n${params}` : ''}    inputs:
      raw: { from: "file:${project.input?.read ?? project.input?.file ?? INPUT}", columns: { id: BIGINT, v: BIGINT } }
    outputs:
      copied: { path: "${project.copied ?? 'copied/{date}.csv'}", format: csv, columns: { id: BIGINT, v: BIGINT } }
`;
  const doubleStep = `  double:
    sql: steps/double.sql
    partition: date
    inputs:
      copied: copy.copied
    outputs:
      doubled: { path: "doubled/{date}.csv", format: csv, columns: { id: BIGINT, v: BIGINT } }
`;
  const sumStep = `  sum:
    sql: steps/sum.sql
    inputs:
      ${double ? 'doubled: double.doubled' : 'copied: copy.copied'}
    outputs:
      total: { path: total.csv, format: csv, columns: { v: BIGINT } }
`;
  return `${project.name ? `pipeline: ${project.name}\n` : ''}partitions:
  date: ${partitionDeclaration(project)}
steps:
${copyStep}${double ? doubleStep : ''}${sum ? sumStep : ''}`;
}

export function writeDailyProject(dir: string, project: DailyProject): void {
  const { double = false, sum = true } = project;
  writeDailyInputs(dir, project.days, project.rows, project.input?.file);
  mkdirSync(join(dir, 'steps'), { recursive: true });
  writeFileSync(join(dir, 'steps', 'copy.sql'), `CREATE TABLE copied AS SELECT id, ${project.copyValue ? `${project.copyValue} AS v` : 'v'} FROM raw;\n`);
  if (double) writeFileSync(join(dir, 'steps', 'double.sql'), 'CREATE TABLE doubled AS SELECT id, v * 2 AS v FROM copied;\n');
  if (sum) writeFileSync(join(dir, 'steps', 'sum.sql'), `CREATE TABLE total AS SELECT sum(v)::BIGINT AS v FROM ${double ? 'doubled' : 'copied'};\n`);
  writeFileSync(join(dir, 'pipeline.yaml'), dailyPipeline(project));
}
