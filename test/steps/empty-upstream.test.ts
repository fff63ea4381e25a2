// Issue 10 item 3: every sample step runs on empty upstream results. Each step input that another
// step produces is given as that producer's output with zero rows (its declared columns and types),
// an empty folder, or an empty file; the step must succeed and write every output with its declared
// types (execStep checks them as a build does). Steps fed by data files get those files emptied.
import { afterAll, describe, expect, it } from 'vitest';
import { detectionsParquet } from './transit-helpers.js';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { execStep } from '../../src/engine/exec.js';
import { loadPipeline, type OutputSpec } from '../../src/engine/pipeline.js';
import { quoteLiteral, readTable, withDb, writeTable } from '../../src/sdk/table-io.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const PIPELINE = join(PROJECT_ROOT, 'pipeline.yaml');
const pipeline = loadPipeline(PIPELINE);
const scratch = mkdtempSync(join(tmpdir(), 'dagrun-empty-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An empty instance of a producer's output. */
async function emptyOutput(spec: OutputSpec, dir: string): Promise<string> {
  const path = join(dir, `${spec.name}.${spec.format === 'directory' ? 'd' : spec.format}`);
  if (spec.format === 'directory') mkdirSync(path, { recursive: true });
  else if (spec.format === 'parquet' || spec.format === 'csv') await writeTable(path, spec.columns ?? {}, [], { format: spec.format });
  else writeFileSync(path, '');
  return path;
}

/**
 * Steps for which an empty upstream means a broken source, refused with a clear error rather than an
 * empty result: predict with no TLE at all has no satellite to predict for (tle-fetch refuses
 * such a file before it, naming the satellites it looked for).
 */
const REFUSES_EMPTY: Record<string, RegExp> = {
  predict: /the TLE table holds no Sentinel-2 element sets/,
  // transit-predict always writes one row per run (vessels or not); no run means no run time T to reconcile at.
  'transit-reconcile': /transit-predict's runs table is empty: no run time to reconcile at/,
};

const consumers = pipeline.order.map((name) => pipeline.steps.get(name)!).filter((step) => step.inputs.some((i) => i.kind === 'step' && !i.previous));

describe('every step that reads another step runs on empty upstream results', () => {
  it('covers the sample pipeline’s consumers', () => {
    expect(consumers.map((s) => s.name)).toEqual(expect.arrayContaining(['predict', 'ais-capture', 'thin', 'stac-search', 'chip', 'gate', 'index', 'sar-search', 'sar-detect', 'verify-dark-fleet-sar', 'transit-reconcile', 'publish-transits']));
  });

  for (const step of consumers) {
    it(`${step.name}`, async () => {
      const dir = mkdtempSync(join(scratch, `${step.name}-`));
      const inputs: Record<string, string> = {};
      for (const input of step.inputs) {
        if (input.kind !== 'step' || input.previous) continue;
        const spec = pipeline.steps.get(input.step!)!.outputs.find((o) => o.name === input.output)!;
        inputs[input.name] = `file:${await emptyOutput(spec, mkdtempSync(join(dir, 'in-')))}`;
      }
      const run = () => execStep({ pipeline: PIPELINE, step: step.name, inputs, partition: step.partition ? { [step.partition]: pipeline.partitions[step.partition][0] } : {}, outDir: join(dir, 'out') });
      const refusal = REFUSES_EMPTY[step.name];
      if (refusal) {
        await expect(run()).rejects.toThrow(refusal);
        return;
      }
      const result = await run();
      for (const output of step.outputs) {
        if (output.format !== 'parquet' && output.format !== 'csv') continue;
        // Nothing upstream, nothing out (a step's own file inputs may still add rows: transit-reconcile, publish).
        if (['thin', 'stac-search', 'chip', 'gate', 'index', 'sar-detect'].includes(step.name)) expect(result.rows[output.name], output.name).toBe(0);
        expect(await readTable(result.outputs[output.name], output.format)).toHaveLength(result.rows[output.name]);
      }
    });
  }
});

/** A copy of a sample data file or folder with every table emptied: same columns and types, no rows. */
async function emptyLike(source: string, target: string): Promise<string> {
  if (statSync(source).isDirectory()) {
    for (const entry of readdirSync(source, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) await emptyLike(join(entry.parentPath, entry.name), join(target, relative(source, join(entry.parentPath, entry.name))));
    }
    return target;
  }
  mkdirSync(dirname(target), { recursive: true });
  if (source.endsWith('.parquet')) await withDb((db) => db.run(`COPY (SELECT * FROM read_parquet(${quoteLiteral(source)}) LIMIT 0) TO ${quoteLiteral(target)} (FORMAT parquet)`));
  else if (source.endsWith('.csv')) writeFileSync(target, `${readFileSync(source, 'utf8').split('\n')[0]}\n`);
  else throw new Error(`no empty form for ${source}`);
  return target;
}

describe('steps fed by data files run on empty files of the same shape', () => {
  const sample = (path: string) => join(PROJECT_ROOT, 'datasets', 'sample', path);
  const cases: [string, Record<string, string>, Record<string, string>][] = [
    ['ais-import', { file: 'ais/user_upload.csv' }, {}],
    ['transit-predict', { positions: 'transits/positions.parquet' }, { date: '2026-05-25' }],
    ['transit-reconcile', { positions: 'transits/positions.parquet', detections: 'transits/sar_detections.csv' }, { date: '2026-05-25' }],
    ['rf-fuse', { ais: 'rf/ais', rf: 'rf/rf', entity_map: 'rf/entity_map.parquet', labels: 'rf/truth' }, { date: '2026-05-25' }],
  ];
  for (const [name, files, partition] of cases) {
    it(name, async () => {
      const dir = mkdtempSync(join(scratch, `${name}-`));
      const inputs: Record<string, string> = {};
      for (const [input, path] of Object.entries(files)) inputs[input] = `file:${await emptyLike(sample(path), join(dir, 'in', path))}`;
      // transit-reconcile reads detections as sar-detect writes them (parquet); the sample keeps them as CSV.
      if (name === 'transit-reconcile') {
        inputs.detections = `file:${await detectionsParquet(join(dir, 'in', files.detections), join(dir, 'in', 'transits', 'sar_detections.parquet'))}`;
        // Its predictions from the same empty positions.
        const predicted = await execStep({ pipeline: PIPELINE, step: 'transit-predict', inputs: { positions: inputs.positions }, partition, outDir: join(dir, 'predict') });
        for (const output of ['predictions', 'runs']) inputs[output] = `file:${predicted.outputs[output]}`;
      }
      const result = await execStep({ pipeline: PIPELINE, step: name, inputs, partition, outDir: join(dir, 'out') });
      const tables = pipeline.steps.get(name)!.outputs.filter((o) => o.format === 'parquet');
      for (const output of tables) {
        // One row per hourly run, each seeing no vessel.
        if (name === 'transit-predict' && output.name === 'runs') {
          const runs = await readTable(result.outputs.runs);
          expect(runs.map((r) => Number(r.vessels) + Number(r.predictions))).toEqual(Array(24).fill(0));
          continue;
        }
        expect(result.rows[output.name], output.name).toBe(0);
      }
    });
  }

  it('sar-search (a static catalog with no items, cued over the whole day)', async () => {
    const dir = mkdtempSync(join(scratch, 'sar-search-'));
    mkdirSync(join(dir, 'catalog'));
    writeFileSync(join(dir, 'catalog', 'catalog.json'), JSON.stringify({ type: 'Catalog', stac_version: '1.0.0', id: 'empty', description: 'no items', links: [] }));
    const cues = join(dir, 'cues.parquet');
    await writeTable(cues, { chokepoint_id: 'VARCHAR', window_start: 'TIMESTAMP', window_end: 'TIMESTAMP', predictions: 'BIGINT' }, [{ chokepoint_id: 'suez-s', window_start: '2026-05-26 00:00:00', window_end: '2026-05-26 23:59:59', predictions: 1 }]);
    const result = await execStep({ pipeline: PIPELINE, step: 'sar-search', inputs: { catalog: `file:${join(dir, 'catalog')}`, cues: `file:${cues}` }, partition: { date: '2026-05-26' }, outDir: join(dir, 'out') });
    expect(result.rows.scenes).toBe(0);
    expect(await readTable(result.outputs.scenes)).toEqual([]);
  });
});
