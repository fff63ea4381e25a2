// Scenario fixtures: each test works on its own copy of a fixture folder, placed at the same depth
// as test/fixtures/<name> so the fixture kernels' relative imports of src/ still resolve.
import { cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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
  /** Whether `signalOn` fired (the signal was sent while the process was still running). */
  signalled: boolean;
}

/**
 * Send `signal` (default SIGKILL) once stderr has shown `after` `count` times (default 1), `delayMs`
 * later: tied to the build's own progress lines, so it lands mid-build however loaded the machine is.
 */
export interface SignalOn {
  /** A line to wait for, or a file (path) to wait to exist: polled, for a point before any line (the cache lock taken). */
  after: RegExp | { file: string };
  /** Where `after` is looked for (default stderr; stdout has each instance's line as it is decided). */
  stream?: 'stdout' | 'stderr';
  count?: number;
  delayMs?: number;
  signal?: NodeJS.Signals;
}

/** Run the compiled CLI (npm test compiles first) in `cwd`. */
export function runCli(args: string[], cwd: string, options: { signalOn?: SignalOn; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    let timer: NodeJS.Timeout | undefined;
    let exited = false;
    const trigger = options.signalOn;
    const watch = (): void => {
      if (!trigger || timer || signalled) return;
      const after = trigger.after;
      if (!(after instanceof RegExp)) {
        if (!existsSync(after.file)) return void (exited || setTimeout(watch, 2));
      } else if (((trigger.stream === 'stdout' ? stdout : stderr).match(new RegExp(after.source, `${after.flags.replace('g', '')}g`))?.length ?? 0) < (trigger.count ?? 1)) return;
      timer = setTimeout(() => {
        if (exited) return;
        signalled = child.kill(trigger.signal ?? 'SIGKILL');
      }, trigger.delayMs ?? 0);
    };
    child.stdout.on('data', (d) => {
      stdout += d;
      watch();
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      watch();
    });
    child.on('exit', () => (exited = true));
    if (trigger && !(trigger.after instanceof RegExp)) watch();
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, signalled });
    });
  });
}

export function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
