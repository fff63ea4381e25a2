// The STAC API client and static catalogs over HTTP, against servers on 127.0.0.1 that this test starts.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fetchJson, loadStaticItems, normaliseItem, searchStacApi, type HttpOptions } from '../../lib/geo/stac.js';
import { isUserError } from '../../src/sdk/errors.js';

interface Seen {
  method: string;
  url: string;
  body: unknown;
}
type Handler = (req: IncomingMessage, body: unknown, res: ServerResponse, seen: Seen[]) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

async function serve(handler: Handler): Promise<{ base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      const body = text ? JSON.parse(text) : undefined;
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      handler(req, body, res, seen);
    });
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/geo+json', ...headers });
  res.end(JSON.stringify(value));
};
const feature = (id: string) => ({ type: 'Feature', id, properties: { datetime: '2026-05-25T11:00:00Z' }, geometry: null, assets: { blue: { href: `${id}/B02.tif` } } });

const waits: number[] = [];
const fast: HttpOptions = { timeoutMs: 2_000, retries: 3, backoffMs: 10, sleep: async (ms) => void waits.push(ms) };
const request = { collections: ['sentinel-2-l2a'], intersects: { type: 'Point', coordinates: [-1.3, 50.7] }, datetime: '2026-05-24T00:00:00Z/2026-05-26T00:00:00Z', query: { 'eo:cloud_cover': { lte: 30 } }, limit: 2 };

describe('STAC API search', () => {
  it('POSTs the search and follows next links: POST with merge, then GET', async () => {
    const { base, seen } = await serve((req, body, res) => {
      const b = body as Record<string, unknown> | undefined;
      if (req.method === 'POST' && !b?.token) {
        json(res, 200, { type: 'FeatureCollection', features: [feature('a'), feature('b')], links: [{ rel: 'next', href: '/search', method: 'POST', merge: true, body: { token: 'page2' } }] });
      } else if (req.method === 'POST' && b?.token === 'page2') {
        json(res, 200, { type: 'FeatureCollection', features: [feature('c')], links: [{ rel: 'next', href: `/search?page=3` }] });
      } else if (req.method === 'GET' && req.url === '/search?page=3') {
        json(res, 200, { type: 'FeatureCollection', features: [feature('d')], links: [{ rel: 'self', href: '/search?page=3' }] });
      } else {
        json(res, 400, { code: 'bad request' });
      }
    });
    const result = await searchStacApi(`${base}/`, request, fast);
    expect(result.items.map((i) => i.item.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(result.pages).toBe(3);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /search', 'POST /search', 'GET /search?page=3']);
    expect(seen[0].body).toEqual(request);
    // merge: the original search plus the token
    expect(seen[1].body).toEqual({ ...request, token: 'page2' });
    // relative hrefs of API items resolve against the search URL
    expect(normaliseItem(result.items[3]).assets.B02?.href).toBe(`${base}/d/B02.tif`);
  });

  it('replaces the body when a POST next link does not merge', async () => {
    const { base, seen } = await serve((_req, body, res) => {
      const b = body as Record<string, unknown>;
      if (b.next === undefined) json(res, 200, { type: 'FeatureCollection', features: [feature('a')], links: [{ rel: 'next', href: `/search`, method: 'POST', body: { collections: ['x'], next: 't2' } }] });
      else json(res, 200, { type: 'FeatureCollection', features: [feature('b')], links: [] });
    });
    await searchStacApi(base, request, fast);
    expect(seen[1].body).toEqual({ collections: ['x'], next: 't2' });
  });

  it('retries a 503 and a 429 with backoff, then succeeds', async () => {
    waits.length = 0;
    const { base, seen } = await serve((_req, _body, res, s) => {
      if (s.length === 1) json(res, 503, { error: 'busy' });
      else if (s.length === 2) json(res, 429, { error: 'slow down' }, { 'retry-after': '0' });
      else if (s.length === 3) json(res, 502, { error: 'gateway' });
      else json(res, 200, { type: 'FeatureCollection', features: [feature('a')], links: [] });
    });
    const result = await searchStacApi(base, request, fast);
    expect(result.items).toHaveLength(1);
    expect(seen).toHaveLength(4);
    // exponential backoff 10, (Retry-After: 0 wins), 40
    expect(waits).toEqual([10, 0, 40]);
  });

  it('gives up after the retries with a NETWORK error naming the URL and status', async () => {
    const { base, seen } = await serve((_req, _body, res) => json(res, 500, { error: 'down' }));
    const error = await searchStacApi(base, request, { ...fast, retries: 2 }).catch((e: unknown) => e);
    expect(isUserError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('NETWORK');
    expect((error as Error).message).toMatch(/HTTP 500.*3 attempts/);
    expect((error as { where: string }).where).toBe(`${base}/search`);
    expect(seen).toHaveLength(3);
  });

  it('does not retry a 400', async () => {
    const { base, seen } = await serve((_req, _body, res) => json(res, 400, { description: 'bad intersects' }));
    const error = await searchStacApi(base, request, fast).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/HTTP 400.*bad intersects/);
    expect(seen).toHaveLength(1);
  });

  it('times out a server that never answers, retrying, then fails', async () => {
    const { base, seen } = await serve(() => {
      /* never respond */
    });
    const started = Date.now();
    const error = await fetchJson(`${base}/search`, { method: 'POST', body: request }, { timeoutMs: 150, retries: 1, backoffMs: 1 }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/timed out after 150 ms \(after 2 attempts\)/);
    expect(seen).toHaveLength(2);
    // Timers never fire early: two attempts of 150 ms each take at least that long (no upper bound: a loaded machine only delays).
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('a slow first answer times out and the retry succeeds', async () => {
    // The first request is never answered (its late answer would be an empty page); every later one at once. On a
    // loaded machine a retry may itself time out before its immediate answer arrives, so only "retried at least once and
    // took the retry's answer" is asserted, not the exact number of attempts.
    const { base, seen } = await serve((_req, _body, res, s) => {
      if (s.length === 1) return;
      json(res, 200, { type: 'FeatureCollection', features: [feature('late')], links: [] });
    });
    const result = await searchStacApi(base, request, { ...fast, timeoutMs: 300 });
    expect(result.items.map((i) => i.item.id)).toEqual(['late']);
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });
});

describe('static catalogs', () => {
  const catalog = {
    type: 'Catalog', id: 'root', stac_version: '1.0.0', description: 'd',
    links: [{ rel: 'self', href: './catalog.json' }, { rel: 'child', href: './s2/collection.json' }],
  };
  const collection = {
    type: 'Collection', id: 's2', stac_version: '1.0.0', description: 'd', license: 'proprietary', extent: {},
    links: [{ rel: 'parent', href: '../catalog.json' }, { rel: 'root', href: '../catalog.json' }, { rel: 'item', href: './items/z.json' }, { rel: 'item', href: './items/a.json' }],
  };
  const item = (id: string) => ({ ...feature(id), assets: { blue: { href: `../data/${id}_B02.tif` }, scl: { href: 'https://example.org/SCL.tif' } } });

  it('walks catalog → collection → items over HTTP, resolving relative hrefs', async () => {
    const docs: Record<string, unknown> = { '/cat/catalog.json': catalog, '/cat/s2/collection.json': collection, '/cat/s2/items/a.json': item('a'), '/cat/s2/items/z.json': item('z') };
    const { base, seen } = await serve((req, _body, res) => (docs[req.url ?? ''] ? json(res, 200, docs[req.url ?? '']) : json(res, 404, {})));
    const items = await loadStaticItems(`${base}/cat/catalog.json`, fast);
    expect(items.map((i) => i.item.id)).toEqual(['a', 'z']);
    const scene = normaliseItem(items[0]);
    expect(scene.assets.B02?.href).toBe(`${base}/cat/s2/data/a_B02.tif`);
    expect(scene.assets.SCL?.href).toBe('https://example.org/SCL.tif');
    // parent/root links are not followed again
    expect(seen.filter((s) => s.url === '/cat/catalog.json')).toHaveLength(1);
  });

  it('walks the same catalog on disk, giving absolute file paths', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stac-static-'));
    mkdirSync(join(dir, 's2', 'items'), { recursive: true });
    writeFileSync(join(dir, 'catalog.json'), JSON.stringify(catalog));
    writeFileSync(join(dir, 's2', 'collection.json'), JSON.stringify(collection));
    writeFileSync(join(dir, 's2', 'items', 'a.json'), JSON.stringify(item('a')));
    writeFileSync(join(dir, 's2', 'items', 'z.json'), JSON.stringify(item('z')));
    const items = await loadStaticItems(join(dir, 'catalog.json'));
    expect(normaliseItem(items[1]).assets.B02?.href).toBe(join(dir, 's2', 'data', 'z_B02.tif'));
  });

  it('names the file and line of malformed JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stac-bad-'));
    writeFileSync(join(dir, 'catalog.json'), '{\n  "type": "Catalog",\n  "links": [,]\n}\n');
    const error = await loadStaticItems(join(dir, 'catalog.json')).catch((e: unknown) => e);
    expect(isUserError(error)).toBe(true);
    expect((error as { where: string }).where).toBe(`${join(dir, 'catalog.json')}:3`);
  });
});
