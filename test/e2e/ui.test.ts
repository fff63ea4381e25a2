// End-to-end: `dagrun serve` on a built sample (the chip chain of pipeline.yaml), driven by Debian's
// headless Chromium through playwright-core. Every page opens; the DAG shows every step; a run's detail
// shows its reasons; a 3-row CSV upload makes new chips appear; prune removes chips from the index view.
// Screenshots of the gallery and the map go to test/.artifacts/ (gitignored).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from '../../src/engine/runner.js';
import { serve, type RunningServer } from '../../src/engine/serve/server.js';
import { isolatedPipeline } from '../helpers/isolated-pipeline.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

const STEPS = ['tle-fetch', 'predict', 'ais-capture', 'ais-import', 'stac-search', 'chip', 'gate', 'index'];
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(PROJECT_ROOT, 'test', '.artifacts');

let dir: string;
let server: RunningServer;
let context: BrowserContext;
let page: Page;
let firstRun: string;

async function waitForIdle(): Promise<void> {
  for (;;) {
    const runs = (await (await fetch(`${server.url}/api/runs`)).json()) as { active: unknown[] };
    if (runs.active.length === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function open(route: string): Promise<void> {
  await page.goto(`${server.url}/#/${route}`);
  await page.waitForSelector(`main[data-ready="${route.split(/[/?]/)[0]}"]`);
}

beforeAll(async () => {
  mkdirSync(join(PROJECT_ROOT, 'test', '.work'), { recursive: true });
  dir = mkdtempSync(join(PROJECT_ROOT, 'test', '.work', 'ui-'));
  const file = isolatedPipeline(dir, STEPS, 'ui-sample');
  const result = await build({ pipelineFile: file });
  expect(result.ok).toBe(true);
  firstRun = result.manifest.run_id;
  server = await serve({ pipelineFile: file, port: 0, schedule: false, maxUploadBytes: 64 * 1024 });
  const profile = join(dir, 'chromium-profile');
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  const failures: string[] = [];
  page.on('pageerror', (e) => failures.push(String(e)));
  page.on('requestfailed', (r) => {
    if (!r.url().startsWith(server.url)) failures.push(`left the machine: ${r.url()}`);
  });
  // Nothing may leave 127.0.0.1: no CDN, no tiles.
  await context.route(/^(?!http:\/\/127\.0\.0\.1)/, (route) => {
    failures.push(`external request ${route.request().url()}`);
    return route.abort();
  });
  (globalThis as { uiFailures?: string[] }).uiFailures = failures;
}, 240_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dagrun serve in headless Chromium', () => {
  it('every page opens without an error and without leaving the machine', async () => {
    for (const route of ['pipeline', 'runs', `runs/${firstRun}`, 'diff', 'chips', 'map', 'index', 'actions']) {
      await open(route);
      expect(await page.locator('main .error').count(), route).toBe(0);
    }
    expect((globalThis as { uiFailures?: string[] }).uiFailures).toEqual([]);
  });

  it('the DAG shows every step, coloured, and a click shows the step detail', async () => {
    await open('pipeline');
    const steps = await page.locator('svg[data-testid="dag"] g.node').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-step')));
    expect(steps.sort()).toEqual([...STEPS].sort());
    expect(await page.locator('svg .edge').count()).toBeGreaterThanOrEqual(7);
    await page.locator('g.node[data-step="chip"]').click();
    await page.waitForSelector('[data-testid="step-detail"] h3');
    expect(await page.locator('[data-testid="step-detail"]').innerText()).toMatch(/chip\[date=2026-05-25\][\s\S]*built[\s\S]*no previous result/);
  });

  it('a run\'s detail lists every instance with its reason', async () => {
    await open(`runs/${firstRun}`);
    await page.waitForSelector('[data-testid="run-steps"]');
    const reasons = await page.locator('[data-testid="reason"]').allInnerTexts();
    expect(reasons).toHaveLength(13); // tle-fetch, ais-import, index + 5 steps × 2 dates
    expect(reasons.every((r) => r === 'no previous result')).toBe(true);
  });

  it('uploading a 3-row CSV runs the chip chain and its chips appear in the gallery', async () => {
    await open('chips');
    const before = await page.locator('[data-testid="gallery"] .chip').count();
    expect(before).toBeGreaterThan(0);
    // Three new ships at the places and times of three captured chips: the scene covers them.
    const chips = ((await (await fetch(`${server.url}/api/chips?date=2026-05-25`)).json()) as { chips: { lat: number; lon: number; overpass_time: string }[] }).chips.slice(0, 3);
    const csv = ['mmsi,lat,lon,overpass_time', ...chips.map((c, i) => `${990000001 + i},${c.lat},${c.lon},${c.overpass_time.replace(' ', 'T')}Z`)].join('\n');
    await open(`actions?token=${server.token}`);
    await page.locator('[data-testid="upload-file"]').setInputFiles({ name: 'three.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.locator('[data-testid="upload"]').click();
    await page.waitForSelector('[data-testid="run-link"]');
    await page.locator('[data-testid="run-link"]').click();
    await page.waitForSelector('[data-testid="live-log"]');
    await waitForIdle();
    await open('chips');
    const mmsis = await page.locator('[data-testid="gallery"] .chip').allInnerTexts();
    expect(mmsis.filter((t) => /99000000[123]/.test(t))).toHaveLength(3);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'gallery.png'), fullPage: true });
    await open('map?date=2026-05-25');
    await page.waitForSelector('.leaflet-overlay-pane canvas');
    expect(await page.locator('main').innerText()).toMatch(/ 3 chips, \d+ AIS fixes/); // the upload's chips on their date
    await page.screenshot({ path: join(ARTIFACTS, 'map.png') });
    expect(existsSync(join(ARTIFACTS, 'map.png'))).toBe(true);
  });

  it('prune by AIS with a tight tolerance removes chips from the index view', async () => {
    await post('build', {}); // back to the captured AIS
    await waitForIdle();
    await open('index');
    const before = await page.locator('[data-testid="index-table"] tr[data-chip]').count();
    expect(before).toBeGreaterThan(0);
    await open(`actions?token=${server.token}`);
    await page.locator('[data-testid="prune-time"]').fill('0.0001');
    await page.locator('[data-testid="prune-distance"]').fill('0.001');
    await page.locator('[data-testid="prune"]').click();
    await page.waitForSelector('[data-testid="run-link"]');
    await waitForIdle();
    await open('index');
    expect(await page.locator('[data-testid="index-table"] tr[data-chip]').count()).toBeLessThan(before);
  });
});

describe('serve security (same server)', () => {
  it('returns files only from inside the output root', async () => {
    const outside = join(dir, 'secret.txt');
    writeFileSync(outside, 'not for the browser');
    symlinkSync(outside, join(dir, 'out', 'link.txt'));
    for (const path of ['/files/../pipeline.yaml', '/files/%2e%2e/pipeline.yaml', '/files/..%2fpipeline.yaml', '/files/%2e%2e%2f%2e%2e%2fpackage.json', '/files/link.txt', '/assets/..%2f..%2fpackage.json', '/files/%00x', '/files/%E0%A4%A']) {
      const res = await fetch(`${server.url}${path}`);
      expect([400, 404], path).toContain(res.status);
      expect(await res.text()).not.toContain('not for the browser');
    }
    expect((await fetch(`${server.url}/files/indexes/tiles.parquet`)).status).toBe(200);
  });

  it('actions need the token; uploads are size-limited and must be tables', async () => {
    expect((await fetch(`${server.url}/api/actions/build`, { method: 'POST', body: '{}' })).status).toBe(403);
    expect((await fetch(`${server.url}/api/actions/build`, { method: 'POST', body: '{}', headers: { 'x-dagrun-token': 'x'.repeat(server.token.length) } })).status).toBe(403);
    const big = await fetch(`${server.url}/api/actions/upload?filename=big.csv`, { method: 'POST', body: 'a'.repeat(65 * 1024), headers: { 'x-dagrun-token': server.token } });
    expect(big.status).toBe(413);
    const exe = await fetch(`${server.url}/api/actions/upload?filename=x.sh`, { method: 'POST', body: 'echo', headers: { 'x-dagrun-token': server.token } });
    expect(exe.status).toBe(400);
    expect((await fetch(`${server.url}/api/actions/build`, { method: 'POST', body: '{"targets": ["nope"]}', headers: { 'x-dagrun-token': server.token } })).status).toBe(400);
    await expect(serve({ pipelineFile: join(dir, 'pipeline.yaml'), host: '0.0.0.0', port: 0, allowActions: true, schedule: false })).rejects.toThrow(/only on a loopback host/);
  });
});

async function post(action: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${server.url}/api/actions/${action}`, { method: 'POST', body: JSON.stringify(body), headers: { 'x-dagrun-token': server.token } });
  expect(res.status).toBeLessThan(300);
  return res.json();
}
