// `npm run bench`: runs every bench/*.bench.ts in its own process and prints each one's figures.
// Pass --quick for the smaller sizes (flags with a value too: `-- rf-fuse --rows 20000000`), --drop-caches (root) for cold-cache hashing figures; name benches to run only those (`npm run bench -- engine`).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const known = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort();
// An argument naming a bench selects it; every other one (flags and their values: `--rows 20000000`) is passed on.
const isBench = (a: string): boolean => known.includes(`${a}.bench.ts`);
const names = args.filter(isBench);
const flags = args.filter((a) => !isBench(a));
const benches = known.filter((f) => names.length === 0 || names.includes(f.replace('.bench.ts', '')));
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n== ${file} ${flags.join(' ')}\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(here, file), ...flags], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exitCode = failed === 0 ? 0 : 1;
