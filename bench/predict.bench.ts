// Benchmark: Sentinel-2 overpasses for 1,000 tiles × 7 days × 3 satellites (S2A/S2B/S2C sample TLEs).
// Usage: node --import tsx bench/predict.bench.ts [--quick] [--accuracy]
//   --quick: 100 tiles. --accuracy: also the residuals against the real Earth Search scene times in
//   ../shared/data (same-period TLE and repeat-cycle rows), when that folder exists.
// Prints a JSON object of measured figures on its last line.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../src/sdk/random.js';
import { parseTleText } from '../lib/maritime/tle.js';
import { tileIdAt } from '../steps/predict/mgrs.js';
import { buildSeries, predictOverpasses, resolveTarget } from '../steps/predict/overpass.js';

const quick = process.argv.includes('--quick');
const tileCount = quick ? 100 : 1000;
const days = 7;
const root = fileURLToPath(new URL('..', import.meta.url));
const { elementSets } = parseTleText(readFileSync(`${root}datasets/sample/tle/sentinel2.tle`, 'utf8'), 'sample.tle');

// Distinct tiles at seeded random places between 60°S and 70°N.
const random = seededRandom(1000);
const tiles = new Set<string>();
while (tiles.size < tileCount) tiles.add(tileIdAt(-60 + random() * 130, -180 + random() * 360));

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const targets = [...tiles].map((tile) => resolveTarget({ tile }));
const t1 = performance.now();
const series = buildSeries(elementSets);
const { overpasses } = predictOverpasses(series, targets, { startMs: Date.UTC(2026, 4, 22), days });
const t2 = performance.now();
const cpu = process.cpuUsage(cpu0);

/** Predicted − actual time of day (s) for the real scenes, using the real 2026-05 CelesTrak TLEs. */
function accuracy(): Record<string, number> | undefined {
  const shared = `${root}../shared/data`;
  if (!process.argv.includes('--accuracy') || !existsSync(shared)) return undefined;
  const real = buildSeries(parseTleText(readFileSync(`${shared}/tle/sentinel2_celestrak_2026-05-23_to_2026-05-30.tle`, 'utf8'), 'real').elementSets);
  const DAY = 86_400_000;
  const timeOfDay = (ms: number): number => ((ms % DAY) + DAY) % DAY;
  // [tile, satellite flying that ground-track slot in 2026, scene datetime]
  const scenes: [string, string, string][] = [
    ['36SXJ', 'S2C', '2026-05-27T08:39:14.264Z'],
    ['39QTA', 'S2C', '2023-06-28T07:24:41.632Z'],
    ['39QUA', 'S2C', '2023-06-28T07:24:38.255Z'],
    ['39QTA', 'S2B', '2023-06-23T07:24:41.575Z'],
  ];
  const out: Record<string, number> = {};
  for (const [tile, satellite, iso] of scenes) {
    const actual = Date.parse(iso);
    const { overpasses } = predictOverpasses(real, [{ tile }], { startMs: Date.UTC(2026, 4, 23), days: 8 });
    const pass = overpasses.find(
      (o) => o.satellite === satellite && Math.round((o.centerTimeMs - actual) / DAY) % 10 === 0 && Math.abs(timeOfDay(o.centerTimeMs) - timeOfDay(actual)) < 600_000,
    );
    if (pass) out[`dt_s_${tile}_${satellite}_${iso.slice(0, 10)}`] = Number(((timeOfDay(pass.centerTimeMs) - timeOfDay(actual)) / 1000).toFixed(3));
  }
  return out;
}

console.log(
  JSON.stringify({
    bench: 'predict',
    tiles: tileCount,
    days,
    satellites: series.size,
    overpasses: overpasses.length,
    resolve_tiles_ms: Math.round(t1 - t0),
    predict_ms: Math.round(t2 - t1),
    total_s: Number(((t2 - t0) / 1000).toFixed(3)),
    // CPU time of this process: less sensitive than wall time to other load on the machine.
    cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
    overpasses_per_tile_week: Number((overpasses.length / tileCount).toFixed(2)),
    ...accuracy(),
  }),
);
