// A small text asset (a calibration annotation) from a local path or an http(s) URL.
import { readFile } from 'node:fs/promises';

export async function readRangeText(href: string, timeoutMs = 30_000): Promise<string> {
  if (!/^https?:\/\//i.test(href)) return readFile(href, 'utf8');
  const response = await fetch(href, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.text();
}
