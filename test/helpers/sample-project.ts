// A copy of the project's pipeline (pipeline.yaml and its generated table types, steps, lib, the sdk, schemas, the embedded
// sample) in a fresh folder outside the checkout, with node_modules linked: the same pipeline in
// another place, for relocation tests and benchmarks.
import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from './paths.js';

const PARTS = ['pipeline.yaml', 'pipeline.dagrun.ts', 'package.json', 'tsconfig.json', 'steps', 'lib', 'src/sdk', 'schemas', 'datasets/sample', 'datasets/chokepoints'];

export function copySampleProject(prefix = 'dagrun-sample-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const part of PARTS) cpSync(join(PROJECT_ROOT, part), join(dir, part), { recursive: true });
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}
