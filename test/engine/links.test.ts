// Links and forged cache entries: the build never follows a link out of a folder it owns, never
// moves a file it did not create, and never trusts a path or an object an action entry names.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { build } from '../../src/engine/runner.js';
import { DIGEST_PREFIX } from '../../src/sdk/hash.js';
import { copyFixture, removeFixture } from '../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeFixture(dir);
});
const fixture = (name: string): string => {
  const dir = copyFixture(name);
  dirs.push(dir);
  return dir;
};
const outside = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'dagrun-outside-'));
  dirs.push(dir);
  return dir;
};
const linker = (dir: string, mode: string, target = '') => build({ pipelineFile: join(dir, 'pipeline.yaml'), sets: { linker: { mode, target } } });
const objectPath = (dir: string, digest: string): string => join(dir, 'cache', 'objects', digest.slice(DIGEST_PREFIX.length, DIGEST_PREFIX.length + 2), digest.slice(DIGEST_PREFIX.length + 2));
/** Every object's content in the store, to show a file's content never got there. */
const storedContents = (dir: string): string[] => {
  const root = join(dir, 'cache', 'objects');
  return readdirSync(root).flatMap((p) => readdirSync(join(root, p)).map((f) => readFileSync(join(root, p, f), 'utf8')));
};

describe('links in step outputs are refused, and nothing they point to is moved or stored', () => {
  it('a directory output holding a link to a project folder or an outside folder', async () => {
    const dir = fixture('links');
    const inProject = join(dir, 'data', 'srcdir');
    mkdirSync(inProject);
    writeFileSync(join(inProject, 'dataset.csv'), 'precious,project\n');
    const far = outside();
    writeFileSync(join(far, 'elsewhere.csv'), 'precious,outside\n');
    for (const target of [inProject, far]) {
      const result = await linker(dir, 'dirlink', target);
      const record = result.manifest.steps[0];
      expect(record.status).toBe('failed');
      expect(record.error).toBe('linker: output "linker.listing": linked is a symbolic link; outputs must be regular files written into the output\'s own folder (write a copy instead of a link)');
    }
    expect(readFileSync(join(inProject, 'dataset.csv'), 'utf8')).toBe('precious,project\n');
    expect(readFileSync(join(far, 'elsewhere.csv'), 'utf8')).toBe('precious,outside\n');
    expect(storedContents(dir).filter((c) => c.startsWith('precious'))).toEqual([]);
    expect(readdirSync(join(dir, 'cache', 'tmp'))).toEqual([]);
  });

  it('a file output that is a link to a file outside is refused; its content reaches neither the store nor out/', async () => {
    const dir = fixture('links');
    const secret = join(outside(), 'passwd');
    writeFileSync(secret, 'root:x:0:0:secret\n');
    const result = await linker(dir, 'filelink', secret);
    expect(result.manifest.steps[0].error).toMatch(/output "linker.doc": it is a symbolic link/);
    expect(readFileSync(secret, 'utf8')).toBe('root:x:0:0:secret\n');
    expect(storedContents(dir).filter((c) => c.includes('secret'))).toEqual([]);
    expect(existsSync(join(dir, 'out', 'doc.json'))).toBe(false);
  });

  it('a link loop in an output is one clear error, not 40 levels of ENOENT', async () => {
    const dir = fixture('links');
    const result = await linker(dir, 'loop');
    expect(result.manifest.steps[0].error).toMatch(/^linker: output "linker.listing": loop is a symbolic link/);
  });

  it('a hard link to a user file is copied into the store, never moved, and the store does not share its inode', async () => {
    const dir = fixture('links');
    const user = join(outside(), 'mine.csv');
    writeFileSync(user, 'mine,1\n');
    const result = await linker(dir, 'hardlink', user);
    expect(result.ok, result.manifest.steps[0].error).toBe(true);
    expect(readFileSync(user, 'utf8')).toBe('mine,1\n');
    const tree = JSON.parse(readFileSync(objectPath(dir, result.manifest.steps[0].outputs[0].digest), 'utf8')) as { entries: { path: string; digest: string }[] };
    const stored = objectPath(dir, tree.entries.find((e) => e.path === 'hard.csv')?.digest as string);
    expect(statSync(stored).ino).not.toBe(statSync(user).ino);
    writeFileSync(user, 'mine,2\n'); // editing the user's file must not change the store
    expect(readFileSync(stored, 'utf8')).toBe('mine,1\n');
  });
});

describe('materialising into out/ removes a stray link itself, never what it points to', () => {
  it('a link planted inside a tree output, and one standing where a tree file goes', async () => {
    const dir = fixture('trees');
    const run = () => build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect((await run()).ok).toBe(true);
    const far = outside();
    writeFileSync(join(far, 'keep.txt'), 'keep me\n');
    mkdirSync(join(far, 'sub'));
    writeFileSync(join(far, 'sub', 'deep.txt'), 'keep me too\n');
    symlinkSync(far, join(dir, 'out', 'listing', 'archive'));
    rmSync(join(dir, 'out', 'listing', 'f0.txt'));
    symlinkSync(join(far, 'keep.txt'), join(dir, 'out', 'listing', 'f0.txt'));
    const again = await run();
    expect(again.manifest.steps[0].status).toBe('cached');
    expect(readFileSync(join(far, 'keep.txt'), 'utf8')).toBe('keep me\n');
    expect(readFileSync(join(far, 'sub', 'deep.txt'), 'utf8')).toBe('keep me too\n');
    expect(existsSync(join(dir, 'out', 'listing', 'archive'))).toBe(false);
    expect(lstatSync(join(dir, 'out', 'listing', 'f0.txt')).isFile()).toBe(true);
    expect(readFileSync(join(dir, 'out', 'listing', 'f0.txt'), 'utf8')).toBe('alpha\n');
  });

  it('a link standing for a folder on a file output\'s path is replaced by a real folder', async () => {
    const dir = fixture('basic');
    const run = () => build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['make'] });
    expect((await run()).ok).toBe(true);
    const far = outside();
    writeFileSync(join(far, '2024-01-01.parquet'), 'not parquet');
    rmSync(join(dir, 'out', 'numbers'), { recursive: true });
    symlinkSync(far, join(dir, 'out', 'numbers'));
    expect((await run()).manifest.steps.map((s) => s.status)).toEqual(['cached', 'cached', 'cached']);
    expect(readFileSync(join(far, '2024-01-01.parquet'), 'utf8')).toBe('not parquet');
    expect(readdirSync(far)).toEqual(['2024-01-01.parquet']);
    expect(lstatSync(join(dir, 'out', 'numbers')).isDirectory()).toBe(true);
    expect(readdirSync(join(dir, 'out', 'numbers')).sort()).toEqual(['2024-01-01.parquet', '2024-01-02.parquet', '2024-01-03.parquet']);
  });
});

describe('directory inputs', () => {
  it('a link loop in an input folder is a clear error naming the link, not 40 levels of hashing', async () => {
    const dir = fixture('trees');
    symlinkSync('.', join(dir, 'data', 'loop'));
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(result.manifest.steps[0].status).toBe('failed');
    expect(result.manifest.steps[0].error).toBe('input "data": file:data/loop -> . is a symbolic link to a folder that contains it (a link loop)');
  });

  it('a loop through two links (a folder linking back to an ancestor) is found too', async () => {
    const dir = fixture('trees');
    const far = outside();
    symlinkSync(join(dir, 'data'), join(far, 'back'));
    symlinkSync(far, join(dir, 'data', 'away'));
    const result = await build({ pipelineFile: join(dir, 'pipeline.yaml') });
    expect(result.manifest.steps[0].error).toMatch(/file:data\/away\/back -> \(a folder above it\) is a symbolic link to a folder that contains it/);
  });
});

describe('action entries are untrusted', () => {
  const entryFile = (dir: string, key: string): string => join(dir, 'cache', 'actions', `${key.slice(DIGEST_PREFIX.length)}.json`);

  it('an entry whose output path was edited to leave out/ is a miss, and nothing is written outside', async () => {
    const dir = fixture('trees');
    const run = () => build({ pipelineFile: join(dir, 'pipeline.yaml') });
    const first = await run();
    const file = entryFile(dir, first.manifest.steps[0].cache_key as string);
    const original = readFileSync(file, 'utf8');
    // Named after this fixture copy so a file another run left behind cannot make the test pass or fail.
    const name = `escaped-${basename(dir)}`;
    for (const path of [`../../${name}`, `listing/../../${name}`, join(dir, name), 'other']) {
      const entry = JSON.parse(original);
      entry.outputs[0].path = path;
      writeFileSync(file, JSON.stringify(entry));
      const again = await run();
      expect(again.manifest.steps[0].status, path).toBe('built');
      expect(again.manifest.steps[0].outputs[0].path).toBe('listing');
      expect(existsSync(join(dir, '..', name))).toBe(false);
      expect(existsSync(join(dir, name))).toBe(false);
      expect(existsSync(join(dir, 'out', 'other'))).toBe(false);
    }
  });

  it('an entry naming a missing object is a miss even when out/ still holds the right file', async () => {
    const dir = fixture('basic');
    const run = () => build({ pipelineFile: join(dir, 'pipeline.yaml'), targets: ['summary'] });
    const first = await run();
    const output = first.manifest.steps.find((s) => s.step === 'summary')?.outputs[0];
    rmSync(objectPath(dir, output?.digest as string));
    const again = await run();
    const record = again.manifest.steps.find((s) => s.step === 'summary');
    expect(record?.status).toBe('built');
    expect(record?.reason).toMatch(/missing in the store/);
    expect(existsSync(objectPath(dir, output?.digest as string))).toBe(true);
  });

  it('a tree entry whose files are missing from the store is a miss', async () => {
    const dir = fixture('trees');
    const run = () => build({ pipelineFile: join(dir, 'pipeline.yaml') });
    const first = await run();
    const tree = JSON.parse(readFileSync(objectPath(dir, first.manifest.steps[0].outputs[0].digest), 'utf8')) as { entries: { digest: string }[] };
    rmSync(objectPath(dir, tree.entries[0].digest));
    const again = await run();
    expect(again.manifest.steps[0].status).toBe('built');
    expect(again.manifest.steps[0].reason).toMatch(/missing in the store/);
  });
});
