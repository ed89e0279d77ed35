// Builds dist/ with tsc (incremental, tsconfig.build.json) and records what it was built from, so
// `npm start` can skip the compile when nothing changed: a no-change tsc --incremental still parses
// the whole program (~13 s on a loaded 2-core machine), a stat of the sources takes milliseconds.
//
//   node scripts/build.mjs             compile (what `npm run build` runs)
//   node scripts/build.mjs --if-stale  compile only if a source, tsconfig, package.json or the
//                                      TypeScript version changed since the last good build, or an
//                                      output is missing (what `npm start` runs first)
//
// Plain JavaScript on purpose: it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = 'tsconfig.build.json';
const DIST = join(root, 'dist');
const FINGERPRINT = join(DIST, '.build-fingerprint');
const BUILD_INFO = join(DIST, '.tsbuildinfo');
const SOURCE = /\.(ts|mts|cts|tsx|json)$/;
const require = createRequire(import.meta.url);

const walk = (dir, match, out) => {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, match, out);
    else if (match.test(entry.name)) out.push(path);
  }
  return out;
};

/** The source a compiled file came from, if it is still there. */
const sourceOf = (js) => {
  const base = join(root, relative(DIST, js));
  const candidates = js.endsWith('.mjs')
    ? [base.replace(/\.mjs$/, '.mts')]
    : js.endsWith('.cjs')
      ? [base.replace(/\.cjs$/, '.cts')]
      : [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx')];
  return candidates.find((c) => existsSync(c));
};

/**
 * The compiler's inputs: the build's include folders, the files that change how they compile, and
 * files outside those folders that the last build compiled because something imports them (bench
 * imports test/support).
 */
const inputs = () => {
  const include = JSON.parse(readFileSync(join(root, CONFIG), 'utf8')).include ?? [];
  const files = new Set(include.flatMap((dir) => walk(join(root, dir), SOURCE, [])));
  for (const js of walk(DIST, /\.[mc]?js$/, [])) {
    const source = sourceOf(js);
    if (source) files.add(source);
  }
  for (const f of ['tsconfig.json', CONFIG, 'package.json']) files.add(join(root, f));
  return [...files].sort();
};

/** Path, size and mtime of each input, and the compiler's version: a changed, added or removed file changes it. */
const fingerprint = (files, seen = new Map()) => {
  const hash = createHash('sha256');
  hash.update(`typescript ${require('typescript/package.json').version}\n`);
  for (const f of files) {
    const s = seen.get(f) ?? statSync(f);
    seen.set(f, s);
    hash.update(`${relative(root, f)}\t${s.size}\t${s.mtimeMs}\n`);
  }
  return hash.digest('hex');
};

/** The .js each source compiles to; tsc --incremental does not notice one deleted from dist/. */
const outputsMissing = (files) =>
  files.some((f) => {
    if (!/\.(ts|mts|cts|tsx)$/.test(f) || /\.d\.[mc]?ts$/.test(f)) return false;
    const rel = relative(root, f)
      .replace(/\.tsx?$/, '.js')
      .replace(/\.mts$/, '.mjs')
      .replace(/\.cts$/, '.cjs');
    return rel.includes('/') && !existsSync(join(DIST, rel));
  });

const files = inputs();
// Stats taken before compiling: a file edited during the compile makes the next start build again.
const stats = new Map();
const current = fingerprint(files, stats);
const missing = outputsMissing(files);
if (process.argv.includes('--if-stale') && !missing) {
  const previous = existsSync(FINGERPRINT) ? readFileSync(FINGERPRINT, 'utf8').trim() : '';
  if (previous === current) {
    console.log('dist/ is up to date; not compiling (node scripts/build.mjs compiles anyway)');
    process.exit(0);
  }
}
// With outputs missing, the incremental state would skip emitting them: start over.
if (missing) rmSync(BUILD_INFO, { force: true });
rmSync(FINGERPRINT, { force: true });
const tsc = spawnSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', CONFIG, '--incremental', '--tsBuildInfoFile', BUILD_INFO],
  { cwd: root, stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
// Recorded over the inputs as they are now known (a file outside the include folders may have been
// compiled for the first time), with the stats from before the compile.
writeFileSync(FINGERPRINT, `${fingerprint(inputs(), stats)}\n`);
