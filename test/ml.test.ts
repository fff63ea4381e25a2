// lib/ml: .npy/.npz bytes that numpy reads, Clay's band table and time/location encodings.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { npzBytes, npyBytes } from '../lib/ml/npz.js';
import { CLAY_S2_BANDS, clayLatLon, clayTime, isoWeek, s2Band } from '../lib/ml/clay.js';

const dir = mkdtempSync(join(tmpdir(), 'ml-'));
const python = (script: string, ...args: string[]): string => execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });

describe('npz', () => {
  it('numpy.load reads every dtype and shape back exactly (scalar, 1-D, 3-D, string)', () => {
    const cube = Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => i / 7 - 1);
    const path = join(dir, 'all.npz');
    writeFileSync(path, npzBytes({
      cube: { dtype: 'float32', shape: [2, 3, 5], data: cube },
      vector: { dtype: 'float64', shape: [3], data: Float64Array.of(1e-300, -0, Math.PI) },
      counts: { dtype: 'int32', shape: [2, 2], data: Int32Array.of(-2147483648, 0, 1, 2147483647) },
      scalar: { dtype: 'float32', shape: [], data: Float32Array.of(10) },
      name: { dtype: 'str', shape: [], data: 'sentinel-2-l2a' },
      unicode: { dtype: 'str', shape: [], data: 'Ørsted ⛴' },
    }));
    const out = JSON.parse(python(`
import json, sys, numpy as np
z = np.load(sys.argv[1])
print(json.dumps({k: {"dtype": str(z[k].dtype), "shape": list(z[k].shape), "values": z[k].tolist()} for k in z.files}))`, path));
    expect(Object.keys(out)).toEqual(['cube', 'vector', 'counts', 'scalar', 'name', 'unicode']);
    expect(out.cube).toMatchObject({ dtype: 'float32', shape: [2, 3, 5] });
    expect(out.cube.values.flat(2)).toEqual(Array.from(cube));
    expect(out.vector).toEqual({ dtype: 'float64', shape: [3], values: [1e-300, -0, Math.PI] });
    expect(out.counts).toEqual({ dtype: 'int32', shape: [2, 2], values: [[-2147483648, 0], [1, 2147483647]] });
    expect(out.scalar).toEqual({ dtype: 'float32', shape: [], values: 10 });
    expect(out.name).toEqual({ dtype: '<U14', shape: [], values: 'sentinel-2-l2a' });
    expect(out.unicode.values).toBe('Ørsted ⛴');
  });

  it('is deterministic, aligns every .npy header to 64 bytes, and refuses bad shapes and names', () => {
    const arrays = { a: { dtype: 'float32', shape: [4], data: Float32Array.of(1, 2, 3, 4) } } as const;
    expect(npzBytes(arrays).equals(npzBytes(arrays))).toBe(true);
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 4 }), (shape) => {
      const count = shape.reduce((x, y) => x * y, 1);
      const bytes = npyBytes({ dtype: 'float32', shape, data: new Float32Array(count) });
      expect((10 + bytes.readUInt16LE(8)) % 64).toBe(0);
      expect(bytes.length).toBe(10 + bytes.readUInt16LE(8) + 4 * count);
    }));
    expect(() => npyBytes({ dtype: 'float32', shape: [2, 2], data: new Float32Array(3) })).toThrow(/3 values for shape \(2, 2\)/);
    expect(() => npzBytes({ 'no/slash': arrays.a })).toThrow(/not an identifier/);
  });
});

describe('Clay encodings', () => {
  it('ISO weeks equal Python isocalendar() on random dates, year boundaries included', () => {
    const days = fc.sample(fc.integer({ min: Date.UTC(1990, 0, 1) / 86_400_000, max: Date.UTC(2060, 0, 1) / 86_400_000 }), { numRuns: 300, seed: 7 });
    const edges = [Date.UTC(2020, 11, 31), Date.UTC(2021, 0, 3), Date.UTC(2026, 0, 1), Date.UTC(2026, 11, 28), Date.UTC(2027, 0, 1)].map((t) => t / 86_400_000);
    const all = [...days, ...edges];
    const isoDates = all.map((d) => new Date(d * 86_400_000).toISOString().slice(0, 10));
    const pythonWeeks = JSON.parse(python('import json,sys,datetime; print(json.dumps([datetime.date.fromisoformat(d).isocalendar()[1] for d in sys.argv[1:]]))', ...isoDates));
    expect(isoDates.map((d) => isoWeek(new Date(`${d}T12:00:00Z`)))).toEqual(pythonWeeks);
  });

  it('time and latlon follow Clay (sin/cos of week·2π/52 and hour·2π/24; of lat and lon in radians)', () => {
    const time = clayTime('2026-05-25T11:17:00.538Z'); // ISO week 22, 11 h
    const week = (22 * 2 * Math.PI) / 52;
    const hour = (11 * 2 * Math.PI) / 24;
    expect(Array.from(time)).toEqual(Array.from(Float32Array.of(Math.sin(week), Math.cos(week), Math.sin(hour), Math.cos(hour))));
    expect(Array.from(clayLatLon(50.8, -1.2))).toEqual(Array.from(Float32Array.of(Math.sin(0.8866272600131193), Math.cos(0.8866272600131193), Math.sin(-0.020943951023931952), Math.cos(-0.020943951023931952))));
    expect(() => clayTime('yesterday')).toThrow(/not a time/);
  });

  it('names every one of Clay’s ten bands by ESA id and by Clay name', () => {
    expect(CLAY_S2_BANDS).toEqual(['blue', 'green', 'red', 'rededge1', 'rededge2', 'rededge3', 'nir', 'nir08', 'swir16', 'swir22']);
    expect(CLAY_S2_BANDS.map((name) => s2Band(name)!.id)).toEqual(['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']);
    expect(s2Band('B8A')).toBe(s2Band('nir08'));
    expect(s2Band('B8')).toBeUndefined();
  });
});
