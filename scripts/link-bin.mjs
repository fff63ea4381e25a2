// Makes `npx dagrun` work inside this folder. npm never links a package's own `bin` into its
// node_modules/.bin, and npm 11's `npx` tries to re-install a local package that declares the bin
// into its npx cache (which fails). So package.json declares no `bin`; `npm install` runs this
// (via `prepare`) to link node_modules/.bin/dagrun → bin/dagrun.js, which npx finds and runs.
import { mkdirSync, rmSync, symlinkSync, chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const binDir = join(root, 'node_modules', '.bin');
mkdirSync(binDir, { recursive: true });
const link = join(binDir, 'dagrun');
rmSync(link, { force: true });
symlinkSync('../../bin/dagrun.js', link);
chmodSync(join(root, 'bin', 'dagrun.js'), 0o755);
