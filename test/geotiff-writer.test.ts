// The GeoTIFF writer: read back by geotiff.js and by GDAL (gdalinfo / gdal_translate), COG layout, determinism.
import { describe, expect, it, beforeAll, vi } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { fromArrayBuffer } from 'geotiff';
import { loadZstd, writeGeoTiff, type GeoTiffSpec, type SampleType } from '../lib/geo/geotiff-writer.js';
import { seededRandom } from '../src/sdk/random.js';

const dir = mkdtempSync(join(tmpdir(), 'geotiff-writer-'));

function bandsOf(type: SampleType, width: number, height: number, count: number, seed: number): GeoTiffSpec['bands'] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const n = width * height;
    if (type === 'uint8') return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
    if (type === 'uint16') return Uint16Array.from({ length: n }, () => Math.floor(random() * 65536));
    return Float32Array.from({ length: n }, () => (random() - 0.3) * 1e3);
  });
}

async function readBack(bytes: Buffer): Promise<{ bands: ArrayLike<number>[]; image: Awaited<ReturnType<Awaited<ReturnType<typeof fromArrayBuffer>>['getImage']>> }> {
  const tiff = await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const image = await tiff.getImage();
  const bands = (await image.readRasters({ interleave: false })) as unknown as ArrayLike<number>[];
  return { bands, image };
}

const transform = { originX: 614_700, originY: 5_631_840, pixelWidth: 10, pixelHeight: 10 };

describe('geotiff-writer read back by geotiff.js', () => {
  it('round-trips every sample type, band count, odd size and tile size exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<SampleType>('uint8', 'uint16', 'float32'),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(16, 32, 256),
        fc.boolean(),
        fc.integer(),
        async (type, width, height, count, tileSize, predictor, seed) => {
          const bands = bandsOf(type, width, height, count, seed);
          const bytes = writeGeoTiff({ width, height, bands, sampleType: type, epsg: 32630, transform, tileSize, predictor });
          const back = await readBack(bytes);
          expect(back.image.getWidth()).toBe(width);
          expect(back.image.getHeight()).toBe(height);
          expect(back.bands.length).toBe(count);
          for (let b = 0; b < count; b++) expect(Array.from(back.bands[b])).toEqual(Array.from(bands[b]));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('writes georeferencing, EPSG and nodata that geotiff.js understands', async () => {
    const bytes = writeGeoTiff({ width: 40, height: 30, bands: bandsOf('float32', 40, 30, 2, 1), sampleType: 'float32', epsg: 32630, transform, nodata: 0 });
    const { image } = await readBack(bytes);
    expect(image.getOrigin()).toEqual([614_700, 5_631_840, 0]);
    expect(image.getResolution()).toEqual([10, -10, 0]);
    expect(image.getGeoKeys()).toMatchObject({ GTModelTypeGeoKey: 1, GTRasterTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32630 });
    expect(image.getGDALNoData()).toBe(0);
    const geographic = writeGeoTiff({ width: 4, height: 4, bands: bandsOf('uint8', 4, 4, 1, 2), sampleType: 'uint8', epsg: 4326, transform: { originX: -1.5, originY: 51, pixelWidth: 0.001, pixelHeight: 0.001 } });
    expect((await readBack(geographic)).image.getGeoKeys()).toMatchObject({ GTModelTypeGeoKey: 2, GeographicTypeGeoKey: 4326 });
  });

  it('lays the file out as a COG: header, every IFD, then tiles (overviews before full resolution)', async () => {
    const bytes = writeGeoTiff({ width: 300, height: 200, bands: bandsOf('uint16', 300, 200, 1, 3), sampleType: 'uint16', epsg: 32630, transform, tileSize: 64, overviews: 2 });
    expect(bytes.readUInt32LE(4)).toBe(8);
    const tiff = await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    expect(await tiff.getImageCount()).toBe(3);
    const firstTileOfLevel: number[] = [];
    for (let i = 0; i < 3; i++) {
      const image = await tiff.getImage(i);
      const offsets = Array.from((await image.fileDirectory.loadValue('TileOffsets')) as ArrayLike<number>);
      firstTileOfLevel.push(Math.min(...offsets));
    }
    // data of level 2 (smallest) comes first, then level 1, then level 0
    expect(firstTileOfLevel[2]).toBeLessThan(firstTileOfLevel[1]);
    expect(firstTileOfLevel[1]).toBeLessThan(firstTileOfLevel[0]);
    // all IFDs sit before the first tile: the IFD chain ends before the smallest tile offset
    let ifd = bytes.readUInt32LE(4);
    while (ifd !== 0) {
      const entries = bytes.readUInt16LE(ifd);
      expect(ifd + 2 + entries * 12 + 4).toBeLessThanOrEqual(firstTileOfLevel[2]);
      ifd = bytes.readUInt32LE(ifd + 2 + entries * 12);
    }
    const overview = await tiff.getImage(1);
    expect([overview.getWidth(), overview.getHeight()]).toEqual([150, 100]);
  });

  it('is deterministic: the same pixels give the same bytes', () => {
    const spec: GeoTiffSpec = { width: 100, height: 90, bands: bandsOf('float32', 100, 90, 3, 9), sampleType: 'float32', epsg: 32630, transform, nodata: 0 };
    expect(writeGeoTiff(spec).equals(writeGeoTiff(spec))).toBe(true);
  });

  it('strategy rle: other bytes, the same pixels (a plain DEFLATE stream); an unknown strategy is refused', async () => {
    const spec: GeoTiffSpec = { width: 100, height: 90, bands: bandsOf('float32', 100, 90, 3, 9), sampleType: 'float32', epsg: 32630, transform, nodata: 0, tileSize: 64 };
    const rle = writeGeoTiff({ ...spec, strategy: 'rle' });
    expect(rle.equals(writeGeoTiff(spec))).toBe(false);
    expect(rle.equals(writeGeoTiff({ ...spec, strategy: 'rle' }))).toBe(true);
    const back = await readBack(rle);
    for (let b = 0; b < 3; b++) expect(Array.from(back.bands[b])).toEqual(Array.from(spec.bands[b]));
    expect(() => writeGeoTiff({ ...spec, strategy: 'huffman' as never })).toThrow(/deflate strategy "huffman" is not one of default, rle/);
  });

  it('refuses inconsistent input', () => {
    expect(() => writeGeoTiff({ width: 10, height: 10, bands: [new Uint16Array(99)], sampleType: 'uint16', epsg: 32630, transform })).toThrow(/99 values/);
    expect(() => writeGeoTiff({ width: 10, height: 10, bands: [new Uint8Array(100)], sampleType: 'uint16', epsg: 32630, transform })).toThrow(/Uint16Array/);
    expect(() => writeGeoTiff({ width: 10, height: 10, bands: [new Uint8Array(100)], sampleType: 'uint8', epsg: 32630, transform, tileSize: 20 })).toThrow(/multiple of 16/);
  });
});

describe('geotiff-writer read back by GDAL', () => {
  const width = 301;
  const height = 157;
  let path: string;
  let bands: GeoTiffSpec['bands'];
  beforeAll(() => {
    bands = bandsOf('float32', width, height, 3, 42);
    path = join(dir, 'gdal.tif');
    writeFileSync(path, writeGeoTiff({ width, height, bands, sampleType: 'float32', epsg: 32630, transform, nodata: 0, tileSize: 128, overviews: 1, bandDescriptions: ['B02', 'nir08 (B8A)', 'swir16'] }));
  });

  it('GDAL shows the band descriptions; a count mismatch or a name GDAL cannot read back is refused', () => {
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', path], { encoding: 'utf8' }));
    expect(info.bands.map((band: { description?: string }) => band.description)).toEqual(['B02', 'nir08 (B8A)', 'swir16']);
    expect(() => writeGeoTiff({ width, height, bands, sampleType: 'float32', epsg: 32630, transform, bandDescriptions: ['B02', 'a&b', 'c'] })).toThrow(/band description "a&b"/);
    expect(() => writeGeoTiff({ width, height, bands, sampleType: 'float32', epsg: 32630, transform, bandDescriptions: ['B02'] })).toThrow(/1 band descriptions for 3 bands/);
  });

  it('gdalinfo sees size, CRS, transform, nodata, tiling and deflate', () => {
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', path], { encoding: 'utf8' }));
    expect(info.size).toEqual([width, height]);
    expect(info.geoTransform).toEqual([614_700, 10, 0, 5_631_840, 0, -10]);
    expect(info.stac['proj:epsg']).toBe(32630);
    expect(info.metadata['IMAGE_STRUCTURE']).toMatchObject({ COMPRESSION: 'DEFLATE', INTERLEAVE: 'PIXEL', PREDICTOR: '3' });
    expect(info.bands).toHaveLength(3);
    for (const band of info.bands) {
      expect(band.type).toBe('Float32');
      expect(band.block).toEqual([128, 128]);
      expect(band.noDataValue).toBe(0);
      expect(band.overviews).toEqual([{ size: [151, 79] }]);
    }
  });

  it('gdal_translate reads back exactly the values written', () => {
    const raw = join(dir, 'gdal.bin');
    execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-co', 'INTERLEAVE=BSQ', path, raw]);
    const data = readFileSync(raw);
    const values = new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    for (let b = 0; b < 3; b++) expect(Array.from(values.subarray(b * width * height, (b + 1) * width * height))).toEqual(Array.from(bands[b]));
  });

  it('GDAL reads a strategy rle file back exactly (float32 predictor 3, uint8 predictor 2)', () => {
    for (const type of ['float32', 'uint8'] as const) {
      const data = bandsOf(type, 300, 70, type === 'uint8' ? 1 : 2, 8);
      const file = join(dir, `rle-${type}.tif`);
      writeFileSync(file, writeGeoTiff({ width: 300, height: 70, bands: data, sampleType: type, epsg: 32630, transform, tileSize: 256, strategy: 'rle' }));
      const raw = join(dir, `rle-${type}.bin`);
      execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-co', 'INTERLEAVE=BSQ', file, raw]);
      const bytes = readFileSync(raw);
      const values = type === 'float32' ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Uint8Array(bytes);
      expect(Array.from(values)).toEqual(data.flatMap((band) => Array.from(band)));
    }
  });

  it('GDAL reads uint16 and uint8 files with predictor 2', () => {
    for (const type of ['uint16', 'uint8'] as const) {
      const data = bandsOf(type, 77, 65, 1, 5);
      const file = join(dir, `${type}.tif`);
      writeFileSync(file, writeGeoTiff({ width: 77, height: 65, bands: data, sampleType: type, epsg: 32630, transform, tileSize: 32 }));
      const raw = join(dir, `${type}.bin`);
      execFileSync('gdal_translate', ['-q', '-of', 'ENVI', file, raw]);
      const bytes = readFileSync(raw);
      const values = type === 'uint16' ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : new Uint8Array(bytes);
      expect(Array.from(values)).toEqual(Array.from(data[0]));
    }
  });
});

describe('geotiff-writer with ZSTD (an option; DEFLATE stays the default)', () => {
  it('GDAL and rasterio read float32 (predictor 3, overviews, odd size) and uint8/uint16 (predictor 2) back exactly', async () => {
    await loadZstd();
    for (const type of ['float32', 'uint16', 'uint8'] as const) {
      const data = bandsOf(type, 301, 157, type === 'uint8' ? 1 : 2, 17);
      const spec: GeoTiffSpec = { width: 301, height: 157, bands: data, sampleType: type, epsg: 32630, transform, nodata: 0, tileSize: 128, overviews: 1, compression: 'zstd' };
      const bytes = writeGeoTiff(spec);
      expect(bytes.equals(writeGeoTiff(spec)), 'deterministic').toBe(true);
      expect(bytes.equals(writeGeoTiff({ ...spec, compression: undefined }))).toBe(false);
      const file = join(dir, `zstd-${type}.tif`);
      writeFileSync(file, bytes);
      const info = JSON.parse(execFileSync('gdalinfo', ['-json', file], { encoding: 'utf8' }));
      expect(info.metadata.IMAGE_STRUCTURE.COMPRESSION).toBe('ZSTD');
      const raw = join(dir, `zstd-${type}.bin`);
      execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-co', 'INTERLEAVE=BSQ', file, raw]);
      const gdal = readFileSync(raw);
      const expected = data.flatMap((band) => Array.from(band));
      const typed = { float32: Float32Array, uint16: Uint16Array, uint8: Uint8Array }[type];
      expect(Array.from(new typed(gdal.buffer, gdal.byteOffset, gdal.byteLength / typed.BYTES_PER_ELEMENT))).toEqual(expected);
      // rasterio (Debian python3-rasterio) through its own GDAL: the same values, and the overview level.
      const script = 'import sys, rasterio\nwith rasterio.open(sys.argv[1]) as r:\n  sys.stdout.buffer.write(r.read().tobytes())\n  print(r.compression.name, r.overviews(1), file=sys.stderr)';
      const run = spawnSync('/usr/bin/python3', ['-c', script, file], { maxBuffer: 64 << 20 });
      expect(run.status, run.stderr.toString()).toBe(0);
      expect(run.stderr.toString().trim()).toBe('zstd [2]');
      expect(Array.from(new typed(run.stdout.buffer, run.stdout.byteOffset, run.stdout.byteLength / typed.BYTES_PER_ELEMENT))).toEqual(expected);
    }
  });

  it('refuses zstd before loadZstd() in a fresh module, and an unknown compression', async () => {
    const spec: GeoTiffSpec = { width: 16, height: 16, bands: [new Uint8Array(256)], sampleType: 'uint8', epsg: 32630, transform };
    expect(() => writeGeoTiff({ ...spec, compression: 'lzw' as never })).toThrow(/compression "lzw" is not one of deflate, zstd/);
    vi.resetModules();
    const fresh = await import('../lib/geo/geotiff-writer.js');
    expect(() => fresh.writeGeoTiff({ ...spec, compression: 'zstd' })).toThrow(/call loadZstd\(\) once before writing/);
    await fresh.loadZstd();
    expect(fresh.writeGeoTiff({ ...spec, compression: 'zstd' }).length).toBeGreaterThan(0);
  });
});
