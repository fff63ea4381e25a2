// A pipeline file holding only some of the project's steps, exactly as pipeline.yaml declares them
// (code, `defaults.kernel`, schemas and file: inputs made absolute, the named tables kept), so a step's tests do not depend on the rest of the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PROJECT_ROOT } from './paths.js';

export function isolatedPipeline(dir: string, stepNames: readonly string[], name: string): string {
  const project = parseYaml(readFileSync(join(PROJECT_ROOT, 'pipeline.yaml'), 'utf8')) as { partitions: unknown; tables?: unknown; schemas?: Record<string, string>; defaults?: { kernel?: string; partition?: string }; steps: Record<string, Record<string, unknown>> };
  const steps: Record<string, unknown> = {};
  for (const stepName of stepNames) {
    const step = structuredClone(project.steps[stepName]);
    for (const codeKey of ['kernel', 'sql']) if (typeof step[codeKey] === 'string') step[codeKey] = join(PROJECT_ROOT, step[codeKey] as string);
    const inputs = (step.inputs ?? {}) as Record<string, string | { from: string }>;
    for (const [key, value] of Object.entries(inputs)) {
      if (typeof value === 'string' && value.startsWith('file:')) inputs[key] = `file:${join(PROJECT_ROOT, value.slice(5))}`;
      else if (typeof value === 'object' && value.from.startsWith('file:')) value.from = `file:${join(PROJECT_ROOT, value.from.slice(5))}`;
    }
    steps[stepName] = step;
  }
  const file = join(dir, 'pipeline.yaml');
  const defaults = project.defaults && { ...project.defaults, ...(project.defaults.kernel ? { kernel: join(PROJECT_ROOT, project.defaults.kernel) } : {}) };
  const schemas = project.schemas && Object.fromEntries(Object.entries(project.schemas).map(([schema, path]) => [schema, join(PROJECT_ROOT, path)]));
  writeFileSync(file, stringifyYaml({ pipeline: name, output_root: 'out', partitions: project.partitions, tables: project.tables, schemas, defaults, steps }));
  return file;
}
