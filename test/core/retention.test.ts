import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureStreams } from '../../core/eventlog/jetstream/streams.js';
import { openClickHouse } from '../../core/stores/clickhouse.js';
import { migrate } from '../../core/stores/migrate.js';
import { startNatsServer } from '../support/natsServer.js';
import { freshPglite, tempDir } from '../support/stores.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('retention variables changed after the first start (issue 19.7)', () => {
  it('a new GPS_STORE_HISTORY_DAYS changes the gps_tracking TTL at the next start', async () => {
    const pg = await freshPglite();
    cleanups.push(pg.close);
    const t = await tempDir();
    cleanups.push(t.remove);
    const ch = await openClickHouse({ chdbDir: join(t.dir, 'ch') });
    cleanups.push(ch.close);
    const ttl = async () =>
      (
        await (await ch.client.query({ query: 'SHOW CREATE TABLE fleetgate.gps_tracking', format: 'TabSeparatedRaw' })).text()
      ).match(/toIntervalDay\((\d+)\)/)?.[1];
    const logged: object[] = [];
    await migrate({ postgres: pg, clickhouse: ch, gpsRetentionDays: 90 });
    expect(await ttl()).toBe('90');
    await migrate({ postgres: pg, clickhouse: ch, gpsRetentionDays: 30, logger: { info: (o) => void logged.push(o) } });
    expect(await ttl()).toBe('30');
    expect(logged).toContainEqual({ from: 90, to: 30 });
    logged.length = 0;
    await migrate({ postgres: pg, clickhouse: ch, gpsRetentionDays: 30, logger: { info: (o) => void logged.push(o) } });
    expect(logged).toEqual([]);
  });

  it('new NATS_*_MAX_AGE_SECONDS update the existing streams at the next start', async () => {
    const nats = await startNatsServer();
    cleanups.push(nats.stop);
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const cfg = {
      servers: [nats.url],
      replicas: 1,
      eventsMaxAgeMs: 0,
      eventsMaxBytes: 0,
      gpsMaxAgeMs: 7 * 86_400_000,
      dlqMaxAgeMs: 30 * 86_400_000,
      duplicateWindowMs: 120_000,
      gpsDuplicateWindowMs: 120_000,
    };
    await ensureStreams(jsm, cfg);
    expect((await jsm.streams.info('GPS')).config.max_age).toBe(nanos(7 * 86_400_000));
    await ensureStreams(jsm, { ...cfg, gpsMaxAgeMs: 86_400_000, eventsMaxAgeMs: 365 * 86_400_000, dlqMaxAgeMs: 3_600_000 });
    expect((await jsm.streams.info('GPS')).config.max_age).toBe(nanos(86_400_000));
    expect((await jsm.streams.info('EVENTS')).config.max_age).toBe(nanos(365 * 86_400_000));
    expect((await jsm.streams.info('DLQ')).config.max_age).toBe(nanos(3_600_000));
  });
});
