// A directory input's stat fingerprint (tree-fingerprint.ts) attacked: it holds each entry's ctime,
// inode and size but no mtime, so every edit that puts the mtime back, every rename, every new empty
// file and every retargeted link must still change it — with GNU find listing the tree and with the
// Node walker (no find on the PATH) alike. Nothing that leaves the files as they were may change it.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { findListing, treeFingerprint } from '../../src/engine/tree-fingerprint.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Whole seconds: `touch -d @S` puts back exactly the mtime a file had. */
const OLD = Math.floor(Date.now() / 1000) - 3600;

/**
 * A project folder with `tree/` (the directory input: three folders of files, a link to a file and a
 * link to a folder, both outside the tree) and, beside it, link targets that look alike: same size,
 * same mtime, other bytes.
 */
function project(): { root: string; tree: string } {
  const root = mkdtempSync(join(tmpdir(), 'dagrun-tree-fp-'));
  dirs.push(root);
  const tree = join(root, 'tree');
  for (let i = 0; i < 9; i += 1) {
    mkdirSync(join(tree, `d${i % 3}`), { recursive: true });
    writeFileSync(join(tree, `d${i % 3}`, `f${i}.csv`), `id,v\n${i},${i * 7}\n`);
  }
  for (const [name, text] of [['a.csv', 'id,v\n1,2\n'], ['b.csv', 'id,v\n1,3\n'], ['da/x.csv', 'x,1\n'], ['db/x.csv', 'x,2\n']]) {
    mkdirSync(join(root, 'targets', name.includes('/') ? name.split('/')[0] : ''), { recursive: true });
    writeFileSync(join(root, 'targets', name), text);
  }
  symlinkSync(join(root, 'targets', 'a.csv'), join(tree, 'link.csv'));
  symlinkSync(join(root, 'targets', 'da'), join(tree, 'linked-dir'));
  execFileSync('find', [root, '-type', 'f', '-exec', 'touch', '-m', '-d', `@${OLD}`, '{}', '+']);
  return { root, tree };
}

/** Wait until a change made now gets a later ctime than every entry of the tree (file times tick coarsely on some kernels). */
async function afterNewestChange(root: string): Promise<void> {
  const newest = (): number => Math.max(...execFileSync('find', ['-L', root, '-printf', '%C@\n'], { encoding: 'utf8' }).trim().split('\n').map(Number));
  const probe = join(root, 'probe');
  const before = newest();
  for (;;) {
    writeFileSync(probe, '');
    const ctime = Number(execFileSync('find', [probe, '-printf', '%C@'], { encoding: 'utf8' }));
    unlinkSync(probe);
    if (ctime > before) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Put back the mtime a file had, with touch(1) as a user would. */
const touchBack = (path: string): void => void execFileSync('touch', ['-m', '-d', `@${OLD}`, path]);

/** Changes a full build would see (content, names, what a link points to), each made so that size and mtime stay as they were. */
const EDITS: Record<string, (root: string, tree: string) => void> = {
  'an edit of the same size, its mtime put back with touch -d': (_, tree) => {
    const file = join(tree, 'd1', 'f4.csv');
    writeFileSync(file, readFileSync(file, 'utf8').replace('4,28', '4,29'));
    touchBack(file);
  },
  'only the mtime set (touch -m -d), nothing else': (_, tree) => void execFileSync('touch', ['-m', '-d', '2001-02-03 04:05:06', join(tree, 'd0', 'f0.csv')]),
  'a file renamed in its folder': (_, tree) => renameSync(join(tree, 'd2', 'f5.csv'), join(tree, 'd2', 'g5.csv')),
  'a file moved to another folder under the same name': (_, tree) => {
    renameSync(join(tree, 'd2', 'f8.csv'), join(tree, 'd1', 'f8.csv'));
  },
  'two files of the same size swapping names': (_, tree) => {
    renameSync(join(tree, 'd0', 'f3.csv'), join(tree, 'd0', 'tmp'));
    renameSync(join(tree, 'd0', 'f6.csv'), join(tree, 'd0', 'f3.csv'));
    renameSync(join(tree, 'd0', 'tmp'), join(tree, 'd0', 'f6.csv'));
  },
  'a folder renamed': (_, tree) => renameSync(join(tree, 'd2'), join(tree, 'd3')),
  'a hard link to a file added in another folder': (_, tree) => linkSync(join(tree, 'd0', 'f0.csv'), join(tree, 'd1', 'f0.csv')),
  'a new empty file': (_, tree) => {
    writeFileSync(join(tree, 'd1', 'empty.csv'), '');
    touchBack(join(tree, 'd1', 'empty.csv'));
  },
  'a file deleted': (_, tree) => unlinkSync(join(tree, 'd1', 'f7.csv')),
  'a file replaced by a copy with its mtime (cp -p, then mv over it)': (root, tree) => {
    copyFileSync(join(tree, 'd1', 'f1.csv'), join(root, 'copy'));
    touchBack(join(root, 'copy'));
    renameSync(join(root, 'copy'), join(tree, 'd1', 'f1.csv'));
  },
  'a link to a file retargeted to a file of the same size and mtime': (root, tree) => {
    unlinkSync(join(tree, 'link.csv'));
    symlinkSync(join(root, 'targets', 'b.csv'), join(tree, 'link.csv'));
  },
  'a link to a folder retargeted to a folder with the same names, sizes and mtimes': (root, tree) => {
    symlinkSync(join(root, 'targets', 'db'), join(root, 'next'));
    renameSync(join(root, 'next'), join(tree, 'linked-dir'));
  },
  'a linked file edited through its link, its mtime put back': (root) => {
    writeFileSync(join(root, 'targets', 'a.csv'), 'id,v\n1,9\n');
    touchBack(join(root, 'targets', 'a.csv'));
  },
  'a mode change': (_, tree) => chmodSync(join(tree, 'd2', 'f2.csv'), 0o600),
};

const listers = [
  ['GNU find', () => undefined],
  // The walker decides where there is no find: an empty PATH.
  ['the Node walker', () => {
    const path = process.env.PATH;
    process.env.PATH = join(tmpdir(), 'dagrun-no-such-folder');
    return () => void (process.env.PATH = path);
  }],
] as const;

// GNU find, touch -d and symlinks as a user's shell has them: Linux (CI's platform).
describe.skipIf(process.platform !== 'linux')('tree fingerprint', () => {
  for (const [lister, use] of listers) {
    describe(`by ${lister}`, () => {
      const fingerprint = (tree: string): string => {
        const restore = use();
        try {
          return treeFingerprint(tree).fingerprint;
        } finally {
          restore?.();
        }
      };

      it('is the same for an unchanged tree, read through or not, and it is taken by the lister named', () => {
        const { tree } = project();
        const first = fingerprint(tree);
        expect(first.startsWith('find:')).toBe(lister === 'GNU find' && process.platform === 'linux');
        execFileSync('find', ['-L', tree, '-type', 'f', '-exec', 'cat', '{}', '+'], { stdio: 'ignore' });
        expect(fingerprint(tree)).toBe(first);
      });

      for (const [name, edit] of Object.entries(EDITS)) {
        it(`sees ${name}`, async () => {
          const { root, tree } = project();
          const before = fingerprint(tree);
          await afterNewestChange(root);
          const sizes = (): string => execFileSync('find', ['-L', tree, '-type', 'f', '-printf', '%s %T@\n'], { encoding: 'utf8' }).split('\n').sort().join('\n');
          const looked = sizes();
          edit(root, tree);
          if (!['mtime set', 'new empty', 'deleted', 'hard link'].some((what) => name.includes(what))) expect(sizes()).toBe(looked); // size and mtime alone would miss it
          expect(fingerprint(tree)).not.toBe(before);
        });
      }

      it('reports the newest ctime of the tree (a build vouches only for a tree older than its start)', async () => {
        const { root, tree } = project();
        await afterNewestChange(root);
        writeFileSync(join(tree, 'd2', 'fresh.csv'), 'id\n1\n');
        const restore = use();
        try {
          expect(treeFingerprint(tree).newestChangeMs()).toBeCloseTo(statSync(join(tree, 'd2', 'fresh.csv')).ctimeMs, 0);
        } finally {
          restore?.();
        }
      });
    });
  }

  it("find's listing: each folder's path, ctime and inode, then its files' ctime, inode and size; no mtime", () => {
    const { tree } = project();
    const lines = (findListing(tree) as Buffer).toString('latin1').trimEnd().split('\n');
    expect(lines.join('\n')).not.toContain(String(OLD));
    const folder = lines.indexOf(lines.find((line) => line.startsWith('d0\0')) as string);
    expect(lines[folder]).toMatch(/^d0\0\d+\.\d+:\d+$/);
    // d0's three files follow it, named by nothing but their folder.
    expect(lines.slice(folder + 1, folder + 4).every((line) => /^\d+\.\d+:\d+:\d+$/.test(line))).toBe(true);
    expect(lines.filter((line) => line.includes('\0')).map((line) => line.split('\0')[0]).sort()).toEqual(['', 'd0', 'd1', 'd2', 'linked-dir']);
  });
});
