// The layering rule, enforced by scanning every import: steps import src/sdk/ and lib/, never
// src/engine/; lib/ imports only src/sdk/ and lib/; src/sdk/ imports nothing of the engine, except
// testing.ts (which runs a step the way `dagrun exec` does).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layerViolations } from './helpers/layers.js';
import { PROJECT_ROOT } from './helpers/paths.js';

describe('layers', () => {
  it('no step, lib module or sdk module imports the engine', () => {
    expect(layerViolations(PROJECT_ROOT)).toEqual([]);
  });

  it('the scanner finds static, dynamic, side-effect and worker-URL imports across layers', () => {
    const root = mkdtempSync(join(tmpdir(), 'dagrun-layers-'));
    try {
      const write = (path: string, text: string) => {
        mkdirSync(join(root, path, '..'), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      write('src/engine/runner.ts', 'export const x = 1;\n');
      write('src/sdk/index.ts', "export { x } from '../engine/runner.js';\n");
      write('src/sdk/testing.ts', "export { x } from '../engine/runner.js';\n");
      write('lib/geo/a.ts', "import '../../src/engine/runner.js';\nimport { y } from '../../steps/s/k.js';\n");
      write('steps/s/k.ts', "const m = await import('../../src/engine/runner.js');\nimport { ok } from '../../src/sdk/index.js';\nexport const y = 2;\n");
      write('steps/s/w.ts', "new Worker(new URL('../../src/engine/runner.ts', import.meta.url));\n// from '../../src/engine/x.js' in a comment is not an import\n");
      write('steps/t/fine.ts', "import { z } from '../../lib/geo/a.js';\nimport yaml from 'yaml';\n");
      expect(layerViolations(root)).toEqual([
        'lib/geo/a.ts:1 imports src/engine/runner.js (lib/ may import only src/sdk/ and lib/)',
        'lib/geo/a.ts:2 imports steps/s/k.js (lib/ may import only src/sdk/ and lib/)',
        'src/sdk/index.ts:1 imports src/engine/runner.js (src/sdk/ never imports src/engine/, steps/ or lib/)',
        'steps/s/k.ts:1 imports src/engine/runner.js (steps import src/sdk/ and lib/, never src/engine/)',
        'steps/s/w.ts:1 imports src/engine/runner.ts (steps import src/sdk/ and lib/, never src/engine/)',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
