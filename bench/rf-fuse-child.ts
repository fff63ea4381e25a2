// The measured side of bench/rf-fuse.bench.ts: one rf-fuse partition in its own process, then the
// process's own rusage (CPU of every thread, DuckDB's included; peak RSS) written as JSON.
// Usage: node --import tsx bench/rf-fuse-child.ts ROOT DATE OUT RESULT.json
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runRfFuse } from '../steps/rf-fuse/run.js';
import { DEFAULT_PARAMS } from '../steps/rf-fuse/types.js';

const [root, date, out, resultFile] = process.argv.slice(2);
const { kpi } = await runRfFuse(
  { ais: join(root, 'ais'), rf: join(root, 'rf'), entityMap: join(root, 'entity_map.parquet'), labels: join(root, 'truth') },
  { fused: join(out, 'n6.parquet'), kpi: join(out, 'kpi.json'), audit: join(out, 'audit.parquet') },
  date,
  DEFAULT_PARAMS,
);
const usage = process.resourceUsage();
writeFileSync(
  resultFile,
  JSON.stringify({
    cpu_seconds: Number(((usage.userCPUTime + usage.systemCPUTime) / 1e6).toFixed(2)),
    peak_rss_mb: Math.round(usage.maxRSS / 1024),
    n6_rows: kpi.output.rows,
    gaps: kpi.gap_fill.gaps,
    gap_coverage_pct: kpi.gap_fill.gap_coverage_pct,
  }),
);
