// The COG reader: boundless windows equal a full read, per-asset caching, coalesced tile ranges,
// HTTP range requests against a local server, and clear errors for truncated / missing assets.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { AssetReadError, CogCache, CogReader, coalesceRanges } from '../lib/geo/cog-reader.js';
import { writeGeoTiff } from '../lib/geo/geotiff-writer.js';
import { seededRandom } from '../src/sdk/random.js';

const dir = mkdtempSync(join(tmpdir(), 'cog-reader-'));
const WIDTH = 700;
const HEIGHT = 520;
const TILE = 256;
const random = seededRandom(7);
const pixels = Uint16Array.from({ length: WIDTH * HEIGHT }, () => 1 + Math.floor(random() * 12000));
const cogPath = join(dir, 'scene.tif');
writeFileSync(cogPath, writeGeoTiff({ width: WIDTH, height: HEIGHT, bands: [pixels], sampleType: 'uint16', epsg: 32630, transform: { originX: 600_000, originY: 5_700_000, pixelWidth: 10, pixelHeight: 10 }, nodata: 0, tileSize: TILE }));
const cogBytes = readFileSync(cogPath);

/** The expected boundless window straight from the pixel array. */
function expectedWindow(x: number, y: number, w: number, h: number): number[] {
  const out: number[] = [];
  for (let row = y; row < y + h; row++) for (let col = x; col < x + w; col++) out.push(row >= 0 && col >= 0 && row < HEIGHT && col < WIDTH ? pixels[row * WIDTH + col] : 0);
  return out;
}

const WINDOWS: [string, number, number, number, number][] = [
  ['inside one tile', 10, 20, 64, 64],
  ['inside across four tiles', 200, 230, 100, 80],
  ['across the top-left corner', -30, -40, 100, 100],
  ['across the bottom-right edge', 650, 480, 100, 100],
  ['entirely outside', 900, 900, 50, 50],
  ['larger than the raster', -5, -5, WIDTH + 10, HEIGHT + 10],
];

describe('CogReader on a local file', () => {
  it.each(WINDOWS)('reads a window %s', async (_, x, y, w, h) => {
    const reader = await CogReader.open(cogPath);
    const [band] = await reader.readWindow(x, y, w, h);
    expect(band).toBeInstanceOf(Uint16Array);
    expect(Array.from(band)).toEqual(expectedWindow(x, y, w, h));
    await reader.close();
  });

  it('knows the raster georeferencing', async () => {
    const reader = await CogReader.open(`file://${cogPath}`);
    expect(reader.geo).toEqual({ width: WIDTH, height: HEIGHT, originX: 600_000, originY: 5_700_000, pixelWidth: 10, pixelHeight: 10, epsg: 32630, nodata: 0, samplesPerPixel: 1 });
    await reader.close();
  });

  it('reads each tile once, in one request per run of adjacent tiles, and an outside window reads nothing', async () => {
    const reader = await CogReader.open(cogPath);
    const header = reader.stats.bytesRead;
    expect(header).toBeLessThanOrEqual(16_384);
    const tiles = reader.tilesFor(200, 230, 300, 310); // 2×2 tiles
    expect(tiles.map((t) => t.index)).toEqual([0, 1, 3, 4]);
    await reader.readWindow(200, 230, 100, 80);
    const tileBytes = tiles.reduce((n, t) => n + t.length, 0);
    expect(reader.stats.bytesRead - header).toBe(tileBytes);
    expect(reader.stats.tileBytesFetched).toBe(tileBytes);
    // tiles 0,1 are adjacent in the file, as are 3,4: two requests beyond the header's
    const requestsAfterFirst = reader.stats.requests;
    await reader.readWindow(210, 240, 50, 50); // same tiles: all cached
    expect(reader.stats.bytesRead - header).toBe(tileBytes);
    expect(reader.stats.requests).toBe(requestsAfterFirst);
    expect(reader.stats.tileBytesTouched).toBe(tileBytes * 2);
    await reader.readWindow(5000, 5000, 10, 10);
    expect(reader.stats.bytesRead - header).toBe(tileBytes);
    await reader.close();
  });

  it('shares one reader per href through CogCache', async () => {
    const cache = new CogCache();
    const a = await cache.open(cogPath);
    const b = await cache.open(cogPath);
    expect(a).toBe(b);
    await a.readWindow(0, 0, 10, 10);
    expect((await cache.stats()).tileBytesFetched).toBe(a.tilesFor(0, 0, 10, 10)[0].length);
    await cache.closeAll();
  });

  it('keeps the compressed tiles of all of a CogCache\'s readers within one budget, and reads right past it', async () => {
    const second = join(dir, 'second.tif');
    writeFileSync(second, cogBytes);
    const probe = await CogReader.open(cogPath);
    const budget = 3 * Math.max(...probe.tilesFor(0, 0, WIDTH, HEIGHT).map((t) => t.length));
    await probe.close();
    const cache = new CogCache({ tileCacheBytes: budget });
    const [a, b] = [await cache.open(cogPath), await cache.open(second)];
    for (const reader of [a, b]) {
      // the whole raster, one tile-sized window at a time
      for (let y = 0; y < HEIGHT; y += TILE) for (let x = 0; x < WIDTH; x += TILE) expect(Array.from((await reader.readWindow(x, y, TILE, TILE))[0])).toEqual(expectedWindow(x, y, TILE, TILE));
      expect(cache.tiles.bytes).toBeLessThanOrEqual(budget);
    }
    expect(cache.tiles.bytes).toBeGreaterThan(0);
    // a tile larger than the whole budget is read but never cached
    const tiny = new CogCache({ tileCacheBytes: 10 });
    const reader = await tiny.open(cogPath);
    expect(Array.from((await reader.readWindow(0, 0, 30, 30))[0])).toEqual(expectedWindow(0, 0, 30, 30));
    expect(tiny.tiles.bytes).toBe(0);
    await Promise.all([cache.closeAll(), tiny.closeAll()]);
    expect(cache.tiles.bytes).toBe(0);
  });

  it('fails a truncated asset with the byte range it needed, and a missing one with "cannot open"', async () => {
    const truncated = join(dir, 'truncated.tif');
    writeFileSync(truncated, cogBytes.subarray(0, Math.floor(cogBytes.length * 0.6)));
    const reader = await CogReader.open(truncated);
    await expect(reader.readWindow(0, 0, 20, 20)).resolves.toHaveLength(1); // first tile is still there
    const error = await reader.readWindow(WIDTH - 20, HEIGHT - 20, 20, 20).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AssetReadError);
    expect((error as AssetReadError).detail).toMatch(/^truncated: tile bytes \d+-\d+ needed, the asset has \d+ bytes$/);
    await reader.close();
    await expect(CogReader.open(join(dir, 'nope.tif'))).rejects.toThrow(/nope\.tif: cannot open/);
    const notTiff = join(dir, 'not.tif');
    writeFileSync(notTiff, 'hello, not a tiff');
    await expect(CogReader.open(notTiff)).rejects.toThrow(/not a readable GeoTIFF/);
  });
});

describe('coalesceRanges', () => {
  it('merges adjacent and near ranges, keeps far ones apart', () => {
    const runs = coalesceRanges([{ offset: 100, length: 50 }, { offset: 0, length: 100 }, { offset: 160, length: 10 }, { offset: 1000, length: 5 }], 10);
    expect(runs.map((r) => [r.offset, r.end, r.tiles.length])).toEqual([[0, 170, 3], [1000, 1005, 1]]);
    expect(coalesceRanges([{ offset: 100, length: 50 }, { offset: 0, length: 100 }, { offset: 160, length: 10 }], 0).map((r) => [r.offset, r.end])).toEqual([[0, 150], [160, 170]]);
  });
});

describe('CogReader over HTTP range requests (127.0.0.1)', () => {
  let server: Server;
  let base = '';
  const log: { range: string | undefined; bytes: number }[] = [];
  let honourRange = true;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url !== '/scene.tif') {
        response.writeHead(404).end('not found');
        return;
      }
      const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
      if (!match || !honourRange) {
        log.push({ range: request.headers.range, bytes: cogBytes.length });
        response.writeHead(200, { 'content-length': cogBytes.length }).end(cogBytes);
        return;
      }
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), cogBytes.length - 1);
      if (start >= cogBytes.length) {
        response.writeHead(416, { 'content-range': `bytes */${cogBytes.length}` }).end();
        return;
      }
      const body = cogBytes.subarray(start, end + 1);
      log.push({ range: request.headers.range, bytes: body.length });
      response.writeHead(206, { 'content-range': `bytes ${start}-${end}/${cogBytes.length}`, 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads the same windows as from the file, counting exactly the bytes the server sent', async () => {
    log.length = 0;
    const reader = await CogReader.open(`${base}/scene.tif`);
    for (const [, x, y, w, h] of WINDOWS) expect(Array.from((await reader.readWindow(x, y, w, h))[0])).toEqual(expectedWindow(x, y, w, h));
    expect(log.every((entry) => entry.range !== undefined)).toBe(true);
    expect(reader.stats.bytesRead).toBe(log.reduce((n, entry) => n + entry.bytes, 0));
    expect(reader.stats.requests).toBe(log.length);
    // every tile fetched once, never more than the file
    expect(reader.stats.tileBytesFetched).toBeLessThanOrEqual(cogBytes.length);
    expect(reader.stats.bytesRead).toBeLessThanOrEqual(cogBytes.length + 16_384);
    await reader.close();
  });

  it('copes with a server that ignores Range (and counts the whole body)', async () => {
    honourRange = false;
    log.length = 0;
    try {
      const reader = await CogReader.open(`${base}/scene.tif`);
      expect(Array.from((await reader.readWindow(300, 300, 30, 30))[0])).toEqual(expectedWindow(300, 300, 30, 30));
      expect(reader.stats.bytesRead).toBe(log.reduce((n, entry) => n + entry.bytes, 0));
      await reader.close();
    } finally {
      honourRange = true;
    }
  });

  it('reports HTTP errors as AssetReadError naming the URL', async () => {
    const error = await CogReader.open(`${base}/missing.tif`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AssetReadError);
    expect((error as Error).message).toMatch(/missing\.tif: HTTP 404/);
  });
});
