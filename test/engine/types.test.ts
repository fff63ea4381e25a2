// Declared once: `dagrun types` turns pipeline.yaml into each kernel's params and row types, and the
// TypeScript compiler then holds kernels to it; column types are checked when the pipeline loads.
import { describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import ts from 'typescript';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { columnTypeProblem, COLUMN_TYPE_NAMES } from '../../src/engine/column-types.js';
import { schemaType } from '../../src/engine/types-gen.js';

/** Type-check one kernel with the project's compiler options; the diagnostics as text. */
function typeErrors(file: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(PROJECT_ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  const program = ts.createProgram([file], { ...config?.options, noEmit: true });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('dagrun types', () => {
  it('the flagship kernels\' generated types match pipeline.yaml (types --check)', async () => {
    const result = await runCli(['types', '--check'], PROJECT_ROOT);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('steps/tle-fetch/tle-fetch.dagrun.ts');
  });

  it('a kernel type-checks against its generated types, and stops when pipeline.yaml changes under it', async () => {
    const dir = copyFixture('typed');
    try {
      const kernel = join(dir, 'steps', 'score', 'kernel.ts');
      const generatedFile = join(dir, 'steps', 'score', 'score.dagrun.ts');
      rmSync(generatedFile);
      expect((await runCli(['types', '--check'], dir)).code).toBe(2);
      const generated = await runCli(['types'], dir);
      expect(generated.code, generated.stderr).toBe(0);
      const module = readFileSync(join(dir, 'steps', 'score', 'score.dagrun.ts'), 'utf8');
      expect(module).toContain('threshold: number;');
      expect(module).toContain('mode: "mean" | "max";');
      // The input's columns default to its producer's, which come from the named table.
      // A named table is spelt once, in pipeline.dagrun.ts; the step's module refers to it.
      expect(module).toContain('readings: TableRows["readings"];');
      expect(readFileSync(join(dir, 'pipeline.dagrun.ts'), 'utf8')).toMatch(/readings: \{\n {4}station: string \| null;\n {4}value: number \| null;/);
      expect(typeErrors(kernel)).toEqual([]);
      expect((await runCli(['types', '--check'], dir)).code).toBe(0);

      // Rename a column and retype a param in pipeline.yaml only: the kernel no longer compiles.
      const pipeline = join(dir, 'pipeline.yaml');
      writeFileSync(pipeline, readFileSync(pipeline, 'utf8').replace('high: BOOLEAN', 'is_high: BOOLEAN').replace('threshold: { type: number, default: 10 }', 'threshold: { type: string, default: "10" }'));
      const stale = await runCli(['types', '--check'], dir);
      expect(stale.code).toBe(2);
      expect(stale.stderr).toContain('steps/score/score.dagrun.ts (run `dagrun types`)');
      expect((await runCli(['types'], dir)).code).toBe(0);
      const errors = typeErrors(kernel).join('\n');
      expect(errors).toMatch(/'string' is not assignable to type 'number'/);
      expect(errors).toMatch(/'high' does not exist in type|Property 'is_high' is missing/);

      // Back as declared, regenerated: it compiles and builds.
      writeFileSync(pipeline, readFileSync(pipeline, 'utf8').replace('is_high: BOOLEAN', 'high: BOOLEAN').replace('threshold: { type: string, default: "10" }', 'threshold: { type: number, default: 10 }'));
      expect((await runCli(['types'], dir)).code).toBe(0);
      expect(typeErrors(kernel)).toEqual([]);
      const build = await runCli(['build', '--json'], dir);
      expect(build.code, build.stdout + build.stderr).toBe(0);
    } finally {
      removeFixture(dir);
    }
  });

  it('param schemas become TypeScript types', () => {
    expect(schemaType({ type: 'integer' })).toBe('number');
    expect(schemaType({ type: ['array', 'string'], items: { type: 'string' } })).toBe('string[] | string');
    expect(schemaType({ type: 'array', items: { type: 'object', required: ['lat'], additionalProperties: false, properties: { lat: { type: 'number' }, name: { type: 'string' } } } })).toBe('({ lat: number; name?: string })[]');
    expect(schemaType({ enum: ['a', 1] })).toBe('"a" | 1');
    expect(schemaType({})).toBe('unknown');
  });
});

describe('column types', () => {
  it('accepts DuckDB\'s types and their compound forms', () => {
    for (const type of [...COLUMN_TYPE_NAMES, 'decimal(18,3)', 'VARCHAR[]', 'DOUBLE[3]', 'STRUCT(a INTEGER, b VARCHAR[])', 'MAP(VARCHAR, INTEGER)', "GEOMETRY('OGC:CRS84')", 'timestamp with time zone', 'LIST(BIGINT)', "ENUM('x', 'y')"]) {
      expect(columnTypeProblem(type), type).toBeUndefined();
    }
  });

  it('refuses typos and malformed types with a reason', () => {
    expect(columnTypeProblem('DOUBL')).toBe('"DOUBL" is not a DuckDB type');
    for (const type of ['', 'DECIMAL(a)', 'VARCHAR[', 'STRUCT(INTEGER)', 'INTEGER INTEGER', 'MAP(VARCHAR']) expect(columnTypeProblem(type), type).toBeTypeOf('string');
  });

  it('never throws, whatever the text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (text) => {
      const problem = columnTypeProblem(text);
      return problem === undefined || typeof problem === 'string';
    }));
  });
});
