// Running many chips: parse the matches rows, order them so chips of one scene (and nearby chips)
// are cut together, and spread them over `jobs` worker threads. Each worker has its own per-scene
// COG cache; results come back as rows and are ordered by chip_id by the table writer.
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../src/sdk/module-worker.js';
import type { CogCache, CogReaderOptions, ReadStats } from '../../lib/geo/cog-reader.js';
import type { Asset, ChipParams, ChipRow, ChipTask } from './chip.js';
import { chipId } from './geometry.js';

/** A matches row that cannot become a chip task: skipped with this message. */
export interface BadRow {
  row: number;
  field: string;
  message: string;
}

/** Parse stac-search `matches` rows into chip tasks; rows without a scene (no-match) are skipped silently. */
export function parseMatches(rows: readonly Record<string, unknown>[]): { tasks: ChipTask[]; bad: BadRow[] } {
  const tasks: ChipTask[] = [];
  const bad: BadRow[] = [];
  rows.forEach((raw, index) => {
    const row = index + 1;
    if (raw.scene_id === null || raw.scene_id === undefined) return;
    const number = (field: string): number | undefined => {
      const value = raw[field];
      const parsed = typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : NaN;
      if (!Number.isFinite(parsed)) {
        bad.push({ row, field, message: `${field} is ${value === null || value === undefined ? 'missing' : `not a number (${String(value)})`}` });
        return undefined;
      }
      return parsed;
    };
    const mmsi = number('mmsi');
    const lat = number('lat');
    const lon = number('lon');
    const epsg = number('epsg');
    if (mmsi === undefined || lat === undefined || lon === undefined || epsg === undefined) return;
    if (lat < -90 || lat > 90 || lon < -180 || lon > 180) {
      bad.push({ row, field: lat < -90 || lat > 90 ? 'lat' : 'lon', message: `position ${lat}, ${lon} is out of range` });
      return;
    }
    if (raw.ais_time === null || raw.ais_time === undefined || raw.scene_datetime === null || raw.scene_datetime === undefined) {
      bad.push({ row, field: raw.ais_time == null ? 'ais_time' : 'scene_datetime', message: 'time is missing' });
      return;
    }
    let assets: Record<string, Asset>;
    try {
      const parsed = JSON.parse(String(raw.assets)) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      assets = parsed as Record<string, Asset>;
    } catch (error) {
      bad.push({ row, field: 'assets', message: `assets is not a JSON object of band → {href, scale, offset, nodata}: ${(error as Error).message}` });
      return;
    }
    const cloud = raw.cloud_cover === null || raw.cloud_cover === undefined ? null : Number(raw.cloud_cover);
    tasks.push({
      row, mmsi, lat, lon, epsg, assets,
      aisTime: String(raw.ais_time),
      sceneId: String(raw.scene_id),
      sceneDatetime: String(raw.scene_datetime),
      cloudCover: cloud !== null && Number.isFinite(cloud) ? cloud : null,
      // optional: tables written before stac-search recorded it have no scene_href
      sceneHref: typeof raw.scene_href === 'string' && raw.scene_href !== '' ? raw.scene_href : null,
    });
  });
  return { tasks, bad };
}

/**
 * One task per chip id (the first row wins: same ship, scene and rounded position is one chip),
 * ordered by scene, then north to south, west to east, so a worker's chips share tiles.
 */
export function orderTasks(tasks: readonly ChipTask[]): ChipTask[] {
  const seen = new Set<string>();
  const unique: ChipTask[] = [];
  for (const task of tasks) {
    const id = chipId(task.mmsi, task.sceneDatetime, task.lat, task.lon);
    if (seen.has(id)) continue;
    seen.add(id);
    unique.push(task);
  }
  return unique.sort((a, b) => (a.sceneId < b.sceneId ? -1 : a.sceneId > b.sceneId ? 1 : b.lat - a.lat || a.lon - b.lon || a.mmsi - b.mmsi));
}

export interface RunOptions {
  outDir: string;
  outPrefix: string;
  jobs: number;
  cache?: CogReaderOptions;
  onChip?: (done: number) => void;
}

export interface RunResult {
  rows: ChipRow[];
  stats: ReadStats;
}

/** Cut every task in this thread, one scene after another (each scene's readers closed when done). */
export async function runInProcess(tasks: readonly ChipTask[], params: ChipParams, options: RunOptions): Promise<RunResult> {
  // Loaded here, not at the top: a process that only hands chips to workers never loads the raster
  // stack (geotiff.js, sharp), which each worker thread loads for itself.
  const [{ makeChip }, { CogCache }] = await Promise.all([import('./chip.js'), import('../../lib/geo/cog-reader.js')]);
  const rows: ChipRow[] = [];
  const stats: ReadStats = { bytesRead: 0, requests: 0, tileBytesTouched: 0, tileBytesFetched: 0 };
  let cache: CogCache | undefined;
  let scene: string | undefined;
  const flush = async (): Promise<void> => {
    if (!cache) return;
    const s = await cache.stats();
    stats.bytesRead += s.bytesRead;
    stats.requests += s.requests;
    stats.tileBytesTouched += s.tileBytesTouched;
    stats.tileBytesFetched += s.tileBytesFetched;
    await cache.closeAll();
  };
  for (const task of tasks) {
    if (task.sceneId !== scene) {
      await flush();
      cache = new CogCache(options.cache);
      scene = task.sceneId;
    }
    rows.push(await makeChip(task, params, { outDir: options.outDir, outPrefix: options.outPrefix, cache: cache! }));
    options.onChip?.(rows.length);
  }
  await flush();
  return { rows, stats };
}

/** Contiguous slices of the ordered tasks, one per job (contiguous keeps a scene's chips together). */
export function partitionTasks<T>(tasks: readonly T[], jobs: number): T[][] {
  const count = Math.max(1, Math.min(jobs, tasks.length));
  return Array.from({ length: count }, (_, k) => tasks.slice(Math.floor((k * tasks.length) / count), Math.floor(((k + 1) * tasks.length) / count)));
}

/** A worker thread on this folder's worker module (worker.ts from source, worker.js compiled). */
function startWorker(data: unknown): Worker {
  const typescript = new URL(import.meta.url).pathname.endsWith('.ts');
  return startModuleWorker(new URL(typescript ? './worker.ts' : './worker.js', import.meta.url), data);
}

/**
 * Cut every task on `jobs` threads: this one (a kernel already runs on a worker thread) and jobs − 1
 * worker threads. Each thread loads the raster stack and warms up its JIT once, so the calling
 * thread taking a share saves a whole thread's start-up.
 */
export async function runChips(tasks: readonly ChipTask[], params: ChipParams, options: RunOptions): Promise<RunResult> {
  if (options.jobs <= 1 || tasks.length <= 1) return runInProcess(tasks, params, options);
  const parts = partitionTasks(tasks, options.jobs);
  let done = 0;
  const results = await Promise.all(
    parts.map((part, k) =>
      k === 0
        ? runInProcess(part, params, { ...options, onChip: () => options.onChip?.(++done) })
        : new Promise<RunResult>((resolve, reject) => {
            const worker = startWorker({ tasks: part, params, options: { outDir: options.outDir, outPrefix: options.outPrefix, jobs: 1, cache: options.cache } });
            let result: RunResult | undefined;
            worker.on('message', (message: { type: 'chip' } | { type: 'done'; result: RunResult } | { type: 'error'; message: string; stack?: string }) => {
              if (message.type === 'chip') options.onChip?.(++done);
              else if (message.type === 'done') result = message.result;
              else reject(Object.assign(new Error(message.message), { stack: message.stack }));
            });
            worker.on('error', reject);
            worker.on('exit', (code) => (result ? resolve(result) : reject(new Error(`chip worker exited with code ${code} before finishing`))));
          }),
    ),
  );
  const stats: ReadStats = { bytesRead: 0, requests: 0, tileBytesTouched: 0, tileBytesFetched: 0 };
  for (const r of results) for (const key of Object.keys(stats) as (keyof ReadStats)[]) stats[key] += r.stats[key];
  return { rows: results.flatMap((r) => r.rows), stats };
}
