// chip benchmark: 100 ships in one generated 10980×10980 Sentinel-2-like scene (uint16 deflate COGs,
// 512 px tiles; 20 m bands 5490×5490), cut with `jobs` workers from local files and over HTTP range
// requests from a 127.0.0.1 server. Reports chips/s and bytes read per chip against the bytes of
// the tiles the windows touch. `--quick`: a 2745×2745 scene and 25 ships. `--jobs N` (default 2).
// The scene is generated once into bench/.work/ (git-ignored) and reused.
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { writeGeoTiff } from '../lib/geo/geotiff-writer.js';
import { gaussian, seededRandom } from '../src/sdk/random.js';
import type { ChipParams, ChipTask } from '../steps/chip/chip.js';
import { toLonLat } from '../steps/chip/geometry.js';
import { orderTasks, runChips } from '../steps/chip/run.js';

const quick = process.argv.includes('--quick');
const jobsFlag = process.argv.indexOf('--jobs');
const jobs = jobsFlag >= 0 ? Number(process.argv[jobsFlag + 1]) : 2;
const SIZE = quick ? 2745 : 10980;
const SHIPS = quick ? 25 : 100;
const ORIGIN = { x: 600_000, y: 5_700_000 };
const EPSG = 32630;
const here = fileURLToPath(new URL('.', import.meta.url));
const work = join(here, '.work', `chip-scene-${SIZE}`);

/** One band: smooth field + noise, DN around 1000–4000 (L2A-like entropy, compresses ~2:1). */
function band(size: number, seed: number, sampleType: 'uint16' | 'uint8'): Uint16Array | Uint8Array {
  const random = seededRandom(seed);
  const out = sampleType === 'uint8' ? new Uint8Array(size * size) : new Uint16Array(size * size);
  for (let row = 0; row < size; row++) {
    const sy = Math.sin(row / 97 + seed);
    for (let col = 0; col < size; col++) {
      const i = row * size + col;
      if (sampleType === 'uint8') out[i] = 1 + ((((col >> 5) + (row >> 5)) * 7 + seed) % 11);
      else out[i] = Math.max(1, Math.round(2000 + 900 * sy * Math.cos(col / 131) + 25 * gaussian(random)));
    }
  }
  return out;
}

function generateScene(): Record<string, string> {
  const hrefs: Record<string, string> = {};
  const bands: [string, number, 'uint16' | 'uint8'][] = [['B02', 10, 'uint16'], ['B03', 10, 'uint16'], ['B04', 10, 'uint16'], ['B08', 10, 'uint16'], ['B11', 20, 'uint16'], ['B12', 20, 'uint16'], ['SCL', 20, 'uint8']];
  mkdirSync(work, { recursive: true });
  for (const [index, [name, pixel, type]] of bands.entries()) {
    const path = join(work, `${name}.tif`);
    hrefs[name] = path;
    if (existsSync(path)) continue;
    const size = Math.round((SIZE * 10) / pixel);
    const started = performance.now();
    const bytes = writeGeoTiff({ width: size, height: size, bands: [band(size, index + 1, type)], sampleType: type, epsg: EPSG, transform: { originX: ORIGIN.x, originY: ORIGIN.y, pixelWidth: pixel, pixelHeight: pixel }, nodata: 0, tileSize: 512, level: 6 });
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path); // a half-written file is never mistaken for a generated one
    console.error(`generated ${name} ${size}×${size}: ${(bytes.length / 1e6).toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return hrefs;
}

function tasksFor(hrefs: Record<string, string>, base: (path: string) => string): ChipTask[] {
  const random = seededRandom(2026);
  const assets = Object.fromEntries(Object.entries(hrefs).map(([band, path]) => [band, { href: base(path), scale: band === 'SCL' ? 1 : 0.0001, offset: band === 'SCL' ? 0 : -0.1, nodata: 0 }]));
  return orderTasks(
    Array.from({ length: SHIPS }, (_, i) => {
      // ships anywhere in the scene, edges included (boundless windows)
      const [lon, lat] = toLonLat(EPSG, ORIGIN.x + random() * SIZE * 10, ORIGIN.y - random() * SIZE * 10);
      return { row: i + 1, mmsi: 235_000_000 + i, aisTime: '2026-05-25T11:15:30.000Z', lat, lon, sceneId: 'BENCH_SCENE', sceneDatetime: '2026-05-25T11:15:45.184Z', cloudCover: 0, epsg: EPSG, assets };
    }),
  );
}

const params: ChipParams = { size_px: 256, resolution_m: 10, include_swir: true, split_fractions: { train: 0.8, val: 0.1, test: 0.1 } };

/** Wall time and CPU time (process-wide, so worker threads count; the HTTP server too in the HTTP run). */
async function timed(tasks: ChipTask[], outDir: string): Promise<{ seconds: number; cpuSeconds: number; stats: Awaited<ReturnType<typeof runChips>>['stats']; ok: number }> {
  rmSync(outDir, { recursive: true, force: true });
  const started = performance.now();
  const cpuBefore = process.resourceUsage();
  const { rows, stats } = await runChips(tasks, params, { outDir, outPrefix: 'chips/bench', jobs });
  const cpuAfter = process.resourceUsage();
  const cpuSeconds = (cpuAfter.userCPUTime + cpuAfter.systemCPUTime - cpuBefore.userCPUTime - cpuBefore.systemCPUTime) / 1e6;
  return { seconds: (performance.now() - started) / 1000, cpuSeconds, stats, ok: rows.filter((r) => r.status === 'ok').length };
}

const hrefs = generateScene();
const sceneBytes = Object.values(hrefs).reduce((n, path) => n + statSync(path).size, 0);

// Local files
const local = await timed(tasksFor(hrefs, (p) => p), join(work, 'out-local'));

// HTTP range requests from 127.0.0.1, counting what the server sends
let served = 0;
let requests = 0;
const server = createServer((request, response) => {
  const path = join(work, decodeURIComponent(String(request.url).slice(1)));
  if (!existsSync(path)) return void response.writeHead(404).end();
  const size = statSync(path).size;
  const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
  requests++;
  if (!match) {
    served += size;
    response.writeHead(200, { 'content-length': size });
    return void createReadStream(path).pipe(response);
  }
  const start = Number(match[1]);
  const end = Math.min(Number(match[2]), size - 1);
  served += end - start + 1;
  response.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
  createReadStream(path, { start, end }).pipe(response);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
const http = await timed(tasksFor(hrefs, (p) => `${base}${p.slice(work.length + 1)}`), join(work, 'out-http'));
server.close();

const figures = {
  bench: 'chip',
  scene_px: SIZE,
  tile_px: 512,
  scene_bytes: sceneBytes,
  ships: SHIPS,
  jobs,
  local_chips_ok: local.ok,
  local_seconds: Number(local.seconds.toFixed(2)),
  local_chips_per_s: Number((local.ok / local.seconds).toFixed(2)),
  local_cpu_s_per_chip: Number((local.cpuSeconds / SHIPS).toFixed(3)),
  http_chips_ok: http.ok,
  http_seconds: Number(http.seconds.toFixed(2)),
  http_chips_per_s: Number((http.ok / http.seconds).toFixed(2)),
  http_cpu_s_per_chip: Number((http.cpuSeconds / SHIPS).toFixed(3)),
  load_average_1m: Number(loadavg()[0].toFixed(2)),
  cpus: cpus().length,
  http_bytes_served: served,
  http_requests: requests,
  http_bytes_read_per_chip: Math.round(http.stats.bytesRead / SHIPS),
  tile_bytes_touched_per_chip: Math.round(http.stats.tileBytesTouched / SHIPS),
  distinct_tile_bytes_per_chip: Math.round(http.stats.tileBytesFetched / SHIPS),
  read_to_touched_ratio: Number((http.stats.bytesRead / http.stats.tileBytesTouched).toFixed(3)),
};
console.log(JSON.stringify(figures));
