// Decoding TIFF tiles for windowed reads without geotiff.js's per-pixel path: decompress a tile
// natively, undo the predictor only on the rows and columns a window needs (typed-array loops, whole
// rows at a time), and copy those pixels straight into the window's band arrays. Chunky (or
// single-band) tiles of 8/16/32/64-bit samples, either byte order, on a little-endian host; the
// reader falls back to geotiff.js for anything else.
import { constants, inflateSync } from 'node:zlib';

export type Samples = Uint8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** TIFF Compression values decoded here: none, Adobe deflate, old deflate. */
export const NATIVE_COMPRESSIONS: ReadonlySet<number> = new Set([1, 8, 32946]);

/** What the tile decoder needs to know about a raster's tiles. */
export interface TileLayout {
  tileWidth: number;
  tileHeight: number;
  /** Samples per pixel, interleaved within a tile (PlanarConfiguration 1, or a single band). */
  samples: number;
  bytesPerSample: 1 | 2 | 4 | 8;
  /** 1 none, 2 horizontal differencing (integers), 3 floating point (TIFF technical note 3). */
  predictor: 1 | 2 | 3;
  compression: number;
  /**
   * The file's byte order ("II"). Big-endian samples are swapped before predictor 2 is undone (as
   * libtiff does) and after predictor 3's planes are reassembled (GDAL writes them in file order).
   */
  littleEndian: boolean;
}

/**
 * The uncompressed bytes of a tile's first `rows` rows (or more): a fresh buffer the caller may
 * modify (the predictor is undone in place). Deflate streams decode front to back, so a window that
 * needs only a tile's top rows inflates a proportional prefix of the stream (plus 10 %) and stops;
 * when that prefix falls short (the top rows compress worse than the rest), the whole tile is
 * inflated. A whole-tile inflate also checks the stream's checksum.
 */
export function decompressTile(data: Uint8Array, layout: TileLayout, rows: number = layout.tileHeight): Uint8Array {
  const rowBytes = layout.tileWidth * layout.samples * layout.bytesPerSample;
  const whole = layout.tileHeight * rowBytes;
  if (layout.compression === 1) return data.slice(0, whole);
  if (layout.compression !== 8 && layout.compression !== 32946) throw new Error(`compression ${layout.compression} is not decoded natively`);
  // One output chunk of the tile's size: no concatenation copy, and the buffer starts aligned.
  const chunkSize = Math.max(64, whole + 64);
  const needed = Math.min(rows, layout.tileHeight) * rowBytes;
  const prefix = Math.ceil((data.length * needed * 1.1) / whole) + 256;
  if (prefix < data.length) {
    const head = inflateSync(data.subarray(0, prefix), { finishFlush: constants.Z_SYNC_FLUSH, chunkSize });
    if (head.length >= needed) return head;
  }
  return inflateSync(data, { chunkSize });
}

/** A typed view of `bytes` in the given array type; copies when the offset is not aligned for it. */
function viewAs<T extends Samples>(bytes: Uint8Array, Type: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number }): T {
  const size = Type.BYTES_PER_ELEMENT;
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  return new Type(aligned.buffer, aligned.byteOffset, Math.floor(aligned.byteLength / size));
}

/** Unsigned integer view of the same width as the samples: predictor 2 sums modulo 2^bits. */
function unsignedView(bytes: Uint8Array, bytesPerSample: number): Uint8Array | Uint16Array | Uint32Array {
  if (bytesPerSample === 1) return bytes;
  if (bytesPerSample === 2) return viewAs(bytes, Uint16Array);
  if (bytesPerSample === 4) return viewAs(bytes, Uint32Array);
  throw new Error('predictor 2 needs 8, 16 or 32-bit samples');
}

/**
 * Copy rows [r0, r1) and columns [c0, c1) of a decoded tile into `out` (one array per sample,
 * `outWidth` wide), tile pixel (c0, r0) landing at (outCol, outRow). Undoes the predictor first, on
 * those rows only and up to column c1 only (differencing runs left to right). `raw` is modified.
 */
export function copyTileWindow(raw: Uint8Array, layout: TileLayout, r0: number, r1: number, c0: number, c1: number, out: Samples[], outWidth: number, outRow: number, outCol: number): void {
  const { tileWidth, samples, bytesPerSample, predictor } = layout;
  const rowValues = tileWidth * samples;
  const rowBytes = rowValues * bytesPerSample;
  const needed = r1 * rowBytes;
  if (raw.length < needed) throw new Error(`tile decodes to ${raw.length} bytes, rows up to ${r1} need ${needed}`);
  const Type = out[0].constructor as unknown as { new (buffer: ArrayBufferLike, byteOffset: number, length: number): Samples; BYTES_PER_ELEMENT: number };
  if (!layout.littleEndian && bytesPerSample > 1 && predictor !== 3) {
    for (let r = r0; r < r1; r++) swapBytes(raw.subarray(r * rowBytes, r * rowBytes + c1 * samples * bytesPerSample), bytesPerSample);
  }

  if (predictor === 3) {
    // Per row: undo byte differencing across the byte planes, then reassemble little-endian values.
    const scratch = new Uint8Array(rowBytes);
    const values = viewAs(scratch, Type);
    const limit = (bytesPerSample - 1) * rowValues + c1 * samples; // last plane only up to the columns needed
    for (let r = r0; r < r1; r++) {
      const row = raw.subarray(r * rowBytes, r * rowBytes + rowBytes);
      for (let i = samples; i < limit; i++) row[i] += row[i - samples];
      for (let i = c0 * samples; i < c1 * samples; i++) {
        for (let b = 0; b < bytesPerSample; b++) scratch[i * bytesPerSample + b] = row[(bytesPerSample - 1 - b) * rowValues + i];
      }
      if (!layout.littleEndian) swapBytes(scratch.subarray(c0 * samples * bytesPerSample, c1 * samples * bytesPerSample), bytesPerSample);
      scatterRow(values, 0, c0, c1, samples, out, outWidth, outRow + r - r0, outCol);
    }
    return;
  }

  if (predictor === 2) {
    const unsigned = unsignedView(raw, bytesPerSample);
    for (let r = r0; r < r1; r++) {
      const start = r * rowValues;
      const end = start + c1 * samples;
      for (let i = start + samples; i < end; i++) unsigned[i] += unsigned[i - samples];
    }
  }
  const values = viewAs(raw, Type);
  for (let r = r0; r < r1; r++) scatterRow(values, r * rowValues, c0, c1, samples, out, outWidth, outRow + r - r0, outCol);
}

function swapBytes(bytes: Uint8Array, size: number): void {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (size === 2) buffer.swap16();
  else if (size === 4) buffer.swap32();
  else buffer.swap64();
}

/** Columns [c0, c1) of one decoded row (starting at `rowStart` in `values`) into the output bands. */
function scatterRow(values: Samples, rowStart: number, c0: number, c1: number, samples: number, out: Samples[], outWidth: number, outRow: number, outCol: number): void {
  const target = outRow * outWidth + outCol;
  if (samples === 1) {
    out[0].set(values.subarray(rowStart + c0, rowStart + c1), target);
    return;
  }
  for (let s = 0; s < samples; s++) {
    const band = out[s];
    for (let c = c0, at = rowStart + c0 * samples + s, t = target; c < c1; c++, at += samples, t++) band[t] = values[at];
  }
}
