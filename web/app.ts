// The dagrun web UI: one page per view, hash-routed, plain DOM. Reads the server's JSON API; live
// run logs arrive over server-sent events. Bundled by esbuild at npm install (scripts/build-web.mjs).
import dagre from '@dagrejs/dagre';
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import './style.css';

type Json = Record<string, any>;

const main = document.getElementById('main') as HTMLElement;
const statusEl = document.getElementById('status') as HTMLElement;
let cleanup: (() => void)[] = [];

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

async function api(path: string, init?: RequestInit): Promise<Json> {
  const res = await fetch(path, init);
  const body = (await res.json()) as Json;
  if (!res.ok) throw new Error(body.error ?? `${res.status}`);
  return body;
}

function token(): string {
  const fromHash = new URLSearchParams(location.hash.split('?')[1] ?? '').get('token');
  if (fromHash) localStorage.setItem('dagrun-token', fromHash);
  return localStorage.getItem('dagrun-token') ?? '';
}

function statusClass(status: string | undefined): string {
  return `status-${status ?? 'none'}`;
}

const COLOURS: Record<string, string> = { built: '#c9f0d3', cached: '#e4e8ee', failed: '#ffc9c9', skipped: '#ffe9a8', 'would-build': '#cfe3ff', none: '#ffffff' };
const RANK = ['failed', 'skipped', 'would-build', 'built', 'cached'];

// ---------- Pipeline ----------
async function pipelinePage(): Promise<void> {
  const data = await api('/api/pipeline');
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 50, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of data.steps) g.setNode(s.name, { width: 150, height: 46 });
  for (const e of data.edges) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const graph = g.graph();
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', String((graph.width ?? 600) + 20));
  svg.setAttribute('height', String((graph.height ?? 300) + 20));
  svg.setAttribute('data-testid', 'dag');
  svg.innerHTML = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#8592a3"/></marker></defs>';
  for (const e of g.edges()) {
    const pts = g.edge(e).points as { x: number; y: number }[];
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('class', 'edge');
    path.setAttribute('d', `M${pts.map((p) => `${p.x},${p.y}`).join('L')}`);
    svg.append(path);
  }
  const detail = h('div', { class: 'panel', 'data-testid': 'step-detail' }, 'Click a step for its code digest, params, last reasons and outputs.');
  for (const s of data.steps) {
    const n = g.node(s.name);
    const statuses: string[] = s.instances.map((i: Json) => i.status);
    const worst = RANK.find((r) => statuses.includes(r)) ?? 'none';
    const grp = document.createElementNS(ns, 'g');
    grp.setAttribute('class', 'node');
    grp.setAttribute('data-step', s.name);
    grp.setAttribute('transform', `translate(${n.x - n.width / 2},${n.y - n.height / 2})`);
    const rect = document.createElementNS(ns, 'rect');
    rect.setAttribute('width', String(n.width));
    rect.setAttribute('height', String(n.height));
    rect.setAttribute('fill', COLOURS[worst]);
    const title = document.createElementNS(ns, 'text');
    title.setAttribute('x', '8');
    title.setAttribute('y', '18');
    title.textContent = s.name;
    const sub = document.createElementNS(ns, 'text');
    sub.setAttribute('x', '8');
    sub.setAttribute('y', '36');
    sub.setAttribute('fill', '#556');
    sub.textContent = statuses.length ? `${statuses.length} inst · ${worst}` : 'not built';
    grp.append(rect, title, sub);
    grp.addEventListener('click', () => void showStep(s.name, detail));
    svg.append(grp);
  }
  const schedules = h('table', { 'data-testid': 'schedules' }, h('tr', {}, h('th', {}, 'schedule'), h('th', {}, 'trigger'), h('th', {}, 'targets'), h('th', {}, 'next fire'), h('th', {}, 'on')));
  for (const s of data.schedules) schedules.append(h('tr', {}, h('td', {}, s.name), h('td', {}, s.trigger), h('td', {}, s.targets.join(', ')), h('td', {}, s.next[0] ? `${s.next[0].at} ${Object.values(s.next[0].partition).join(',')}` : '—'), h('td', {}, s.enabled ? 'yes' : 'off')));
  main.replaceChildren(h('h2', {}, `Pipeline ${data.name}`), h('div', { class: 'row' }, h('div', { class: 'panel' }, svg), detail), h('h2', {}, 'Schedules'), schedules);
}

async function showStep(name: string, into: HTMLElement): Promise<void> {
  const d = await api(`/api/steps/${encodeURIComponent(name)}`);
  const params = h('table', {}, h('tr', {}, h('th', {}, 'param'), h('th', {}, 'default')));
  for (const p of d.params) params.append(h('tr', {}, h('td', { title: p.description ?? '' }, p.name), h('td', {}, JSON.stringify(p.default))));
  const inst = h('table', {}, h('tr', {}, h('th', {}, 'instance'), h('th', {}, 'status'), h('th', {}, 'reason'), h('th', {}, 'outputs')));
  for (const i of d.instances) inst.append(h('tr', {}, h('td', {}, i.instance), h('td', { class: statusClass(i.status) }, i.status), h('td', {}, i.reason), h('td', {}, i.outputs.map((o: Json) => `${o.name}${o.rows !== undefined ? ` ${o.rows} rows` : ''} ${o.bytes} B`).join('; '))));
  into.replaceChildren(h('h3', {}, name), h('div', {}, `code ${d.instances[0]?.code_digest?.slice(0, 19) ?? '—'} (${d.kind})`), params, inst);
}

// ---------- Runs ----------
async function runsPage(): Promise<void> {
  const data = await api('/api/runs');
  const table = h('table', { 'data-testid': 'runs' }, h('tr', {}, ...['run', 'started', 'kind', 'schedule', 'targets', '--set', 'status', 'built', 'cached', 'failed'].map((c) => h('th', {}, c))));
  for (const r of data.runs) {
    table.append(h('tr', {}, h('td', {}, h('a', { href: `#/runs/${r.run_id}` }, r.run_id)), h('td', {}, r.started_at), h('td', {}, r.kind), h('td', {}, r.schedule ?? ''), h('td', {}, r.targets.join(' ')), h('td', {}, JSON.stringify(r.set)), h('td', { class: `status-${r.status === 'ok' ? 'built' : 'failed'}` }, r.status), h('td', {}, String(r.counts.built)), h('td', {}, String(r.counts.cached)), h('td', {}, String(r.counts.failed + r.counts.skipped))));
  }
  const active = data.active.length ? h('p', {}, 'Running: ', ...data.active.map((a: Json) => h('a', { href: `#/runs/${a.run_id}` }, `${a.action} ${a.run_id} `))) : null;
  main.replaceChildren(h('h2', {}, 'Runs'), active ?? '', table);
}

async function runPage(id: string): Promise<void> {
  const log = h('pre', { 'data-testid': 'live-log' });
  const heading = h('h2', {}, `Run ${id}`);
  main.replaceChildren(heading, h('p', {}, 'waiting for the run to be recorded…'), h('h3', {}, 'Log'), log);
  // Live lines while it runs (SSE), then the manifest once it exists.
  const source = new EventSource(`/api/events?run=${encodeURIComponent(id)}`);
  source.onmessage = (m) => {
    const e = JSON.parse(m.data) as Json;
    log.append(`${e.line}\n`);
    if (e.type === 'run-finished') void renderRun(id, log).catch(() => undefined);
  };
  cleanup.push(() => source.close());
  await renderRun(id, log).catch(() => undefined);
}

async function renderRun(id: string, log: HTMLElement): Promise<void> {
  const { manifest, log: lines } = await api(`/api/runs/${encodeURIComponent(id)}`);
  const table = h('table', { 'data-testid': 'run-steps' }, h('tr', {}, ...['instance', 'status', 'reason', 'duration', 'warnings'].map((c) => h('th', {}, c))));
  for (const s of manifest.steps) table.append(h('tr', {}, h('td', {}, s.instance), h('td', { class: statusClass(s.status) }, s.status), h('td', { 'data-testid': 'reason' }, s.error ? `${s.reason}: ${s.error}` : s.reason), h('td', {}, `${(s.duration_ms / 1000).toFixed(1)} s`), h('td', {}, s.warnings.join('; '))));
  if (!log.textContent && lines.length) log.textContent = `${lines.join('\n')}\n`;
  main.replaceChildren(h('h2', {}, `Run ${manifest.run_id} — ${manifest.status}`), h('p', {}, `${manifest.kind}${manifest.schedule ? ` · schedule ${manifest.schedule}` : ''} · ${manifest.started_at} → ${manifest.finished_at} · options ${JSON.stringify(manifest.options)}`), table, h('h3', {}, 'Log'), log);
}

// ---------- Diff ----------
async function diffPage(): Promise<void> {
  const { runs } = await api('/api/runs');
  const pick = (name: string, index: number): HTMLSelectElement => {
    const s = h('select', { name, 'data-testid': `diff-${name}` });
    runs.forEach((r: Json, i: number) => s.append(Object.assign(h('option', { value: r.run_id }, `${r.run_id} ${r.kind} ${r.status}`), { selected: i === index })));
    return s;
  };
  const a = pick('a', Math.min(1, runs.length - 1));
  const b = pick('b', 0);
  const out = h('pre', { 'data-testid': 'diff-text' });
  const go = async (): Promise<void> => {
    out.textContent = (await api(`/api/diff?a=${a.value}&b=${b.value}`)).text;
  };
  const button = h('button', {}, 'Compare');
  button.addEventListener('click', () => void go());
  main.replaceChildren(h('h2', {}, 'Diff two runs'), h('div', { class: 'inline' }, a, ' → ', b, ' ', button), out);
  if (runs.length >= 2) await go();
}

// ---------- Chips ----------
async function chipsPage(): Promise<void> {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const all = (await api('/api/chips')).chips as Json[];
  const form = h('form', { class: 'inline' });
  const filters: Record<string, HTMLSelectElement | HTMLInputElement> = {};
  for (const [name, values] of [['date', [...new Set(all.map((c) => c.date))]], ['split', [...new Set(all.map((c) => c.split))]], ['decision', [...new Set(all.map((c) => c.decision ?? 'ungated'))]]] as [string, string[]][]) {
    const s = h('select', { name });
    s.append(h('option', { value: '' }, `any ${name}`));
    for (const v of values.sort()) s.append(Object.assign(h('option', { value: v }, v), { selected: params.get(name) === v }));
    filters[name] = s;
    form.append(s);
  }
  filters.mmsi = Object.assign(h('input', { name: 'mmsi', placeholder: 'MMSI', size: '10' }), { value: params.get('mmsi') ?? '' });
  form.append(filters.mmsi, h('button', {}, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams(Object.entries(filters).filter(([, el]) => el.value).map(([k, el]) => [k, el.value]));
    location.hash = `#/chips?${q}`;
  });
  const q = new URLSearchParams([...params].filter(([k]) => k !== 'token'));
  const chips = (await api(`/api/chips?${q}`)).chips as Json[];
  const detail = h('div', { class: 'panel', 'data-testid': 'chip-detail' }, 'Click a chip.');
  const gallery = h('div', { class: 'gallery', 'data-testid': 'gallery' });
  for (const c of chips) {
    const card = h('div', { class: `chip ${c.decision === 'reject' ? 'reject' : ''}`, 'data-chip': c.chip_id }, h('img', { src: `/files/${String(c.path).replace(/\.tif$/, '_quicklook.jpg')}`, alt: c.chip_id, loading: 'lazy' }), h('div', {}, `${c.mmsi} · ${c.date}`), h('div', {}, `${c.split} · ${c.decision ?? 'ungated'}`));
    card.addEventListener('click', () => {
      detail.replaceChildren(h('h3', {}, c.chip_id), h('pre', {}, JSON.stringify(c, null, 2)), h('a', { href: `#/map?date=${c.date}&chip=${c.chip_id}` }, 'footprint on the map'));
    });
    gallery.append(card);
  }
  main.replaceChildren(h('h2', {}, `Chips (${chips.length})`), form, h('div', { class: 'row' }, h('div', { style: 'flex:1' }, gallery), detail));
}

// ---------- Map ----------
async function mapPage(): Promise<void> {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const first = await api(`/api/map${params.get('date') ? `?date=${params.get('date')}` : ''}`);
  const date = params.get('date') ?? first.dates[0];
  const data = date && !params.get('date') ? await api(`/api/map?date=${date}`) : first;
  const select = h('select', { 'data-testid': 'map-date' });
  for (const d of data.dates) select.append(Object.assign(h('option', { value: d }, d), { selected: d === date }));
  select.addEventListener('change', () => (location.hash = `#/map?date=${select.value}`));
  const box = h('div', { id: 'map', 'data-testid': 'map' });
  main.replaceChildren(h('h2', {}, 'Map: chip footprints and AIS positions'), h('div', {}, 'date ', select, ` · ${data.chips.features.length} chips, ${data.ais.features.length} AIS fixes`), box);
  const map = L.map(box, { attributionControl: true, preferCanvas: true });
  map.attributionControl.addAttribution('Land: Natural Earth (public domain)');
  const land = await api('/api/basemap');
  L.geoJSON(land as any, { style: { color: '#8a8f7a', weight: 1, fillColor: '#e8e4d8', fillOpacity: 1 } }).addTo(map);
  const ais = L.geoJSON(data.ais, { pointToLayer: (_f, latlng) => L.circleMarker(latlng, { radius: 2, color: '#0b5cad', weight: 1 }) }).addTo(map);
  const chips = L.geoJSON(data.chips, {
    style: (f) => ({ color: f?.properties.decision === 'reject' ? '#cf222e' : '#1a7f37', weight: f?.properties.chip_id === params.get('chip') ? 4 : 2 }),
    onEachFeature: (f, layer) => layer.bindPopup(`${f.properties.chip_id}<br>MMSI ${f.properties.mmsi}<br>${f.properties.decision ?? ''}`),
  }).addTo(map);
  const bounds = chips.getBounds().isValid() ? chips.getBounds() : ais.getBounds().isValid() ? ais.getBounds() : L.geoJSON(land as any).getBounds();
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.4));
  else map.setView([0, 0], 2);
  cleanup.push(() => map.remove());
}

// ---------- Index ----------
async function indexPage(): Promise<void> {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const data = await api(`/api/index?${params}`);
  const filter = Object.assign(h('input', { placeholder: 'filter', 'data-testid': 'index-filter' }), { value: params.get('q') ?? '' });
  filter.addEventListener('change', () => {
    params.set('q', filter.value);
    location.hash = `#/index?${params}`;
  });
  const table = h('table', { 'data-testid': 'index-table' });
  const head = h('tr');
  for (const c of data.columns as string[]) {
    const th = h('th', {}, c + (params.get('sort') === c ? (params.get('dir') === 'desc' ? ' ▼' : ' ▲') : ''));
    th.addEventListener('click', () => {
      params.set('dir', params.get('sort') === c && params.get('dir') !== 'desc' ? 'desc' : 'asc');
      params.set('sort', c);
      location.hash = `#/index?${params}`;
    });
    head.append(th);
  }
  table.append(head);
  for (const r of data.rows) table.append(h('tr', { 'data-chip': String(r.chip_id) }, ...data.columns.map((c: string) => h('td', {}, r[c] === null ? '' : String(r[c])))));
  main.replaceChildren(h('h2', {}, `Index: tiles.parquet (${data.rows.length} of ${data.total})`), filter, table);
}

// ---------- Actions ----------
async function actionsPage(): Promise<void> {
  const tokenInput = Object.assign(h('input', { placeholder: 'token printed by dagrun serve', size: '40', 'data-testid': 'token' }), { value: token() });
  tokenInput.addEventListener('change', () => localStorage.setItem('dagrun-token', tokenInput.value));
  const result = h('div', { 'data-testid': 'action-result' });
  const post = async (action: string, body: BodyInit, query = ''): Promise<void> => {
    result.textContent = '…';
    try {
      const r = await api(`/api/actions/${action}${query}`, { method: 'POST', body, headers: { 'x-dagrun-token': tokenInput.value } });
      result.replaceChildren(r.run_id ? h('a', { href: `#/runs/${r.run_id}`, 'data-testid': 'run-link' }, `${r.action} started: run ${r.run_id}`) : JSON.stringify(r));
    } catch (error) {
      result.replaceChildren(h('span', { class: 'error' }, String((error as Error).message)));
    }
  };
  const targets = h('input', { placeholder: 'steps (empty: all)', name: 'targets' });
  const partition = h('input', { placeholder: 'date=2026-05-25', name: 'partition' });
  const sets = h('input', { placeholder: 'thin.fast_interval_min=5', name: 'set', size: '30' });
  const batch = h('button', { 'data-testid': 'batch' }, 'Start batch build');
  batch.addEventListener('click', () => {
    const set: Record<string, Record<string, unknown>> = {};
    for (const item of sets.value.split(/[ ,]+/).filter(Boolean)) {
      const m = /^([^.]+)\.([^=]+)=(.*)$/.exec(item);
      if (m) (set[m[1]] ??= {})[m[2]] = isNaN(Number(m[3])) ? m[3] : Number(m[3]);
    }
    const part = Object.fromEntries(partition.value.split(',').filter((p) => p.includes('=')).map((p) => p.split('=') as [string, string]));
    void post('build', JSON.stringify({ targets: targets.value.split(/[ ,]+/).filter(Boolean), partition: part, set }));
  });
  const on = h('button', { 'data-testid': 'continuous-on' }, 'Start continuous');
  const off = h('button', { 'data-testid': 'continuous-off' }, 'Stop continuous');
  on.addEventListener('click', () => void post('continuous', JSON.stringify({ enabled: true })));
  off.addEventListener('click', () => void post('continuous', JSON.stringify({ enabled: false })));
  const file = h('input', { type: 'file', accept: '.csv,.xlsx', 'data-testid': 'upload-file' });
  const upload = h('button', { 'data-testid': 'upload' }, 'Chip from uploaded file');
  upload.addEventListener('click', () => {
    const f = file.files?.[0];
    if (f) void post('upload', f, `?filename=${encodeURIComponent(f.name)}`);
  });
  const time = h('input', { type: 'number', value: '15', step: 'any', 'data-testid': 'prune-time', size: '5' });
  const dist = h('input', { type: 'number', value: '300', step: 'any', 'data-testid': 'prune-distance', size: '5' });
  const prune = h('button', { 'data-testid': 'prune' }, 'Prune by AIS');
  prune.addEventListener('click', () => void post('prune', JSON.stringify({ time_min: Number(time.value), distance_m: Number(dist.value) })));
  main.replaceChildren(
    h('h2', {}, 'Actions'),
    h('p', {}, h('label', {}, 'Token '), tokenInput),
    h('div', { class: 'panel' }, h('h3', {}, 'Batch'), targets, ' ', partition, ' ', sets, ' ', batch),
    h('div', { class: 'panel' }, h('h3', {}, 'Continuous mode'), on, ' ', off),
    h('div', { class: 'panel' }, h('h3', {}, 'Chip from file (CSV/XLSX: mmsi, lat, lon[, overpass_time])'), file, ' ', upload),
    h('div', { class: 'panel' }, h('h3', {}, 'Prune by AIS'), h('label', {}, 'time tolerance (min) '), time, h('label', {}, ' distance tolerance (m) '), dist, ' ', prune),
    result,
  );
}

// ---------- router ----------
async function route(): Promise<void> {
  for (const fn of cleanup.splice(0)) fn();
  token();
  const [path] = location.hash.replace(/^#/, '').split('?');
  const [, page = 'pipeline', arg] = path.split('/');
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('data-page') === page);
  main.setAttribute('data-page', page);
  main.removeAttribute('data-ready');
  try {
    if (page === 'runs' && arg) await runPage(arg);
    else if (page === 'runs') await runsPage();
    else if (page === 'diff') await diffPage();
    else if (page === 'chips') await chipsPage();
    else if (page === 'map') await mapPage();
    else if (page === 'index') await indexPage();
    else if (page === 'actions') await actionsPage();
    else await pipelinePage();
  } catch (error) {
    main.replaceChildren(h('p', { class: 'error' }, String((error as Error).message)));
  }
  main.setAttribute('data-ready', page);
}

const live = new EventSource('/api/events');
live.onmessage = (m) => {
  const e = JSON.parse(m.data) as Json;
  statusEl.textContent = e.line;
};
window.addEventListener('hashchange', () => void route());
void route();
