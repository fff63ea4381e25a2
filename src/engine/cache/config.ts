// Where the remote cache setting comes from, normalised once: --remote-cache / --remote-mode on the
// command line, else DAGRUN_REMOTE_CACHE / DAGRUN_REMOTE_CACHE_MODE, else pipeline.yaml's
// `cache: { remote, mode }`. `off` as the URL turns a configured remote off for one build.
import { UserError } from '../../sdk/errors.js';
import type { RemoteMode } from './remote.js';
import type { RemoteSettings } from './tiered.js';
import { redactUrl } from './transfer.js';

export interface RemoteCacheConfig {
  readonly remote?: string;
  readonly mode?: RemoteMode;
}

const MODES: readonly RemoteMode[] = ['read', 'read-write'];

export function resolveRemoteSettings(cli: RemoteCacheConfig, pipeline: RemoteCacheConfig | undefined, env: NodeJS.ProcessEnv = process.env): RemoteSettings | undefined {
  const [url, urlFrom] = cli.remote ? [cli.remote, '--remote-cache'] : env.DAGRUN_REMOTE_CACHE ? [env.DAGRUN_REMOTE_CACHE, 'DAGRUN_REMOTE_CACHE'] : [pipeline?.remote, 'pipeline cache.remote'];
  if (!url || url === 'off') return undefined;
  if (!/^(https?|s3):\/\/[^/]/i.test(url)) throw new UserError('CLI', `${urlFrom}: "${redactUrl(url)}" is not an http://, https:// or s3:// URL`);
  const [mode, modeFrom] = cli.mode ? [cli.mode, '--remote-mode'] : env.DAGRUN_REMOTE_CACHE_MODE ? [env.DAGRUN_REMOTE_CACHE_MODE, 'DAGRUN_REMOTE_CACHE_MODE'] : [pipeline?.mode ?? 'read-write', 'pipeline cache.mode'];
  if (!MODES.includes(mode as RemoteMode)) throw new UserError('CLI', `${modeFrom}: "${mode}" is not a remote cache mode (read, read-write)`);
  return { url, mode: mode as RemoteMode };
}
