// The `dagrun` command line. Every command takes --pipeline FILE and --json; a user error prints each
// problem as `file:line:col: sentence` with the source line and a caret (or one JSON document), exits
// with its category's code (2 usage, 1 failure), and never shows a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UserError } from '../sdk/errors.js';
import { exitCodeOf, renderForJson, renderForTerminal } from './errors-render.js';
import { commandHelp, globalHelp } from './cli-help.js';
import { loadPipeline } from './pipeline.js';
import { build, defaultCacheDir, type BuildResult } from './runner.js';
import { diffManifests, formatDiff, formatLineage, lineageOf, readableRuns, readManifest, redactSecrets, type Manifest, type StepRecord } from './manifest.js';
import { Store } from './store.js';
import { formatRemote } from './cache/report.js';
import type { RemoteMode } from './cache/remote.js';
import { resolveRemoteSettings } from './cache/config.js';
import { generateTypes } from './types-gen.js';
import { ENGINE_VERSION } from './paths.js';
import { fanOut } from './events/bus.js';
import { ndjsonWriter, terminalReporter } from './events/logging.js';
import type { EventSink, Reason } from './events/types.js';
import { Captures, parseAge } from './captures.js';
// Commands other than build/plan load their modules when run: a no-op build pays only for what it uses.
const commands = {
  exec: () => import('./exec.js'),
  release: () => import('./cache/release.js'),
  init: () => import('./init.js'),
  maintenance: () => import('./events/maintenance-runs.js'),
  status: () => import('./status.js'),
};
import { relativiser } from '../sdk/project-paths.js';
import { CLI_OPTIONS, findPipelineFile } from './cli-options.js';
import { formatRecord } from './cli-format.js';
import { settledInvocation, type SettledHandoff } from './settled.js';

export { CLI_OPTIONS, findPipelineFile };
import { shortDigest } from '../sdk/hash.js';

/**
 * The CLI. `handoff`: what the settled check found (settled.ts) when only some instances' files
 * changed, with the cache lock it holds; the build it asked about takes both, anything else releases the lock.
 */
export async function main(argv: string[], handoff?: SettledHandoff): Promise<number> {
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: CLI_OPTIONS,
    });
    json = values.json ?? false;
    const [command, ...rest] = positionals;
    // --version and --help answer before anything else is read: they work in any folder, with any command.
    if (values.version || command === 'version') {
      process.stdout.write(json ? `${JSON.stringify({ version: ENGINE_VERSION })}\n` : `dagrun ${ENGINE_VERSION}\n`);
      return 0;
    }
    if (command === 'help' && rest[0] && commandHelp(rest[0])) {
      process.stdout.write(commandHelp(rest[0]) as string);
      return 0;
    }
    if (values.help && command && commandHelp(command)) {
      process.stdout.write(commandHelp(command) as string);
      return 0;
    }
    if (values.help || !command || command === 'help') {
      process.stdout.write(globalHelp());
      return command || values.help ? 0 : 2;
    }
    const pipelineFile = values.pipeline ? resolve(values.pipeline) : findPipelineFile(process.cwd());
    const print = (human: string, document: unknown): void => {
      process.stdout.write(json ? `${JSON.stringify(document, null, 2)}\n` : `${human}\n`);
    };
    if (values.events !== undefined && values.events !== 'ndjson') throw new UserError('CLI', `--events takes "ndjson", not "${values.events}"`);
    // One stream, two consumers: the human reporter (unless --json keeps stderr quiet) and --events.
    // Readers skip an unreadable manifest with one line on stderr (stdout stays the document).
    const warn = (message: string): void => void process.stderr.write(`dagrun: warning: ${message}\n`);
    const events: EventSink | undefined = fanOut(json || values.events ? undefined : terminalReporter(process.stderr, values.verbose ?? false), values.events ? ndjsonWriter(process.stderr) : undefined);
    const lockTimeoutMs = values['lock-timeout'] ? positiveInt(values['lock-timeout'], '--lock-timeout') * 1000 : 10 * 60_000;
    // --cache: where every command keeps what it writes, the pipeline's memo too (loadPipeline).
    const cacheFolder = values.cache ? resolve(values.cache) : undefined;
    const store = (): Store => new Store(values.cache ? resolve(values.cache) : defaultCacheDir(loadPipeline(pipelineFile)));

    switch (command) {
      case 'build':
      case 'plan': {
        const dryRun = command === 'plan';
        // Each instance's line as it finishes (piped or in CI too), not all of them when the run ends.
        const stream = !json && !dryRun;
        // SIGINT/SIGTERM stop the build cleanly (kernels stopped, lock released, scratch removed, exit
        // 130); a second signal exits at once.
        const interrupt = new AbortController();
        const onSignal = (): void => {
          if (interrupt.signal.aborted) process.exit(130);
          interrupt.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        // The lines decided in one turn of the event loop are written together, not one write each
        // (a one-date rebuild at 365 partitions decides 728 cached instances at once).
        let lines = '';
        const flushLines = (): void => {
          if (!lines) return;
          if (process.stderr.isTTY && !values.events) process.stderr.write('\r\x1b[K');
          process.stdout.write(lines);
          lines = '';
        };
        const result = await build({
          pipelineFile,
          cacheDir: values.cache,
          targets: rest,
          partitionFilter: keyValues(values.partition ?? [], '--partition'),
          sets: parseSets(values.set ?? []),
          jobs: values.jobs ? positiveInt(values.jobs, '--jobs') : undefined,
          refresh: values.refresh,
          force: values.force,
          dryRun,
          withFanIn: values['with-fan-in'],
          lockTimeoutMs,
          remoteCache: values['remote-cache'],
          remoteMode: values['remote-mode'] as RemoteMode | undefined,
          executor: executorName(values.executor),
          redis: values.redis,
          onEvent: events,
          onRecord: stream
            ? (record) => {
                if (!lines) setImmediate(flushLines);
                lines += `${formatRecord(record)}\n`;
              }
            : undefined,
          signal: interrupt.signal,
          settle: dryRun ? undefined : settledInvocation(values, positionals, process.cwd(), process.env),
          settledHandoff: dryRun ? undefined : handoff,
        }).finally(() => {
          flushLines();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        });
        // Only the form that is printed is made: at 3,650 instances the other one was a tenth of a plan.
        if (json) print('', dryRun ? result.manifest.steps.map(planEntry) : { ...result.manifest, manifest_path: result.manifestPath && shownPath(result.manifestPath), remote_cache: result.remote });
        else print(dryRun ? formatPlan(result.manifest) : formatBuild(result, !stream) + formatRemote(result.remote), undefined);
        return result.ok ? 0 : 1;
      }
      case 'init': {
        const dir = rest[0] ?? '.';
        const result = await (await commands.init()).initProject(dir);
        const next = [`cd ${dir}`, ...(result.kept.includes('package.json') ? [] : ['npm install --save-dev dagrun   # or the tarball you installed dagrun from']), 'npx dagrun build', 'npm test'];
        print(`created ${result.created.join(', ')}${result.kept.length ? `\nkept your ${result.kept.join(', ')}` : ''}${result.scriptsAdded.length ? ` (added scripts: ${result.scriptsAdded.join(', ')})` : ''}\nnext:\n${(dir === '.' ? next.slice(1) : next).map((l) => `  ${l}`).join('\n')}`, result);
        return 0;
      }
      case 'types': {
        const pipeline = loadPipeline(pipelineFile, cacheFolder);
        const result = await generateTypes(pipeline, { check: values.check ?? false });
        print(values.check ? `up to date: ${result.files.join(', ') || 'no kernel steps'}` : `wrote ${result.files.join(', ') || 'nothing (no kernel steps)'}`, result);
        return 0;
      }
      case 'validate': {
        const pipeline = loadPipeline(pipelineFile, cacheFolder);
        print(`${shownPath(pipeline.file)}: ok — ${pipeline.steps.size} steps (${pipeline.order.join(', ')})`, { ok: true, steps: pipeline.order, partitions: pipeline.partitions });
        return 0;
      }
      case 'runs': {
        const s = store();
        const runs = readableRuns(s.runsDir, warn).map(({ manifest }) => ({ ...summarise(manifest), ...runScope(manifest) }));
        print(runs.length === 0 ? 'no runs yet' : runs.map((r) => `${r.run_id}  ${r.status.padEnd(6)}  built ${r.built}, cached ${r.cached}, failed ${r.failed}  ${describeAsked(r)}`).join('\n'), runs);
        return 0;
      }
      case 'show': {
        const manifest = readManifest(store().runsDir, need(rest[0], 'show RUN'), warn);
        print(formatShow(manifest), manifest);
        return 0;
      }
      case 'diff': {
        const s = store();
        const diff = diffManifests(readManifest(s.runsDir, need(rest[0], 'diff RUN_A RUN_B'), warn), readManifest(s.runsDir, need(rest[1], 'diff RUN_A RUN_B'), warn));
        print(formatDiff(diff, values.all ?? false), values.all ? diff : { ...diff, steps: diff.steps.filter((d) => d.change === 'changed') });
        return 0;
      }
      case 'lineage': {
        const pipeline = loadPipeline(pipelineFile, cacheFolder);
        const s = new Store(values.cache ? resolve(values.cache) : defaultCacheDir(pipeline));
        const target = need(rest[0], 'lineage PATH');
        // The newest run that produced this path (a partial build may not list it).
        const runs = readableRuns(s.runsDir, warn).reverse();
        if (runs.length === 0) throw new UserError('CLI', 'no runs yet: run `dagrun build` first');
        let tree: ReturnType<typeof lineageOf> | undefined;
        let lastError: unknown;
        for (const run of runs) {
          try {
            tree = lineageOf(run.manifest, pipeline.outputRoot, target);
            break;
          } catch (error) {
            lastError = error;
          }
        }
        if (!tree) throw lastError;
        print(formatLineage(tree), tree);
        return 0;
      }
      case 'exec': {
        const result = await (await commands.exec()).execStep({
          pipeline: pipelineFile,
          step: need(rest[0], 'exec STEP'),
          inputs: keyValues(values.input ?? [], '--input'),
          params: parseSets((values.set ?? []).map((s) => (s.includes('.') && s.indexOf('.') < s.indexOf('=') ? s : `${rest[0]}.${s}`)))[rest[0]] ?? {},
          partition: keyValues(values.partition ?? [], '--partition'),
          outDir: values.out ?? need(undefined, 'exec STEP --out DIR'),
          onLog: values.verbose && !values.events ? (m) => process.stderr.write(`${redactSecrets(m)}\n`) : undefined,
          onEvent: values.events ? events : undefined,
          via: values.via,
        });
        const outputs = Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, shownPath(v)]));
        print(Object.entries(outputs).map(([k, v]) => `${k}: ${v}${result.rows[k] !== undefined ? ` (${result.rows[k]} rows)` : ''}`).join('\n'), { ...result, outputs });
        return 0;
      }
      case 'verify': {
        const report = await (await commands.maintenance()).verifyRun(store(), lockTimeoutMs, events, values.repair ?? false);
        const checked = `${report.objects} objects (${report.bytes} bytes), ${report.actions} action entries, ${report.manifests} manifests, ${report.captures.checked} capture(s)`;
        const listed = report.problems.map((p) => `  ${p.file}: ${p.problem}`).join('\n');
        // Captures cannot be recorded again: reported, never dropped.
        const captureLines = report.captures.problems.map((p) => `  capture ${p.instance} (${shortDigest(p.key)}): ${p.problem}`);
        print(
          [
            report.problems.length === 0
              ? captureLines.length === 0 ? `ok: ${checked} verified` : ''
              : report.repaired
                ? `${report.problems.length} problem(s) found and dropped (objects and manifests set aside in corrupt/):\n${listed}`
                : `${report.problems.length} problem(s) in ${checked}:\n${listed}\nrun \`dagrun verify --repair\` to drop them`,
            captureLines.length > 0 ? `${captureLines.length} capture problem(s) (kept; \`dagrun captures import\` or --refresh brings them back):\n${captureLines.join('\n')}` : '',
          ].filter(Boolean).join('\n'),
          report,
        );
        return (report.problems.length === 0 || report.repaired) && captureLines.length === 0 ? 0 : 1;
      }
      case 'gc': {
        if (values.captures && !values['older-than']) throw new UserError('CLI', 'gc --captures needs --older-than AGE (e.g. 90d): captures cannot be recorded again');
        if (values['older-than'] && !values.captures) throw new UserError('CLI', '--older-than applies to captures: give gc --captures --older-than AGE');
        const capturesOlderThanMs = values.captures ? parseAge(values['older-than'] as string, '--older-than') : undefined;
        const report = await (await commands.maintenance()).gcRun(store(), lockTimeoutMs, { keepRuns: values['keep-runs'] ? positiveInt(values['keep-runs'], '--keep-runs') : undefined, capturesOlderThanMs }, events);
        print(`removed ${report.objects_removed} objects (${report.bytes_removed} bytes) and ${report.actions_removed} action entries; kept ${report.kept_runs} runs, dropped ${report.dropped_runs}; captures kept ${report.captures_kept}, removed ${report.captures_removed}`, report);
        return 0;
      }
      case 'status': {
        const pipeline = loadPipeline(pipelineFile, cacheFolder);
        const { formatStatus, pipelineStatus } = await commands.status();
        const statuses = await pipelineStatus(pipeline, new Store(values.cache ? resolve(values.cache) : defaultCacheDir(pipeline)));
        print(formatStatus(statuses), statuses);
        return 0;
      }
      case 'captures': {
        const s = store();
        const captures = new Captures(s);
        const [action = 'list', file, ...names] = rest;
        if (action === 'list') {
          const list = captures.list().map((r) => ({ instance: r.instance, key: r.key, captured_at: r.captured_at, sources: r.sources, outputs: r.outputs.length, bytes: r.outputs.reduce((n, o) => n + o.bytes, 0) }));
          print(list.length === 0 ? 'no captures' : list.map((c) => `${c.instance}  captured ${c.captured_at}  ${c.outputs} outputs, ${c.bytes} bytes  ${shortDigest(c.key)}  from ${c.sources.join(', ')}`).join('\n'), list);
          return 0;
        }
        if (action === 'push' || action === 'pull') {
          const { syncCaptures } = await import('./cache/captures-sync.js');
          const settings = resolveRemoteSettings({ remote: values['remote-cache'], mode: values['remote-mode'] as RemoteMode | undefined }, loadPipeline(pipelineFile, cacheFolder).cache);
          const release = await s.lock(lockTimeoutMs, (holder) => process.stderr.write(`waiting for the cache lock held by ${holder}…\n`));
          try {
            const report = await syncCaptures(action, captures, settings, rest.slice(1), (message) => process.stderr.write(`${message}\n`));
            print(report.summary, report);
            return 0;
          } finally {
            release();
          }
        }
        if (action !== 'export' && action !== 'import') throw new UserError('CLI', `captures takes list, export FILE [STEP…], import FILE, push [STEP…] or pull KEY…, not "${action}"`);
        const path = resolve(need(file, `captures ${action} FILE`));
        const release = await s.lock(lockTimeoutMs, (holder) => process.stderr.write(`waiting for the cache lock held by ${holder}…\n`));
        try {
          if (action === 'export') {
            const report = await captures.export(captures.select(names), path);
            print(`exported ${report.captures} capture(s), ${report.objects} objects (${report.bytes} bytes) to ${shownPath(path)}`, { ...report, file: shownPath(path) });
          } else {
            const report = await captures.import(path, shownPath(path));
            print(`imported ${report.captures.length} capture(s) (${report.captures.map((c) => c.instance).join(', ')}), ${report.objects} objects (${report.bytes} bytes)`, { captures: report.captures.map((c) => ({ instance: c.instance, key: c.key, captured_at: c.captured_at })), objects: report.objects, bytes: report.bytes });
          }
        } finally {
          release();
        }
        return 0;
      }
      case 'publish': {
        const s = store();
        const target = need(values.to, 'publish RUN --to TARGET');
        // Under the cache lock: gc must not collect an object while it is being published.
        const release = await s.lock(lockTimeoutMs, (holder) => process.stderr.write(`waiting for the cache lock held by ${holder}…\n`));
        const report = await (await commands.release()).publishRun(s, need(rest[0], 'publish RUN --to TARGET'), target).finally(release);
        print(report.unchanged ? `${report.target} already holds release ${report.run_id} (${report.files} files); nothing written` : `published run ${report.run_id} to ${report.target}: ${report.files} files, ${report.bytes} bytes, release.json, SHA256SUMS`, report);
        return 0;
      }
      case 'verify-release': {
        const report = await (await commands.release()).verifyRelease(need(rest[0], 'verify-release TARGET'));
        print(report.problems.length === 0 ? `ok: ${report.target}: ${report.files} files, ${report.bytes} bytes match SHA256SUMS and release.json` : `${report.target}: ${report.problems.length} problem(s):\n${report.problems.map((p) => `  ${p}`).join('\n')}`, report);
        return report.problems.length === 0 ? 0 : 1;
      }
      case 'serve': {
        const { serve } = await import('./serve/server.js');
        const port = values.port === undefined ? undefined : Number(values.port);
        if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) throw new UserError('CLI', `--port takes 0-65535, not "${values.port}"`);
        const server = await serve({ pipelineFile, cacheDir: values.cache ? resolve(values.cache) : undefined, host: values.host, port, allowActions: values['allow-actions'], jobs: values.jobs ? positiveInt(values.jobs, '--jobs') : undefined, onEvent: events });
        process.stdout.write(`dagrun serve: ${server.url}/  (actions token: ${server.token})\n`);
        await new Promise<void>((done) => {
          const stop = (): void => void server.close().then(done);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return 0;
      }
      case 'worker': {
        const { startWorker } = await import('./executors/worker.js');
        const { parseRedisUrl } = await import('./executors/redis.js');
        const worker = await startWorker({
          pipelineFile,
          redis: parseRedisUrl(values.redis ?? process.env.DAGRUN_REDIS),
          concurrency: values.concurrency ? positiveInt(values.concurrency, '--concurrency') : undefined,
          cacheDir: values.cache ? resolve(values.cache) : undefined,
          remoteCache: values['remote-cache'],
          id: values['worker-id'],
          lockMs: values['lock-ms'] ? positiveInt(values['lock-ms'], '--lock-ms') : undefined,
          onMessage: (line) => process.stderr.write(`${relativiser(process.cwd())(line)}\n`),
        });
        process.stdout.write(`dagrun worker ${worker.id}: serving queue ${worker.queue}\n`);
        await new Promise<void>((done) => {
          const stop = (): void => void worker.close().then(done);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return 0;
      }
      case 'schedule': {
        const { scheduleCommand } = await import('./schedule/commands.js');
        return await scheduleCommand(rest, { pipelineFile, cacheDir: values.cache ? resolve(values.cache) : undefined, json, events, jobs: values.jobs ? positiveInt(values.jobs, '--jobs') : undefined, print });
      }
      default:
        throw new UserError('CLI', `unknown command "${command}" (see dagrun --help)`);
    }
  } catch (error) {
    // Files named from the working directory (no machine path in what the user sees), secrets scrubbed.
    const relative_ = relativiser(process.cwd());
    const clean = (text: string): string => redactSecrets(relative_(text));
    if (json) process.stdout.write(`${JSON.stringify(renderForJson(error, clean), null, 2)}\n`);
    else process.stderr.write(`${renderForTerminal(error, { clean }).split('\n').map((line, i) => (i === 0 || !line.startsWith('  ') ? `dagrun: ${line}` : line)).join('\n')}\n`);
    return exitCodeOf(error);
  } finally {
    handoff?.release();
  }
}

function executorName(value: string | undefined): 'local' | 'bullmq' | undefined {
  if (value === undefined || value === 'local' || value === 'bullmq') return value;
  throw new UserError('CLI', `--executor takes local or bullmq, not "${value}"`);
}

/** A path as the user typed it would be: relative to the working directory, '/'-separated. */
function shownPath(path: string): string {
  return relative(process.cwd(), path).split(sep).join('/') || '.';
}

function need(value: string | undefined, usage: string): string {
  if (!value) throw new UserError('CLI', `usage: dagrun ${usage}`);
  return value;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UserError('CLI', `${flag} takes a whole number ≥ 1, not "${text}"`);
  return n;
}

function keyValues(items: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UserError('CLI', `${flag} takes NAME=VALUE, not "${item}"`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function parseSets(items: readonly string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const item of items) {
    const match = /^([a-z][a-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(item);
    if (!match) throw new UserError('CLI', `--set takes STEP.PARAM=VALUE, not "${item}"`);
    let value: unknown;
    try {
      const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
      value = parse(match[3]);
    } catch {
      value = match[3];
    }
    (out[match[1]] ??= {})[match[2]] = value ?? null;
  }
  return out;
}

function summarise(manifest: Manifest): { run_id: string; status: string; built: number; cached: number; failed: number } {
  const count = (status: string): number => manifest.steps.filter((s) => s.status === status).length;
  return { run_id: manifest.run_id, status: manifest.status, built: count('built'), cached: count('cached'), failed: count('failed') + count('skipped') };
}

/** What a run was asked for, as the command line that would ask it again: `thin --partition date=… --set …`. */
function describeAsked(scope: { targets: readonly string[]; partition: Readonly<Record<string, string>>; set: Readonly<Record<string, Readonly<Record<string, unknown>>>> }): string {
  const parts: string[] = [...scope.targets];
  for (const [key, value] of Object.entries(scope.partition)) parts.push(`--partition ${key}=${value}`);
  for (const [step, values] of Object.entries(scope.set)) for (const [name, value] of Object.entries(values)) parts.push(`--set ${step}.${name}=${JSON.stringify(value)}`);
  return parts.length > 0 ? parts.join(' ') : '(everything, defaults)';
}

function runScope(manifest: Manifest): { targets: string[]; partition: Record<string, string>; set: Record<string, Record<string, unknown>> } {
  const options = manifest.options as { targets?: string[]; partition?: Record<string, string>; set?: Record<string, Record<string, unknown>> };
  return { targets: options.targets ?? [], partition: options.partition ?? {}, set: options.set ?? {} };
}

/** `show` on a terminal: the run in a screenful — what was asked, the counts, each instance's line, failures in full. */
function formatShow(manifest: Manifest): string {
  const sum = summarise(manifest);
  const seconds = (Date.parse(manifest.finished_at) - Date.parse(manifest.started_at)) / 1000;
  const lines = [
    `run ${manifest.run_id}  ${manifest.kind}  ${manifest.status}${manifest.schedule ? `  (schedule ${manifest.schedule})` : ''}`,
    `  pipeline  ${manifest.pipeline.file} (${manifest.pipeline.name}), outputs in ${manifest.pipeline.output_root}/`,
    `  asked     ${describeAsked(runScope(manifest))}`,
    `  when      ${manifest.started_at} → ${manifest.finished_at} (${seconds.toFixed(1)} s)`,
    `  versions  dagrun ${manifest.versions.engine}, node ${manifest.versions.node}, duckdb ${manifest.versions.duckdb}`,
    `  outcome   ${sum.built} built, ${sum.cached} cached, ${sum.failed} failed or skipped, ${manifest.steps.length} instances`,
    '',
    ...manifest.steps.map((s) => formatRecord(s)),
    ...(manifest.stale_fan_in ?? []).map((stale) => `stale   ${stale.instance}: ${stale.reason}`),
    '',
    `the whole manifest: dagrun show ${manifest.run_id} --json`,
  ];
  return lines.join('\n');
}

function formatBuild(result: BuildResult, withSteps = true): string {
  const lines = withSteps ? result.manifest.steps.map((s) => formatRecord(s)) : [];
  const sum = summarise(result.manifest);
  for (const stale of result.manifest.stale_fan_in ?? []) lines.push(`stale   ${stale.instance}: ${stale.reason}`);
  const restored = result.manifest.steps.filter((s) => s.restored_files);
  if (restored.length > 0) lines.push(`restored ${restored.reduce((n, s) => n + (s.restored_files ?? 0), 0)} file(s) in out/ that were deleted or edited by hand (${restored.map((s) => `${s.instance}: ${s.restored_files}`).join(', ')})`);
  lines.push(`run ${result.manifest.run_id}: ${sum.built} built, ${sum.cached} cached, ${sum.failed} failed — manifest ${result.manifestPath ? shownPath(result.manifestPath) : '(none)'}`);
  return lines.join('\n');
}


function planEntry(s: StepRecord): { instance: string; action: string; reason: string; reasons: readonly Reason[] } {
  return { instance: s.instance, action: s.status === 'cached' ? 'cached' : s.status === 'would-build' ? 'build' : s.status, reason: s.status === 'failed' ? (s.error ?? s.reason) : s.reason, reasons: s.reasons ?? [] };
}

function formatPlan(manifest: Manifest): string {
  return [
    ...manifest.steps.map((s) => {
      const entry = planEntry(s);
      return `${entry.action.padEnd(7)} ${entry.instance} — ${entry.reason}`;
    }),
    ...(manifest.stale_fan_in ?? []).map((stale) => `stale   ${stale.instance}: ${stale.reason}`),
  ].join('\n');
}
