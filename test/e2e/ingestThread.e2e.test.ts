/**
 * The one-process gateway in the distributed mode (JetStream + Postgres) runs the device ingest
 * in a worker thread (INGEST_THREAD=worker): the real CLI, a private nats-server, a fresh database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import type { GpsReported } from '../../schemas/events/gps.js';
import { connectDevice, connectDeviceWs } from '../ingest/harness.js';
import { adminApi, gatewayPolling } from '../support/gatewayClient.js';
import { freePort, type GatewayProcess, runCli } from '../support/gatewayProcess.js';
import { type NatsServerHandle, startNatsServer } from '../support/natsServer.js';
import { freshPostgresDb, tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

const ADMIN = 'e2e-admin-key-ingest-thread-0123456789abcdef';
let nats: NatsServerHandle;
let db: Awaited<ReturnType<typeof freshPostgresDb>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
let env: Record<string, string>;
let gw: GatewayProcess;
let base: string;
let metricsBase: string;
let mqttPort: number;
let osmandPort: number;
let mqttWsPort: number;

const start = async () => {
  const proc = runCli(['start'], env);
  await proc.waitHealthy(`${base}/readyz`, 120_000);
  return proc;
};

beforeAll(async () => {
  [nats, db, dir] = await Promise.all([startNatsServer(), freshPostgresDb(), tempDir('fg-e2e-ingest-thread-')]);
  const port = await freePort();
  mqttPort = await freePort();
  osmandPort = await freePort();
  mqttWsPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  const metricsPort = await freePort();
  metricsBase = `http://127.0.0.1:${metricsPort}`;
  env = {
    METRICS_PORT: String(metricsPort),
    NATS_URL: nats.url,
    DATABASE_URL: db.url,
    DATA_DIR: dir.dir,
    HTTP_PORT: String(port),
    MQTT_PORT: String(mqttPort),
    OSMAND_PORT: String(osmandPort),
    MQTT_WS_PORT: String(mqttWsPort),
    ADMIN_API_KEY: ADMIN,
    INGEST_THREAD: 'worker',
    LOG_LEVEL: 'info',
  };
  gw = await start();
}, 150_000);
afterAll(async () => {
  if (gw && gw.child.exitCode === null && gw.child.signalCode === null) {
    gw.child.kill('SIGTERM');
    await gw.exited;
  }
  await nats?.stop();
  await db?.close();
  await dir?.remove();
});

const api = (method: string, path: string, body?: unknown) => adminApi(base, ADMIN).api(method, path, body);
const register = (id: string) => adminApi(base, ADMIN).register(id);
const connect = (id: string, token: string) => connectDevice(mqttPort, id, token);
const position = (id: string) =>
  until(
    async () => {
      const r = await api('GET', `/api/v1/vehicles/positions?ids=${id}`);
      const list = r.body.positions as { deviceId: string; lat: number; source: string }[];
      return list.length ? list[0] : undefined;
    },
    { what: `the position of ${id}`, ...gatewayPolling },
  );
const metricsText = async () => (await fetch(`${metricsBase}/metrics`)).text();

describe('the ingest worker thread in the real process', () => {
  it('takes MQTT and OsmAnd points in the worker; the main thread folds them; /metrics shows both threads', async () => {
    expect(gw.output()).toMatch(/"thread":"ingest".*"msg":"mqtt listening"/);
    expect(gw.output()).toContain('"msg":"ingest thread ready"');
    const c = await connect('van-1', await register('van-1'));
    await c.publishAsync('v1/devices/van-1/location', JSON.stringify({ ts: Date.now() - 1_000, lat: 55.75, lon: 37.61 }), {
      qos: 1,
    });
    await c.endAsync();
    expect(await position('van-1')).toMatchObject({ deviceId: 'van-1', lat: 55.75, source: 'mqtt' });

    // MQTT over WebSocket: the same broker, in the same thread.
    const w = await connectDeviceWs(mqttWsPort, 'van-ws', await register('van-ws'));
    await w.publishAsync('v1/devices/van-ws/location', JSON.stringify({ ts: Date.now() - 1_000, lat: 55.8, lon: 37.6 }), {
      qos: 1,
    });
    await w.endAsync();
    expect(await position('van-ws')).toMatchObject({ deviceId: 'van-ws', lat: 55.8, source: 'mqtt' });

    const phone = await register('phone-1');
    const ts = Math.floor(Date.now() / 1000) - 5;
    const res = await fetch(`http://127.0.0.1:${osmandPort}/?id=${phone}&lat=55.7&lon=37.6&timestamp=${ts}`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await position('phone-1')).toMatchObject({ deviceId: 'phone-1', source: 'osmand' });

    const text = await metricsText();
    expect(text).toContain('fleetgate_gps_points_accepted_total{source="mqtt",thread="ingest"} 2');
    expect(text).toContain('fleetgate_gps_points_accepted_total{source="osmand",thread="ingest"} 1');
    // One family per name (a scraper refuses a repeated TYPE line), each thread's event loop apart.
    expect(text.match(/^# TYPE fleetgate_gps_points_accepted_total /gm)).toHaveLength(1);
    expect(text).toMatch(/^fleetgate_nodejs_eventloop_lag_p99_seconds [\d.e-]+$/m);
    expect(text).toMatch(/^fleetgate_nodejs_eventloop_lag_p99_seconds\{thread="ingest"\} [\d.e-]+$/m);
    // MQTT runs only in the worker: no idle main-thread copy beside its series.
    expect(text).toMatch(/^fleetgate_mqtt_connections\{thread="ingest"\} \d+$/m);
    expect(text).not.toMatch(/^fleetgate_mqtt_connections \d+$/m);
    // Process-wide figures come once, from the main thread.
    expect(text.match(/^fleetgate_process_cpu_seconds_total/gm)).toHaveLength(1);
  }, 60_000);

  it('lets a device in at once when it is registered after a refused attempt (the worker learns through the log)', async () => {
    await expect(connect('late-1', 'not-yet-a-token-0123456789')).rejects.toThrow(/Bad username or password|Not authorized/i);
    const token = await register('late-1');
    // The refusal was cached in the worker for 30 s; the registration event drops it.
    const c = await until(() => connect('late-1', token).catch(() => undefined), {
      what: 'connecting after registration',
      ...gatewayPolling,
      timeoutMs: 5_000,
    });
    await c.endAsync();
  }, 30_000);

  it('closes a session held by the worker at once when the API rotates its token', async () => {
    const old = await register('van-2');
    const c = await connect('van-2', old);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    expect((await api('POST', '/api/v1/devices/van-2/rotate')).status).toBe(200);
    await closed;
    await expect(connect('van-2', old)).rejects.toThrow(/Bad username or password|Not authorized/i);
  }, 30_000);

  it('has every PUBACKed point in the GPS stream after the process is killed right after a PUBACK', async () => {
    const c = await connect('van-3', await register('van-3'));
    c.on('error', () => {}); // the socket dies with the process
    const t0 = Date.now() - 600_000;
    const acked: number[] = [];
    for (let i = 0; i < 200; i++) {
      const ts = t0 + i * 1_000;
      await c.publishAsync('v1/devices/van-3/location', JSON.stringify({ ts, lat: 55, lon: 37 }), { qos: 1 });
      acked.push(ts);
      if (i === 120) {
        gw.child.kill('SIGKILL');
        break;
      }
    }
    await gw.exited;
    c.end(true);
    const log = await jetStreamEventLog({
      servers: nats.url,
      replicas: 1,
      eventsMaxAgeMs: 0,
      gpsMaxAgeMs: 0,
      dlqMaxAgeMs: 0,
      duplicateWindowMs: 120_000,
      gpsDuplicateWindowMs: 120_000,
    });
    try {
      const stored = new Set<number>();
      for (let from = 1; ; ) {
        const batch = await log.read('GPS', 1_000, { fromSeq: from });
        if (batch.length === 0) break;
        for (const m of batch) {
          for (const e of m.events) if ((e.data as GpsReported).deviceId === 'van-3') stored.add((e.data as GpsReported).ts);
        }
        from = (batch.at(-1)?.seq ?? from) + 1;
      }
      expect(acked).toHaveLength(121);
      expect(acked.filter((ts) => !stored.has(ts))).toEqual([]);
    } finally {
      await log.close();
    }
  }, 60_000);

  it('drains and exits 0 on SIGTERM, the worker included', async () => {
    gw = await start();
    const c = await connect('van-4', await register('van-4'));
    await c.publishAsync('v1/devices/van-4/location', JSON.stringify({ ts: Date.now(), lat: 1, lon: 2 }), { qos: 1 });
    c.on('error', () => {});
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    c.end(true);
    expect(gw.output()).toContain('"msg":"shut down cleanly"');
    expect(gw.output()).not.toContain('did not stop in time');
  }, 150_000);
});
