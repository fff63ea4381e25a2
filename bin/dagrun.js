#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm install` (the `prepare` script); run it from there for a fast start.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const compiled = fileURLToPath(new URL('../dist/src/engine/cli.js', import.meta.url));
if (!existsSync(compiled)) {
  console.error('dagrun: the engine is not compiled yet; run `npm install` (or `npm run build`) in the dagrun folder first.');
  process.exit(2);
}
const argv = process.argv.slice(2);
// A `dagrun build` asked again with nothing it depends on changed is answered before the CLI loads (settled.ts).
const { serveSettled } = await import(new URL('../dist/src/engine/settled.js', import.meta.url).href);
const settled = await serveSettled(argv);
if (typeof settled === 'number') process.exitCode = settled;
else {
  // When only some instances' files changed, the check hands the build what it found and the cache lock.
  const { main } = await import(compiled);
  process.exitCode = await main(argv, settled);
}
