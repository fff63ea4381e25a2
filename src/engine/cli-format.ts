// One instance's line in `dagrun build`/`show` output; the settled-build check (settled.ts) prints
// the same lines without loading the CLI.
import type { StepRecord } from './manifest.js';
import { redactSecrets } from './redact.js';

export function formatRecord(s: StepRecord): string {
  const head = `${s.status.padEnd(7)} ${s.instance}`;
  if (s.status === 'failed') return `${head}\n        ${s.error}`;
  if (s.status === 'skipped') return `${head} (${s.reason})`;
  const rows = s.outputs.filter((o) => o.rows !== undefined).map((o) => `${o.name} ${o.rows} rows`);
  const line = `${head}${s.status === 'built' ? ` — ${s.reason}` : ''}${rows.length ? ` [${rows.join(', ')}]` : ''}${s.status === 'built' ? ` ${(s.duration_ms / 1000).toFixed(1)}s` : ''}${s.warnings.length ? ` (${s.warnings.length} warning${s.warnings.length > 1 ? 's' : ''})` : ''}`;
  // The first few warnings where they are seen; the rest are counted (all of them: --verbose, show --json).
  const shown = s.warnings.slice(0, WARNINGS_SHOWN).map((w) => `        warning: ${redactSecrets(w)}`);
  const hidden = s.warnings.length - shown.length;
  return [line, ...shown, ...(hidden > 0 ? [`        … and ${hidden} more warning${hidden > 1 ? 's' : ''} (--verbose shows every one)`] : [])].join('\n');
}

/** Warnings printed under an instance's line; the rest are counted. */
const WARNINGS_SHOWN = 3;
