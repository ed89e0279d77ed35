import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Umzug, type UmzugStorage } from 'umzug';
import { clickhouseMigrationsDir, postgresMigrationsDir } from '../paths.js';
import type { ClickHouseStore } from './clickhouse.js';
import { syncGpsTtl } from './gpsTtl.js';
import type { PostgresStore, Sql } from './postgres.js';

export interface MigrationLogger {
  info(obj: object, msg?: string): void;
}

const sqlFiles = async (dir: string) => (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();

/** Applied Postgres migrations live in Postgres (`schema_migrations`). */
const storage = (sql: Sql): UmzugStorage => ({
  async executed() {
    const rows = await sql<{ name: string }[]>`SELECT name FROM schema_migrations ORDER BY name`;
    // Earlier versions also kept ClickHouse ones here, named `clickhouse/…`.
    return rows.map((r) => r.name).filter((n) => !n.includes('/'));
  },
  async logMigration({ name }) {
    await sql`INSERT INTO schema_migrations (name) VALUES (${name}) ON CONFLICT DO NOTHING`;
  },
  async unlogMigration({ name }) {
    await sql`DELETE FROM schema_migrations WHERE name = ${name}`;
  },
});

/**
 * Applied ClickHouse migrations live in ClickHouse: a process with its own chdb next to a shared
 * Postgres (projections in a second process) must still create its tables. Databases that
 * recorded them in Postgres only re-run DDL that is idempotent.
 */
const clickhouseStorage = (ch: ClickHouseStore['client']): UmzugStorage => {
  const table = 'default.fleetgate_schema_migrations';
  const ready = ch.command({
    query: `CREATE TABLE IF NOT EXISTS ${table} (name String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY name`,
  });
  return {
    async executed() {
      await ready;
      const rs = await ch.query({ query: `SELECT DISTINCT name FROM ${table} ORDER BY name`, format: 'JSONEachRow' });
      return (await rs.json<{ name: string }>()).map((r) => r.name);
    },
    async logMigration({ name }) {
      await ready;
      await ch.insert({ table, values: [{ name }], format: 'JSONEachRow' });
    },
    async unlogMigration({ name }) {
      await ready;
      await ch.command({ query: `DELETE FROM ${table} WHERE name = {name:String}`, query_params: { name } });
    },
  };
};

const umzugLogger = (log?: MigrationLogger) => {
  const write = ({ name, ...rest }: Record<string, unknown>) => log?.info({ migration: name, ...rest }, 'migration');
  return { info: write, warn: write, error: write, debug: () => {} };
};

export interface MigrateOptions {
  postgres: PostgresStore;
  clickhouse?: ClickHouseStore | undefined;
  /** Substituted for `{retention_days}` in ClickHouse DDL. */
  gpsRetentionDays: number;
  logger?: MigrationLogger;
}

/**
 * Applies `schemas/postgres/NNN_*.sql` (each in its own transaction) and, when a ClickHouse store
 * is given, `schemas/clickhouse/NNN_*.sql` (idempotent DDL, one statement at a time). Several
 * gateway processes may start at once against one server: an advisory lock makes them take turns.
 */
export const migrate = async (opts: MigrateOptions): Promise<string[]> => {
  const { sql } = opts.postgres;
  await sql`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
  // PGlite has a single connection and a single process (the data-dir lock): nothing to exclude.
  const lockConn = opts.postgres.target === 'postgres' ? await sql.reserve() : undefined;
  try {
    if (lockConn) await lockConn`SELECT pg_advisory_lock(hashtext('fleetgate.migrate'))`;
    const pgFiles = await sqlFiles(postgresMigrationsDir);
    const pg = new Umzug({
      migrations: pgFiles.map((f) => ({
        name: f,
        up: async () => {
          const text = await readFile(join(postgresMigrationsDir, f), 'utf8');
          await sql.begin(async (tx) => {
            await tx.unsafe(text);
          });
        },
      })),
      storage: storage(sql),
      logger: umzugLogger(opts.logger),
    });
    const applied = (await pg.up()).map((m) => m.name);
    if (opts.clickhouse) {
      const ch = opts.clickhouse.client;
      const chFiles = await sqlFiles(clickhouseMigrationsDir);
      const chUmzug = new Umzug({
        migrations: chFiles.map((f) => ({
          name: `clickhouse/${f}`,
          up: async () => {
            const text = (await readFile(join(clickhouseMigrationsDir, f), 'utf8')).replaceAll(
              '{retention_days}',
              String(Math.trunc(opts.gpsRetentionDays)),
            );
            for (const statement of splitStatements(text)) await ch.command({ query: statement });
          },
        })),
        storage: clickhouseStorage(ch),
        logger: umzugLogger(opts.logger),
      });
      applied.push(...(await chUmzug.up()).map((m) => m.name));
      const ttl = await syncGpsTtl(ch, opts.gpsRetentionDays);
      if (ttl) opts.logger?.info({ ...ttl }, 'gps_tracking TTL changed to GPS_STORE_HISTORY_DAYS');
    }
    return applied;
  } finally {
    if (lockConn) {
      await lockConn`SELECT pg_advisory_unlock(hashtext('fleetgate.migrate'))`.catch(() => {});
      lockConn.release();
    }
  }
};

/** Splits DDL on `;` at line ends, dropping `--` comment lines. */
export const splitStatements = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => !l.trim().startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
