/**
 * Readiness and overload (issue 20): the real gateway process on a private nats-server that is
 * stopped and started again under it. While the log is away `/readyz` says 503, MQTT devices get
 * CONNACK 3 "server unavailable" (in the ingest worker thread) and phones' WebSocket upgrades get
 * 503 with Retry-After (main thread), each counted; once NATS is back all are accepted again and
 * points are kept. The same process (distributed mode, no CLICKHOUSE_URL) says at start-up what
 * its private ClickHouse copy means.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectDevice } from '../ingest/harness.js';
import { adminApi, gatewayPolling } from '../support/gatewayClient.js';
import { freePort, type GatewayProcess, runCli } from '../support/gatewayProcess.js';
import { stablePort } from '../support/natsServer.js';
import { connackOf, connectPacket } from '../support/rawMqtt.js';
import { freshPostgresDb, tempDir } from '../support/stores.js';
import { until } from '../support/until.js';
import { type NatsProcess, spawnNats } from './natsProcess.js';

const ADMIN = 'e2e-admin-key-readiness-0123456789abcdef';
let natsPort: number;
let storeDir: string;
let nats: NatsProcess | undefined;
let db: Awaited<ReturnType<typeof freshPostgresDb>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
let gw: GatewayProcess;
let base: string;
let metricsBase: string;
let mqttPort: number;

const startNats = () => spawnNats(natsPort, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', storeDir]);

beforeAll(async () => {
  natsPort = await stablePort();
  storeDir = await mkdtemp(join(tmpdir(), 'fg-nats-ready-'));
  [nats, db, dir] = await Promise.all([startNats(), freshPostgresDb(), tempDir('fg-e2e-readiness-')]);
  const [port, metricsPort] = [await freePort(), await freePort()];
  mqttPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  metricsBase = `http://127.0.0.1:${metricsPort}`;
  gw = runCli(['start'], {
    NATS_URL: `nats://127.0.0.1:${natsPort}`,
    DATABASE_URL: db.url,
    DATA_DIR: dir.dir,
    HTTP_PORT: String(port),
    METRICS_PORT: String(metricsPort),
    MQTT_PORT: String(mqttPort),
    OSMAND_PORT: String(await freePort()),
    ADMIN_API_KEY: ADMIN,
    INGEST_THREAD: 'worker',
  });
  await gw.waitHealthy(`${base}/readyz`, 120_000);
}, 150_000);

afterAll(async () => {
  if (gw && gw.child.exitCode === null && gw.child.signalCode === null) {
    gw.child.kill('SIGTERM');
    await gw.exited;
  }
  await nats?.stop();
  await rm(storeDir, { recursive: true, force: true });
  await db?.close();
  await dir?.remove();
});

const api = (method: string, path: string) => adminApi(base, ADMIN).api(method, path);
const register = (id: string) => adminApi(base, ADMIN).register(id);
const readyz = async () => {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, unknown> } };
};
const metric = async (line: RegExp) => {
  const text = await (await fetch(`${metricsBase}/metrics`)).text();
  const m = line.exec(text);
  return m ? Number(m[1]) : 0;
};

/** The driver WebSocket upgrade: 'open', or the HTTP status and Retry-After of a refusal. */
const upgrade = (token: string) =>
  new Promise<{ open: true; ws: WebSocket } | { open: false; status: number; retryAfter: string | undefined }>(
    (resolve, reject) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws/driver`, { headers: { authorization: `Bearer ${token}` } });
      ws.once('open', () => resolve({ open: true, ws }));
      ws.once('unexpected-response', (_req, res) => {
        resolve({ open: false, status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
        ws.terminate();
      });
      ws.once('error', reject);
    },
  );

describe('readiness gates the intake while the event log is away', () => {
  it('says at start-up what a private ClickHouse copy will not do (distributed mode, no CLICKHOUSE_URL)', async () => {
    expect(gw.output()).toMatch(/"level":40.*CLICKHOUSE_URL is not set: ClickHouse is a private embedded copy/);
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body.checks.clickhouseWarning).toMatch(/gps_tracking projection writes position history only into this process/);
    expect(r.body.checks.clickhouseWarning).toMatch(/\/api\/v1\/analytics\/query/);
  });

  it('refuses devices and phones while NATS is stopped, counts it, and takes them again once it is back', async () => {
    const vanToken = await register('van-r1');
    const phoneToken = await register('phone-r1');
    const accepted = connectPacket({ clientId: 'van-r1', username: 'van-r1', password: vanToken });
    expect(await connackOf(mqttPort, accepted)).toBe(0);
    const before = await upgrade(phoneToken);
    expect(before.open).toBe(true);
    if (before.open) before.ws.close();

    await nats?.stop();
    nats = undefined;
    const down = await until(
      async () => {
        const r = await readyz();
        return r.status === 503 ? r : undefined;
      },
      { what: '/readyz 503 after NATS stopped', ...gatewayPolling },
    );
    expect(down.body.status).toBe('unavailable');
    expect(down.body.checks.eventLog).toBe(false);
    expect(down.body.checks.postgres).toBe(true);

    // The ingest thread watches its own connection: CONNACK 3 (server unavailable), not 4 or 5.
    const rc = await until(
      async () => {
        const code = await connackOf(mqttPort, accepted);
        return code === 3 ? code : undefined;
      },
      { what: 'CONNACK 3 from the ingest thread', ...gatewayPolling },
    );
    expect(rc).toBe(3);
    const refusedWs = await upgrade(phoneToken);
    expect(refusedWs).toEqual({ open: false, status: 503, retryAfter: '5' });
    expect(await metric(/^fleetgate_mqtt_refusals_total\{reason="not_ready",thread="ingest"\} (\d+)$/m)).toBeGreaterThanOrEqual(
      1,
    );
    expect(await metric(/^fleetgate_ws_driver_refusals_total\{reason="not_ready"\} (\d+)$/m)).toBe(1);
    expect(await metric(/^fleetgate_ready (\d+)$/m)).toBe(0);
    expect(await metric(/^fleetgate_ready\{thread="ingest"\} (\d+)$/m)).toBe(0);

    nats = await startNats();
    await until(async () => (await readyz()).status === 200, { what: '/readyz 200 after NATS is back', timeoutMs: 30_000 });
    const van = await until(
      () => connectDevice(mqttPort, 'van-r1', vanToken).catch(() => undefined), // the ingest thread may need its next probe
      { what: 'MQTT accepted again', ...gatewayPolling },
    );
    await van.publishAsync('v1/devices/van-r1/location', JSON.stringify({ ts: Date.now() - 1_000, lat: 55.71, lon: 37.61 }), {
      qos: 1,
    });
    await van.endAsync();
    const phone = await upgrade(phoneToken);
    expect(phone.open).toBe(true);
    if (!phone.open) return;
    const ack = new Promise<{ type: string; ids: string[] }>((resolve) =>
      phone.ws.once('message', (m) => resolve(JSON.parse(m.toString()))),
    );
    phone.ws.send(JSON.stringify({ type: 'location', ts: Date.now() - 1_000, lat: 55.72, lon: 37.62, id: 'p-1' }));
    expect((await ack).type).toBe('ack');
    phone.ws.close();

    // Both points were kept: the projections (main thread, same log) fold them.
    const positions = await until(
      async () => {
        const r = await api('GET', '/api/v1/vehicles/positions?ids=van-r1,phone-r1');
        const list = r.body.positions as { deviceId: string; lat: number }[];
        return list.length === 2 ? list : undefined;
      },
      { what: 'both positions', ...gatewayPolling },
    );
    expect(positions.map((p) => [p.deviceId, p.lat]).sort()).toEqual([
      ['phone-r1', 55.72],
      ['van-r1', 55.71],
    ]);
    expect(gw.output()).toContain('not ready: intake refused until the log and stores answer');
    expect(gw.output()).toContain('ready again: intake open');
    expect(await metric(/^fleetgate_ready (\d+)$/m)).toBe(1);
    expect(gw.child.exitCode).toBeNull();
  }, 120_000);
});
