// Errors as data across the worker boundary: a kernel's UserError keeps its code and location, and a
// kernel that crashes is reported as its message plus the first frame in the step's own files.
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { firstFrameIn } from '../../src/engine/execute.js';
import type { Manifest } from '../../src/engine/manifest.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

function failingMake(body: string): string {
  const dir = copyFixture('basic');
  dirs.push(dir);
  writeFileSync(join(dir, 'steps', 'make', 'kernel.ts'), `import type { Kernel } from '../../../../../src/sdk/kernel-api.js';
import { UserError } from '../../../../../src/sdk/errors.js';

function explode(value: { deep?: { x: number } }): number {
  return value.deep!.x;
}

const make: Kernel = async (ctx) => {
  void UserError;
  ${body}
};
export default make;
`);
  return dir;
}

describe('kernel failures', () => {
  it("a crash prints its message and the first frame in the step's files, not a loader stack", async () => {
    const dir = failingMake('explode({});');
    const result = await runCli(['build', 'make', '--partition', 'date=2024-01-01', '--json'], dir);
    expect(result.code).toBe(1);
    const record = (JSON.parse(result.stdout) as Manifest).steps.find((s) => s.step === 'make');
    expect(record?.status).toBe('failed');
    expect(record?.error).toMatch(/^steps\/make\/kernel\.ts:5:\d+: TypeError: Cannot read properties of undefined \(reading 'x'\)$/);
    expect(record?.error?.length).toBeLessThan(200);
  });

  it('a UserError thrown in a worker keeps its code and location', async () => {
    const dir = failingMake("throw new UserError('BAD_INPUT', 'row 3 has no mmsi', 'seed.csv row 3 field mmsi');");
    const result = await runCli(['build', 'make', '--partition', 'date=2024-01-01', '--json'], dir);
    const record = (JSON.parse(result.stdout) as Manifest).steps.find((s) => s.step === 'make');
    expect(record?.error).toBe('seed.csv row 3 field mmsi: row 3 has no mmsi');
    expect(record?.reasons).toEqual([expect.objectContaining({ kind: 'step-failed', code: 'BAD_INPUT' })]);
  });

  it('finds the first frame inside the step folder in a tsx stack (URL-encoded, with a query)', () => {
    const stack = [
      'TypeError: boom',
      '    at file:///opt/app/node_modules/tsx/dist/esm/index.mjs:1:100',
      '    at explode (file:///home/me/my%20pipe/steps/make/kernel.ts?tsx-namespace=1234:5:22)',
      '    at make (file:///home/me/my%20pipe/steps/make/kernel.ts?tsx-namespace=1234:9:3)',
    ].join('\n');
    const frame = firstFrameIn(stack, '/home/me/my pipe/steps/make');
    expect(frame?.endsWith('steps/make/kernel.ts:5:22')).toBe(true);
    expect(firstFrameIn(stack, '/elsewhere')).toBeUndefined();
  });

  it('names the kernel file of a CommonJS package, whose code tsx runs from a data: URL (the 3 KB frame never shown)', () => {
    // As tsx reports a kernel of a package with "type": "commonjs" (npm init -y): the compiled code
    // inline, the file in its filePath= query, line and column of the compiled code.
    const code = encodeURIComponent('__filename="/home/me/proj/steps/score/kernel.ts";(()=>{"use strict";var x=1;null.x;})()\n');
    const stack = [
      "TypeError: Cannot read properties of null (reading 'x')",
      `    at kernel (data:text/javascript,${code}?filePath=${encodeURIComponent('/home/me/proj/steps/score/kernel.ts?namespace=81b8')}:2:1430)`,
      '    at async run (file:///home/me/proj/node_modules/dagrun/dist/src/engine/kernel-worker.js:81:9)',
    ].join('\n');
    const frame = firstFrameIn(stack, '/home/me/proj/steps/score');
    expect(frame?.endsWith('steps/score/kernel.ts')).toBe(true);
    expect(frame).not.toMatch(/data:|namespace|:\d+$/);
    expect(firstFrameIn(stack, '/home/me/proj/steps/other')).toBeUndefined();
  });
});
