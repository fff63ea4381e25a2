// Pipeline validation time against file size (issue 10 item 14): generated pipeline.yaml files of
// growing size (a chain of steps, each reading the previous one's output), each parsed and validated
// in full by parsePipeline (no memo). Prints wall and CPU seconds per size and the ratio to the
// smallest size's time per MB: a linear validator keeps that ratio near 1.
// Usage: node --import tsx bench/pipeline-parse.bench.ts [--quick]   (--quick: 1 and 2 MB only)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parsePipeline } from '../src/engine/pipeline.js';

const quick = process.argv.includes('--quick');
const sizesMb = quick ? [1, 2] : [1, 2, 4, 10];
const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench', '.work', 'pipeline-parse');

/** A pipeline of about `mb` megabytes: a chain of kernel steps. */
export function generatedPipeline(mb: number): string {
  const lines = ['pipeline: generated', 'steps:'];
  let size = 30;
  for (let i = 0; size < mb * 1024 * 1024; i += 1) {
    const step = [
      `  step${i}:`,
      '    kernel: kernel.ts',
      ...(i > 0 ? ['    inputs:', `      previous: step${i - 1}.out`] : []),
      '    params:',
      `      n: { type: integer, default: ${i} }`,
      '    outputs:',
      `      out: { path: out/step${i}.json, format: json }`,
    ].join('\n');
    lines.push(step);
    size += step.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
writeFileSync(join(work, 'kernel.ts'), 'export default () => {};\n');
let baseline: number | undefined;
for (const mb of sizesMb) {
  const text = generatedPipeline(mb);
  const file = join(work, `pipeline-${mb}mb.yaml`);
  writeFileSync(file, text);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pipeline = parsePipeline(text, file);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const perMb = wall / (text.length / 1024 / 1024);
  baseline ??= perMb;
  console.log(`${(text.length / 1024 / 1024).toFixed(2)} MB, ${pipeline.steps.size} steps: wall ${wall.toFixed(2)} s, cpu ${cpuSeconds.toFixed(2)} s, ${perMb.toFixed(2)} s/MB (×${(perMb / baseline).toFixed(2)} the 1 MB rate)`);
}
rmSync(work, { recursive: true, force: true });
