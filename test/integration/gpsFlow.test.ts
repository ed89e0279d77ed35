import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectionRunner } from '../../core/runners/projectionRunner.js';
import { type Harness, startHarness } from '../ingest/harness.js';
import { chRows, gpsTrackingRunner, migrateClickHouse, openTestChdb, replayGpsTracking } from '../support/gps.js';

const DEVICES = 100;
const PER_DEVICE = 100;
let h: Harness;
let ch: Awaited<ReturnType<typeof openTestChdb>>;

beforeAll(async () => {
  h = await startHarness();
  ch = await openTestChdb({ GPS_CLICKHOUSE_BATCH_MS: '50', GPS_CLICKHOUSE_BATCH_ROWS: '3000' });
  await migrateClickHouse(h.store, ch.store);
}, 120_000);
afterAll(async () => {
  await h?.close();
  await ch?.close();
});

const projection = (): ProjectionRunner =>
  gpsTrackingRunner({ log: h.log, sql: h.store.sql, clickhouse: ch.client, config: ch.config });
const visible = async () =>
  Number((await chRows<{ n: string }>(ch.client, 'SELECT count() AS n FROM fleetgate.gps_tracking FINAL'))[0]?.n);
const connect = (id: string, token: string) =>
  new Promise<MqttClient>((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${h.port}`, {
      username: id,
      password: token,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });

describe('10,000 points from 100 devices, through MQTT into ClickHouse', () => {
  it('shows exactly the accepted points, also after the projection is killed and restarted and after a full replay', async () => {
    const t0 = Date.now() - 3_600_000;
    const clients = await Promise.all(
      Array.from({ length: DEVICES }, async (_, d) => connect(`dev-${d}`, await h.device(`dev-${d}`))),
    );
    let runner = projection();
    await runner.start();
    // Each device: its points in chunks, by turns QoS 1 single points, QoS 0 single points and
    // QoS 1 arrays (an offline buffer), plus resends and one bad point that must not count.
    await Promise.all(
      clients.map(async (c, d) => {
        const topic = `v1/devices/dev-${d}/location`;
        const point = (i: number) => ({
          ts: t0 + i * 1000,
          lat: 50 + d * 0.01,
          lon: 30 + i * 0.0001,
          speed: 30,
          id: `${d}-${i}`,
        });
        for (let i = 0; i < PER_DEVICE; ) {
          const mode = (d + i) % 3;
          if (mode === 2) {
            const batch = Array.from({ length: Math.min(10, PER_DEVICE - i) }, (_, k) => point(i + k));
            await c.publishAsync(topic, JSON.stringify(batch), { qos: 1 });
            i += batch.length;
          } else {
            await c.publishAsync(topic, JSON.stringify(point(i)), { qos: mode === 0 ? 1 : 0 });
            if (i % 25 === 0) await c.publishAsync(topic, JSON.stringify(point(i)), { qos: 1 }); // a resend
            i++;
          }
          if (d === 0 && i === 50) {
            // The projection dies mid-way and comes back.
            await runner.stop();
            runner = projection();
            await runner.start();
          }
        }
        await c.publishAsync(topic, JSON.stringify({ ts: t0, lat: 123, lon: 30 }), { qos: 1 });
      }),
    );
    await Promise.all(clients.map((c) => c.endAsync()));
    const expected = DEVICES * PER_DEVICE;
    const deadline = Date.now() + 60_000;
    while ((await visible()) < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await runner.caughtUp(30_000);
    expect(await visible()).toBe(expected);
    const perDevice = await chRows<{ n: string }>(
      ch.client,
      'SELECT count() AS n FROM fleetgate.gps_tracking FINAL GROUP BY device_id ORDER BY device_id',
    );
    expect(perDevice.map((r) => Number(r.n))).toEqual(Array(DEVICES).fill(PER_DEVICE));
    await runner.stop();

    await replayGpsTracking({ log: h.log, sql: h.store.sql, clickhouse: ch.client, config: ch.config });
    expect(await visible()).toBe(expected);
  }, 180_000);
});
