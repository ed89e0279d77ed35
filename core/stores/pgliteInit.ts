import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../paths.js';
import { reply } from './workerReply.js';

/**
 * initdb in PGlite costs about 5 s of CPU (measured: 5,360 ms; the same empty cluster unpacked from
 * a tar: 871 ms). Every fresh `DATA_DIR` pays it: each test and bench that starts an embedded
 * gateway, and a new user's first `npm start`. The cluster initdb makes depends only on the PGlite
 * build, so the first one is kept as a tar and later fresh data dirs are unpacked from it.
 */
export const defaultInitCacheDir = join(packageRoot, 'node_modules', '.cache', 'fleetgate');

/**
 * Creates the cluster in a worker of its own: initdb leaves ~450 MiB of WASM memory behind that
 * the backend never gives back, and a worker's memory goes when the worker does. The template is
 * written to a unique name and renamed, so concurrent first starts never read a half-written one.
 */
const INIT_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync, writeFileSync, renameSync, mkdirSync, rmSync } = require('node:fs');
const { dirname } = require('node:path');
(async () => {
  const { PGlite } = await import(workerData.pglite);
  if (workerData.template) {
    const db = await PGlite.create(workerData.dir, { loadDataDir: new Blob([readFileSync(workerData.template)]) });
    await db.query('select 1');
    await db.close();
    return 'template';
  }
  const db = await PGlite.create(workerData.dir);
  if (workerData.save) {
    const tar = Buffer.from(await (await db.dumpDataDir('none')).arrayBuffer());
    const tmp = workerData.save + '.' + process.pid + '.' + Date.now() + '.tmp';
    try {
      mkdirSync(dirname(workerData.save), { recursive: true });
      writeFileSync(tmp, tar, { mode: 0o600 });
      renameSync(tmp, workerData.save);
    } catch {
      // A read-only package directory only loses the shortcut.
      rmSync(tmp, { force: true });
    }
  }
  await db.close();
  return 'initdb';
})().then((how) => parentPort.postMessage({ type: 'ready', how }), (e) => parentPort.postMessage({ type: 'failed', error: String((e && e.stack) || e) }));
`;

const runInit = async (workerData: { dir: string; pglite: string; template?: string; save?: string }) => {
  const worker = new Worker(INIT_SOURCE, { eval: true, workerData });
  try {
    return (await reply(worker, 'ready')).how ?? 'initdb';
  } finally {
    await worker.terminate();
  }
};

const emptyDir = async (dir: string) => {
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
};

/**
 * Makes `dir` (existing, without a cluster) hold an empty cluster: from the template in
 * `cacheDir` when there is one, else by initdb, keeping the result as the template. A template
 * that fails to load is deleted and initdb runs instead. `cacheDir` '' turns the cache off.
 */
export const initPgliteCluster = async (dir: string, cacheDir: string): Promise<'template' | 'initdb'> => {
  const pglite = import.meta.resolve('@electric-sql/pglite');
  // The package does not export its package.json; it sits above dist/index.js.
  const manifest = join(dirname(fileURLToPath(pglite)), '..', 'package.json');
  const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
  const template = cacheDir ? join(cacheDir, `pglite-${version}-initdb.tar`) : undefined;
  if (template && existsSync(template)) {
    try {
      return await runInit({ dir, pglite, template });
    } catch {
      await rm(template, { force: true });
      await emptyDir(dir);
    }
  }
  return runInit({ dir, pglite, ...(template ? { save: template } : {}) });
};
