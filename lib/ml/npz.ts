// NumPy's .npy (format 1.0) and .npz (a ZIP of .npy files, stored as `np.savez` writes them), so model
// code reads chips with a plain `numpy.load`. Written by hand: deterministic bytes (fixed 1980-01-01
// ZIP timestamps, no host fields), synchronous, and no dependency for ~80 lines.
import { crc32 } from 'node:zlib';

export type NpyArray =
  | { dtype: 'float32'; shape: readonly number[]; data: Float32Array }
  | { dtype: 'float64'; shape: readonly number[]; data: Float64Array }
  | { dtype: 'int32'; shape: readonly number[]; data: Int32Array }
  | { dtype: 'str'; shape: readonly []; data: string };

const DESCR = { float32: '<f4', float64: '<f8', int32: '<i4' } as const;

/** One array as a .npy file (little-endian, C order). */
export function npyBytes(array: NpyArray): Buffer {
  const count = array.shape.reduce((a, b) => a * b, 1);
  let body: Buffer;
  let descr: string;
  if (array.dtype === 'str') {
    const codePoints = Array.from(array.data, (ch) => ch.codePointAt(0)!);
    descr = `<U${Math.max(1, codePoints.length)}`;
    body = Buffer.alloc(4 * Math.max(1, codePoints.length));
    codePoints.forEach((cp, i) => body.writeUInt32LE(cp, 4 * i));
  } else {
    if (array.data.length !== count) throw new Error(`npy: ${array.data.length} values for shape (${array.shape.join(', ')})`);
    descr = DESCR[array.dtype];
    // Typed arrays are host-endian; every platform Node supports here is little-endian.
    body = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  }
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // magic(6) + version(2) + length(2) + header, padded with spaces to a multiple of 64, ending in \n
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const preamble = Buffer.alloc(10);
  preamble.write('\x93NUMPY', 0, 'latin1');
  preamble.writeUInt8(1, 6);
  preamble.writeUInt8(0, 7);
  preamble.writeUInt16LE(header.length, 8);
  return Buffer.concat([preamble, Buffer.from(header, 'latin1'), body]);
}

const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;

/** Arrays by name as an .npz (ZIP, stored): `numpy.load(path)[name]`. */
export function npzBytes(arrays: Readonly<Record<string, NpyArray>>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, array] of Object.entries(arrays)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`npz: array name ${JSON.stringify(name)} is not an identifier`);
    const data = npyBytes(array);
    const fileName = Buffer.from(`${name}.npy`, 'latin1');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time 00:00
    local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // made by
    central.writeUInt16LE(20, 6); // needed
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(DOS_DATE_1980_01_01, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(offset, 42); // local header offset (other fields 0)
    locals.push(local, fileName, data);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const count = Object.keys(arrays).length;
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
