// The cache lock: one writing build per cache folder. A file created with O_EXCL holds the holder's
// pid, host and a token; a lock whose holder is gone (same host, dead pid) is taken over atomically.
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative, sep } from 'node:path';
import { UserError } from '../sdk/errors.js';

/**
 * Take the lock of the cache at `cacheRoot`. A stale lock is taken over; otherwise wait up to
 * `timeoutMs`, then fail with a sentence naming the holder. Returns the release function.
 */
export async function acquireLock(cacheRoot: string, timeoutMs: number, onWait?: (holder: string) => void): Promise<() => void> {
  const path = join(cacheRoot, 'lock');
  const deadline = Date.now() + timeoutMs;
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), token: Math.random().toString(36).slice(2) });
  let told = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, mine);
      closeSync(fd);
      locksHeldHere.add(path);
      // Release only a lock that is still ours (a takeover race must not delete another build's), and
      // only once: the settled handoff's is given back more than once, and a second call must not
      // unmark a lock this process took since (it would look like a leftover, free to take over).
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        locksHeldHere.delete(path);
        try {
          if (readFileSync(path, 'utf8') === mine) rmSync(path, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const seen = readLockText(path);
    if (seen !== undefined && isStale(seen, path)) {
      // Take it over atomically: move it aside, and if what we moved is not what we judged dead
      // (another waiter already took over and wrote a live lock), put it back.
      const aside = `${path}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`;
      try {
        renameSync(path, aside);
        if (readLockText(aside) === seen) rmSync(aside, { force: true });
        else {
          try {
            linkSync(aside, path);
          } catch {
            /* a third build holds it now; the live lock we moved is lost to it either way */
          }
          rmSync(aside, { force: true });
        }
      } catch {
        /* someone else moved it first */
      }
      continue;
    }
    const holder = parseLock(seen);
    const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : 'another build';
    // Named from the working directory: no machine path in what the user sees.
    const shown = (p: string): string => relative(process.cwd(), p).split(sep).join('/') || '.';
    if (Date.now() >= deadline) throw new UserError('LOCKED', `the cache ${shown(cacheRoot)} is locked by ${who}; wait for it to finish, or raise --lock-timeout (remove ${shown(path)} if no build is running)`);
    if (!told) {
      onWait?.(who);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 50));
  }
}

function readLockText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function parseLock(text: string | undefined): { pid: number; host: string; since: string } | undefined {
  try {
    return text ? (JSON.parse(text) as { pid: number; host: string; since: string }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A lock is stale when its holder on this host is dead, or is this very process (a reused pid,
 * e.g. PID 1 in a fresh container: we do not hold it, so nobody does), or when it is empty or
 * unreadable for more than 10 s (a crash between creating and writing it).
 */
function isStale(text: string, path: string): boolean {
  const holder = parseLock(text);
  if (!holder) {
    try {
      return Date.now() - statSync(path).mtimeMs > 10_000;
    } catch {
      return false;
    }
  }
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return !locksHeldHere.has(path);
  return !processAlive(holder.pid);
}

/** Lock files this process holds (two builds in one process must still exclude each other). */
const locksHeldHere = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

