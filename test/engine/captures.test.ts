// Durable captures (issue 11): a live source's capture lives in cache/captures/, survives gc, code,
// engine and documentation changes, travels as a file, and is only replaced by --refresh.
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions } from '../../src/engine/runner.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { Store } from '../../src/engine/store.js';
import { Captures } from '../../src/engine/captures.js';
import { collectGarbage } from '../../src/engine/maintenance.js';
import { readTable } from '../../src/sdk/table-io.js';
import { copyFixture, removeFixture, runCli } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});

function fixture(): { dir: string; run: (options?: Partial<BuildOptions>) => ReturnType<typeof build> } {
  const dir = copyFixture('captures');
  dirs.push(dir);
  return { dir, run: (options = {}) => build({ pipelineFile: join(dir, 'pipeline.yaml'), ...options }) };
}

const statuses = (manifest: Manifest): Record<string, string> => Object.fromEntries(manifest.steps.map((s) => [s.instance, s.status]));
const heard = async (dir: string, date: string): Promise<unknown> => (await readTable(join(dir, 'out', 'heard', date, 'heard.parquet')))[0];
const L25 = 'listen[date=2026-05-25]';
const L26 = 'listen[date=2026-05-26]';

describe('durable captures', () => {
  it('one capture per source step × partition, listed with its time and its source without secrets', async () => {
    const { dir, run } = fixture();
    const first = await run();
    expect(first.ok).toBe(true);
    const listed = JSON.parse((await runCli(['captures', '--json'], dir)).stdout) as { instance: string; sources: string[]; captured_at: string; outputs: number }[];
    expect(listed.map((c) => c.instance)).toEqual([L25, L26]);
    expect(listed[0].sources).toEqual(['wss://feed.example.invalid/v0/stream']);
    expect(listed[0].outputs).toBe(2);
    expect(Date.parse(listed[0].captured_at)).toBeGreaterThan(Date.now() - 600_000);
    const record = first.manifest.steps.find((s) => s.instance === L25);
    expect(record).toMatchObject({ status: 'built', pinned: true });
    expect(record?.capture_key).toMatch(/^sha256:/);
    // No action entry: the capture is not in the action cache.
    const actions = readdirSync(join(dir, 'cache', 'actions')).map((f) => JSON.parse(readFileSync(join(dir, 'cache', 'actions', f), 'utf8')) as { step: string });
    expect(actions.map((a) => a.step).sort()).toEqual(['count', 'count']);
  });

  it('is reused across code and documentation edits, and replaced only by --refresh', async () => {
    const { dir, run } = fixture();
    await run();
    const before = await heard(dir, '2026-05-25');
    appendFileSync(join(dir, 'steps', 'listen', 'kernel.ts'), '// a fix elsewhere in the capture code\n');
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('minutes recorded around each overpass', 'minutes of stream kept around each overpass'));
    const again = await run();
    expect(statuses(again.manifest)[L25]).toBe('cached');
    const reason = again.manifest.steps.find((s) => s.instance === L25)?.reason;
    expect(reason).toMatch(/^pinned capture from \S+ reused; the code changed since, which does not redo a capture \(use --refresh listen to capture again\)$/);
    expect(await heard(dir, '2026-05-25')).toEqual(before);
    expect(statuses(again.manifest)['count[date=2026-05-25]']).toBe('cached');

    const refreshed = await run({ refresh: ['listen'], partitionFilter: { date: '2026-05-25' } });
    expect(statuses(refreshed.manifest)[L25]).toBe('built');
    expect(await heard(dir, '2026-05-25')).not.toEqual(before);
    // Still one capture for that partition: the refresh replaced it.
    expect(new Captures(new Store(join(dir, 'cache'))).list().map((c) => c.instance)).toEqual([L25, L26]);
  });

  it('gc --keep-runs after many one-partition builds keeps every capture; only gc --captures --older-than drops one', async () => {
    const { dir, run } = fixture();
    await run();
    const before = await heard(dir, '2026-05-26');
    for (let i = 0; i < 3; i += 1) await run({ partitionFilter: { date: '2026-05-25' }, force: ['count'] });
    const store = new Store(join(dir, 'cache'));
    const gc = await collectGarbage(store, { keepRuns: 1 });
    expect(gc).toMatchObject({ kept_runs: 1, dropped_runs: 3, captures_kept: 2, captures_removed: 0 });
    const later = await run();
    expect(statuses(later.manifest)[L26]).toBe('cached');
    expect(await heard(dir, '2026-05-26')).toEqual(before);

    expect((await runCli(['gc', '--captures'], dir)).code).toBe(2);
    expect((await runCli(['gc', '--captures', '--older-than', 'soon'], dir)).stderr).toContain('--older-than takes an age like 30d');
    const young = JSON.parse((await runCli(['gc', '--captures', '--older-than', '1d', '--json'], dir)).stdout);
    expect(young).toMatchObject({ captures_removed: 0, captures_kept: 2 });
    const all = await collectGarbage(store, { capturesOlderThanMs: 1000, now: new Date(Date.now() + 60_000) });
    expect(all).toMatchObject({ captures_removed: 2, captures_kept: 0 });
    expect(statuses((await run()).manifest)[L26]).toBe('built');
  });

  it('export and import carry captures to another cache; a damaged file is refused whole', async () => {
    const a = fixture();
    const b = fixture();
    await a.run();
    const bundle = join(a.dir, 'listen.captures');
    const exported = await runCli(['captures', 'export', 'listen.captures', L26, '--json'], a.dir);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ captures: 1, file: 'listen.captures' });

    const damaged = join(b.dir, 'damaged.captures');
    const bytes = readFileSync(bundle);
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(damaged, bytes);
    const refused = await runCli(['captures', 'import', 'damaged.captures'], b.dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/damaged\.captures: object sha256:\w+ at offset \d+ does not match its digest/);
    expect(existsSync(join(b.dir, 'cache', 'captures')) ? readdirSync(join(b.dir, 'cache', 'captures')).filter((f) => f.endsWith('.json')) : []).toEqual([]);
    writeFileSync(damaged, bytes.subarray(0, bytes.length - 10));
    expect((await runCli(['captures', 'import', 'damaged.captures'], b.dir)).stderr).toMatch(/is truncated/);

    const imported = await runCli(['captures', 'import', bundle], b.dir);
    expect(imported.code, imported.stderr).toBe(0);
    const built = await b.run();
    expect(statuses(built.manifest)[L26]).toBe('cached');
    expect(statuses(built.manifest)[L25]).toBe('built');
    expect(await heard(b.dir, '2026-05-26')).toEqual(await heard(a.dir, '2026-05-26'));
    expect(readFileSync(join(b.dir, 'out', 'heard', '2026-05-26', 'raw', 'messages', 'stream.ndjson'), 'utf8')).toBe(readFileSync(join(a.dir, 'out', 'heard', '2026-05-26', 'raw', 'messages', 'stream.ndjson'), 'utf8'));
  });

  it('verify reports a capture whose object is gone', async () => {
    const { dir, run } = fixture();
    await run();
    const store = new Store(join(dir, 'cache'));
    const [capture] = new Captures(store).list();
    rmSync(store.objectPath(capture.outputs[0].digest));
    const verify = await runCli(['verify'], dir);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`capture ${capture.instance}`);
    expect(verify.stdout).toContain('is missing');
  });

  it('a capture record naming another output path, or lacking its warnings, is refused on import and never served from cache/captures', async () => {
    const a = fixture();
    const b = fixture();
    await a.run();
    expect((await runCli(['captures', 'export', 'listen.captures', L26], a.dir)).code).toBe(0);
    const bytes = readFileSync(join(a.dir, 'listen.captures'));
    const newline = bytes.indexOf(10);
    const header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as { captures: { outputs: { name: string; path: string }[]; warnings?: unknown }[] };
    const rewrite = (edit: (record: (typeof header.captures)[0]) => void, name: string): void => {
      const copy = JSON.parse(JSON.stringify(header)) as typeof header;
      edit(copy.captures[0]);
      writeFileSync(join(b.dir, name), Buffer.concat([Buffer.from(JSON.stringify(copy)), bytes.subarray(newline)]));
    };
    // Another step's output (count writes counted/2026-05-26.parquet): served, it would overwrite that.
    rewrite((r) => (r.outputs.find((o) => o.name === 'heard') as { path: string }).path = 'counted/2026-05-26.parquet', 'elsewhere.captures');
    rewrite((r) => delete r.warnings, 'no-warnings.captures');
    rewrite((r) => (r.outputs.find((o) => o.name === 'heard') as { path: string }).path = '../../escaped.parquet', 'escaping.captures');
    const refused = async (name: string) => {
      const result = await runCli(['captures', 'import', name], b.dir);
      expect(result.code).toBe(2);
      return result.stderr.trim();
    };
    expect(await refused('no-warnings.captures')).toBe(`dagrun: no-warnings.captures: capture 1 (${L26}) lacks its metrics or warnings; nothing imported`);
    expect(await refused('escaping.captures')).toBe(`dagrun: escaping.captures: capture 1 (${L26}) output heard has an unsafe path "../../escaped.parquet" or an unknown kind; nothing imported`);
    expect(existsSync(join(b.dir, 'cache', 'captures')) ? readdirSync(join(b.dir, 'cache', 'captures')).filter((f) => f.endsWith('.json')) : []).toEqual([]);
    // Shaped, so a bundle (which knows no pipeline) carries it; the build checks it against the step.
    expect((await runCli(['captures', 'import', 'elsewhere.captures'], b.dir)).code).toBe(0);
    const built = await b.run();
    const listen = built.manifest.steps.find((s) => s.instance === L26);
    expect(listen?.status).toBe('failed');
    expect(listen?.error).toContain(`capture ${L26} (cache/captures/`);
    expect(listen?.error).toContain('has output heard at "counted/2026-05-26.parquet" (file); the step writes it at "heard/2026-05-26/heard.parquet" (file); `dagrun build --refresh listen` records it again');
    expect(existsSync(join(b.dir, 'out', 'counted', '2026-05-26.parquet'))).toBe(false);
    expect(statuses(built.manifest)[L25]).toBe('built');
  });
});
