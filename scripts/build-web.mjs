// Builds the web UI (web/ → dist/web/) with esbuild: one JS and one CSS bundle (Leaflet and dagre
// included, Leaflet's images inlined), no CDN. Run by `npm install` (prepare) and `npm run build:web`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'web', 'app.ts')],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  target: ['es2020'],
  outfile: join(out, 'app.js'),
  loader: { '.png': 'dataurl', '.svg': 'dataurl' },
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(root, 'web', 'index.html'), join(out, 'index.html'));
