// The Redis a BullMQ executor and its workers share, normalised once from `--redis URL`. The URL may
// carry a password (redis://:secret@host:6379/0): it goes to the connection only; everything shown
// or recorded uses `shown`.
import { UserError } from '../../sdk/errors.js';
import { redactUrl } from '../cache/transfer.js';

export interface RedisTarget {
  /** redis://host:port/db — never with credentials. */
  readonly shown: string;
  readonly options: {
    readonly host: string;
    readonly port: number;
    readonly db: number;
    readonly username?: string;
    readonly password?: string;
    readonly tls?: object;
  };
}

export function parseRedisUrl(url: string | undefined, flag = '--redis'): RedisTarget {
  if (!url) throw new UserError('CLI', `${flag} URL is required (redis://host:port; or DAGRUN_REDIS)`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError('CLI', `${flag}: "${redactUrl(url)}" is not a URL (redis://host:port)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new UserError('CLI', `${flag}: "${redactUrl(url)}" is not a redis:// or rediss:// URL`);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new UserError('CLI', `${flag}: "${redactUrl(url)}" names database "${parsed.pathname.slice(1)}", not a number`);
  const port = parsed.port ? Number(parsed.port) : 6379;
  return {
    shown: `${parsed.protocol}//${parsed.hostname}:${port}/${db}`,
    options: {
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port,
      db,
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
}

/** One queue per pipeline: workers of another pipeline never see its jobs. */
export function queueName(pipelineName: string): string {
  return `dagrun.${pipelineName}`;
}

/** What a job carries: everything a worker needs besides its own checkout and the remote cache. */
export interface StepJobData {
  readonly v: 1;
  readonly pipeline: string;
  readonly step: string;
  readonly instance: string;
  readonly partition: Record<string, string>;
  readonly key: string;
  readonly run_id: string;
  readonly engine: string;
  readonly code: string;
  readonly definition: string;
  readonly packages: string;
  readonly params: Record<string, unknown>;
  readonly inputs: readonly JobInput[];
}

export interface JobInput {
  readonly name: string;
  readonly format: string;
  readonly columns?: Record<string, string>;
  readonly uri?: string;
  /** The input's files in order, each an object in the remote cache; `name` is the file name the step sees. */
  readonly objects: readonly { readonly name: string; readonly kind: 'file' | 'tree'; readonly digest: string; readonly bytes: number }[];
}

/** What a worker reports back on its job (besides the result it uploaded to the remote cache). */
export interface StepJobResult {
  readonly worker: string;
}

/** Progress messages a worker sends while a job runs (BullMQ job progress), relayed to the client's event stream. */
export type JobProgress =
  | { readonly type: 'started'; readonly worker: string }
  | { readonly type: 'log'; readonly message: string }
  | { readonly type: 'progress'; readonly done: number; readonly total?: number };
