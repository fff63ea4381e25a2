// rf-fuse through the real engine (execStep): the sample partition, declared column types, KPIs in the
// metrics, byte-identical reruns, counted bad rows in CSV input, and clear errors for missing data.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { execStep } from '../../src/engine/exec.js';
import { quoteLiteral, withDb } from '../../src/sdk/table-io.js';
import { outputColumns } from '../../steps/rf-fuse/rf-fuse.dagrun.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const PIPELINE = join(PROJECT_ROOT, 'pipeline.yaml');
const DATE = '2026-05-25';
const kpiSchema = JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas/n6-kpi.schema.json'), 'utf8'));

describe('rf-fuse via execStep on the embedded sample', () => {
  let first: Awaited<ReturnType<typeof execStep>>;
  let out: string;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'rf-exec-'));
    first = await execStep({ pipeline: PIPELINE, step: 'rf-fuse', partition: { date: DATE }, outDir: out });
  });

  it('writes the N6 table with exactly the declared columns, and the KPI report', async () => {
    expect(first.outputs.fused).toBe(join(out, 'fusion', DATE, 'n6.parquet'));
    const columns = await withDb((db) => db.describe(`read_parquet(${quoteLiteral(first.outputs.fused)})`));
    expect(columns).toEqual(outputColumns.fused);
    const kpi = JSON.parse(readFileSync(first.outputs.kpi, 'utf8'));
    expect(new Ajv().validate(kpiSchema, kpi)).toBe(true);
    expect(kpi.gap_fill.gap_coverage_pct).toBeGreaterThan(80);
    expect(kpi.spoof.precision).toBeGreaterThanOrEqual(0.9);
    expect(first.rows.fused).toBe(kpi.output.rows);
  });

  it('puts the KPIs and the reject counts in the metrics (the manifest)', () => {
    const kpi = JSON.parse(readFileSync(first.outputs.kpi, 'utf8'));
    expect(first.metrics.gap_coverage_pct).toBe(kpi.gap_fill.gap_coverage_pct);
    expect(first.metrics.spoof_corrected).toBe(kpi.spoof.corrected);
    expect(first.metrics.spoof_precision).toBe(kpi.spoof.precision);
    expect(first.metrics.rf_invalid_coord).toBeGreaterThan(0);
    expect(first.metrics.rf_duplicates).toBeGreaterThan(0);
    expect(first.metrics.rf_unknown_entity).toBeGreaterThan(0);
    expect(first.metrics.lineage_run_id).toBe(kpi.lineage_run_id);
    expect(first.warnings.some((w) => /row \d+ field est_lat\/est_lon/.test(w))).toBe(true);
  });

  it('a rerun is byte-identical', async () => {
    const again = mkdtempSync(join(tmpdir(), 'rf-exec-again-'));
    const second = await execStep({ pipeline: PIPELINE, step: 'rf-fuse', partition: { date: DATE }, outDir: again });
    for (const name of ['fused', 'audit', 'kpi']) expect(readFileSync(second.outputs[name]).equals(readFileSync(first.outputs[name])), name).toBe(true);
  });
});

describe('rf-fuse via execStep on hand-made CSV input', () => {
  it('counts out-of-range, duplicate and unknown-entity rows instead of failing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rf-exec-csv-'));
    const aisDay = join(root, 'ais', '2026', '05', '25');
    const rfDay = join(root, 'rf', '2026', '05', '25');
    mkdirSync(aisDay, { recursive: true });
    mkdirSync(rfDay, { recursive: true });
    const aisLines = ['mmsi,ts_utc,lat,lon,sog,cog'];
    for (let m = 0; m <= 30; m++) {
      if (m > 5 && m < 25) continue; // a 20-minute silence
      aisLines.push(`235000001,2026-05-25T10:${String(m).padStart(2, '0')}:00Z,50.5,${(-1.5 + m * 0.005).toFixed(4)},12,90`);
    }
    aisLines.push('235000001,2026-05-25T10:31:00Z,95.0,-1.3,12,90');
    writeFileSync(join(aisDay, 'ais.csv'), aisLines.join('\n') + '\n');
    const rfLines = ['rf_id,ts_utc,est_lat,est_lon,geoloc_method,geo_uncertainty_m,mmsi'];
    for (let m = 7; m < 25; m += 2) rfLines.push(`R${m},2026-05-25T10:${String(m).padStart(2, '0')}:10Z,50.5,${(-1.5 + m * 0.005).toFixed(4)},AOA,400,235000001`);
    rfLines.push('R9,2026-05-25T10:09:10Z,50.5,-1.455,AOA,400,235000001'); // duplicate rf_id+ts
    rfLines.push('R99,2026-05-25T10:10:00Z,50.5,-200,AOA,400,235000001'); // lon out of range
    rfLines.push('R98,2026-05-25T10:10:00Z,50.5,-1.45,AOA,400,987654321'); // unknown vessel
    writeFileSync(join(rfDay, 'rf.csv'), rfLines.join('\n') + '\n');
    const result = await execStep({
      pipeline: PIPELINE,
      step: 'rf-fuse',
      partition: { date: DATE },
      inputs: { ais: `file:${join(root, 'ais')}`, rf: `file:${join(root, 'rf')}` },
      outDir: join(root, 'out'),
    });
    expect(result.metrics).toMatchObject({ ais_invalid_coord: 1, rf_duplicates: 1, rf_invalid_coord: 1, rf_unknown_entity: 1, gap_gaps: 1 });
    expect(result.warnings, JSON.stringify(result.warnings)).toContain(`${join(aisDay, 'ais.csv')} row 14 field lat/lon: outside [-90, 90] / [-180, 180] or missing (value 95.0, -1.3); 1 such row(s) dropped`);
    expect(Number(result.metrics.output_rf_fill)).toBeGreaterThanOrEqual(15);
  });

  it('a partition without AIS is a clear error, not a stack trace', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rf-exec-empty-'));
    mkdirSync(join(root, 'ais'));
    await expect(
      execStep({ pipeline: PIPELINE, step: 'rf-fuse', partition: { date: DATE }, inputs: { ais: `file:${join(root, 'ais')}` }, outDir: join(root, 'out') }),
    ).rejects.toThrow(/no folder for 2026-05-25/);
  });
});
