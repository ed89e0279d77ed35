import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import postgres from 'postgres';
import { defaultInitCacheDir, initPgliteCluster } from './pgliteInit.js';
import { reply } from './workerReply.js';

export type Sql = postgres.Sql<Record<string, never>>;
export type TransactionSql = postgres.TransactionSql<Record<string, never>>;

export interface PostgresStore {
  sql: Sql;
  /** `pglite` in embedded mode (one WASM backend behind a local socket), else `postgres`. */
  target: 'pglite' | 'postgres';
  close(): Promise<void>;
}

export interface PostgresConfig {
  /** A real server; when absent, PGlite in `pgliteDir`. */
  databaseUrl?: string | undefined;
  pgliteDir: string;
  /** Connections per process to a real server (PGlite always gets one). */
  poolMax: number;
  /** Where an empty cluster is kept for fresh PGlite dirs (PGLITE_INIT_CACHE_DIR); '' for none. */
  initCacheDir?: string;
  /** PGlite's `shared_buffers` in MiB (PGLITE_SHARED_BUFFERS_MB); default {@link PGLITE_SHARED_BUFFERS_MB}. */
  pgliteSharedBuffersMb?: number | undefined;
}

const clientOptions = (max: number) =>
  ({
    max,
    // Named prepared statements: with several sockets onto one PGlite backend, the shared unnamed
    // statement gets clobbered (EMBEDDED_STACK.md gotcha 5).
    prepare: true,
    onnotice: () => {},
    connection: { application_name: 'fleetgate' },
  }) as const;

export const openPostgres = async (cfg: PostgresConfig): Promise<PostgresStore> => {
  if (cfg.databaseUrl) {
    const sql = postgres(cfg.databaseUrl, clientOptions(cfg.poolMax)) as unknown as Sql;
    return { sql, target: 'postgres', close: () => sql.end({ timeout: 5 }) };
  }
  return openPglite(cfg);
};

/**
 * PGlite and its socket server, run in a worker thread: the WASM backend then uses the second
 * core instead of sharing the event loop with MQTT, HTTP and the projections (it was ~40% of the
 * main thread under GPS load). Plain JavaScript evaluated in the worker, so the same code runs
 * from the built `dist/` and from the TypeScript sources under vitest; the packages are resolved
 * here and handed over as URLs.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import(workerData.pglite), import(workerData.socket)]);
  const db = await PGlite.create(workerData.dir, { postgresqlconf: workerData.conf });
  const server = new PGLiteSocketServer({ db, path: workerData.path, maxConnections: 3 });
  await server.start();
  parentPort.on('message', (m) => {
    if (m !== 'close') return;
    server.stop().then(() => db.close()).then(
      () => parentPort.postMessage({ type: 'closed' }),
      (e) => parentPort.postMessage({ type: 'closed', error: String((e && e.stack) || e) }),
    );
  });
  parentPort.postMessage({ type: 'ready' });
})().catch((e) => parentPort.postMessage({ type: 'failed', error: String((e && e.stack) || e) }));
`;

/**
 * PostgreSQL's buffer cache is WASM memory PGlite never returns, and all of it is resident from
 * the start (the gateway before any device: 486 MiB RSS with 8 MB, 518 with 32, 598 with 128). The
 * embedded log appends at the end of its table, its consumers read what was just written, and the
 * read models are small: 16 MB (2,048 pages) holds that working set; an evicted page comes back
 * from the OS page cache. 10,000 idle devices: 574 MiB RSS with 16 MB, 622 with 32.
 */
export const PGLITE_SHARED_BUFFERS_MB = 16;
const pgliteConf = (sharedBuffersMb: number) => [`shared_buffers=${sharedBuffersMb}MB`];

/**
 * A new cluster is made beside the data dir and renamed into place, so a first start killed
 * halfway leaves no half-made cluster that the next start would take for a real one.
 */
const createCluster = async (cfg: PostgresConfig) => {
  const refuse = () =>
    new Error(`${cfg.pgliteDir} holds files but no Postgres cluster (no PG_VERSION): move it away and start again`);
  if (existsSync(cfg.pgliteDir) && (await readdir(cfg.pgliteDir)).length > 0) throw refuse();
  const staging = `${cfg.pgliteDir}.init`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await initPgliteCluster(staging, cfg.initCacheDir ?? defaultInitCacheDir);
  try {
    await rename(staging, cfg.pgliteDir);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    throw refuse();
  }
};

/**
 * PGlite on disk, served on a private unix socket so the same `postgres` client and SQL run as
 * against a server. PGlite keeps no lock of its own: the caller must hold the data-dir lock.
 */
const openPglite = async (cfg: PostgresConfig): Promise<PostgresStore> => {
  await mkdir(dirname(cfg.pgliteDir), { recursive: true });
  const pglite = import.meta.resolve('@electric-sql/pglite');
  if (!existsSync(join(cfg.pgliteDir, 'PG_VERSION'))) await createCluster(cfg);
  const socketDir = await mkdtemp(join(tmpdir(), 'fg-pg-'));
  await chmod(socketDir, 0o700);
  const path = join(socketDir, '.s.PGSQL.5432');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      dir: cfg.pgliteDir,
      path,
      pglite,
      socket: import.meta.resolve('@electric-sql/pglite-socket'),
      conf: pgliteConf(cfg.pgliteSharedBuffersMb ?? PGLITE_SHARED_BUFFERS_MB),
    },
  });
  try {
    await reply(worker, 'ready');
  } catch (e) {
    await worker.terminate();
    await rm(socketDir, { recursive: true, force: true });
    throw e;
  }
  // One client connection: pglite-socket queues protocol messages, not whole queries, so messages
  // of two connections interleave and clobber the shared unnamed portal ("portal \"\" does not
  // exist"). One backend serialises every query anyway, and postgres.js pipelines on one socket.
  // The spare slots are for tools (psql) during development.
  const sql = postgres({ ...clientOptions(1), path, database: 'postgres', username: 'postgres' }) as unknown as Sql;
  return {
    sql,
    target: 'pglite',
    close: async () => {
      await sql.end({ timeout: 5 });
      const closed = reply(worker, 'closed');
      worker.postMessage('close');
      try {
        await closed;
      } finally {
        await worker.terminate();
        await rm(socketDir, { recursive: true, force: true });
      }
    },
  };
};
