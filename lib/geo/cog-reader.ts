// Windowed reads of (Cloud Optimized) GeoTIFFs from local files or HTTP range requests. geotiff.js
// parses the header; the tiles a window touches are fetched up front (adjacent tiles merged into one
// range, every byte read counted), kept compressed in an LRU shared by a scene's readers so chips
// that share tiles read them once, and decoded by tile-decode.ts: native inflate, the predictor
// undone only on the rows and columns the window needs, pixels copied straight into the window.
// Layouts that path does not cover (planar bands, other codecs) go through geotiff.js.
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { addDecoder, BaseDecoder, GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { copyTileWindow, decompressTile, LITTLE_ENDIAN_HOST, NATIVE_COMPRESSIONS, type Samples, type TileLayout } from './tile-decode.js';

export type { Samples } from './tile-decode.js';

/** Deflate through node:zlib (native) instead of pako when geotiff.js decodes (the fallback path). */
class NodeInflateDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): ArrayBuffer {
    const out = inflateSync(new Uint8Array(buffer));
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer;
  }
}
// TIFF compression 8 (Adobe deflate) and 32946 (old deflate); registered for the whole process.
addDecoder([8, 32946], async () => NodeInflateDecoder);

/** Bytes read and requests made, for benchmarks and the manifest. */
export interface ReadStats {
  /** Bytes that came from the file or the network. */
  bytesRead: number;
  /** Read calls / HTTP requests made. */
  requests: number;
  /** Compressed bytes of the tiles windows touched, counted once per window (cached or not). */
  tileBytesTouched: number;
  /** Compressed bytes of distinct tiles fetched (first touch only). */
  tileBytesFetched: number;
}

/** Something that can read byte ranges: a local file or an HTTP(S) URL. */
export interface RangeReader {
  readonly href: string;
  /** Total size, once known (after the first read for HTTP). */
  size(): number | undefined;
  /** Bytes [offset, offset + length), fewer only when the resource ends first. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Bytes received from the disk or the network so far (a server that ignores Range sends everything once). */
  readonly wireBytes: number;
  close(): Promise<void>;
}

/** An asset could not be read as a raster: missing, truncated, or not a TIFF. Carries the href. */
export class AssetReadError extends Error {
  constructor(
    readonly href: string,
    readonly detail: string,
  ) {
    super(`${href}: ${detail}`);
    this.name = 'AssetReadError';
  }
}

export function isRemote(href: string): boolean {
  return /^https?:\/\//i.test(href);
}

/** Open a range reader for a local path (relative ones against `baseDir`), a file: URL, or an http(s) URL. */
export function openRangeReader(href: string, options: { timeoutMs?: number; baseDir?: string } = {}): RangeReader {
  if (isRemote(href)) return new HttpRangeReader(href, options.timeoutMs ?? 30_000);
  const path = href.startsWith('file:') ? fileURLToPath(href) : href;
  return new FileRangeReader(href, options.baseDir ? resolve(options.baseDir, path) : path);
}

class FileRangeReader implements RangeReader {
  private handle: Promise<FileHandle> | undefined;
  private fileSize: number | undefined;
  wireBytes = 0;

  constructor(
    readonly href: string,
    private readonly path: string = href,
  ) {}

  size(): number | undefined {
    return this.fileSize;
  }

  private async file(): Promise<FileHandle> {
    this.handle ??= open(this.path, 'r').then(async (handle) => {
      this.fileSize = (await handle.stat()).size;
      return handle;
    });
    try {
      return await this.handle;
    } catch (error) {
      // Node's message names the resolved path; the href as given is what the user can act on.
      throw new AssetReadError(this.href, `cannot open: ${(error as Error).message.split(this.path).join(this.href)}`);
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const handle = await this.file();
    const wanted = Math.max(0, Math.min(length, (this.fileSize ?? 0) - offset));
    const buffer = new Uint8Array(wanted);
    let done = 0;
    while (done < wanted) {
      const { bytesRead } = await handle.read(buffer, done, wanted - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    this.wireBytes += done;
    return done === wanted ? buffer : buffer.subarray(0, done);
  }

  async close(): Promise<void> {
    if (!this.handle) return;
    const handle = await this.handle.catch(() => undefined);
    this.handle = undefined;
    await handle?.close();
  }
}

class HttpRangeReader implements RangeReader {
  private totalSize: number | undefined;
  /** The whole resource, once a server ignored Range and sent it: later reads are served from it. */
  private whole: Uint8Array | undefined;
  wireBytes = 0;

  constructor(
    readonly href: string,
    private readonly timeoutMs: number,
  ) {}

  size(): number | undefined {
    return this.totalSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length <= 0) return new Uint8Array(0);
    if (this.whole) return this.whole.subarray(offset, Math.min(this.whole.length, offset + length));
    if (this.totalSize !== undefined && offset >= this.totalSize) return new Uint8Array(0);
    let response: Response;
    try {
      response = await fetch(this.href, {
        headers: { Range: `bytes=${offset}-${offset + length - 1}` },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new AssetReadError(this.href, `request failed: ${(error as Error).message}`);
    }
    if (response.status === 416) {
      await response.body?.cancel();
      return new Uint8Array(0);
    }
    if (response.status !== 206 && response.status !== 200) {
      await response.body?.cancel();
      throw new AssetReadError(this.href, `HTTP ${response.status} for bytes ${offset}-${offset + length - 1}`);
    }
    const body = new Uint8Array(await response.arrayBuffer());
    this.wireBytes += body.length;
    if (response.status === 200) {
      // The server ignored Range and sent the whole resource: take our slice (the bytes still crossed the wire).
      this.totalSize = body.length;
      this.whole = body;
      return body.subarray(offset, Math.min(body.length, offset + length));
    }
    const total = /\/(\d+)\s*$/.exec(response.headers.get('content-range') ?? '');
    if (total) this.totalSize = Number(total[1]);
    return body;
  }

  async close(): Promise<void> {}
}

export interface CogReaderOptions {
  /** Header reads are rounded to blocks of this size (default 16 KiB). */
  headerBlockBytes?: number;
  /** Tiles closer than this many bytes in the file are fetched in one request (default 0: only adjacent tiles). */
  coalesceGapBytes?: number;
  /**
   * Budget for cached compressed tiles, least recently used dropped beyond it (default 32 MiB). A
   * `CogCache` shares one budget among its readers, so a worker's memory stays near the tiles in flight.
   */
  tileCacheBytes?: number;
  timeoutMs?: number;
  /** Relative local hrefs resolve against this folder (the pipeline folder); errors still name the href as given. */
  baseDir?: string;
}

/** A raster grid in some CRS: top-left corner and pixel size (rows go down). */
export interface Grid {
  width: number;
  height: number;
  originX: number;
  originY: number;
  pixelWidth: number;
  pixelHeight: number;
}

/** The georeferencing of a raster: its grid, CRS, nodata and bands. */
export interface RasterGeo extends Grid {
  epsg: number | undefined;
  nodata: number | undefined;
  samplesPerPixel: number;
}

export const DEFAULT_TILE_CACHE_BYTES = 32 * 1024 * 1024;

/** Compressed tiles of one or more readers, least recently used dropped beyond `budget` bytes. */
export class TileCache {
  private readonly entries = new Map<string, Uint8Array>();
  private held = 0;

  constructor(readonly budget: number = DEFAULT_TILE_CACHE_BYTES) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  get(key: string): Uint8Array | undefined {
    const data = this.entries.get(key);
    if (data) {
      this.entries.delete(key); // most recently used last
      this.entries.set(key, data);
    }
    return data;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, data: Uint8Array): void {
    if (this.entries.has(key) || data.length > this.budget) return;
    this.entries.set(key, data);
    this.held += data.length;
    for (const [oldest, value] of this.entries) {
      if (this.held <= this.budget) break;
      this.entries.delete(oldest);
      this.held -= value.length;
    }
  }

  /** Drop every entry whose key starts with `prefix` (one reader's tiles). */
  drop(prefix: string): void {
    for (const [key, value] of this.entries) {
      if (!key.startsWith(prefix)) continue;
      this.entries.delete(key);
      this.held -= value.length;
    }
  }
}

let readerSerial = 0;

/**
 * geotiff.js source backed by a block cache (header, IFD arrays) and the tile cache filled by
 * `CogReader.prefetch`. Reads are counted in `stats`.
 */
class CachingSource {
  private readonly blocks = new Map<number, Promise<Uint8Array>>();
  /** Tile keys in the (possibly shared) tile cache start with this. */
  private readonly prefix = `${++readerSerial}:`;

  constructor(
    readonly reader: RangeReader,
    readonly stats: ReadStats,
    private readonly blockBytes: number,
    readonly tiles: TileCache,
  ) {}

  tile(offset: number): Uint8Array | undefined {
    return this.tiles.get(this.prefix + offset);
  }

  get fileSize(): number | null {
    return this.reader.size() ?? null;
  }

  async fetch(slices: { offset: number; length: number }[]): Promise<ArrayBuffer[]> {
    return Promise.all(slices.map((slice) => this.fetchOne(slice.offset, slice.length)));
  }

  private async fetchOne(offset: number, length: number): Promise<ArrayBuffer> {
    const tile = this.tile(offset);
    if (tile && tile.length >= length) return copyOut(tile, 0, length);
    return this.fromBlocks(offset, length);
  }

  /** Bytes through the block cache (header, IFD arrays, anything not prefetched). */
  private async fromBlocks(offset: number, length: number): Promise<ArrayBuffer> {
    const first = Math.floor(offset / this.blockBytes);
    const last = Math.floor((offset + length - 1) / this.blockBytes);
    const parts: Uint8Array[] = [];
    for (let block = first; block <= last; block++) parts.push(await this.block(block));
    const joined = concat(parts);
    const start = offset - first * this.blockBytes;
    return copyOut(joined, start, Math.max(0, Math.min(length, joined.length - start)));
  }

  private block(index: number): Promise<Uint8Array> {
    let pending = this.blocks.get(index);
    if (!pending) {
      pending = this.readCounted(index * this.blockBytes, this.blockBytes);
      this.blocks.set(index, pending);
      pending.catch(() => this.blocks.delete(index));
    }
    return pending;
  }

  async readCounted(offset: number, length: number): Promise<Uint8Array> {
    const data = await this.reader.read(offset, length);
    this.stats.bytesRead = this.reader.wireBytes;
    this.stats.requests += 1;
    return data;
  }

  storeTile(offset: number, data: Uint8Array): void {
    this.tiles.set(this.prefix + offset, data);
  }

  async close(): Promise<void> {
    this.blocks.clear();
    this.tiles.drop(this.prefix);
    await this.reader.close();
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function copyOut(data: Uint8Array, start: number, length: number): ArrayBuffer {
  return data.buffer.slice(data.byteOffset + start, data.byteOffset + start + length) as ArrayBuffer;
}

/** A range of tiles fetched in one request. */
interface TileRun {
  offset: number;
  end: number;
  tiles: { offset: number; length: number }[];
}

/** Merge tile byte ranges (sorted by offset) whose gaps are at most `gap` bytes. Pure; exported for tests. */
export function coalesceRanges(ranges: readonly { offset: number; length: number }[], gap: number): TileRun[] {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  const runs: TileRun[] = [];
  for (const range of sorted) {
    const current = runs[runs.length - 1];
    if (current && range.offset - current.end <= gap) {
      current.tiles.push(range);
      current.end = Math.max(current.end, range.offset + range.length);
    } else {
      runs.push({ offset: range.offset, end: range.offset + range.length, tiles: [range] });
    }
  }
  return runs;
}

/** A windowed reader for one GeoTIFF asset (its first, full-resolution image). */
export class CogReader {
  readonly stats: ReadStats = { bytesRead: 0, requests: 0, tileBytesTouched: 0, tileBytesFetched: 0 };
  private source!: CachingSource;
  private image!: GeoTIFFImage;
  private tileOffsets!: number[];
  private tileByteCounts!: number[];
  /** Set when tile-decode.ts can decode this raster's tiles; geotiff.js decodes otherwise. */
  private layout: TileLayout | undefined;
  geo!: RasterGeo;

  private constructor(
    readonly href: string,
    private readonly options: CogReaderOptions,
  ) {}

  /** Open an asset; its compressed tiles go to `tiles` (shared by a `CogCache`) or to a cache of its own. */
  static async open(href: string, options: CogReaderOptions = {}, tiles?: TileCache): Promise<CogReader> {
    const cog = new CogReader(href, options);
    cog.source = new CachingSource(openRangeReader(href, options), cog.stats, options.headerBlockBytes ?? 16_384, tiles ?? new TileCache(options.tileCacheBytes ?? DEFAULT_TILE_CACHE_BYTES));
    try {
      const tiff = await GeoTIFF.fromSource(cog.source as never);
      cog.image = await tiff.getImage(0);
      const image = cog.image;
      if (!image.isTiled) throw new Error('not a tiled GeoTIFF (COG assets are tiled)');
      cog.tileOffsets = Array.from((await image.fileDirectory.loadValue('TileOffsets')) as ArrayLike<number | bigint>, Number);
      cog.tileByteCounts = Array.from((await image.fileDirectory.loadValue('TileByteCounts')) as ArrayLike<number | bigint>, Number);
      const [originX, originY] = image.getOrigin();
      const [resX, resY] = image.getResolution();
      const keys = image.getGeoKeys() ?? {};
      const epsg = Number(keys.ProjectedCSTypeGeoKey ?? keys.GeographicTypeGeoKey) || undefined;
      const nodata = image.getGDALNoData();
      cog.geo = {
        width: image.getWidth(),
        height: image.getHeight(),
        originX,
        originY,
        pixelWidth: Math.abs(resX),
        pixelHeight: Math.abs(resY),
        epsg,
        nodata: nodata === null ? undefined : nodata,
        samplesPerPixel: image.getSamplesPerPixel(),
      };
      cog.layout = await cog.nativeLayout();
    } catch (error) {
      await cog.source.close();
      if (error instanceof AssetReadError) throw error;
      throw new AssetReadError(href, `not a readable GeoTIFF: ${(error as Error).message}`);
    }
    return cog;
  }

  /** The tile layout when tile-decode.ts handles it: chunky, whole-byte samples of one size and format, none/deflate. */
  private async nativeLayout(): Promise<TileLayout | undefined> {
    const image = this.image;
    const directory = image.fileDirectory;
    const samples = this.geo.samplesPerPixel;
    const compression = Number((await directory.loadValue('Compression')) ?? 1);
    const predictor = Number((await directory.loadValue('Predictor')) ?? 1);
    const bits = image.getBitsPerSample(0);
    const format = image.getSampleFormat(0);
    const uniform = Array.from({ length: samples }, (_, i) => i).every((i) => image.getBitsPerSample(i) === bits && image.getSampleFormat(i) === format);
    const supported =
      LITTLE_ENDIAN_HOST &&
      (image.planarConfiguration === 1 || samples === 1) &&
      NATIVE_COMPRESSIONS.has(compression) &&
      uniform &&
      (format === 3 ? bits === 32 || bits === 64 : (format === 1 || format === 2) && (bits === 8 || bits === 16 || bits === 32)) &&
      (predictor === 1 || (predictor === 2 && format !== 3) || (predictor === 3 && format === 3));
    if (!supported) return undefined;
    const littleEndian = (image as unknown as { littleEndian: boolean }).littleEndian;
    return { tileWidth: image.getTileWidth(), tileHeight: image.getTileHeight(), samples, bytesPerSample: (bits / 8) as TileLayout['bytesPerSample'], predictor: predictor as TileLayout['predictor'], compression, littleEndian };
  }

  /** Indices of the tiles (and their byte ranges) a clipped pixel window touches. */
  tilesFor(x0: number, y0: number, x1: number, y1: number): { index: number; offset: number; length: number }[] {
    const tileWidth = this.image.getTileWidth();
    const tileHeight = this.image.getTileHeight();
    const across = Math.ceil(this.geo.width / tileWidth);
    const out: { index: number; offset: number; length: number }[] = [];
    for (let ty = Math.floor(y0 / tileHeight); ty <= Math.floor((y1 - 1) / tileHeight); ty++) {
      for (let tx = Math.floor(x0 / tileWidth); tx <= Math.floor((x1 - 1) / tileWidth); tx++) {
        const index = ty * across + tx;
        // planar configuration 2 stores one tile per band: touch all of them
        const planes = this.image.planarConfiguration === 2 ? this.geo.samplesPerPixel : 1;
        for (let plane = 0; plane < planes; plane++) {
          const i = index + plane * across * Math.ceil(this.geo.height / tileHeight);
          out.push({ index: i, offset: this.tileOffsets[i], length: this.tileByteCounts[i] });
        }
      }
    }
    return out;
  }

  /**
   * Fetch the tiles of a clipped window not cached yet, adjacent ones in one request each. Returns
   * every touched tile's compressed bytes (held here, so the cache may drop them meanwhile).
   */
  private async prefetch(x0: number, y0: number, x1: number, y1: number): Promise<Map<number, Uint8Array>> {
    const touched = this.tilesFor(x0, y0, x1, y1).filter((t) => t.length > 0);
    const bytes = new Map<number, Uint8Array>();
    const missing: { offset: number; length: number }[] = [];
    for (const tile of touched) {
      this.stats.tileBytesTouched += tile.length;
      const cached = this.source.tile(tile.offset);
      if (cached) bytes.set(tile.offset, cached);
      else if (!missing.some((m) => m.offset === tile.offset)) missing.push(tile);
    }
    const runs = coalesceRanges(missing, this.options.coalesceGapBytes ?? 0);
    await Promise.all(
      runs.map(async (run) => {
        const data = await this.source.readCounted(run.offset, run.end - run.offset);
        if (data.length < run.end - run.offset) {
          const size = this.source.reader.size();
          throw new AssetReadError(this.href, `truncated: tile bytes ${run.offset}-${run.end - 1} needed, the asset has ${size ?? run.offset + data.length} bytes`);
        }
        for (const tile of run.tiles) {
          this.stats.tileBytesFetched += tile.length;
          const start = tile.offset - run.offset;
          // A tile of a longer run is copied out, so the cache's byte count is what it holds.
          const own = run.tiles.length === 1 ? data.subarray(start, start + tile.length) : data.slice(start, start + tile.length);
          bytes.set(tile.offset, own);
          this.source.storeTile(tile.offset, own);
        }
      }),
    );
    return bytes;
  }

  /**
   * Read a pixel window that may extend past the raster ("boundless"): outside pixels are `fill`
   * (default 0). Returns one array per band, `width * height` row-major, in the raster's sample type.
   */
  async readWindow(x: number, y: number, width: number, height: number, fill = 0): Promise<Samples[]> {
    const { geo } = this;
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(geo.width, x + width);
    const y1 = Math.min(geo.height, y + height);
    const bands: Samples[] = [];
    const ArrayType = this.arrayType();
    for (let b = 0; b < geo.samplesPerPixel; b++) {
      const band = new ArrayType(width * height);
      if (fill !== 0) band.fill(fill);
      bands.push(band);
    }
    if (x0 >= x1 || y0 >= y1) return bands;
    const tiles = await this.prefetch(x0, y0, x1, y1);
    if (this.layout) {
      this.decodeNative(this.layout, tiles, x, y, width, bands, x0, y0, x1, y1);
      return bands;
    }
    let rasters: Samples[];
    try {
      rasters = (await this.image.readRasters({ window: [x0, y0, x1, y1], interleave: false })) as unknown as Samples[];
    } catch (error) {
      throw new AssetReadError(this.href, `cannot decode window ${x0},${y0}–${x1},${y1}: ${(error as Error).message}`);
    }
    const clippedWidth = x1 - x0;
    for (let b = 0; b < geo.samplesPerPixel; b++) {
      const source = rasters[b];
      for (let row = y0; row < y1; row++) {
        const from = (row - y0) * clippedWidth;
        bands[b].set(source.subarray(from, from + clippedWidth), (row - y) * width + (x0 - x));
      }
    }
    return bands;
  }

  /** Decode each touched tile and copy the clipped window's part of it into `bands`. */
  private decodeNative(layout: TileLayout, tiles: Map<number, Uint8Array>, x: number, y: number, width: number, bands: Samples[], x0: number, y0: number, x1: number, y1: number): void {
    const { tileWidth, tileHeight } = layout;
    const across = Math.ceil(this.geo.width / tileWidth);
    for (let ty = Math.floor(y0 / tileHeight); ty <= Math.floor((y1 - 1) / tileHeight); ty++) {
      for (let tx = Math.floor(x0 / tileWidth); tx <= Math.floor((x1 - 1) / tileWidth); tx++) {
        const index = ty * across + tx;
        const top = ty * tileHeight;
        const left = tx * tileWidth;
        const r0 = Math.max(y0, top) - top;
        const r1 = Math.min(y1, top + tileHeight) - top;
        const c0 = Math.max(x0, left) - left;
        const c1 = Math.min(x1, left + tileWidth) - left;
        const compressed = this.tileByteCounts[index] > 0 ? tiles.get(this.tileOffsets[index]) : undefined;
        // A tile with no bytes is sparse (GDAL writes none for all-nodata tiles): it reads as nodata.
        if (!compressed) {
          const value = this.geo.nodata ?? 0;
          for (const band of bands) for (let r = r0; r < r1; r++) band.fill(value, (top + r - y) * width + left + c0 - x, (top + r - y) * width + left + c1 - x);
          continue;
        }
        try {
          copyTileWindow(decompressTile(compressed, layout, r1), layout, r0, r1, c0, c1, bands, width, top + r0 - y, left + c0 - x);
        } catch (error) {
          throw new AssetReadError(this.href, `cannot decode tile ${index} (window ${x0},${y0}–${x1},${y1}): ${(error as Error).message}`);
        }
      }
    }
  }

  private arrayType(): new (length: number) => Samples {
    const format = this.image.getSampleFormat();
    const bits = this.image.getBitsPerSample();
    if (format === 3) return bits === 64 ? Float64Array : Float32Array;
    if (format === 2) return bits === 32 ? Int32Array : Int16Array;
    return bits === 8 ? Uint8Array : bits === 16 ? Uint16Array : Uint32Array;
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}

/**
 * The per-scene cache: one open `CogReader` per href, shared by every chip cut from that scene, and
 * one compressed-tile budget for all of them. Close it when the scene is done to release the tiles.
 */
export class CogCache {
  private readonly readers = new Map<string, Promise<CogReader>>();
  /** One budget for every reader's compressed tiles. */
  readonly tiles: TileCache;

  constructor(private readonly options: CogReaderOptions = {}) {
    this.tiles = new TileCache(options.tileCacheBytes ?? DEFAULT_TILE_CACHE_BYTES);
  }

  open(href: string): Promise<CogReader> {
    let reader = this.readers.get(href);
    if (!reader) {
      reader = CogReader.open(href, this.options, this.tiles);
      this.readers.set(href, reader);
    }
    return reader;
  }

  /** Totals over every reader opened so far (failed opens count nothing). */
  async stats(): Promise<ReadStats> {
    const total: ReadStats = { bytesRead: 0, requests: 0, tileBytesTouched: 0, tileBytesFetched: 0 };
    for (const pending of this.readers.values()) {
      const reader = await pending.catch(() => undefined);
      if (!reader) continue;
      total.bytesRead += reader.stats.bytesRead;
      total.requests += reader.stats.requests;
      total.tileBytesTouched += reader.stats.tileBytesTouched;
      total.tileBytesFetched += reader.stats.tileBytesFetched;
    }
    return total;
  }

  async closeAll(): Promise<void> {
    const pending = [...this.readers.values()];
    this.readers.clear();
    for (const reader of pending) await (await reader.catch(() => undefined))?.close();
  }
}
