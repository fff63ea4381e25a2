// The dagrun side of bench/chip.bench.ts, run compiled (dist/scripts/chip-bench-side.js) in a process
// of its own, as the `dagrun` CLI runs steps: cut the chips of a tasks file with `jobs` worker threads
// and print one JSON line with the whole process's CPU time and peak RSS (worker threads included).
//
// Usage: node dist/scripts/chip-bench-side.js TASKS.json OUT_DIR JOBS
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChipParams, ChipTask } from '../steps/chip/chip.js';
import { runChips } from '../steps/chip/run.js';

const [tasksPath, outDir, jobsText] = process.argv.slice(2);
if (!tasksPath || !outDir || !jobsText) throw new Error('usage: chip-bench-side TASKS.json OUT_DIR JOBS');
const { tasks, params } = JSON.parse(readFileSync(tasksPath, 'utf8')) as { tasks: ChipTask[]; params: ChipParams };
// The bench empties the folder before starting this process (deleting is not part of cutting chips).
if (existsSync(outDir) && readdirSync(outDir).length > 0) throw new Error(`${outDir} is not empty`);
const { rows, stats } = await runChips(tasks, params, { outDir, outPrefix: 'chips', jobs: Number(jobsText) });
// Which file each task became, in task order, for the bench's pixel comparison.
writeFileSync(join(outDir, 'paths.json'), JSON.stringify(rows.map((row) => (row.path ? row.path.slice('chips/'.length) : null))));
const usage = process.resourceUsage();
console.log(
  JSON.stringify({
    chips: rows.filter((row) => row.status === 'ok').length,
    cpu_s: Number(((usage.userCPUTime + usage.systemCPUTime) / 1e6).toFixed(3)),
    peak_rss_mb: Number((usage.maxRSS / 1024).toFixed(1)),
    stats,
  }),
);
