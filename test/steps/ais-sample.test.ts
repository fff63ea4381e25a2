// The embedded AIS sample: reproducible from its generator, ships on water in the Solent, covering
// ±90 min around the 30UXB passes of both sample days, with the invalid messages the rejects path needs.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pointInPolygon } from '../../lib/geo/sphere.js';
import { PROJECT_ROOT, sharedData } from '../helpers/paths.js';
import { sampleStreamLines, sampleUploadCsv } from '../../scripts/sample/20-ais.js';
import { digestMessages } from '../../steps/ais-capture/capture.js';
import { epochMs } from '../../lib/maritime/time.js';
import { parseTleText } from '../../lib/maritime/tle.js';
import { predictOverpasses } from '../../steps/predict/overpass.js';

const lines = sampleStreamLines();

describe('datasets/sample/ais', () => {
  it('is what the generator writes (committed files are current; same code, same bytes)', () => {
    expect(readFileSync(join(PROJECT_ROOT, 'datasets/sample/ais/stream.ndjson'), 'utf8')).toBe(`${lines.join('\n')}\n`);
    expect(readFileSync(join(PROJECT_ROOT, 'datasets/sample/ais/user_upload.csv'), 'utf8')).toBe(sampleUploadCsv());
    expect(sampleStreamLines()).toEqual(lines);
  });

  it('keeps every ship on water in the Solent (Natural Earth 10 m land)', () => {
    const land = JSON.parse(readFileSync(sharedData('land', 'naturalearth_10m_land_clip_solent.geojson'), 'utf8')) as { features: { geometry: { type: string; coordinates: number[][][] } }[] };
    const polygons = land.features.map((f) => f.geometry.coordinates);
    const { positions } = digestMessages(lines);
    expect(positions.length).toBeGreaterThan(3000);
    for (const { position: p } of positions) {
      expect(p.lat).toBeGreaterThan(50.6);
      expect(p.lat).toBeLessThan(50.9);
      expect(p.lon).toBeGreaterThan(-1.61);
      expect(p.lon).toBeLessThan(-0.9);
      expect(polygons.some((polygon) => pointInPolygon(p.lon, p.lat, polygon)), `${p.mmsi} at ${p.lat},${p.lon} is on land`).toBe(false);
    }
    const ships = new Set(positions.map((p) => p.position.mmsi)).size;
    expect(ships).toBeGreaterThanOrEqual(30);
    expect(ships).toBeLessThanOrEqual(60);
  });

  it('covers ±90 min around the predicted 30UXB passes of both days and carries each kind of invalid message', () => {
    const { positions, rejects } = digestMessages(lines);
    // The passes as predict computes them from the sample TLEs.
    const tles = parseTleText(readFileSync(join(PROJECT_ROOT, 'datasets/sample/tle/sentinel2.tle'), 'utf8'), 'sample').elementSets;
    for (const date of ['2026-05-25', '2026-05-26']) {
      const { overpasses } = predictOverpasses(tles, [{ tile: '30UXB' }], { startMs: Date.parse(`${date}T00:00:00Z`), days: 1 });
      expect(overpasses.length).toBeGreaterThan(0);
      const times = positions.filter((p) => p.position.ts_utc!.startsWith(date)).map((p) => epochMs(p.position.ts_utc!));
      for (const pass of overpasses) {
        expect(Math.min(...times)).toBeLessThan(pass.centerTimeMs - 90 * 60_000);
        expect(Math.max(...times)).toBeGreaterThan(pass.centerTimeMs + 90 * 60_000);
      }
    }
    expect(rejects.map((r) => r.reason).sort()).toEqual(['duplicate', 'duplicate', 'invalid_lat', 'invalid_lat', 'malformed_message', 'malformed_message', 'unparseable_time', 'unparseable_time']);
  });
});
