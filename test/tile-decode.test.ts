// Tile decoding for windowed reads (lib/geo/tile-decode.ts through CogReader): every sample type,
// band count, predictor and window against the pixels written; GDAL-written COGs (signed, float64,
// pixel- and band-interleaved, big-endian; band-interleaved and ZSTD through geotiff.js) against the
// values GDAL was given; a tile inflated only as far as its needed rows; corrupt tiles named.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { AssetReadError, CogReader } from '../lib/geo/cog-reader.js';
import { writeGeoTiff, type GeoTiffSpec, type SampleType } from '../lib/geo/geotiff-writer.js';
import { decompressTile, type TileLayout } from '../lib/geo/tile-decode.js';
import { seededRandom } from '../src/sdk/random.js';

const dir = mkdtempSync(join(tmpdir(), 'tile-decode-'));
const transform = { originX: 600_000, originY: 5_700_000, pixelWidth: 10, pixelHeight: 10 };

type Values = ArrayLike<number>;

/** The boundless window of one band straight from its values (outside → 0). */
function expected(band: Values, width: number, height: number, x: number, y: number, w: number, h: number): number[] {
  const out: number[] = [];
  for (let row = y; row < y + h; row++) for (let col = x; col < x + w; col++) out.push(row >= 0 && col >= 0 && row < height && col < width ? band[row * width + col] : 0);
  return out;
}

function bandsOf(type: SampleType, n: number, count: number, seed: number): GeoTiffSpec['bands'] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    if (type === 'uint8') return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
    if (type === 'uint16') return Uint16Array.from({ length: n }, () => Math.floor(random() * 65536));
    // reflectance-like floats, with exact zeros (nodata) and negatives
    return Float32Array.from({ length: n }, () => (random() < 0.1 ? 0 : (random() - 0.2) * 1.3));
  });
}

describe('windowed reads of files this project writes', () => {
  it('equal the written pixels for every sample type, band count, predictor, tile size and window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<SampleType>('uint8', 'uint16', 'float32'),
        fc.integer({ min: 1, max: 90 }),
        fc.integer({ min: 1, max: 90 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(16, 32, 48),
        fc.boolean(),
        fc.integer(),
        fc.array(fc.tuple(fc.integer({ min: -40, max: 100 }), fc.integer({ min: -40, max: 100 }), fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 80 })), { minLength: 1, maxLength: 4 }),
        async (type, width, height, count, tileSize, predictor, seed, windows) => {
          const bands = bandsOf(type, width * height, count, seed);
          const path = join(dir, `prop-${type}.tif`);
          writeFileSync(path, writeGeoTiff({ width, height, bands, sampleType: type, epsg: 32630, transform, tileSize, predictor }));
          const reader = await CogReader.open(path);
          try {
            for (const [x, y, w, h] of windows) {
              const read = await reader.readWindow(x, y, w, h);
              expect(read.length).toBe(count);
              for (let b = 0; b < count; b++) expect(Array.from(read[b])).toEqual(expected(bands[b], width, height, x, y, w, h));
            }
          } finally {
            await reader.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** Raw band-sequential values written as ENVI, turned into a GeoTIFF by gdal_translate with `options`. */
function gdalTiff(name: string, gdalType: string, bands: Values[], width: number, height: number, options: string[]): string {
  const Type = { Int16: Int16Array, UInt16: Uint16Array, Float32: Float32Array, Float64: Float64Array, Byte: Uint8Array }[gdalType]!;
  const raw = new Type(width * height * bands.length);
  bands.forEach((band, b) => raw.set(band as never, b * width * height));
  const rawPath = join(dir, `${name}.bin`);
  writeFileSync(rawPath, new Uint8Array(raw.buffer));
  const enviType = { Byte: 1, Int16: 2, Float32: 4, Float64: 5, UInt16: 12 }[gdalType];
  writeFileSync(join(dir, `${name}.hdr`), `ENVI\nsamples = ${width}\nlines = ${height}\nbands = ${bands.length}\nheader offset = 0\nfile type = ENVI Standard\ndata type = ${enviType}\ninterleave = bsq\nbyte order = 0\n`);
  const out = join(dir, `${name}.tif`);
  execFileSync('gdal_translate', ['-q', '-of', 'GTiff', '-a_srs', 'EPSG:32630', '-a_ullr', '600000', '5700000', String(600000 + width * 10), String(5700000 - height * 10), '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=32', '-co', 'BLOCKYSIZE=32', ...options.flatMap((o) => ['-co', o]), rawPath, out]);
  return out;
}

describe('windowed reads of GDAL-written COGs equal the values GDAL was given', () => {
  const width = 75;
  const height = 61;
  const random = seededRandom(11);
  const n = width * height;
  const cases: [string, string, Values[], string[]][] = [
    ['int16, 3 bands pixel-interleaved, predictor 2', 'Int16', [0, 1, 2].map(() => Int16Array.from({ length: n }, () => Math.floor(random() * 65536) - 32768)), ['COMPRESS=DEFLATE', 'PREDICTOR=2', 'INTERLEAVE=PIXEL']],
    ['float32, 2 bands, predictor 3', 'Float32', [0, 1].map(() => Float32Array.from({ length: n }, () => (random() - 0.5) * 1e4)), ['COMPRESS=DEFLATE', 'PREDICTOR=3', 'INTERLEAVE=PIXEL']],
    ['float64, predictor 3', 'Float64', [Float64Array.from({ length: n }, () => (random() - 0.5) * 1e9)], ['COMPRESS=DEFLATE', 'PREDICTOR=3']],
    ['uint16, uncompressed', 'UInt16', [Uint16Array.from({ length: n }, () => Math.floor(random() * 65536))], ['COMPRESS=NONE']],
    ['uint8 2 bands band-interleaved (geotiff.js path)', 'Byte', [0, 1].map(() => Uint8Array.from({ length: n }, () => Math.floor(random() * 256))), ['COMPRESS=DEFLATE', 'PREDICTOR=2', 'INTERLEAVE=BAND']],
    ['uint16 ZSTD (geotiff.js path)', 'UInt16', [Uint16Array.from({ length: n }, () => Math.floor(random() * 65536))], ['COMPRESS=ZSTD', 'PREDICTOR=2']],
    // geotiff.js undid predictor 2 on big-endian samples unswapped: wrong pixels before the native path
    ['uint16 big-endian, predictor 2', 'UInt16', [Uint16Array.from({ length: n }, () => Math.floor(random() * 65536))], ['COMPRESS=DEFLATE', 'PREDICTOR=2', 'ENDIANNESS=BIG']],
    ['int16 2 bands big-endian, uncompressed', 'Int16', [0, 1].map(() => Int16Array.from({ length: n }, () => Math.floor(random() * 65536) - 32768)), ['COMPRESS=NONE', 'ENDIANNESS=BIG', 'INTERLEAVE=PIXEL']],
    ['float32 big-endian, predictor 3', 'Float32', [Float32Array.from({ length: n }, () => (random() - 0.5) * 1e4)], ['COMPRESS=DEFLATE', 'PREDICTOR=3', 'ENDIANNESS=BIG']],
    ['float64 big-endian, predictor 1', 'Float64', [Float64Array.from({ length: n }, () => (random() - 0.5) * 1e9)], ['COMPRESS=DEFLATE', 'ENDIANNESS=BIG']],
  ];
  const windows: [number, number, number, number][] = [[0, 0, width, height], [-7, -9, 40, 30], [31, 30, 40, 40], [60, 50, 30, 30], [33, 2, 1, 1]];

  it.each(cases)('%s', async (name, gdalType, bands, options) => {
    const path = gdalTiff(name.replace(/\W+/g, '-'), gdalType, bands, width, height, options);
    const reader = await CogReader.open(path);
    try {
      for (const [x, y, w, h] of windows) {
        const read = await reader.readWindow(x, y, w, h);
        for (let b = 0; b < bands.length; b++) expect(Array.from(read[b])).toEqual(expected(bands[b], width, height, x, y, w, h));
      }
    } finally {
      await reader.close();
    }
  });
});

describe('decompressTile', () => {
  const layout: TileLayout = { tileWidth: 64, tileHeight: 64, samples: 1, bytesPerSample: 2, predictor: 1, compression: 8, littleEndian: true };
  const rowBytes = 128;

  it('inflates only about the rows a window needs when the stream compresses evenly', () => {
    const random = seededRandom(3);
    const tile = Uint8Array.from({ length: 64 * rowBytes }, () => Math.floor(random() * 256));
    const compressed = deflateSync(tile);
    const head = decompressTile(compressed, layout, 10);
    expect(head.length).toBeGreaterThanOrEqual(10 * rowBytes);
    expect(head.length).toBeLessThan(tile.length);
    expect(Buffer.from(head)).toEqual(Buffer.from(tile.subarray(0, head.length)));
    expect(Buffer.from(decompressTile(compressed, layout))).toEqual(Buffer.from(tile));
  });

  it('inflates the whole tile when its top rows compress worse than the proportional prefix', () => {
    const random = seededRandom(4);
    // noise on top, zeros below: the top 32 rows need nearly all of the stream
    const tile = Uint8Array.from({ length: 64 * rowBytes }, (_, i) => (i < 40 * rowBytes ? Math.floor(random() * 256) : 0));
    const compressed = deflateSync(tile);
    const head = decompressTile(compressed, layout, 32);
    expect(head.length).toBeGreaterThanOrEqual(32 * rowBytes);
    expect(Buffer.from(head)).toEqual(Buffer.from(tile.subarray(0, head.length)));
  });

  it('names the tile and window of a corrupt tile', async () => {
    const bands = bandsOf('uint16', 64 * 64, 1, 5);
    const bytes = writeGeoTiff({ width: 64, height: 64, bands, sampleType: 'uint16', epsg: 32630, transform, tileSize: 32 });
    // tile data follows the header; overwrite the middle of the file with garbage
    const corrupt = Buffer.from(bytes);
    corrupt.fill(0xff, corrupt.length - 3000, corrupt.length - 2000);
    const path = join(dir, 'corrupt.tif');
    writeFileSync(path, corrupt);
    const reader = await CogReader.open(path);
    const error = await reader.readWindow(0, 0, 64, 64).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AssetReadError);
    expect((error as AssetReadError).detail).toMatch(/^cannot decode tile \d+ \(window 0,0–64,64\): /);
    await reader.close();
  });
});
