/**
 * `npm start`'s build step (`scripts/build.mjs --if-stale`): it compiles only when something the
 * compile reads changed, and still compiles whenever dist/ would otherwise be stale or incomplete.
 * Run on a small project of its own (the real one takes tsc tens of seconds).
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../core/paths.js';
import { tempDir } from '../support/stores.js';

let dir: string;
let remove: () => Promise<void>;
beforeAll(async () => {
  ({ dir, remove } = await tempDir('fg-build-'));
  await mkdir(join(dir, 'scripts'));
  await copyFile(join(packageRoot, 'scripts', 'build.mjs'), join(dir, 'scripts', 'build.mjs'));
  await symlink(join(packageRoot, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  // No DOM, no @types, no lib checks: each tsc run starts in a second or two.
  const compilerOptions = {
    target: 'ES2022',
    lib: ['ES2022'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    types: [],
    skipLibCheck: true,
  };
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { ...compilerOptions, outDir: 'dist', rootDir: '.' }, include: ['src'] }),
  );
  await writeFile(join(dir, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src'] }));
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'shared'));
  // Outside the include folders, compiled because src imports it (as bench/ imports test/support/).
  await writeFile(join(dir, 'shared', 'b.ts'), 'export const b = 1;\n');
  await writeFile(join(dir, 'src', 'a.ts'), "import { b } from '../shared/b.js';\nexport const a = b + 1;\n");
}, 30_000);
afterAll(async () => {
  await remove?.();
});

const build = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['scripts/build.mjs', ...args], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, compiled: !r.stdout.includes('up to date'), out: r.stdout + r.stderr };
};
const startBuild = () => build('--if-stale');
const dist = (path: string) => readFile(join(dir, 'dist', path), 'utf8');

describe('npm start: compile only when something changed', () => {
  it('compiles a fresh clone, then skips until a source changes, and rebuilds what is missing', async () => {
    expect(startBuild()).toMatchObject({ status: 0, compiled: true });
    expect(await dist('src/a.js')).toContain('b + 1');
    expect(startBuild()).toMatchObject({ status: 0, compiled: false });

    await writeFile(join(dir, 'src', 'a.ts'), "import { b } from '../shared/b.js';\nexport const a = b + 22;\n");
    expect(startBuild()).toMatchObject({ status: 0, compiled: true });
    expect(await dist('src/a.js')).toContain('b + 22');
    expect(startBuild()).toMatchObject({ status: 0, compiled: false });

    // A file outside the include folders that the build compiled counts as a source too.
    await writeFile(join(dir, 'shared', 'b.ts'), 'export const b = 333;\n');
    expect(startBuild()).toMatchObject({ status: 0, compiled: true });
    expect(await dist('shared/b.js')).toContain('333');

    // A new file, and an output deleted from dist/ (which tsc --incremental alone would not re-emit).
    await writeFile(join(dir, 'src', 'c.ts'), 'export const c = 4;\n');
    expect(startBuild()).toMatchObject({ status: 0, compiled: true });
    await rm(join(dir, 'dist', 'src', 'a.js'));
    expect(startBuild()).toMatchObject({ status: 0, compiled: true });
    expect(await dist('src/a.js')).toContain('b + 22');
    expect(startBuild()).toMatchObject({ status: 0, compiled: false });

    // A tsconfig change rebuilds; `npm run build` always compiles.
    await writeFile(join(dir, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src', 'shared'] }));
    expect(startBuild()).toMatchObject({ status: 0, compiled: true });
    expect(build()).toMatchObject({ status: 0, compiled: true });
  }, 60_000);

  it('fails on a type error (so start does not run stale code) and compiles again next time', async () => {
    await writeFile(join(dir, 'src', 'c.ts'), "export const c: number = 'four';\n");
    const broken = startBuild();
    expect(broken.status).not.toBe(0);
    expect(broken.out).toContain('TS2322');
    expect(startBuild()).toMatchObject({ compiled: true });
    await writeFile(join(dir, 'src', 'c.ts'), 'export const c = 5;\n');
    expect(startBuild()).toMatchObject({ status: 0, compiled: true });
    expect(startBuild()).toMatchObject({ status: 0, compiled: false });
  }, 60_000);
});
