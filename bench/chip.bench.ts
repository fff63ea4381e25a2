// chip benchmark: 100 ships in one generated 10980×10980 Sentinel-2-like scene (uint16 deflate COGs,
// 512 px tiles; 20 m bands 5490×5490), cut by dagrun's chip step and by rasterio doing the same work
// (bench/chip_rasterio.py) on the same COGs and points with the same compression, `jobs` workers
// each, sides alternating (`--rounds`, default 2) under `nice -n 10`, each side a process of its own
// so CPU-seconds and peak RSS are whole-process figures. Then dagrun once more over HTTP range
// requests from a 127.0.0.1 server, for bytes read per chip against the bytes of the tiles touched.
// `--quick`: a 2745×2745 scene and 25 ships. `--jobs=N` (default 2), `--rounds=N` (default 2).
// `--no-http`: skip the HTTP run. `--zstd`: afterwards one round of each side writing ZSTD tiles, printed
// as a second JSON line (compression zstd; DEFLATE stays the step's default).
// The scene is generated once into bench/.work/ (git-ignored) and reused. dagrun runs compiled
// (dist/, rebuilt first when a source is newer), as the `dagrun` CLI does. Ends with one JSON line.
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
/** `--name=N` (bench/run.ts passes only `--` arguments through) or `--name N`; a positive integer. */
const count = (name: string, fallback: number): number => {
  const inline = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  const at = process.argv.indexOf(`--${name}`);
  const text = inline ? inline.slice(name.length + 3) : at >= 0 ? process.argv[at + 1] : String(fallback);
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: ${text} is not a positive integer`);
  return value;
};
const jobs = count('jobs', 2);
const rounds = count('rounds', 2);
const compression = 'deflate';
const withHttp = !process.argv.includes('--no-http');
const withZstd = process.argv.includes('--zstd');
const SIZE = quick ? 2745 : 10980;
const SHIPS = quick ? 25 : 100;
const ORIGIN = { x: 600_000, y: 5_700_000 };
const EPSG = 32630;
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');
const work = join(here, '.work', `chip-scene-${SIZE}`);
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-rasterio lives

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

/** Rebuild dist/ when a source the dagrun side runs is newer than its compiled file. */
function buildIfStale(): void {
  const stale = ['steps/chip', 'lib/geo', 'lib/ml', 'src/sdk', 'scripts'].some((folder) =>
    readdirSync(join(root, folder))
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
      .some((name) => {
        const compiled = join(root, 'dist', folder, name.replace(/\.ts$/, '.js'));
        return !existsSync(compiled) || statSync(compiled).mtimeMs < statSync(join(root, folder, name)).mtimeMs;
      }),
  );
  if (!stale) return;
  console.error('dist/ is older than the sources: building (tsc -p tsconfig.json)');
  const result = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('tsc failed');
}

/** rasterio from Debian's python3-rasterio; installed with apt-get only when it is absent. */
function ensureRasterio(): void {
  const check = (): boolean => spawnSync(PYTHON, ['-c', 'import rasterio'], { stdio: 'ignore' }).status === 0;
  if (check()) return;
  const installed = spawnSync('dpkg', ['-s', 'python3-rasterio'], { stdio: 'ignore' }).status === 0;
  if (!installed) {
    console.error('python3-rasterio is missing: apt-get install -y python3-rasterio');
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'python3-rasterio'], { stdio: 'inherit' });
  }
  if (!check()) throw new Error(`${PYTHON} cannot import rasterio (Debian package python3-rasterio)`);
}

interface SideRun {
  chips: number;
  cpu_s: number;
  peak_rss_mb: number;
  wall_s: number;
}

/** One side in a process of its own, niced; it reports its own getrusage figures as a JSON line. */
function runSide(command: string, args: string[]): SideRun & Record<string, unknown> {
  const started = performance.now();
  const result = spawnSync('nice', ['-n', '10', command, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const wall = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stderr}`);
  const last = result.stdout.trim().split('\n').pop() ?? '';
  return { ...(JSON.parse(last) as SideRun), wall_s: Number(wall.toFixed(2)) };
}

/** Bytes of every GeoTIFF under a folder (chips and SCL chips): what each side's compression produced. */
function tifBytes(folder: string): number {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.tif'))
    .reduce((n, name) => n + statSync(join(folder, name)).size, 0);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

const hrefs = generateScene();
const sceneBytes = Object.values(hrefs).reduce((n, path) => n + statSync(path).size, 0);
buildIfStale();
ensureRasterio();
const tasks = tasksFor(hrefs, (p) => p);
const tasksPath = join(work, 'tasks.json');
writeFileSync(tasksPath, JSON.stringify({ tasks, params }));
const dagrunOut = join(work, 'out-dagrun');
const rasterioOut = join(work, 'out-rasterio');

const dagrunRuns: ReturnType<typeof runSide>[] = [];
const rasterioRuns: ReturnType<typeof runSide>[] = [];
for (let r = 0; r < rounds; r++) {
  rmSync(dagrunOut, { recursive: true, force: true }); // each side starts from an empty folder, outside its timing
  dagrunRuns.push(runSide(process.execPath, [join(root, 'dist', 'scripts', 'chip-bench-side.js'), tasksPath, dagrunOut, String(jobs)]));
  console.error(`round ${r + 1} dagrun: ${JSON.stringify(dagrunRuns[r])}`);
  rmSync(rasterioOut, { recursive: true, force: true });
  rasterioRuns.push(runSide(PYTHON, [join(here, 'chip_rasterio.py'), 'cut', tasksPath, rasterioOut, String(jobs), compression]));
  console.error(`round ${r + 1} rasterio: ${JSON.stringify(rasterioRuns[r])}`);
}
const compared = spawnSync(PYTHON, [join(here, 'chip_rasterio.py'), 'compare', tasksPath, dagrunOut, rasterioOut], { encoding: 'utf8' });
if (compared.status !== 0) throw new Error(`compare failed:\n${compared.stderr}`);
const agreement = JSON.parse(compared.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;

/** dagrun over HTTP range requests from 127.0.0.1 (in this process), counting what the server sends. */
async function httpRun(): Promise<Record<string, number>> {
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
  const httpOut = join(work, 'out-http');
  rmSync(httpOut, { recursive: true, force: true });
  const httpStarted = performance.now();
  const http = await runChips(tasksFor(hrefs, (p) => `${base}${p.slice(work.length + 1)}`), params, { outDir: httpOut, outPrefix: 'chips/bench', jobs });
  const httpSeconds = (performance.now() - httpStarted) / 1000;
  server.close();
  return {
    http_chips_ok: http.rows.filter((row) => row.status === 'ok').length,
    http_chips_per_s: round(SHIPS / httpSeconds),
    http_bytes_served: served,
    http_requests: requests,
    http_bytes_read_per_chip: Math.round(http.stats.bytesRead / SHIPS),
    tile_bytes_touched_per_chip: Math.round(http.stats.tileBytesTouched / SHIPS),
    distinct_tile_bytes_per_chip: Math.round(http.stats.tileBytesFetched / SHIPS),
    read_to_touched_ratio: round(http.stats.bytesRead / http.stats.tileBytesTouched, 3),
  };
}
const httpFigures = withHttp ? await httpRun() : {};

const dagrunCpu = median(dagrunRuns.map((run) => run.cpu_s));
const rasterioCpu = median(rasterioRuns.map((run) => run.cpu_s));
const dagrunRss = Math.max(...dagrunRuns.map((run) => run.peak_rss_mb));
const rasterioRss = Math.max(...rasterioRuns.map((run) => run.peak_rss_mb));
const figures = {
  bench: 'chip',
  chips: SHIPS,
  jobs,
  compression,
  rounds,
  scene_px: SIZE,
  tile_px: 512,
  scene_bytes: sceneBytes,
  dagrun_chips_ok: Math.min(...dagrunRuns.map((run) => run.chips)),
  rasterio_chips_ok: Math.min(...rasterioRuns.map((run) => run.chips)),
  dagrun_cpu_s: round(dagrunCpu),
  rasterio_cpu_s: round(rasterioCpu),
  cpu_ratio: round(dagrunCpu / rasterioCpu, 3),
  dagrun_cpu_s_runs: dagrunRuns.map((run) => run.cpu_s),
  rasterio_cpu_s_runs: rasterioRuns.map((run) => run.cpu_s),
  dagrun_chips_per_s: round(SHIPS / median(dagrunRuns.map((run) => run.wall_s))),
  rasterio_chips_per_s: round(SHIPS / median(rasterioRuns.map((run) => run.wall_s))),
  dagrun_chips_per_cpu_s: round(SHIPS / dagrunCpu),
  rasterio_chips_per_cpu_s: round(SHIPS / rasterioCpu),
  dagrun_peak_rss_mb: dagrunRss,
  rasterio_peak_rss_mb: rasterioRss,
  dagrun_peak_rss_mb_per_worker: round(dagrunRss / jobs, 1),
  rasterio_peak_rss_mb_per_worker: round(rasterioRss / jobs, 1),
  rss_ratio: round(dagrunRss / rasterioRss, 3),
  dagrun_tif_bytes: tifBytes(dagrunOut),
  rasterio_tif_bytes: tifBytes(rasterioOut),
  ...agreement,
  ...httpFigures,
  load_average_1m: round(loadavg()[0]),
  cpus: cpus().length,
};
console.log(JSON.stringify(figures));

if (withZstd) {
  // The same chips with ZSTD tiles on both sides (GDAL's default ZSTD_LEVEL 9 on both), one round each.
  const zstdTasks = join(work, 'tasks-zstd.json');
  writeFileSync(zstdTasks, JSON.stringify({ tasks, params: { ...params, compression: 'zstd' } }));
  rmSync(dagrunOut, { recursive: true, force: true });
  const dagrunZstd = runSide(process.execPath, [join(root, 'dist', 'scripts', 'chip-bench-side.js'), zstdTasks, dagrunOut, String(jobs)]);
  rmSync(rasterioOut, { recursive: true, force: true });
  const rasterioZstd = runSide(PYTHON, [join(here, 'chip_rasterio.py'), 'cut', tasksPath, rasterioOut, String(jobs), 'zstd']);
  const zstdCompared = spawnSync(PYTHON, [join(here, 'chip_rasterio.py'), 'compare', tasksPath, dagrunOut, rasterioOut], { encoding: 'utf8' });
  if (zstdCompared.status !== 0) throw new Error(`compare (zstd) failed:\n${zstdCompared.stderr}`);
  console.log(
    JSON.stringify({
      bench: 'chip',
      chips: SHIPS,
      jobs,
      compression: 'zstd',
      rounds: 1,
      dagrun_chips_ok: dagrunZstd.chips,
      dagrun_cpu_s: round(dagrunZstd.cpu_s),
      rasterio_cpu_s: round(rasterioZstd.cpu_s),
      cpu_ratio: round(dagrunZstd.cpu_s / rasterioZstd.cpu_s, 3),
      dagrun_peak_rss_mb: dagrunZstd.peak_rss_mb,
      rasterio_peak_rss_mb: rasterioZstd.peak_rss_mb,
      dagrun_tif_bytes: tifBytes(dagrunOut),
      rasterio_tif_bytes: tifBytes(rasterioOut),
      ...(JSON.parse(zstdCompared.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>),
      load_average_1m: round(loadavg()[0]),
    }),
  );
}
