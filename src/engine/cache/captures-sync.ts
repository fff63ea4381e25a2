// `dagrun captures push [STEP…]` and `dagrun captures pull KEY…`: live sources' captures to and from
// the remote cache by hand (a build pushes and pulls them by itself: run-instance.ts). Push sends what
// this cache holds (captures imported from a file, made before a remote was configured); pull fetches
// a capture by its key, as `dagrun captures --json` lists it on the machine that has it — a remote
// cache cannot be listed (the Bazel HTTP layout has no listing).
import { UserError } from '../../sdk/errors.js';
import { DIGEST_PREFIX, shortDigest } from '../../sdk/hash.js';
import { CaptureConflict, type Captures } from '../captures.js';
import { openCache, type RemoteSettings } from './tiered.js';
import { redactUrl } from './transfer.js';

export interface CaptureSyncReport {
  readonly action: 'push' | 'pull';
  readonly remote: string;
  /** Per capture: what happened to it. */
  readonly captures: { instance: string; key: string; outcome: 'uploaded' | 'present' | 'added' | 'same' }[];
  readonly summary: string;
}

const KEY = /^(?:sha256:)?([0-9a-f]{64})$/;

export async function syncCaptures(action: 'push' | 'pull', captures: Captures, settings: RemoteSettings | undefined, names: readonly string[], onWarning: (message: string) => void): Promise<CaptureSyncReport> {
  if (!settings) throw new UserError('CLI', `captures ${action} needs a remote cache: --remote-cache URL, DAGRUN_REMOTE_CACHE or pipeline cache.remote`);
  if (action === 'push' && settings.mode !== 'read-write') throw new UserError('CLI', 'captures push writes to the remote cache, which is configured read-only here (--remote-mode read-write to push)');
  const keys = action === 'pull' ? names.map(pullKey) : [];
  if (action === 'pull' && keys.length === 0) throw new UserError('CLI', 'usage: dagrun captures pull KEY… (a capture key as `dagrun captures --json` lists it where it was recorded)');
  const selected = action === 'push' ? captures.select(names) : [];
  const cache = await openCache(captures.store, settings, onWarning);
  const done: CaptureSyncReport['captures'] = [];
  const refused: string[] = [];
  let conflicts = 0;
  try {
    if (action === 'push') {
      for (const record of selected) {
        try {
          done.push({ instance: record.instance, key: record.key, outcome: await cache.pushCapture(record) });
        } catch (error) {
          if (!(error instanceof CaptureConflict)) throw new UserError('NETWORK', `captures push: ${record.instance} (${shortDigest(record.key)}) could not be uploaded: ${(error as Error).message}`);
          conflicts += 1;
          refused.push(error.message);
        }
      }
    } else {
      for (const key of keys) {
        const pull = await cache.pullCapture(key);
        if (!pull.record) {
          if (pull.unreachable) throw new UserError('NETWORK', `captures pull: the remote cache did not answer (${pull.unreachable})`);
          refused.push(pull.problem ?? `no capture ${key} on the remote cache`);
          continue;
        }
        try {
          done.push({ instance: pull.record.instance, key, outcome: await captures.adopt(pull.record) });
        } catch (error) {
          if (!(error instanceof CaptureConflict)) throw error;
          conflicts += 1;
          refused.push(error.message);
        }
      }
    }
  } finally {
    await cache.finish();
  }
  const count = (outcome: string): number => done.filter((c) => c.outcome === outcome).length;
  const summary =
    action === 'push'
      ? `pushed ${count('uploaded')} capture(s) to ${redactUrl(settings.url)}; ${count('present')} already there`
      : `pulled ${count('added')} capture(s) from ${redactUrl(settings.url)}; ${count('same')} already here`;
  // A conflict is the user's to decide (exit 2); a missing or tampered remote capture is a failure (exit 1).
  if (refused.length > 0) throw new UserError(conflicts > 0 ? 'CLI' : 'BAD_INPUT', `${summary}; ${refused.length} refused:\n  ${refused.join('\n  ')}`);
  return { action, remote: redactUrl(settings.url), captures: done, summary: `${summary}${done.length > 0 ? `\n${done.map((c) => `  ${c.outcome.padEnd(8)} ${c.instance}  ${shortDigest(c.key)}`).join('\n')}` : ''}` };
}

function pullKey(text: string): string {
  const match = KEY.exec(text.trim().toLowerCase());
  if (!match) throw new UserError('CLI', `captures pull takes whole capture keys (sha256: and 64 hex digits, as \`dagrun captures --json\` lists them where they were recorded), not "${text}": a remote cache cannot be searched`);
  return `${DIGEST_PREFIX}${match[1]}`;
}
