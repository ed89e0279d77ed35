import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { registry } from '../../core/metrics.js';
import { SPLIT_HEADER } from '../../core/runners/projectionRunner.js';
import { GPS_TRACKING_TABLE, gpsRows, insertGpsRows } from '../../projections/gpsTracking.js';
import {
  aPoint,
  appendPoints,
  chRows,
  gpsTrackingRunner,
  migrateClickHouse,
  openTestChdb,
  replayGpsTracking,
  T0,
} from '../support/gps.js';
import { freshPglite } from '../support/stores.js';

let ch: Awaited<ReturnType<typeof openTestChdb>>;
let pg: Awaited<ReturnType<typeof freshPglite>>;
let log: EventLog;
const runners: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  [ch, pg] = await Promise.all([openTestChdb(), freshPglite()]);
  await migrateClickHouse(pg, ch.store);
  log = embeddedEventLog(pg.sql, { pollMs: 10 });
});
afterAll(async () => {
  await log.close();
  await pg.close();
  await ch.close();
});
/**
 * Opening a PGlite takes seconds, so the file shares one log: each test starts the projection at
 * the log's current end (as if it had folded everything before) on an empty table, and uses its
 * own device ids.
 */
let origin = 0;
beforeEach(async () => {
  origin = await log.lastSeq('GPS');
  await pg.sql`
    INSERT INTO projection_checkpoints (name, stream, last_seq) VALUES ('gps_tracking', 'GPS', ${origin})
    ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq`;
  await ch.client.command({ query: `TRUNCATE TABLE ${GPS_TRACKING_TABLE}` });
});
afterEach(async () => {
  for (const r of runners.splice(0)) await r.stop();
});

const config = (env: Record<string, string> = {}) =>
  loadConfig({ DATA_DIR: '/nonexistent', GPS_CLICKHOUSE_BATCH_ROWS: '50', GPS_CLICKHOUSE_BATCH_MS: '10', ...env });
const runner = (clickhouse: ClickHouseClient = ch.client, env: Record<string, string> = {}) => {
  const r = gpsTrackingRunner({ log, sql: pg.sql, clickhouse, config: config(env), retry: { baseMs: 5, maxMs: 20 } });
  runners.push(r);
  return r;
};
/** The client with `insert` replaced; everything else is the real chdb client. */
const withInsert = (insert: ClickHouseClient['insert']): ClickHouseClient =>
  new Proxy(ch.client, { get: (t, k) => (k === 'insert' ? insert : Reflect.get(t, k, t)) });

interface Visible {
  device_id: string;
  ts: number;
  event_id: string;
  log_seq: string;
  speed: number | null;
  battery: number | null;
  received_at: number;
}
const visible = () =>
  chRows<Visible>(
    ch.client,
    `SELECT device_id, toUnixTimestamp64Milli(ts) AS ts, event_id, toString(log_seq) AS log_seq, speed, battery,
       toUnixTimestamp64Milli(received_at) AS received_at
     FROM ${GPS_TRACKING_TABLE} FINAL ORDER BY device_id, ts, event_id`,
  );
const metric = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;

/** Ten points of `dev` (5 per message), a resend of two of them in a third message, and a split copy. */
const seed = async (dev = 'bus-1') => {
  const points = Array.from({ length: 10 }, (_, i) => aPoint(dev, T0 + i * 5_000, { battery: 80.6 - i }));
  await appendPoints(log, points.slice(0, 5));
  await appendPoints(log, points.slice(5));
  // The device resent two points after a reconnect: same event ids, another message, later receive time.
  const resend = [points[2], points[7]].map((p) => p && { ...p, data: { ...p.data, receivedAt: p.data.receivedAt + 60_000 } });
  const resent = await appendPoints(log, resend as typeof points);
  // A split copy carries a point no other message has, so counting it would be visible.
  const split = await appendPoints(log, [aPoint(dev, T0 + 999_000)], { [SPLIT_HEADER]: 'GPS:1' });
  return { points, resentSeq: resent.seq, lastSeq: split.seq };
};

describe('gps_tracking projection (ClickHouse)', () => {
  it('inserts each point once: a resend in another message collapses (latest log_seq wins), split copies are skipped', async () => {
    const rowsBefore = await metric('fleetgate_gps_tracking_rows_total');
    const { points, resentSeq, lastSeq } = await seed();
    const r = runner();
    await r.start();
    await r.caughtUp(10_000);
    const rows = await visible();
    expect(rows.map((x) => x.event_id)).toEqual(points.map((p) => p.id));
    expect(rows.map((x) => x.ts)).toEqual(points.map((p) => p.data.ts));
    // The fractional battery is rounded into the UInt8 column instead of failing the insert.
    expect(rows[0]?.battery).toBe(81);
    const resent = rows.filter((x) => x.log_seq === String(resentSeq)).map((x) => x.event_id);
    expect(resent).toEqual([points[2]?.id, points[7]?.id]);
    expect(rows[2]?.received_at).toBe((points[2]?.data.receivedAt ?? 0) + 60_000);
    expect(await r.checkpoint()).toBe(lastSeq);
    expect(await metric('fleetgate_gps_tracking_rows_total')).toBe(rowsBefore + 12);
  });

  it('batches by size and by time: many small messages become few inserts, a lone one still lands', async () => {
    const sizes: number[] = [];
    const counting = withInsert((p) => {
      sizes.push((p.values as unknown[]).length);
      return ch.client.insert(p);
    });
    for (let m = 0; m < 10; m++) {
      await appendPoints(
        log,
        Array.from({ length: 20 }, (_, i) => aPoint(`car-${i}`, T0 + m * 1_000)),
      );
    }
    const r = runner(counting);
    await r.start();
    await r.caughtUp(10_000);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(sizes.length).toBeLessThanOrEqual(4); // 50 rows per insert: messages of 20 make 60-row batches
    await appendPoints(log, [aPoint('car-0', T0 + 60_000)]);
    await r.caughtUp(10_000); // flushed by GPS_CLICKHOUSE_BATCH_MS, not by size
    expect((await visible()).length).toBe(201);
  });

  it('retries with back-off while ClickHouse is down: no crash, nothing lost, errors counted', async () => {
    const errorsBefore = await metric('fleetgate_gps_tracking_insert_errors_total');
    const { points } = await seed('bus-2');
    let failures = 0;
    const flaky = withInsert(async (p) => {
      if (failures++ < 3) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
      return ch.client.insert(p);
    });
    const r = runner(flaky);
    await r.start();
    await r.caughtUp(10_000);
    expect((await visible()).map((x) => x.event_id)).toEqual(points.map((p) => p.id));
    expect(await metric('fleetgate_gps_tracking_insert_errors_total')).toBe(errorsBefore + 3);
  });

  it('a crash between insert and checkpoint re-inserts the rows, and still shows each point once', async () => {
    const { points, lastSeq } = await seed('bus-3');
    // What a process killed after its insert leaves behind: the rows, and the checkpoint at 0.
    await insertGpsRows(ch.client, gpsRows(await log.read('GPS', 100, { fromSeq: origin + 1 })));
    // And an insert the server stored whose answer was lost: the runner retries it.
    let lost = false;
    const ackLost = withInsert(async (p) => {
      const done = await ch.client.insert(p);
      if (lost) return done;
      lost = true;
      throw new Error('socket hang up');
    });
    const r = runner(ackLost);
    await r.start();
    await r.caughtUp(10_000);
    expect(await r.checkpoint()).toBe(lastSeq);
    const [raw] = await chRows<{ n: string }>(ch.client, `SELECT count() AS n FROM ${GPS_TRACKING_TABLE}`);
    expect(Number(raw?.n)).toBeGreaterThanOrEqual(points.length); // duplicates exist unless merged already
    expect((await visible()).map((x) => x.event_id)).toEqual(points.map((p) => p.id));
    await ch.client.command({ query: `OPTIMIZE TABLE ${GPS_TRACKING_TABLE} FINAL` });
    const [merged] = await chRows<{ n: string }>(ch.client, `SELECT count() AS n FROM ${GPS_TRACKING_TABLE}`);
    expect(Number(merged?.n)).toBe(points.length);
  });

  it('stopped mid-way and restarted, resumes from its checkpoint; a full replay equals the live table', async () => {
    for (let m = 0; m < 20; m++) {
      await appendPoints(
        log,
        Array.from({ length: 10 }, (_, i) => aPoint(`van-${i}`, T0 + m * 10_000, { speed: m * 3 + i })),
      );
    }
    const { lastSeq } = await seed('truck-0');
    const slow = withInsert(async (p) => {
      await sleep(40);
      return ch.client.insert(p);
    });
    const first = runner(slow, { GPS_CLICKHOUSE_BATCH_ROWS: '30' });
    await first.start();
    while ((await first.checkpoint()) === origin) await sleep(10);
    await first.stop();
    const stoppedAt = await first.checkpoint();
    expect(stoppedAt).toBeGreaterThan(origin);
    expect(stoppedAt).toBeLessThan(lastSeq);

    const second = runner();
    await second.start();
    await second.caughtUp(10_000);
    const live = await visible();
    expect(live.length).toBe(200 + 10);
    expect(new Set(live.map((x) => `${x.device_id}/${x.ts}/${x.event_id}`)).size).toBe(live.length);
    await second.stop();

    // The replay folds the whole shared log (earlier tests' devices too): compare this test's devices.
    const replayed = await replayGpsTracking({ log, sql: pg.sql, clickhouse: ch.client, config: config() });
    expect(replayed).toBe(lastSeq);
    const mine = (rows: Visible[]) => rows.filter((x) => x.device_id.startsWith('van-') || x.device_id === 'truck-0');
    expect(mine(await visible())).toEqual(live);
  });

  it('does not start with GPS_TRACKING_ENABLED=false', async () => {
    await seed('bus-4');
    const r = runner(ch.client, { GPS_TRACKING_ENABLED: 'false' });
    expect(r.enabled).toBe(false);
    await r.start();
    await r.caughtUp(1_000);
    await sleep(100);
    expect(await r.checkpoint()).toBe(origin);
    expect(await visible()).toEqual([]);
  });
});
