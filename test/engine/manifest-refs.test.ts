// Unchanged instances are stored as references: the equality that decides it must agree with the
// JSON the record is written as (key order aside), or a changed record would be dropped for a stale one.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { referToUnchanged, sameJson, type Manifest, type StepRecord } from '../../src/engine/manifest.js';
import { canonicalJson } from '../../src/sdk/hash.js';

const json = fc.jsonValue();

describe('sameJson', () => {
  it('agrees with the canonical JSON of both values', () => {
    fc.assert(fc.property(json, json, (a, b) => sameJson(a, b) === (canonicalJson(a) === canonicalJson(b))));
  });
  it('holds for a value and a copy with its keys reordered and undefined properties added', () => {
    const shuffle = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(shuffle);
      if (v && typeof v === 'object') return Object.fromEntries([...Object.entries(v).reverse().map(([k, x]) => [k, shuffle(x)]), ['absent', undefined]]);
      return v;
    };
    fc.assert(fc.property(json, (a) => sameJson(a, shuffle(a)) && sameJson(shuffle(a), a)));
  });
  it('tells apart values that differ only deep inside, or in an array element vs null', () => {
    expect(sameJson({ o: [{ rows: 10 }] }, { o: [{ rows: 11 }] })).toBe(false);
    expect(sameJson([1, null], [1])).toBe(false);
    expect(sameJson({ a: null }, {})).toBe(false);
    expect(sameJson({ a: [] }, { a: {} })).toBe(false);
  });
});

describe('referToUnchanged', () => {
  const record = (over: Partial<StepRecord> = {}): StepRecord => ({
    step: 's', instance: 's[date=1]', partition: { date: '1' }, kind: 'sql', source: false, status: 'cached', reason: 'r', reasons: [{ kind: 'unchanged' }],
    cache_key: 'k', params: {}, inputs: [{ name: 'i', source: 'file:i', digest: 'd', bytes: 1 }], outputs: [{ name: 'o', path: 'o/1.csv', kind: 'file', digest: 'x', bytes: 2, rows: 1 }],
    metrics: {}, warnings: [], duration_ms: 3, ...over,
  });
  const previous = (r: StepRecord): Manifest => ({ run_id: 'R1', steps: [r] } as unknown as Manifest);

  it('refers to the earlier run when only per-run fields differ, whatever the key order', () => {
    const prior = record({ duration_ms: 9 });
    const reordered = Object.fromEntries(Object.entries(record()).reverse()) as unknown as StepRecord;
    const [out] = referToUnchanged([reordered], previous(prior));
    expect(out.unchanged_since).toBe('R1');
    expect(out.outputs).toBeUndefined();
  });
  it('writes the record whole when anything else differs (an output row count, a metric, a new field)', () => {
    for (const over of [{ outputs: [{ name: 'o', path: 'o/1.csv', kind: 'file' as const, digest: 'x', bytes: 2, rows: 2 }] }, { metrics: { m: 1 } }, { restored_files: undefined, error: 'e' }]) {
      const [out] = referToUnchanged([record(over)], previous(record()));
      expect(out.unchanged_since).toBeUndefined();
      expect(out.outputs).toBeDefined();
    }
  });
});
