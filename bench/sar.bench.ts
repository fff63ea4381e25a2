// Benchmark: sar-detect's two-parameter CFAR (defaults: guard 16, background 28, Pfa 1e-8) on a
// 10,000 × 10,000 σ⁰ scene, on one thread and on --jobs worker threads (row strips, shared memory),
// then clustering. Baseline side by side: a direct ring-sum CFAR (every background pixel summed per
// pixel, O(window²)) on a 1,000 × 1,000 crop, against the running-sum CFAR on the same crop.
// The scene is a 1,000 × 1,000 K-clutter tile (with land and ships) repeated 10 × 10: the clutter
// statistics are real, the synthesis of 100 Mpx of gamma draws would take minutes.
// Usage: node --import tsx bench/sar.bench.ts [--quick] [--jobs N]   (--quick: 4,000 × 4,000)
import { cfar, cfarRows, clusterDetections, DEFAULT_CFAR, dilate, probit } from '../lib/geo/sar.js';
import { cfarParallel, shareScene } from '../lib/geo/sar-parallel.js';
import { measurementSpec, synthesize } from '../lib/geo/sar-synthetic.js';

const quick = process.argv.includes('--quick');
const jobsFlag = process.argv.indexOf('--jobs');
const JOBS = jobsFlag >= 0 ? Number(process.argv[jobsFlag + 1]) : 2;
const SIZE = quick ? 4_000 : 10_000;
const TILE = 1_000;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function timed<T>(fn: () => T | Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const value = await fn();
  return { value, wall: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0 };
}

/** The direct definition: for each pixel, sum its ring pixel by pixel. */
function directCfar(sigma: Float32Array, valid: Uint8Array, width: number, height: number): Float32Array {
  const { guardPx: G, backgroundPx: B, pfa, minBackgroundFraction } = DEFAULT_CFAR;
  const t = probit(1 - pfa);
  const minCount = minBackgroundFraction * ((2 * B + 1) ** 2 - (2 * G + 1) ** 2);
  const out = new Float32Array(width * height);
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      if (!valid[r * width + c]) continue;
      let n = 0, s = 0, q = 0;
      for (let rr = Math.max(0, r - B); rr <= Math.min(height - 1, r + B); rr++)
        for (let cc = Math.max(0, c - B); cc <= Math.min(width - 1, c + B); cc++) {
          if (Math.abs(rr - r) <= G && Math.abs(cc - c) <= G) continue;
          const i = rr * width + cc;
          if (!valid[i]) continue;
          n++;
          s += sigma[i];
          q += sigma[i] * sigma[i];
        }
      if (n < minCount) continue;
      const mean = s / n;
      const z = (sigma[r * width + c] - mean) / Math.sqrt(q / n - mean * mean);
      if (z > t) out[r * width + c] = z;
    }
  return out;
}

const spec = measurementSpec(11, TILE);
const tile = synthesize(spec);
const buffered = dilate(tile.land, TILE, TILE, 3);
const sigma = new Float32Array(new SharedArrayBuffer(SIZE * SIZE * 4));
const valid = new Uint8Array(new SharedArrayBuffer(SIZE * SIZE));
for (let r = 0; r < SIZE; r++) {
  const tr = r % TILE;
  for (let c = 0; c < SIZE; c += TILE) {
    const n = Math.min(TILE, SIZE - c);
    sigma.set(tile.sigma0.subarray(tr * TILE, tr * TILE + n), r * SIZE + c);
    for (let k = 0; k < n; k++) valid[r * SIZE + c + k] = buffered[tr * TILE + k] ? 0 : 1;
  }
}
const mpix = (SIZE * SIZE) / 1e6;
console.log(`scene ${SIZE}×${SIZE} (${mpix} Mpx), K clutter tile ${TILE}² repeated; guard ${DEFAULT_CFAR.guardPx}, background ${DEFAULT_CFAR.backgroundPx}, Pfa ${DEFAULT_CFAR.pfa}`);

const one = await timed(() => cfar(sigma, valid, SIZE, SIZE, DEFAULT_CFAR));
console.log(`cfar 1 thread:  wall ${one.wall.toFixed(2)} s, cpu ${one.cpu.toFixed(2)} s, ${(mpix / one.wall).toFixed(1)} Mpx/s`);
const many = await timed(() => cfarParallel(shareScene(sigma, valid), SIZE, SIZE, DEFAULT_CFAR, JOBS));
console.log(`cfar ${JOBS} threads: wall ${many.wall.toFixed(2)} s, cpu ${many.cpu.toFixed(2)} s, ${(mpix / many.wall).toFixed(1)} Mpx/s (speed-up ×${(one.wall / many.wall).toFixed(2)} wall)`);
let same = true;
for (let i = 0; i < one.value.length; i++) if (one.value[i] !== many.value[i]) (same = false), (i = one.value.length);
console.log(`threads agree with one thread bit for bit: ${same}`);
const clusters = await timed(() => clusterDetections(one.value, sigma, SIZE, SIZE, 3));
console.log(`clusters: ${clusters.value.length} (≥ 3 px), wall ${clusters.wall.toFixed(2)} s, ${(mpix / clusters.wall).toFixed(1)} Mpx/s`);

// Baseline side by side on a crop.
const CROP = quick ? 500 : 1_000;
const cropSigma = sigma.slice(0, CROP * CROP);
const cropValid = valid.slice(0, CROP * CROP);
for (let r = 0; r < CROP; r++) cropSigma.set(sigma.subarray(r * SIZE, r * SIZE + CROP), r * CROP), cropValid.set(valid.subarray(r * SIZE, r * SIZE + CROP), r * CROP);
const direct = await timed(() => directCfar(cropSigma, cropValid, CROP, CROP));
const running = await timed(() => cfarRows(cropSigma, cropValid, CROP, CROP, 0, CROP, DEFAULT_CFAR));
let maxDiff = 0;
for (let i = 0; i < direct.value.length; i++) maxDiff = Math.max(maxDiff, Math.abs(direct.value[i] - running.value[i]));
console.log(`baseline ${CROP}² crop: direct ring sums ${direct.cpu.toFixed(2)} cpu-s, running sums ${running.cpu.toFixed(3)} cpu-s → ×${(direct.cpu / running.cpu).toFixed(0)} (max |Δscore| ${maxDiff.toExponential(1)})`);
