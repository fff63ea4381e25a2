// The CLI as a new user meets it: per-command help, --version anywhere, result lines as they happen
// (piped too), warnings shown, --set compared after coercion, readable show/runs/lineage, and a no-op
// build's manifest that refers to the run it repeats instead of copying it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Ajv } from 'ajv';
import { CLI, copyFixture, removeFixture, runCli } from '../helpers/fixture.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { COMMANDS, DOCUMENTED_OPTIONS } from '../../src/engine/cli-help.js';
import { CLI_OPTIONS } from '../../src/engine/cli.js';
import { terminalReporter } from '../../src/engine/events/logging.js';
import type { Manifest } from '../../src/engine/manifest.js';

// basic + a kernel step `fan` that reads the summary and every partition of `double` (a diamond for
// lineage), warns five times, takes a list param, and (while a `wait` file exists) waits for a `go`
// file the test writes only after it has read summary's line on stdout.
const FAN = `
  fan:
    kernel: steps/fan/kernel.ts
    inputs:
      totals: summary.totals
      doubled: double.doubled
    params:
      labels: { type: [array, string], items: { type: string }, default: ["a"] }
    outputs:
      done: { path: fan/done.json, format: json }
`;
const FAN_KERNEL = `import { existsSync, writeFileSync } from 'node:fs';
import type { Kernel } from '../../../../../src/sdk/kernel-api.js';

const fan: Kernel = async (ctx) => {
  for (let i = 1; i <= 5; i += 1) ctx.warn(\`odd row \${i}\`);
  const wait = existsSync('wait');
  const deadline = Date.now() + 120_000;
  while (wait && !existsSync('go') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (wait && !existsSync('go')) throw new Error('the go file never came: result lines were not printed as they happened');
  writeFileSync(ctx.outputs.done, JSON.stringify({ labels: ctx.params.labels }));
};
export default fan;
`;

let dir: string;
beforeAll(() => {
  dir = copyFixture('basic');
  writeFileSync(join(dir, 'pipeline.yaml'), readFileSync(join(dir, 'pipeline.yaml'), 'utf8') + FAN);
  mkdirSync(join(dir, 'steps', 'fan'));
  writeFileSync(join(dir, 'steps', 'fan', 'kernel.ts'), FAN_KERNEL);
});
afterAll(() => removeFixture(dir));

function manifestFiles(): string[] {
  return readdirSync(join(dir, 'cache', 'runs')).filter((f) => f.endsWith('.json')).sort();
}

describe('help and version', () => {
  it('each command has its own help: usage, options and an example', async () => {
    const result = await runCli(['build', '--help'], PROJECT_ROOT);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: dagrun build \[STEP…\] \[options\]/);
    expect(result.stdout).toMatch(/--partition K=V/);
    expect(result.stdout).toMatch(/Examples?:\n {2}dagrun build/);
    expect(result.stdout).not.toMatch(/verify-release/);
    const gc = await runCli(['help', 'gc'], PROJECT_ROOT);
    expect(gc.stdout).toMatch(/^Usage: dagrun gc/);
    expect(gc.stdout).toMatch(/--keep-runs N/);
    const global = await runCli(['--help'], PROJECT_ROOT);
    for (const name of Object.keys(COMMANDS)) expect(global.stdout).toContain(`  ${COMMANDS[name].usage}`);
  });

  it('every option the parser takes is documented, and every documented option is parsed', () => {
    expect(Object.keys(CLI_OPTIONS).sort()).toEqual([...DOCUMENTED_OPTIONS].sort());
  });

  it('--version answers in a folder with no pipeline, after any command, and as `version`', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'dagrun-version-'));
    try {
      const { version } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
      for (const args of [['--version'], ['build', '--version'], ['validate', '--version'], ['version'], ['show', 'latest', '--version']]) {
        const result = await runCli(args, empty);
        expect(result.code, args.join(' ')).toBe(0);
        expect(result.stdout).toBe(`dagrun ${version}\n`);
      }
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('a build, piped', () => {
  it("prints each instance's line as it finishes, and the first three warnings of a step, then a count", async () => {
    writeFileSync(join(dir, 'wait'), '');
    const child = spawn(process.execPath, [CLI, 'build'], { cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      // The kernel of `fan` waits for this file: it is written only once summary's line has been read.
      if (/^built {3}summary/m.test(stdout) && !existsSync(join(dir, 'go'))) writeFileSync(join(dir, 'go'), '');
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    rmSync(join(dir, 'wait'));
    expect(code, stderr + stdout).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.findIndex((l) => l.startsWith('built   summary'))).toBeLessThan(lines.findIndex((l) => l.startsWith('built   fan')));
    const fan = lines.findIndex((l) => l.startsWith('built   fan'));
    expect(lines[fan]).toMatch(/\(5 warnings\)$/);
    expect(lines.slice(fan + 1, fan + 5)).toEqual(['        warning: odd row 1', '        warning: odd row 2', '        warning: odd row 3', '        … and 2 more warnings (--verbose shows every one)']);
    // Each line once: not streamed and then printed again at the end.
    expect(lines.filter((l) => l.startsWith('built   summary'))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/^run \S+: 8 built, 0 cached, 0 failed/);
  });

  it('on a terminal, the progress line carries the run count (7/19 steps)', () => {
    const written: string[] = [];
    const report = terminalReporter({ isTTY: true, write: (text: string) => written.push(text) }, false);
    const at = { time: new Date().toISOString(), run_id: 'r', step: 's', partition: {} };
    report({ ...at, type: 'run-started', kind: 'build', targets: [], total: 3 });
    report({ ...at, type: 'instance-cached', instance: 'a', reason: { kind: 'unchanged' } });
    report({ ...at, type: 'instance-started', instance: 'b', reasons: [{ kind: 'forced' }] });
    expect(written.at(-1)).toMatch(/1\/3 steps · building b/);
    report({ ...at, type: 'progress', instance: 'b', done: 5, total: 10 });
    expect(written.at(-1)).toMatch(/1\/3 steps · b: 5\/10 \(50%\)/);
  });
});

describe('after the build', () => {
  it('--set equal to the default after coercion rebuilds nothing; a different value does', async () => {
    for (const set of ['fan.labels=a', 'fan.labels=[a]', 'double.factor="2"']) {
      const result = await runCli(['build', '--set', set, '--json'], dir);
      expect(result.code, result.stderr).toBe(0);
      const manifest = JSON.parse(result.stdout) as Manifest;
      expect(manifest.steps.filter((s) => s.status !== 'cached').map((s) => s.instance), set).toEqual([]);
    }
    const other = JSON.parse((await runCli(['plan', '--set', 'fan.labels=b', '--json'], dir)).stdout) as { instance: string; action: string }[];
    expect(other.filter((p) => p.action === 'build').map((p) => p.instance)).toEqual(['fan']);
  });

  it('a no-op build stores each unchanged instance as a reference to the run that holds it, and reads back whole', async () => {
    const before = manifestFiles();
    const result = await runCli(['build', '--json'], dir);
    const full = JSON.parse(result.stdout) as Manifest;
    const file = manifestFiles().filter((f) => !before.includes(f))[0];
    const onDisk = JSON.parse(readFileSync(join(dir, 'cache', 'runs', file), 'utf8')) as Manifest;
    const earlier = before.map((f) => f.replace(/\.json$/, ''));
    expect(onDisk.steps.every((s) => earlier.includes(s.unchanged_since as string) && s.outputs === undefined)).toBe(true);
    const validate = new Ajv({ strict: false, validateFormats: false }).compile(JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas', 'manifest.schema.json'), 'utf8')) as object);
    expect(validate(onDisk), JSON.stringify(validate.errors)).toBe(true);
    expect(statSync(join(dir, 'cache', 'runs', file)).size).toBeLessThan(statSync(join(dir, 'cache', 'runs', before[0])).size / 2);
    const shown = JSON.parse((await runCli(['show', 'latest', '--json'], dir)).stdout) as Manifest;
    expect(shown.steps.map((s) => ({ ...s, unchanged_since: undefined }))).toEqual(full.steps.map((s) => ({ ...s, unchanged_since: undefined })));
  });

  it('runs shows what each run was asked for; show prints a summary on a terminal and the manifest with --json', async () => {
    await runCli(['build', 'double', '--partition', 'date=2024-01-02', '--set', 'double.factor=3'], dir);
    const runs = (await runCli(['runs'], dir)).stdout.trimEnd().split('\n');
    expect(runs.at(-1)).toMatch(/ double --partition date=2024-01-02 --set double\.factor=3$/);
    expect(runs[0]).toMatch(/\(everything, defaults\)$/);
    const show = await runCli(['show', 'latest'], dir);
    expect(show.stdout).toMatch(/^run \S+ {2}build {2}ok/);
    expect(show.stdout).toMatch(/asked {5}double --partition date=2024-01-02 --set double.factor=3/);
    expect(show.stdout).toMatch(/^built {3}double\[date=2024-01-02\]/m);
    expect(() => JSON.parse(show.stdout)).toThrow();
    expect(show.stdout.split('\n').length).toBeLessThan(20);
  });

  it('lineage prints a shared subtree once and refers back to it', async () => {
    await runCli(['build'], dir);
    const result = await runCli(['lineage', 'out/fan/done.json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    for (const day of ['2024-01-01', '2024-01-02', '2024-01-03']) {
      const label = `double[date=${day}].doubled`;
      expect(lines.filter((l) => l.trim().startsWith(`${label}  [`)), label).toHaveLength(1);
      expect(lines.filter((l) => l.trim() === `${label}  (its inputs as shown above)`), label).toHaveLength(1);
    }
  });

  it('gc --keep-runs writes referred records back into the runs it keeps: nothing is lost', async () => {
    const gc = await runCli(['gc', '--keep-runs', '1', '--json'], dir);
    expect(gc.code, gc.stderr).toBe(0);
    expect(manifestFiles()).toHaveLength(1);
    const kept = JSON.parse((await runCli(['show', 'latest', '--json'], dir)).stdout) as Manifest;
    expect(kept.steps.every((s) => s.outputs.length > 0)).toBe(true);
    const again = JSON.parse((await runCli(['build', '--json'], dir)).stdout) as Manifest;
    expect(again.steps.every((s) => s.status === 'cached')).toBe(true);
    expect((await runCli(['verify'], dir)).code).toBe(0);
  });
});
