// The `after:` sensor: capture windows read from the newest built output of a step (e.g. every row
// of the latest overpass schedules, capture_start_utc → capture_end_utc). Manifests say which files
// are current; the rows are read with the SDK's DuckDB reader.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { listRuns, readManifest } from '../manifest.js';
import { quoteIdent, readerFor, withDb } from '../../sdk/table-io.js';
import type { SensorWindow } from './fires.js';
import type { ScheduleSpec } from './spec.js';

export type SensorSource = (spec: ScheduleSpec) => Promise<SensorWindow[]>;

/** The newest file of `step.output` per instance, over the recorded runs. */
export function latestOutputs(runsDir: string, outputRoot: string, step: string, output: string): string[] {
  const seen = new Map<string, string>();
  for (const run of listRuns(runsDir).reverse()) {
    let manifest;
    try {
      manifest = readManifest(runsDir, run);
    } catch {
      continue; // an unreadable manifest does not blind the sensor to the others
    }
    if (manifest.kind !== 'build') continue;
    for (const record of manifest.steps) {
      if (record.step !== step || seen.has(record.instance)) continue;
      const file = record.outputs.find((o) => o.name === output);
      if (file) seen.set(record.instance, resolve(outputRoot, file.path));
    }
  }
  return [...seen.values()].filter((f) => existsSync(f)).sort();
}

/** Windows from parquet/CSV rows; TIMESTAMP columns are UTC. */
export function tableSensor(runsDir: string, outputRoot: string): SensorSource {
  return async (spec) => {
    if (spec.trigger.kind !== 'after') return [];
    const { step, output, start, end } = spec.trigger;
    const files = latestOutputs(runsDir, outputRoot, step, output);
    if (files.length === 0) return [];
    const format = files[0].endsWith('.csv') ? 'csv' : 'parquet';
    const rows = await withDb((db) => db.all(`SELECT DISTINCT CAST(${quoteIdent(start)} AS VARCHAR) AS s${end ? `, CAST(${quoteIdent(end)} AS VARCHAR) AS e` : ''} FROM ${readerFor(files, format)} WHERE ${quoteIdent(start)} IS NOT NULL ORDER BY 1`));
    return rows.map((row) => ({ start: utc(String(row.s)), end: row.e ? utc(String(row.e)) : undefined })).filter((w) => !Number.isNaN(w.start.getTime()));
  };
}

function utc(text: string): Date {
  const iso = text.replace(' ', 'T');
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}
