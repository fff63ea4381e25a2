// tle-fetch (source step): read Sentinel-2 TLEs from a file or an http(s) URL, validate every line,
// write one row per element set.
import { readFile } from 'node:fs/promises';
import { StepError } from '../../src/sdk/errors.js';
import { writeTable } from '../../src/sdk/table-io.js';
import { SENTINEL2_SATELLITES, dedupeAndSort, parseTleText } from '../../lib/maritime/tle.js';

import { outputColumns, outputOrderBy, type StepKernel } from './tle-fetch.dagrun.js';

const FETCH_TIMEOUT_MS = 30_000;

/** The text behind a file path or an http(s) URL, and the name errors should cite. */
export async function readTleSource(location: string): Promise<{ text: string; source: string }> {
  if (/^https?:\/\//.test(location)) {
    const source = location.split('?')[0];
    let response: Response;
    try {
      response = await fetch(location, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch (error) {
      throw new StepError(`could not fetch TLEs: ${(error as Error).message}`, source);
    }
    if (!response.ok) throw new StepError(`fetching TLEs failed: HTTP ${response.status} ${response.statusText}`, source);
    return { text: await response.text(), source };
  }
  const path = location.replace(/^file:/, '');
  try {
    return { text: await readFile(path, 'utf8'), source: path };
  } catch (error) {
    throw new StepError(`cannot read the TLE file: ${(error as Error).message}`, path);
  }
}

const kernel: StepKernel = async (ctx) => {
  const { text, source } = await readTleSource(ctx.inputs.tles);
  const parsed = parseTleText(text, source);
  const rows = dedupeAndSort(parsed.elementSets);
  if (parsed.otherSatellites.length > 0) {
    const ids = [...new Set(parsed.otherSatellites)].sort((a, b) => a - b);
    ctx.warn(`${source}: skipped ${parsed.otherSatellites.length} element set(s) for satellites other than Sentinel-2A/2B/2C (NORAD ${ids.join(', ')})`);
  }
  if (rows.length === 0) throw new StepError('no element sets for SENTINEL-2A (40697), 2B (42063) or 2C (60989)', source);
  for (const [norad, code] of SENTINEL2_SATELLITES) {
    const count = rows.filter((row) => row.norad_id === norad).length;
    ctx.metric(`element_sets_${code}`, count);
    if (count === 0) ctx.warn(`${source}: no element set for ${code} (${norad}); predict will have no passes for it`);
  }
  ctx.metric('element_sets', rows.length);
  ctx.metric('other_satellites_skipped', parsed.otherSatellites.length);
  ctx.metric('duplicates_dropped', parsed.elementSets.length - rows.length);
  await writeTable(ctx.outputs.tles, outputColumns.tles, rows, { orderBy: outputOrderBy.tles });
};

export default kernel;
