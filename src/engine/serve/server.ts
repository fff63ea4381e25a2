// `dagrun serve`: the scheduler plus a web UI on one HTTP server (node:http, loopback by default).
// Everything it shows is read from manifests and outputs (data.ts); everything it does is a build on
// the engine (actions.ts) whose events reach the browser over server-sent events. Files are served
// only from inside the output root and the built UI bundle; actions need the token printed at start.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { describeError, isUserError, UserError } from '../../sdk/errors.js';
import { EventBus, fanOut } from '../events/bus.js';
import { eventLine } from '../events/logging.js';
import { describeReasons } from '../events/reasons.js';
import type { DagrunEvent, EventSink } from '../events/types.js';
import { ENGINE_ROOT } from '../paths.js';
import { Scheduler } from '../schedule/scheduler.js';
import { Actions } from './actions.js';
import { UiData } from './data.js';

export interface ServeOptions {
  readonly pipelineFile: string;
  readonly cacheDir?: string;
  readonly host?: string;
  /** 0: any free port. */
  readonly port?: number;
  /** Skip the token for actions (only on a loopback host). */
  readonly allowActions?: boolean;
  /** Tick the scheduler (off in tests that drive it themselves). */
  readonly schedule?: boolean;
  readonly tickMs?: number;
  readonly jobs?: number;
  /** Largest accepted upload (bytes). */
  readonly maxUploadBytes?: number;
  /** Where the built browser bundle is (dist/web). */
  readonly webDir?: string;
  readonly onEvent?: EventSink;
}

export interface RunningServer {
  readonly url: string;
  readonly token: string;
  readonly bus: EventBus;
  readonly scheduler: Scheduler;
  readonly actions: Actions;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.geojson': 'application/geo+json',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml', '.tif': 'image/tiff', '.parquet': 'application/octet-stream', '.csv': 'text/csv; charset=utf-8', '.map': 'application/json',
};

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.allowActions && !LOOPBACK.has(host)) throw new UserError('CLI', `--allow-actions only on a loopback host (127.0.0.1, ::1), not ${host}: use the token`);
  const bus = new EventBus();
  const sink = fanOut(bus.emit, options.onEvent) as EventSink;
  const scheduler = new Scheduler({ pipelineFile: options.pipelineFile, cacheDir: options.cacheDir, onEvent: sink, jobs: options.jobs });
  const cacheDir = scheduler.cacheDir;
  const pipeline = scheduler.pipeline;
  const data = new UiData(pipeline, join(cacheDir, 'runs'));
  const actions = new Actions({ pipelineFile: options.pipelineFile, cacheDir: options.cacheDir, storeDir: cacheDir, scheduler, onEvent: sink, jobs: options.jobs });
  const token = randomBytes(18).toString('hex');
  const webDir = options.webDir ?? join(ENGINE_ROOT, 'dist', 'web');
  const maxUpload = options.maxUploadBytes ?? 5 * 1024 * 1024;
  const basemap = join(ENGINE_ROOT, 'datasets', 'basemap', 'land.geojson');

  const authorised = (req: IncomingMessage): boolean => {
    if (options.allowActions) return true;
    const given = String(req.headers['x-dagrun-token'] ?? '');
    return given.length === token.length && timingSafeEqual(Buffer.from(given), Buffer.from(token));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dagrun.local');
    const path = decodePath(url.pathname);
    const q = (name: string): string | undefined => url.searchParams.get(name) ?? undefined;
    if (req.method === 'GET') {
      if (path === '/' || path === '/index.html') return sendFile(res, join(webDir, 'index.html'), webDir);
      if (path.startsWith('/assets/')) return sendFile(res, resolveInside(webDir, path.slice('/assets/'.length)), webDir);
      if (path.startsWith('/files/')) return sendFile(res, resolveInside(pipeline.outputRoot, path.slice('/files/'.length)), pipeline.outputRoot);
      if (path === '/api/basemap') return existsSync(basemap) ? sendFile(res, basemap, dirnameOf(basemap)) : json(res, 200, { type: 'FeatureCollection', features: [] });
      if (path === '/api/pipeline') return json(res, 200, { ...(data.graph() as object), schedules: await scheduler.list() });
      if (path.startsWith('/api/steps/')) {
        const detail = data.stepDetail(path.slice('/api/steps/'.length));
        return detail ? json(res, 200, detail) : json(res, 404, { error: 'no such step' });
      }
      if (path === '/api/runs') return json(res, 200, { runs: data.runs(), active: actions.active(), running_schedules: scheduler.runningSchedules() });
      if (path.startsWith('/api/runs/')) {
        const id = path.slice('/api/runs/'.length);
        const manifest = data.manifest(id);
        const log = data.runLog(manifest.run_id, join(cacheDir, 'logs'));
        const events = log.length ? log : bus.replay(manifest.run_id);
        return json(res, 200, { manifest: { ...manifest, steps: manifest.steps.map((s) => ({ ...s, reason: s.reasons ? describeReasons(s.reasons) : s.reason })) }, log: (events as DagrunEvent[]).map(eventLine) });
      }
      if (path === '/api/diff') return json(res, 200, data.diff(need(q('a'), 'a'), need(q('b'), 'b')));
      if (path === '/api/chips') return json(res, 200, { chips: await data.chips({ date: q('date'), split: q('split'), decision: q('decision'), mmsi: q('mmsi') }) });
      if (path === '/api/index') return json(res, 200, await data.index({ sort: q('sort'), dir: q('dir'), q: q('q'), limit: q('limit') ? Number(q('limit')) : undefined }));
      if (path === '/api/map') return json(res, 200, await data.map(q('date')));
      if (path === '/api/schedules') return json(res, 200, { schedules: await scheduler.list(), log: scheduler.log(q('schedule')) });
      if (path === '/api/events') return streamEvents(req, res, bus, q('run'));
      return json(res, 404, { error: `no page ${path}` });
    }
    if (req.method === 'POST' && path.startsWith('/api/actions/')) {
      if (!authorised(req)) return json(res, 403, { error: 'actions need the token printed when dagrun serve started (header X-Dagrun-Token)' });
      const action = path.slice('/api/actions/'.length);
      if (action === 'upload') {
        const body = await readBody(req, maxUpload);
        const started = await actions.chipFromFile(q('filename') ?? 'upload.csv', body);
        return json(res, 202, started);
      }
      const body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}') as Record<string, unknown>;
      if (action === 'build') return json(res, 202, await actions.batch(body));
      if (action === 'prune') return json(res, 202, await actions.prune(body));
      if (action === 'continuous') return json(res, 200, await actions.continuous(body));
      return json(res, 404, { error: `no action ${action}` });
    }
    return json(res, 405, { error: `${req.method} not allowed` });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = (error as { status?: number }).status ?? (isUserError(error) ? 400 : 500);
      if (!res.headersSent) json(res, status, { error: isUserError(error) ? (error as UserError).format() : status === 500 ? describeError(error).split('\n')[0] : (error as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8765, host, () => ok());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  if (options.schedule !== false) scheduler.start(options.tickMs ?? 15_000);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token,
    bus,
    scheduler,
    actions,
    close: async () => {
      await scheduler.stop();
      await actions.idle();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function need(value: string | undefined, name: string): string {
  if (!value) throw new HttpError(400, `missing query parameter "${name}"`);
  return value;
}

function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    throw new HttpError(400, 'malformed URL');
  }
}

/**
 * A path below `root`, or a 404: `..`, absolute paths, NUL and symlinks that lead outside are refused
 * (the real path of whatever exists must still be inside the real root).
 */
export function resolveInside(root: string, requested: string): string {
  if (requested.includes('\0')) throw new HttpError(400, 'bad path');
  const target = resolve(root, `.${sep}${requested}`);
  const inside = (parent: string, child: string): boolean => {
    const rel = relative(parent, child);
    return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[A-Za-z]:/.test(rel));
  };
  if (!inside(root, target)) throw new HttpError(404, 'not found');
  if (existsSync(target) && existsSync(root) && !inside(realpathSync(root), realpathSync(target))) throw new HttpError(404, 'not found');
  return target;
}

function dirnameOf(path: string): string {
  return resolve(path, '..');
}

function sendFile(res: ServerResponse, file: string, root: string): void {
  if (!existsSync(file) || !statSync(file).isFile()) return json(res, 404, { error: `not found: ${relative(root, file).split(sep).join('/')}` });
  res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': statSync(file).size, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
  createReadStream(file).pipe(res);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
  res.end(text);
}

/** Server-sent events: recent events first (one run's, or all), then live ones. */
function streamEvents(req: IncomingMessage, res: ServerResponse, bus: EventBus, runId: string | undefined): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
  const send = (event: DagrunEvent): void => {
    if (runId && event.run_id !== runId) return;
    res.write(`data: ${JSON.stringify({ ...event, line: eventLine(event) })}\n\n`);
  };
  for (const event of bus.replay(runId)) send(event);
  const unsubscribe = bus.subscribe(send);
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  req.on('close', () => {
    clearInterval(ping);
    unsubscribe();
  });
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    throw new HttpError(413, `upload too large: ${declared} bytes (limit ${limit})`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.destroy();
      throw new HttpError(413, `upload too large: over ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The web bundle's index.html exists (npm install builds it). */
export function webBundleBuilt(webDir = join(ENGINE_ROOT, 'dist', 'web')): boolean {
  return existsSync(join(webDir, 'index.html')) && readFileSync(join(webDir, 'index.html'), 'utf8').includes('app.js');
}
