// Scenario fixtures: each test works on its own copy of a fixture folder, placed at the same depth
// as test/fixtures/<name> so the fixture kernels' relative imports of src/ still resolve.
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from './paths.js';

export const CLI = join(PROJECT_ROOT, 'bin', 'dagrun.js');

export function copyFixture(name: string): string {
  const work = join(PROJECT_ROOT, 'test', '.work');
  mkdirSync(work, { recursive: true });
  const dir = mkdtempSync(join(work, `${name}-`));
  cpSync(join(PROJECT_ROOT, 'test', 'fixtures', name), dir, { recursive: true, filter: (src) => !/[\\/](cache|out)$/.test(src) });
  return dir;
}

export function removeFixture(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the compiled CLI (npm test compiles first) in `cwd`. `killAfterMs` sends SIGKILL mid-run. */
export function runCli(args: string[], cwd: string, options: { killAfterMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = options.killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), options.killAfterMs) : undefined;
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

export function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
