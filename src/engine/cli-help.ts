// The CLI's help, as data: each command's usage, what it does, the options it reads and an example.
// `dagrun --help` lists the commands; `dagrun COMMAND --help` prints that command's page.

/** Every option, documented once. */
const OPTIONS: Record<string, string> = {
  pipeline: '--pipeline FILE     pipeline file (default: pipeline.yaml here or in the nearest parent folder)',
  cache: '--cache DIR         cache folder (default: cache/ beside the pipeline file, or $DAGRUN_CACHE)',
  partition: '--partition K=V     only this partition; repeatable',
  set: '--set STEP.P=V      override a param (V is read as YAML: 5, true, [a, b]); repeatable',
  jobs: '--jobs N            steps run at once (default 2)',
  refresh: '--refresh STEP      capture a live source step again; repeatable',
  force: '--force STEP        rebuild a step even when cached; repeatable',
  input: '--input NAME=URI    an input: file:PATH, a path, or a remote URI; repeatable',
  out: '--out DIR           where the outputs go',
  via: '--via STEP          run producer STEP first on the given --input, and feed its output in',
  'with-fan-in': '--with-fan-in       with --partition: also rebuild steps that read every partition',
  all: '--all               also list instances only one of the runs has',
  'keep-runs': '--keep-runs N       keep only the newest N manifests',
  captures: '--captures          also drop captures older than --older-than (never otherwise)',
  'older-than': '--older-than AGE    with --captures: e.g. 30d, 12h',
  repair: '--repair            drop broken files: objects and manifests to corrupt/, the rest deleted (captures are kept)',
  'lock-timeout': '--lock-timeout S    seconds to wait for another build\'s lock (default 600)',
  'remote-cache': '--remote-cache URL  shared cache behind the local one: http(s)://host/base or s3://bucket/prefix\n                      (else $DAGRUN_REMOTE_CACHE, else pipeline.yaml cache.remote; "off" for none)',
  'remote-mode': '--remote-mode M     read (fetch only) or read-write (default; also upload what ran)',
  to: '--to TARGET         a folder, s3://bucket/prefix or http(s)://host/base',
  check: '--check             write nothing; fail when a generated file is missing or stale',
  host: '--host H            where to listen (default 127.0.0.1)',
  port: '--port N            (default 8765; 0 = any free port)',
  'allow-actions': '--allow-actions     actions without the token, only on a loopback host',
  json: '--json              print one machine-readable JSON document',
  verbose: '--verbose           show step log lines and every warning',
  events: '--events ndjson     stream every event (run, instance, log, progress…) to stderr, one JSON per line',
  version: '--version           print dagrun\'s version',
  help: '-h, --help          this help',
  executor: '--executor E        local (default) or bullmq: enqueue missed steps for `dagrun worker`s (needs --redis and a read-write remote cache)',
  redis: '--redis URL         redis://[:password@]host:port[/db] (else $DAGRUN_REDIS)',
  concurrency: '--concurrency N     jobs this worker runs at once (default 1)',
  'worker-id': '--worker-id NAME    the name its logs and failures show (default host-pid)',
  'lock-ms': '--lock-ms MS        a job\'s lock; a dead worker\'s job moves on after about this long (default 30000)',
};

interface CommandHelp {
  readonly usage: string;
  readonly about: string;
  readonly options: readonly string[];
  readonly examples: readonly string[];
}

const COMMON = ['pipeline', 'json'];
const BUILDS = ['cache', 'partition', 'set', 'jobs', 'refresh', 'force', 'with-fan-in', 'lock-timeout', 'remote-cache', 'remote-mode', 'verbose', 'events'];

export const COMMANDS: Record<string, CommandHelp> = {
  build: { usage: 'build [STEP…]', about: 'build the pipeline (or the named steps and what they need); cached steps are served from the cache', options: [...COMMON, ...BUILDS, 'executor', 'redis'], examples: ['dagrun build', 'dagrun build thin --partition date=2026-05-26 --set thin.fast_interval_min=5', 'dagrun build --executor bullmq --redis redis://queue:6379 --remote-cache http://cache:8080/dagrun'] },
  plan: { usage: 'plan [STEP…]', about: 'say what would run and why, without running', options: [...COMMON, ...BUILDS.filter((o) => o !== 'jobs' && o !== 'lock-timeout')], examples: ['dagrun plan', 'dagrun plan index --partition date=2026-05-26'] },
  validate: { usage: 'validate', about: 'check pipeline.yaml and report every problem in it, each at its file:line:col', options: COMMON, examples: ['dagrun validate', 'dagrun validate --pipeline other.yaml --json'] },
  runs: { usage: 'runs', about: 'list recorded runs: status, counts, targets, partition filter and --set', options: [...COMMON, 'cache'], examples: ['dagrun runs'] },
  show: { usage: 'show RUN', about: 'one run\'s summary (RUN: id, id prefix, latest, previous); --json prints its whole manifest', options: [...COMMON, 'cache'], examples: ['dagrun show latest', 'dagrun show latest --json'] },
  diff: { usage: 'diff RUN_A RUN_B', about: 'what changed between two runs', options: [...COMMON, 'cache', 'all'], examples: ['dagrun diff previous latest'] },
  lineage: { usage: 'lineage PATH', about: 'the upstream tree that produced one output (a subtree seen before is referred back to)', options: [...COMMON, 'cache'], examples: ['dagrun lineage out/indexes/tiles.parquet'] },
  exec: { usage: 'exec STEP', about: 'run one step on given inputs, outside the cache', options: [...COMMON, 'input', 'out', 'via', 'set', 'partition', 'verbose', 'events'], examples: ['dagrun exec predict --input tles=file:my.tle --via tle-fetch --partition date=2026-05-27 --out scratch/predict'] },
  types: { usage: 'types [--check]', about: 'write each kernel step\'s <step>.dagrun.ts (params, row types, columns) from pipeline.yaml', options: [...COMMON, 'check'], examples: ['dagrun types', 'dagrun types --check   # in CI'] },
  init: { usage: 'init [DIR]', about: 'scaffold a minimal pipeline (one SQL step, one kernel step, sample data, a test) in DIR (default .)', options: ['json'], examples: ['dagrun init my-pipeline'] },
  status: { usage: 'status', about: 'per step × partition: does out/ match the last build (missing, edited by hand, stale upstream)', options: [...COMMON, 'cache'], examples: ['dagrun status'] },
  verify: { usage: 'verify', about: 'check every file in the cache folder (objects, action entries, manifests, stat cache, memos, captures) and name each problem by its file', options: [...COMMON, 'cache', 'repair', 'lock-timeout'], examples: ['dagrun verify', 'dagrun verify --repair'] },
  gc: { usage: 'gc', about: 'remove cache objects no kept manifest or capture references', options: [...COMMON, 'cache', 'keep-runs', 'captures', 'older-than', 'lock-timeout'], examples: ['dagrun gc --keep-runs 10', 'dagrun gc --captures --older-than 90d'] },
  captures: { usage: 'captures [list | export FILE [STEP…] | import FILE | push [STEP…] | pull KEY…]', about: 'the durable captures of live sources: list them, carry them to another cache as a file, or push them to / pull them from the remote cache', options: [...COMMON, 'cache', 'lock-timeout', 'remote-cache', 'remote-mode'], examples: ['dagrun captures', 'dagrun captures export caps.tar ais-capture', 'dagrun captures push ais-capture --remote-cache s3://bucket/dagrun', 'dagrun captures pull sha256:3fc6…'] },
  publish: { usage: 'publish RUN --to TARGET', about: 'copy a run\'s outputs, release.json and SHA256SUMS to TARGET', options: [...COMMON, 'cache', 'to', 'lock-timeout'], examples: ['dagrun publish latest --to s3://bucket/release/v1'] },
  'verify-release': { usage: 'verify-release TARGET', about: 're-hash a published release against its SHA256SUMS and release.json', options: ['json'], examples: ['dagrun verify-release s3://bucket/release/v1'] },
  schedule: { usage: 'schedule list | run NAME | log [NAME]', about: 'the declared schedules: next fires (nothing runs), one fire now, or the ingestion log', options: [...COMMON, 'cache', 'jobs', 'events'], examples: ['dagrun schedule list', 'dagrun schedule run chip-daily'] },
  serve: { usage: 'serve', about: 'the scheduler and the web UI', options: ['pipeline', 'cache', 'host', 'port', 'allow-actions', 'jobs', 'events'], examples: ['dagrun serve', 'dagrun serve --host 0.0.0.0 --port 8080'] },
  worker: { usage: 'worker', about: 'serve build jobs from Redis with this checkout\'s steps (one of a fleet; see README)', options: ['pipeline', 'cache', 'redis', 'remote-cache', 'concurrency', 'worker-id', 'lock-ms'], examples: ['dagrun worker --redis redis://queue:6379 --remote-cache http://cache:8080/dagrun --concurrency 2'] },
  version: { usage: 'version', about: 'print dagrun\'s version (as --version does)', options: ['json'], examples: ['dagrun version'] },
};

/** `dagrun --help`: the commands, one line each, and the options every command takes. */
export function globalHelp(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 2;
  return [
    'dagrun — declarative, content-addressed data builds',
    '',
    'Usage: dagrun <command> [options]      dagrun <command> --help for its options and an example',
    '',
    'Commands:',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}${c.about}`),
    '',
    'Every command:',
    ...['pipeline', 'json', 'version', 'help'].map((o) => `  ${OPTIONS[o]}`),
    '',
  ].join('\n');
}

/** `dagrun COMMAND --help`, or undefined for a command that does not exist. */
export function commandHelp(command: string): string | undefined {
  const help = COMMANDS[command];
  if (!help) return undefined;
  return [
    `Usage: dagrun ${help.usage} [options]`,
    '',
    `${help.about[0].toUpperCase()}${help.about.slice(1)}.`,
    '',
    'Options:',
    ...[...help.options, 'help'].map((o) => `  ${OPTIONS[o]}`),
    '',
    help.examples.length > 1 ? 'Examples:' : 'Example:',
    ...help.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/** Every option name the help documents (the parser's options must match: tested). */
export const DOCUMENTED_OPTIONS = Object.keys(OPTIONS);
