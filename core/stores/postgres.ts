import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';

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
 * PGlite on disk, served on a private unix socket so the same `postgres` client and SQL run as
 * against a server. PGlite keeps no lock of its own: the caller must hold the data-dir lock.
 */
const openPglite = async (cfg: PostgresConfig): Promise<PostgresStore> => {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-socket'),
  ]);
  await mkdir(cfg.pgliteDir, { recursive: true });
  const db = await PGlite.create(cfg.pgliteDir);
  const socketDir = await mkdtemp(join(tmpdir(), 'fg-pg-'));
  await chmod(socketDir, 0o700);
  const path = join(socketDir, '.s.PGSQL.5432');
  // One client connection: pglite-socket queues protocol messages, not whole queries, so messages
  // of two connections interleave and clobber the shared unnamed portal ("portal \"\" does not
  // exist"). One backend serialises every query anyway, and postgres.js pipelines on one socket.
  // The spare slots are for tools (psql) during development.
  const server = new PGLiteSocketServer({ db, path, maxConnections: 3 });
  await server.start();
  const sql = postgres({ ...clientOptions(1), path, database: 'postgres', username: 'postgres' }) as unknown as Sql;
  return {
    sql,
    target: 'pglite',
    close: async () => {
      await sql.end({ timeout: 5 });
      await server.stop();
      await db.close();
      await rm(socketDir, { recursive: true, force: true });
    },
  };
};
