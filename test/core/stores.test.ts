import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openClickHouse } from '../../core/stores/clickhouse.js';
import { migrate } from '../../core/stores/migrate.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { freshPglite, tempDir } from '../support/stores.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('stores', () => {
  it('PGlite behind the socket survives many concurrent queries and transactions (one shared backend)', async () => {
    const pg = await freshPglite();
    cleanups.push(pg.close);
    await pg.sql`CREATE TABLE t (id int PRIMARY KEY, v text)`;
    const work = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0
        ? pg.sql.begin(async (tx) => {
            await tx`INSERT INTO t VALUES (${i}, ${`v${i}`})`;
            return (await tx`SELECT count(*)::int AS n FROM t WHERE id <= ${i}`)[0]?.n;
          })
        : pg.sql`SELECT ${i}::int AS i, ${`p${i}`}::text AS p`.then((r) => r[0]?.i),
    );
    const results = await Promise.allSettled(work);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(results.filter((_, i) => i % 3 !== 0).map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual(
      Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 3 !== 0),
    );
  });

  it("runs PGlite with the configured shared_buffers (16MB unless set), which bounds the buffer cache's WASM memory", async () => {
    const t = await tempDir();
    cleanups.push(t.remove);
    const dir = join(t.dir, 'pg');
    const pg = await openPostgres({ pgliteDir: dir, poolMax: 1 });
    expect((await pg.sql`SHOW shared_buffers`)[0]).toEqual({ shared_buffers: '16MB' });
    await pg.close();
    const small = await openPostgres({ pgliteDir: dir, poolMax: 1, pgliteSharedBuffersMb: 8 });
    cleanups.push(small.close);
    expect((await small.sql`SHOW shared_buffers`)[0]).toEqual({ shared_buffers: '8MB' });
  }, 120_000); // a new cluster (initdb) and two PGlite starts

  it('migrates ClickHouse (chdb): gps_tracking with the configured retention, deduplicated by key', async () => {
    const pg = await freshPglite();
    cleanups.push(pg.close);
    const t = await tempDir();
    cleanups.push(t.remove);
    const ch = await openClickHouse({ chdbDir: join(t.dir, 'ch') });
    cleanups.push(ch.close);
    const applied = await migrate({ postgres: pg, clickhouse: ch, gpsRetentionDays: 45 });
    expect(applied).toEqual(['clickhouse/001_gps_tracking.sql', 'clickhouse/002_views.sql']);
    expect(await migrate({ postgres: pg, clickhouse: ch, gpsRetentionDays: 45 })).toEqual([]);
    // ClickHouse without the tables though Postgres is migrated (a second process with its own
    // chdb next to a shared Postgres: projections apart) gets them again.
    await ch.client.command({ query: 'DROP DATABASE fleetgate' });
    await ch.client.command({ query: 'DROP TABLE default.fleetgate_schema_migrations' });
    expect(await migrate({ postgres: pg, clickhouse: ch, gpsRetentionDays: 45 })).toEqual(applied);
    const tables = await (await ch.client.query({ query: 'SHOW TABLES FROM fleetgate', format: 'JSONEachRow' })).json();
    expect(tables).toContainEqual({ name: 'gps_tracking' });
    const ddl = await (
      await ch.client.query({ query: 'SHOW CREATE TABLE fleetgate.gps_tracking', format: 'TabSeparatedRaw' })
    ).text();
    expect(ddl).toContain('ReplacingMergeTree');
    expect(ddl).toMatch(/TTL toDateTime\(ts\) \+ toIntervalDay\(45\)/);
    const now = Date.now();
    const row = {
      device_id: 'v1',
      ts: now,
      lat: 55.75,
      lon: 37.61,
      source: 'mqtt',
      received_at: now,
      log_seq: 7,
      event_id: 'e1',
    };
    await ch.client.insert({ table: 'fleetgate.gps_tracking', values: [row], format: 'JSONEachRow' });
    await ch.client.insert({ table: 'fleetgate.gps_tracking', values: [row], format: 'JSONEachRow' });
    const count = await (
      await ch.client.query({ query: 'SELECT count() AS n FROM fleetgate.gps_tracking FINAL', format: 'JSONEachRow' })
    ).json<{ n: string }>();
    expect(Number(count[0]?.n)).toBe(1);
  });
});
