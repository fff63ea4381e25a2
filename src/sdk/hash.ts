// Content digests. BLAKE3 (via @napi-rs/blake-hash) measured ~2.6 GB/s here against ~0.3 GB/s for
// node's sha256 on this CPU (no SHA extensions), so every digest in dagrun is BLAKE3, hex, prefixed.
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { open } from 'node:fs/promises';

export const DIGEST_PREFIX = 'b3:';
const CHUNK = 4 * 1024 * 1024;

/** Counts file reads so tests can assert that a no-op build reads no content. */
export const readCounter = { files: 0, bytes: 0 };

export function digestBytes(data: Uint8Array | string): string {
  const hasher = new Blake3Hasher();
  hasher.update(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return DIGEST_PREFIX + hasher.digest('hex');
}

/** Digest of a JSON value in canonical form (keys sorted), so equal values give equal digests. */
export function digestJson(value: unknown): string {
  return digestBytes(canonicalJson(value));
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** Stream a file through BLAKE3. Returns digest and size. */
export async function digestFile(path: string): Promise<{ digest: string; size: number }> {
  const handle = await open(path, 'r');
  try {
    const hasher = new Blake3Hasher();
    const buffer = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hasher.update(bytesRead === CHUNK ? buffer : buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    readCounter.files += 1;
    readCounter.bytes += size;
    return { digest: DIGEST_PREFIX + hasher.digest('hex'), size };
  } finally {
    await handle.close();
  }
}

export function shortDigest(digest: string): string {
  return digest.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 12);
}
