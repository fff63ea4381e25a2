// Hostile or odd pipeline files: each is one located user error (file:line:col: sentence), never a
// stack, a silently mangled path, or a validator that takes quadratic time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadPipeline } from '../../src/engine/pipeline.js';
import { isUserError, type UserError } from '../../src/sdk/errors.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

let dir: string;
beforeAll(() => {
  mkdirSync(join(PROJECT_ROOT, 'test', '.work'), { recursive: true });
  dir = mkdtempSync(join(PROJECT_ROOT, 'test', '.work', 'hostile-'));
  writeFileSync(join(dir, 'k.ts'), 'export default () => {};\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write `content` as a pipeline file and return the one line its load fails with. */
function failure(name: string, content: string | Uint8Array): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  try {
    loadPipeline(file, join(dir, 'cache'));
  } catch (error) {
    if (!isUserError(error)) throw error;
    return (error as UserError).format();
  }
  throw new Error(`${name} loaded without an error`);
}
const shown = (name: string): string => relative(process.cwd(), join(dir, name));
const oneStep = (path: string): string => `steps:\n  a:\n    kernel: k.ts\n    outputs:\n      o: { path: ${path}, format: json }\n`;

describe('odd pipeline files are located user errors', () => {
  it('a folder given as --pipeline', () => {
    mkdirSync(join(dir, 'folder.yaml'));
    expect(() => loadPipeline(join(dir, 'folder.yaml'))).toThrow(`${shown('folder.yaml')} is a folder; --pipeline takes a pipeline file (such as ${join(shown('folder.yaml'), 'pipeline.yaml')})`);
  });

  it('100,000 nested [ is a sentence at the point it became too deep, not a stack overflow', () => {
    expect(failure('deep.yaml', `steps: ${'['.repeat(100_000)}`)).toMatch(new RegExp(`^${shown('deep.yaml')}:1:\\d+: YAML nested too deeply to read`));
  });

  it('a 0xFF byte in a path is refused where it stands, not built as U+FFFD', () => {
    const text = Buffer.concat([Buffer.from(oneStep('tX.json').split('X')[0]), Buffer.from([0xff]), Buffer.from(oneStep('tX.json').split('X')[1])]);
    expect(failure('ff.yaml', text)).toBe(`${shown('ff.yaml')}:5:19: byte 0xFF is not UTF-8; the pipeline file must be UTF-8 text`);
    // A multi-byte character before it does not shift the column.
    const accented = Buffer.concat([Buffer.from('# café\n'), text]);
    expect(failure('ff2.yaml', accented)).toBe(`${shown('ff2.yaml')}:6:19: byte 0xFF is not UTF-8; the pipeline file must be UTF-8 text`);
  });

  it('a NUL byte, literal or escaped, is refused at validate time', () => {
    expect(failure('nul.yaml', oneStep('t\0x.json'))).toBe(`${shown('nul.yaml')}:5:19: the file holds a NUL byte, which YAML does not allow`);
    expect(failure('nul2.yaml', oneStep('"t\\0x.json"'))).toBe(`${shown('nul2.yaml')}:5:18: output "a.o" path "t\\u0000x.json" holds the control character U+0000; paths must be printable`);
    expect(failure('nul3.yaml', oneStep('x.json').replace('kernel: k.ts', 'kernel: "k\\0.ts"'))).toBe(`${shown('nul3.yaml')}:3:13: step "a" kernel "k\\u0000.ts" holds the control character U+0000; paths must be printable`);
  });
});

describe('large pipeline files', () => {
  it('duplicate keys are still found, at the repeated key, by the linear pass', () => {
    const text = `steps:\n  a:\n    kernel: k.ts\n    outputs:\n      o: { path: a.json, format: json }\n  b:\n    kernel: k.ts\n    outputs:\n      o: { path: b.json, format: json }\n      o: { path: c.json, format: json }\n`;
    expect(failure('dup.yaml', text)).toBe(`${shown('dup.yaml')}:10:7: YAML syntax error: Map keys must be unique`);
    const steps = `steps:\n  a:\n    kernel: k.ts\n    outputs: { o: { path: a.json, format: json } }\n  a:\n    kernel: k.ts\n    outputs: { o: { path: b.json, format: json } }\n`;
    expect(failure('dup2.yaml', steps)).toBe(`${shown('dup2.yaml')}:5:3: YAML syntax error: Map keys must be unique`);
  });

  it('a chain of 12,000 steps validates: no recursion as deep as the chain, no pairwise output check', () => {
    const lines = ['steps:'];
    for (let i = 0; i < 12_000; i += 1) lines.push(`  s${i}: { kernel: k.ts, ${i > 0 ? `inputs: { p: s${i - 1}.o }, ` : ''}outputs: { o: { path: o/s${i}.json, format: json } } }`);
    writeFileSync(join(dir, 'chain.yaml'), `${lines.join('\n')}\n`);
    const pipeline = loadPipeline(join(dir, 'chain.yaml'), join(dir, 'cache'));
    expect(pipeline.order.length).toBe(12_000);
    expect(pipeline.order[0]).toBe('s0');
    expect(pipeline.order.at(-1)).toBe('s11999');
  });

  it('overlapping output paths are still refused in either order', () => {
    const two = (first: string, second: string): string => `steps:\n  a:\n    kernel: k.ts\n    outputs: { o: { path: ${first}, format: directory } }\n  b:\n    kernel: k.ts\n    outputs: { o: { path: ${second}, format: json } }\n`;
    expect(failure('over1.yaml', two('d', 'd/x.json'))).toBe(`${shown('over1.yaml')}:7:27: output "b.o" path "d/x.json" overlaps "a.o" ("d")`);
    expect(failure('over2.yaml', two('d/x/y', 'd/x'))).toBe(`${shown('over2.yaml')}:7:27: output "b.o" path "d/x" overlaps "a.o" ("d/x/y")`);
    expect(failure('over3.yaml', two('d/x', 'd/xy.json').replace('d/xy.json', 'd/x'))).toMatch(/writes "d\/x", which "a.o" also writes/);
  });
});
