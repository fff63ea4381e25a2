// The remote cache's line in `dagrun build`'s summary.
import type { CacheReport } from './tiered.js';

export function formatRemote(report: CacheReport | undefined): string {
  if (!report) return '';
  const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(bytes < 1048576 ? 3 : 1)} MiB`;
  const lines = [
    `\nremote cache ${report.remote} (${report.mode}): ${report.hits} hit(s), ${report.misses} miss(es)` +
      `${report.rejected ? `, ${report.rejected} rejected` : ''}; fetched ${report.objects_fetched} object(s), ${mib(report.bytes_fetched)}` +
      `${report.mode === 'read-write' ? `; uploaded ${report.objects_uploaded} object(s), ${mib(report.bytes_uploaded)}, ${report.entries_uploaded} entr${report.entries_uploaded === 1 ? 'y' : 'ies'}` : ''}` +
      `${report.captures_pulled || report.captures_pushed ? `; captures pulled ${report.captures_pulled}, pushed ${report.captures_pushed}` : ''}`,
  ];
  for (const problem of report.problems.slice(0, 10)) lines.push(`  ! ${problem}`);
  if (report.problems.length > 10) lines.push(`  ! … and ${report.problems.length - 10} more`);
  return lines.join('\n');
}
