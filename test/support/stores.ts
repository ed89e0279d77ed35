import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { migrate } from '../../core/stores/migrate.js';
import { openPostgres, type PostgresStore } from '../../core/stores/postgres.js';

export const REAL_PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const tempDir = async (prefix = 'fg-test-') => {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
};

/** A migrated PGlite in a fresh temp directory. */
export const freshPglite = async (): Promise<PostgresStore & { dir: string }> => {
  const t = await tempDir('fg-pglite-');
  const store = await openPostgres({ pgliteDir: join(t.dir, 'pg'), poolMax: 4 });
  await migrate({ postgres: store, gpsRetentionDays: 90 });
  return {
    ...store,
    dir: t.dir,
    close: async () => {
      await store.close();
      await t.remove();
    },
  };
};

/** A fresh database on the machine's Postgres, migrated; dropped on close. */
export const freshPostgresDb = async (): Promise<PostgresStore & { url: string }> => {
  const name = `fg_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(REAL_PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = REAL_PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const store = await openPostgres({ databaseUrl: url, pgliteDir: '', poolMax: 8 });
  await migrate({ postgres: store, gpsRetentionDays: 90 });
  return {
    ...store,
    url,
    close: async () => {
      await store.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
};
