// A small GeoTIFF writer for what the pipeline writes: tiled, deflate-compressed (node:zlib; ZSTD as an
// option, WebAssembly zstd: Node 20's zlib has none), uint8 /
// uint16 / float32, pixel-interleaved bands, GeoKeys (EPSG), ModelPixelScale + ModelTiepoint and
// GDAL_NODATA, laid out as a Cloud Optimized GeoTIFF: every IFD first (full resolution, then
// overviews), then the tile data (smallest overview first, full resolution last), so a reader gets
// the whole header from the first bytes. geotiff.js only writes stripped, uncompressed files.
import { constants, deflateSync } from 'node:zlib';
import zstd from '@bokuweb/zstd-wasm';

export type SampleType = 'uint8' | 'uint16' | 'float32';
export type DeflateStrategy = 'default' | 'rle';
export type TiffCompression = 'deflate' | 'zstd';
/** TIFF Compression tag values: 8 Adobe DEFLATE, 50000 ZSTD (GDAL's, read by GDAL ≥ 2.3 and rasterio). */
const COMPRESSION_TAG: Record<TiffCompression, number> = { deflate: 8, zstd: 50000 };

let zstdLoaded = false;
/** ZSTD is WebAssembly, compiled asynchronously: await this once before writing `compression: 'zstd'`. */
export async function loadZstd(): Promise<void> {
  if (!zstdLoaded) await zstd.init();
  zstdLoaded = true;
}
const ZLIB_STRATEGY: Record<DeflateStrategy, number> = { default: constants.Z_DEFAULT_STRATEGY, rle: constants.Z_RLE };

export interface GeoTransform {
  /** Easting/longitude of the top-left corner of the top-left pixel. */
  originX: number;
  /** Northing/latitude of the top-left corner of the top-left pixel. */
  originY: number;
  /** Pixel width in CRS units (positive). */
  pixelWidth: number;
  /** Pixel height in CRS units (positive; rows go south). */
  pixelHeight: number;
}

export interface GeoTiffSpec {
  width: number;
  height: number;
  /** One array per band, row-major, `width * height` values each. */
  bands: ReadonlyArray<Uint8Array | Uint16Array | Float32Array>;
  sampleType: SampleType;
  /** EPSG code of the CRS: 4326 is written as geographic, anything else as projected. */
  epsg: number;
  transform: GeoTransform;
  /** Written as the GDAL_NODATA tag when given. */
  nodata?: number;
  /** Tile edge in pixels, a multiple of 16 (TIFF rule). Default 256. */
  tileSize?: number;
  /** DEFLATE (default: every TIFF reader has it) or ZSTD (GDAL and rasterio read it; loadZstd() first). */
  compression?: TiffCompression;
  /** Compression level: zlib's default 6, zstd's 9 (GDAL's ZSTD_LEVEL default). Fixed, so the same pixels always give the same bytes. */
  level?: number;
  /**
   * zlib strategy, default `default`. `rle` looks for repeats of the previous byte only: on
   * predictor-3 float tiles (high byte planes runs of zeros, low ones near random) it takes about half
   * of level 6's CPU for files ~1 % larger. Either is a plain DEFLATE stream every reader decodes.
   */
  strategy?: DeflateStrategy;
  /** Number of 2× overview levels to add (mean of the valid pixels; uint types rounded). Default 0. */
  overviews?: number;
  /** Horizontal differencing before deflate (2 for integers, 3 floating point). Default true. */
  predictor?: boolean;
  /** Band names (one per band), written as GDAL_METADATA band descriptions so GDAL/QGIS show them. */
  bandDescriptions?: readonly string[];
}

const TAG = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  SamplesPerPixel: 277,
  PlanarConfiguration: 284,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  ExtraSamples: 338,
  SampleFormat: 339,
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  GeoKeyDirectory: 34735,
  GdalMetadata: 42112,
  GdalNodata: 42113,
} as const;

const TYPE = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, DOUBLE: 12 } as const;
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 12: 8 };

interface Entry {
  tag: number;
  type: number;
  values: number[] | string;
}

interface Level {
  width: number;
  height: number;
  bands: ReadonlyArray<Uint8Array | Uint16Array | Float32Array>;
  pixelWidth: number;
  pixelHeight: number;
}

const BYTES: Record<SampleType, number> = { uint8: 1, uint16: 2, float32: 4 };

/** Encode a GeoTIFF (COG layout) into bytes. */
export function writeGeoTiff(spec: GeoTiffSpec): Buffer {
  validate(spec);
  const tileSize = spec.tileSize ?? 256;
  const levels: Level[] = [
    { width: spec.width, height: spec.height, bands: spec.bands, pixelWidth: spec.transform.pixelWidth, pixelHeight: spec.transform.pixelHeight },
  ];
  for (let i = 0; i < (spec.overviews ?? 0); i++) {
    const previous = levels[levels.length - 1];
    if (previous.width <= 1 && previous.height <= 1) break;
    levels.push(downsample(previous, spec.sampleType, spec.nodata));
  }

  const usePredictor = spec.predictor ?? true;
  const predictor = !usePredictor ? 1 : spec.sampleType === 'float32' ? 3 : 2;
  const compress = tileCompressor(spec);
  const tilesPerLevel = levels.map((level) => encodeTiles(level, spec.sampleType, tileSize, predictor, compress));

  // IFD entries per level, with tile offsets still unknown (their size is known, which is all layout needs).
  const ifdEntries = levels.map((level, index) => entriesFor(spec, level, index, tileSize, predictor, tilesPerLevel[index].length));
  const ifdSizes = ifdEntries.map(ifdByteSize);
  const headerSize = 8;
  let cursor = headerSize + ifdSizes.reduce((a, b) => a + b, 0);
  // Tile data: smallest overview first, full resolution last (COG convention).
  const tileOffsets: number[][] = levels.map(() => []);
  for (let index = levels.length - 1; index >= 0; index--) {
    for (const tile of tilesPerLevel[index]) {
      tileOffsets[index].push(cursor);
      cursor += tile.length;
    }
  }
  if (cursor > 0xffffffff) throw new Error('GeoTIFF larger than 4 GiB: BigTIFF is not supported by this writer');

  const out = Buffer.alloc(cursor);
  out.write('II', 0, 'latin1');
  out.writeUInt16LE(42, 2);
  out.writeUInt32LE(headerSize, 4);
  let ifdOffset = headerSize;
  levels.forEach((_, index) => {
    const entries = ifdEntries[index].map((entry) =>
      entry.tag === TAG.TileOffsets ? { ...entry, values: tileOffsets[index] } : entry.tag === TAG.TileByteCounts ? { ...entry, values: tilesPerLevel[index].map((t) => t.length) } : entry,
    );
    const next = index + 1 < levels.length ? ifdOffset + ifdSizes[index] : 0;
    writeIfd(out, ifdOffset, entries, next);
    ifdOffset += ifdSizes[index];
  });
  levels.forEach((_, index) => tilesPerLevel[index].forEach((tile, t) => tile.copy(out, tileOffsets[index][t])));
  return out;
}

function validate(spec: GeoTiffSpec): void {
  const tileSize = spec.tileSize ?? 256;
  if (!Number.isInteger(spec.width) || !Number.isInteger(spec.height) || spec.width < 1 || spec.height < 1) throw new Error(`bad raster size ${spec.width}×${spec.height}`);
  if (spec.bands.length < 1) throw new Error('a GeoTIFF needs at least one band');
  if (tileSize % 16 !== 0 || tileSize < 16) throw new Error(`tile size ${tileSize} is not a positive multiple of 16`);
  const expected = { uint8: Uint8Array, uint16: Uint16Array, float32: Float32Array }[spec.sampleType];
  spec.bands.forEach((band, i) => {
    if (!(band instanceof expected)) throw new Error(`band ${i + 1} is not a ${expected.name}`);
    if (band.length !== spec.width * spec.height) throw new Error(`band ${i + 1} has ${band.length} values, expected ${spec.width * spec.height}`);
  });
  if (!(spec.transform.pixelWidth > 0) || !(spec.transform.pixelHeight > 0)) throw new Error('pixel sizes must be positive');
  if (spec.compression !== undefined && !Object.hasOwn(COMPRESSION_TAG, spec.compression)) throw new Error(`compression ${JSON.stringify(spec.compression)} is not one of ${Object.keys(COMPRESSION_TAG).join(', ')}`);
  if (spec.compression === 'zstd' && !zstdLoaded) throw new Error('compression zstd: call loadZstd() once before writing');
  if (spec.strategy !== undefined && !Object.hasOwn(ZLIB_STRATEGY, spec.strategy)) throw new Error(`deflate strategy ${JSON.stringify(spec.strategy)} is not one of ${Object.keys(ZLIB_STRATEGY).join(', ')}`);
}

function entriesFor(spec: GeoTiffSpec, level: Level, index: number, tileSize: number, predictor: number, tileCount: number): Entry[] {
  const samples = spec.bands.length;
  const bits = BYTES[spec.sampleType] * 8;
  const sampleFormat = spec.sampleType === 'float32' ? 3 : 1;
  const entries: Entry[] = [];
  if (index > 0) entries.push({ tag: TAG.NewSubfileType, type: TYPE.LONG, values: [1] });
  entries.push(
    { tag: TAG.ImageWidth, type: TYPE.LONG, values: [level.width] },
    { tag: TAG.ImageLength, type: TYPE.LONG, values: [level.height] },
    { tag: TAG.BitsPerSample, type: TYPE.SHORT, values: Array(samples).fill(bits) },
    { tag: TAG.Compression, type: TYPE.SHORT, values: [COMPRESSION_TAG[spec.compression ?? 'deflate']] },
    { tag: TAG.Photometric, type: TYPE.SHORT, values: [1] },
    { tag: TAG.SamplesPerPixel, type: TYPE.SHORT, values: [samples] },
    { tag: TAG.PlanarConfiguration, type: TYPE.SHORT, values: [1] },
  );
  if (predictor !== 1) entries.push({ tag: TAG.Predictor, type: TYPE.SHORT, values: [predictor] });
  entries.push(
    { tag: TAG.TileWidth, type: TYPE.SHORT, values: [tileSize] },
    { tag: TAG.TileLength, type: TYPE.SHORT, values: [tileSize] },
    { tag: TAG.TileOffsets, type: TYPE.LONG, values: Array(tileCount).fill(0) },
    { tag: TAG.TileByteCounts, type: TYPE.LONG, values: Array(tileCount).fill(0) },
  );
  if (samples > 1) entries.push({ tag: TAG.ExtraSamples, type: TYPE.SHORT, values: Array(samples - 1).fill(0) });
  entries.push({ tag: TAG.SampleFormat, type: TYPE.SHORT, values: Array(samples).fill(sampleFormat) });
  if (index === 0) {
    // Georeferencing lives on the full-resolution IFD only; readers derive overview transforms from it.
    const t = spec.transform;
    entries.push(
      { tag: TAG.ModelPixelScale, type: TYPE.DOUBLE, values: [level.pixelWidth, level.pixelHeight, 0] },
      { tag: TAG.ModelTiepoint, type: TYPE.DOUBLE, values: [0, 0, 0, t.originX, t.originY, 0] },
      { tag: TAG.GeoKeyDirectory, type: TYPE.SHORT, values: geoKeys(spec.epsg) },
    );
  }
  if (spec.nodata !== undefined) entries.push({ tag: TAG.GdalNodata, type: TYPE.ASCII, values: `${formatNodata(spec.nodata)}\0` });
  if (index === 0 && spec.bandDescriptions) entries.push({ tag: TAG.GdalMetadata, type: TYPE.ASCII, values: `${gdalMetadataXml(spec.bandDescriptions, samples)}\0` });
  return entries;
}

function formatNodata(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  return String(value);
}

/** GeoKeyDirectory: model type, raster type PixelIsArea, and the EPSG code. */
function geoKeys(epsg: number): number[] {
  const geographic = epsg === 4326 || epsg === 4258 || epsg === 4269;
  const keys: [number, number][] = [
    [1024, geographic ? 2 : 1], // GTModelTypeGeoKey: 1 projected, 2 geographic
    [1025, 1], // GTRasterTypeGeoKey: PixelIsArea
    geographic ? [2048, epsg] : [3072, epsg], // GeographicTypeGeoKey / ProjectedCSTypeGeoKey
  ];
  return [1, 1, 0, keys.length, ...keys.flatMap(([key, value]) => [key, 0, 1, value])];
}

function valueBytes(entry: Entry): number {
  const count = typeof entry.values === 'string' ? Buffer.byteLength(entry.values, 'latin1') : entry.values.length;
  return count * TYPE_SIZE[entry.type];
}

/** IFD plus its out-of-line values (each word aligned). */
function ifdByteSize(entries: Entry[]): number {
  let size = 2 + entries.length * 12 + 4;
  for (const entry of entries) {
    const bytes = valueBytes(entry);
    if (bytes > 4) size += bytes + (bytes % 2);
  }
  return size;
}

function writeIfd(out: Buffer, offset: number, entries: Entry[], nextIfd: number): void {
  const sorted = [...entries].sort((a, b) => a.tag - b.tag);
  out.writeUInt16LE(sorted.length, offset);
  let extra = offset + 2 + sorted.length * 12 + 4;
  sorted.forEach((entry, i) => {
    const at = offset + 2 + i * 12;
    const count = typeof entry.values === 'string' ? Buffer.byteLength(entry.values, 'latin1') : entry.values.length;
    out.writeUInt16LE(entry.tag, at);
    out.writeUInt16LE(entry.type, at + 2);
    out.writeUInt32LE(count, at + 4);
    const bytes = valueBytes(entry);
    let target = at + 8;
    if (bytes > 4) {
      out.writeUInt32LE(extra, at + 8);
      target = extra;
      extra += bytes + (bytes % 2);
    }
    writeValues(out, target, entry);
  });
  out.writeUInt32LE(nextIfd, offset + 2 + sorted.length * 12);
}

function writeValues(out: Buffer, at: number, entry: Entry): void {
  if (typeof entry.values === 'string') {
    out.write(entry.values, at, 'latin1');
    return;
  }
  entry.values.forEach((value, i) => {
    switch (entry.type) {
      case TYPE.BYTE:
        out.writeUInt8(value, at + i);
        break;
      case TYPE.SHORT:
        out.writeUInt16LE(value, at + i * 2);
        break;
      case TYPE.LONG:
        out.writeUInt32LE(value, at + i * 4);
        break;
      case TYPE.DOUBLE:
        out.writeDoubleLE(value, at + i * 8);
        break;
    }
  });
}

/** Compresses one tile; `raw` is reused for the next tile, so the result must not alias it. */
type TileCompressor = (raw: Buffer) => Buffer;

function tileCompressor(spec: GeoTiffSpec): TileCompressor {
  if (spec.compression === 'zstd') {
    const level = spec.level ?? 9;
    // The result is copied out of the WebAssembly memory the next call reuses.
    return (raw) => Buffer.from(zstd.compress(raw, level));
  }
  const zlib = { level: spec.level ?? 6, strategy: ZLIB_STRATEGY[spec.strategy ?? 'default'] };
  // One output chunk big enough for any tile (deflate's worst case is a few bytes per 16 KiB over
  // the input): no concatenation of 16 KiB pieces.
  return (raw) => deflateSync(raw, { ...zlib, chunkSize: raw.length + (raw.length >> 10) + 1024 });
}

/** Cut a level into padded tiles (pixel-interleaved), apply the predictor, compress each tile. */
function encodeTiles(level: Level, sampleType: SampleType, tileSize: number, predictor: number, compress: TileCompressor): Buffer[] {
  if (!LITTLE_ENDIAN_HOST) return encodeTilesPortable(level, sampleType, tileSize, predictor, compress);
  const samples = level.bands.length;
  const rowValues = tileSize * samples;
  const rowBytes = rowValues * BYTES[sampleType];
  const tilesAcross = Math.ceil(level.width / tileSize);
  const tilesDown = Math.ceil(level.height / tileSize);
  // One tile buffer, reused across tiles and calls: compress() is done with it before the next tile is cut.
  const raw = tileBuffer(tileSize * rowBytes);
  const typed = viewOf(raw, sampleType);
  // Predictor 3 reads each float's bits once and writes its four bytes straight into the byte planes.
  const words = predictor === 3 ? level.bands.map((band) => new Uint32Array(band.buffer, band.byteOffset, band.length)) : [];
  const tiles: Buffer[] = [];
  for (let ty = 0; ty < tilesDown; ty++) {
    for (let tx = 0; tx < tilesAcross; tx++) {
      const rows = Math.min(tileSize, level.height - ty * tileSize);
      const cols = Math.min(tileSize, level.width - tx * tileSize);
      if (rows < tileSize || cols < tileSize) raw.fill(0); // padding is zero, as a fresh tile's
      for (let row = 0; row < rows; row++) {
        const source = (ty * tileSize + row) * level.width + tx * tileSize;
        if (predictor === 3) {
          const base = row * rowBytes;
          for (let s = 0; s < samples; s++) {
            const band = words[s];
            for (let col = 0, i = s; col < cols; col++, i += samples) {
              const word = band[source + col];
              raw[base + i] = word >>> 24;
              raw[base + rowValues + i] = (word >>> 16) & 0xff;
              raw[base + 2 * rowValues + i] = (word >>> 8) & 0xff;
              raw[base + 3 * rowValues + i] = word & 0xff;
            }
          }
          for (let i = base + rowBytes - 1; i >= base + samples; i--) raw[i] -= raw[i - samples];
          continue;
        }
        const target = row * rowValues;
        if (samples === 1) typed.set(level.bands[0].subarray(source, source + cols), target);
        else for (let s = 0; s < samples; s++) {
          const band = level.bands[s];
          for (let col = 0, i = target + s; col < cols; col++, i += samples) typed[i] = band[source + col];
        }
        // Predictor 2 over the whole row, padding included (what the portable path does).
        if (predictor === 2) for (let i = target + rowValues - 1; i >= target + samples; i--) typed[i] -= typed[i - samples];
      }
      tiles.push(compress(raw));
    }
  }
  return tiles;
}

let scratch: Buffer | undefined;

/** A buffer of `bytes` bytes (contents undefined) reused by every call of this thread. */
function tileBuffer(bytes: number): Buffer {
  if (!scratch || scratch.length < bytes) scratch = Buffer.alloc(bytes);
  return scratch.subarray(0, bytes);
}

/** The same tiles through DataView, for big-endian hosts (TIFF here is little-endian). */
function encodeTilesPortable(level: Level, sampleType: SampleType, tileSize: number, predictor: number, compress: TileCompressor): Buffer[] {
  const samples = level.bands.length;
  const bytesPerSample = BYTES[sampleType];
  const tilesAcross = Math.ceil(level.width / tileSize);
  const tilesDown = Math.ceil(level.height / tileSize);
  const tiles: Buffer[] = [];
  const rowBytes = tileSize * samples * bytesPerSample;
  for (let ty = 0; ty < tilesDown; ty++) {
    for (let tx = 0; tx < tilesAcross; tx++) {
      const raw = Buffer.alloc(tileSize * rowBytes);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const rows = Math.min(tileSize, level.height - ty * tileSize);
      const cols = Math.min(tileSize, level.width - tx * tileSize);
      for (let row = 0; row < rows; row++) {
        const source = (ty * tileSize + row) * level.width + tx * tileSize;
        const target = row * tileSize * samples;
        for (let col = 0; col < cols; col++) {
          for (let s = 0; s < samples; s++) {
            const value = level.bands[s][source + col];
            const index = target + col * samples + s;
            if (sampleType === 'uint8') view.setUint8(index, value);
            else if (sampleType === 'uint16') view.setUint16(index * 2, value, true);
            else view.setFloat32(index * 4, value, true);
          }
        }
      }
      if (predictor === 2) applyHorizontalPredictor(raw, tileSize, samples, bytesPerSample);
      else if (predictor === 3) applyFloatingPointPredictor(raw, tileSize, samples, bytesPerSample);
      tiles.push(compress(raw));
    }
  }
  return tiles;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function viewOf(raw: Buffer, sampleType: SampleType): Uint8Array | Uint16Array | Float32Array {
  if (sampleType === 'uint8') return raw;
  const buffer = raw.buffer as ArrayBuffer;
  return sampleType === 'uint16' ? new Uint16Array(buffer, raw.byteOffset, raw.byteLength / 2) : new Float32Array(buffer, raw.byteOffset, raw.byteLength / 4);
}

/** TIFF Predictor 2: each sample minus the same sample of the previous pixel in the row (mod 2^bits). */
function applyHorizontalPredictor(raw: Buffer, tileSize: number, samples: number, bytesPerSample: number): void {
  const rowValues = tileSize * samples;
  if (bytesPerSample === 1) {
    for (let row = 0; row < tileSize; row++) {
      const base = row * rowValues;
      for (let i = rowValues - 1; i >= samples; i--) raw[base + i] = (raw[base + i] - raw[base + i - samples]) & 0xff;
    }
    return;
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let row = 0; row < tileSize; row++) {
    const base = row * rowValues;
    for (let i = rowValues - 1; i >= samples; i--) {
      const at = (base + i) * 2;
      view.setUint16(at, (view.getUint16(at, true) - view.getUint16(at - samples * 2, true)) & 0xffff, true);
    }
  }
}

/**
 * TIFF Predictor 3 (Adobe floating point): per row, the bytes of each float are split into planes,
 * most significant byte first, then byte-wise horizontal differencing over the whole row.
 */
function applyFloatingPointPredictor(raw: Buffer, tileSize: number, samples: number, bytesPerSample: number): void {
  const rowValues = tileSize * samples;
  const rowBytes = rowValues * bytesPerSample;
  const shuffled = Buffer.alloc(rowBytes);
  for (let row = 0; row < tileSize; row++) {
    const base = row * rowBytes;
    for (let i = 0; i < rowValues; i++) {
      for (let b = 0; b < bytesPerSample; b++) {
        // little-endian input: byte (bytesPerSample-1-b) is the b-th most significant
        shuffled[b * rowValues + i] = raw[base + i * bytesPerSample + (bytesPerSample - 1 - b)];
      }
    }
    for (let i = rowBytes - 1; i >= samples; i--) shuffled[i] = (shuffled[i] - shuffled[i - samples]) & 0xff;
    shuffled.copy(raw, base);
  }
}

/** Next overview level: each pixel the mean of its (up to) 2×2 valid parents. */
function downsample(level: Level, sampleType: SampleType, nodata: number | undefined): Level {
  const width = Math.ceil(level.width / 2);
  const height = Math.ceil(level.height / 2);
  const bands = level.bands.map((band) => {
    const out = sampleType === 'uint8' ? new Uint8Array(width * height) : sampleType === 'uint16' ? new Uint16Array(width * height) : new Float32Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        let count = 0;
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const sx = 2 * x + dx;
            const sy = 2 * y + dy;
            if (sx >= level.width || sy >= level.height) continue;
            const value = band[sy * level.width + sx];
            if (nodata !== undefined && (value === nodata || (Number.isNaN(nodata) && Number.isNaN(value)))) continue;
            sum += value;
            count++;
          }
        }
        out[y * width + x] = count === 0 ? (nodata ?? 0) : sampleType === 'float32' ? sum / count : Math.round(sum / count);
      }
    }
    return out;
  });
  return { width, height, bands, pixelWidth: level.pixelWidth * 2, pixelHeight: level.pixelHeight * 2 };
}

/**
 * GDAL's metadata XML with one DESCRIPTION item per band (what `GDALSetDescription` writes). Names are
 * limited to a plain alphabet: GDAL's reader does not round-trip every XML escape (`&amp;` was cut).
 */
export function gdalMetadataXml(descriptions: readonly string[], samples: number): string {
  if (descriptions.length !== samples) throw new Error(`${descriptions.length} band descriptions for ${samples} bands`);
  const bad = descriptions.find((name) => !/^[A-Za-z0-9 _.()+-]{1,64}$/.test(name));
  if (bad !== undefined) throw new Error(`band description ${JSON.stringify(bad)}: use 1–64 letters, digits, spaces or _ . ( ) + -`);
  const items = descriptions.map((name, band) => `<Item name="DESCRIPTION" sample="${band}" role="description">${name}</Item>`);
  return `<GDALMetadata>${items.join('')}</GDALMetadata>`;
}
