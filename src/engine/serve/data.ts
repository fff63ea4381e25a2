// What the web UI shows, read from the same manifests and outputs the CLI reads: the DAG with the
// latest status per instance, runs, diffs, chips (+ gate decisions), the index head, map layers.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { diffManifests, formatDiff, listRuns, readManifest, type Manifest, type StepRecord } from '../manifest.js';
import type { Pipeline } from '../pipeline.js';
import { quoteIdent, quoteLiteral, readerFor, withDb, type Row } from '../../sdk/table-io.js';
import { countOutcomes } from '../runner.js';
import { latestOutputs } from '../schedule/sensor.js';

export interface RunSummary {
  readonly run_id: string;
  readonly started_at: string;
  readonly finished_at: string;
  readonly kind: string;
  readonly schedule?: string;
  readonly targets: readonly string[];
  readonly set: unknown;
  readonly status: string;
  readonly counts: ReturnType<typeof countOutcomes>;
}

export class UiData {
  private manifests = new Map<string, Manifest>();

  constructor(readonly pipeline: Pipeline, readonly runsDir: string) {}

  /** Manifests never change once written: read each once. */
  manifest(id: string): Manifest {
    let m = this.manifests.get(id);
    if (!m) {
      m = readManifest(this.runsDir, id);
      this.manifests.set(m.run_id, m);
    }
    return m;
  }

  runs(): RunSummary[] {
    return listRuns(this.runsDir).reverse().map((id) => {
      const m = this.manifest(id);
      const options = m.options as { targets?: string[]; set?: unknown };
      return { run_id: m.run_id, started_at: m.started_at, finished_at: m.finished_at, kind: m.kind, schedule: m.schedule, targets: options.targets ?? [], set: options.set ?? {}, status: m.status, counts: countOutcomes(m.steps) };
    });
  }

  /** The newest record of every instance over all runs. */
  latestRecords(): Map<string, StepRecord & { run_id: string }> {
    const out = new Map<string, StepRecord & { run_id: string }>();
    for (const id of listRuns(this.runsDir).reverse()) {
      const m = this.manifest(id);
      if (m.kind !== 'build') continue;
      for (const record of m.steps) if (!out.has(record.instance)) out.set(record.instance, { ...record, run_id: m.run_id });
    }
    return out;
  }

  graph(): unknown {
    const latest = this.latestRecords();
    const steps = this.pipeline.order.map((name) => {
      const step = this.pipeline.steps.get(name);
      if (!step) throw new Error(`step ${name} vanished`);
      const instances = [...latest.values()].filter((r) => r.step === name).map((r) => ({ instance: r.instance, partition: r.partition, status: r.status, reason: r.reason, run_id: r.run_id }));
      return {
        name,
        kind: step.kind,
        source: step.source,
        partition: step.partition ?? null,
        inputs: step.inputs.map((i) => ({ name: i.name, from: i.kind === 'step' ? `${i.step}.${i.output}` : i.kind })),
        outputs: step.outputs.map((o) => ({ name: o.name, path: o.path, format: o.format })),
        instances,
      };
    });
    const edges = steps.flatMap((s) => (this.pipeline.steps.get(s.name)?.inputs ?? []).filter((i) => i.kind === 'step' && i.step !== s.name).map((i) => ({ from: i.step as string, to: s.name, label: `${i.output} → ${i.name}` })));
    return { name: this.pipeline.name, steps, edges: dedupe(edges) };
  }

  stepDetail(name: string): unknown {
    const step = this.pipeline.steps.get(name);
    if (!step) return undefined;
    const records = [...this.latestRecords().values()].filter((r) => r.step === name);
    return {
      name,
      kind: step.kind,
      params: step.params.map((p) => ({ name: p.name, default: p.defaultValue, description: (p.schema as { description?: string }).description })),
      instances: records.map((r) => ({ instance: r.instance, status: r.status, reason: r.reason, reasons: r.reasons ?? [], code_digest: r.code_digest, params: r.params, run_id: r.run_id, duration_ms: r.duration_ms, warnings: r.warnings, outputs: r.outputs.map((o) => ({ name: o.name, path: o.path, rows: o.rows, bytes: o.bytes, files: o.files })) })),
    };
  }

  diff(a: string, b: string): unknown {
    const diff = diffManifests(this.manifest(a), this.manifest(b));
    return { ...diff, text: formatDiff(diff) };
  }

  private files(step: string, output: string): string[] {
    return latestOutputs(this.runsDir, this.pipeline.outputRoot, step, output);
  }

  /** Chips with their gate decision; filters are exact matches (date, split, decision, mmsi). */
  async chips(filter: { date?: string; split?: string; decision?: string; mmsi?: string }): Promise<Row[]> {
    const chips = this.files('chip', 'chips');
    if (chips.length === 0) return [];
    const gates = this.files('gate', 'gate');
    const where: string[] = [];
    if (filter.date) where.push(`strftime(c.overpass_time, '%Y-%m-%d') = ${quoteLiteral(filter.date)}`);
    if (filter.split) where.push(`c.split = ${quoteLiteral(filter.split)}`);
    if (filter.decision) where.push(`coalesce(g.decision, 'ungated') = ${quoteLiteral(filter.decision)}`);
    if (filter.mmsi) where.push(`CAST(c.mmsi AS VARCHAR) = ${quoteLiteral(filter.mmsi)}`);
    return withDb((db) => db.all(`
      SELECT c.chip_id, c.path, c.mmsi, c.lat, c.lon, CAST(c.overpass_time AS VARCHAR) AS overpass_time, strftime(c.overpass_time, '%Y-%m-%d') AS date,
             c.scene_id, c.split, c.cloud_cover, c.footprint_wkt, ${gates.length ? 'g.decision, g.reason AS gate_reason, g.qa_water_frac' : "NULL AS decision, NULL AS gate_reason, NULL AS qa_water_frac"}
      FROM ${readerFor(chips)} c ${gates.length ? `LEFT JOIN ${readerFor(gates)} g USING (chip_id)` : ''}
      WHERE c.status = 'ok' ${where.length ? `AND ${where.join(' AND ')}` : ''}
      ORDER BY c.overpass_time, c.chip_id`));
  }

  /** The head of tiles.parquet: sorted by a real column, filtered by a substring over text columns. */
  async index(options: { sort?: string; dir?: string; q?: string; limit?: number }): Promise<{ columns: string[]; rows: Row[]; total: number }> {
    const file = this.files('index', 'tiles')[0];
    if (!file) return { columns: [], rows: [], total: 0 };
    return withDb(async (db) => {
      const described = await db.describe(`SELECT * FROM ${readerFor([file])}`);
      const columns = Object.keys(described).filter((c) => c !== 'footprint');
      const sort = options.sort && columns.includes(options.sort) ? options.sort : 'chip_id';
      const dir = options.dir === 'desc' ? 'DESC' : 'ASC';
      const select = columns.map((c) => (/TIMESTAMP/.test(described[c]) ? `CAST(${quoteIdent(c)} AS VARCHAR) AS ${quoteIdent(c)}` : quoteIdent(c))).join(', ');
      const where = options.q ? `WHERE concat_ws(' ', ${columns.map((c) => `CAST(${quoteIdent(c)} AS VARCHAR)`).join(', ')}) ILIKE ${quoteLiteral(`%${options.q}%`)}` : '';
      const total = Number((await db.all(`SELECT count(*) AS n FROM ${readerFor([file])} ${where}`))[0].n);
      const rows = await db.all(`SELECT ${select} FROM ${readerFor([file])} ${where} ORDER BY ${quoteIdent(sort)} ${dir}, chip_id LIMIT ${Math.max(1, Math.min(500, options.limit ?? 50))}`);
      return { columns, rows, total };
    });
  }

  /** Chip footprints and AIS positions of one date as GeoJSON. */
  async map(date: string | undefined): Promise<{ dates: string[]; chips: unknown; ais: unknown }> {
    const chips = await this.chips({ date });
    const positionsFiles = this.files('ais-capture', 'positions');
    const dates = [...new Set((await this.chips({})).map((c) => String(c.date)))].sort();
    const file = positionsFiles.find((f) => date && f.includes(`/${date}/`));
    const ais = file ? await withDb((db) => db.all(`SELECT mmsi, lat, lon, CAST(ts_utc AS VARCHAR) AS ts FROM ${readerFor([file])} WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY mmsi, ts_utc LIMIT 20000`)) : [];
    return {
      dates,
      chips: { type: 'FeatureCollection', features: chips.map((c) => ({ type: 'Feature', properties: { chip_id: c.chip_id, mmsi: String(c.mmsi), decision: c.decision, path: c.path }, geometry: wktPolygon(String(c.footprint_wkt)) })).filter((f) => f.geometry) },
      ais: { type: 'FeatureCollection', features: ais.map((p) => ({ type: 'Feature', properties: { mmsi: String(p.mmsi), ts: p.ts }, geometry: { type: 'Point', coordinates: [p.lon, p.lat] } })) },
    };
  }

  runLog(runId: string, logsDir: string): unknown[] {
    const file = resolve(logsDir, `${runId.replace(/[^A-Za-z0-9-]/g, '')}.ndjson`);
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
  }
}

/** `POLYGON ((x y, …))` → GeoJSON; anything else → undefined. */
export function wktPolygon(wkt: string): { type: 'Polygon'; coordinates: number[][][] } | undefined {
  const match = /^POLYGON\s*\(\((.*)\)\)$/i.exec(wkt.trim());
  if (!match) return undefined;
  const ring = match[1].split(',').map((pair) => pair.trim().split(/\s+/).map(Number));
  if (ring.some((p) => p.length !== 2 || p.some((n) => !Number.isFinite(n)))) return undefined;
  return { type: 'Polygon', coordinates: [ring] };
}

function dedupe<T>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = JSON.stringify(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
