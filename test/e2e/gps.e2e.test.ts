import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice } from '../ingest/harness.js';
import { adminApi, gatewayPolling } from '../support/gatewayClient.js';
import { freePort, runCli } from '../support/gatewayProcess.js';
import { tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

const exec = promisify(execFile);
const ADMIN = 'e2e-admin-key-0123456789abcdefghijklmnopqrstuv';
let dir: { dir: string; remove(): Promise<void> };
let gw: ReturnType<typeof runCli>;
let base: string;
let mqttPort: number;
let osmandPort: number;

beforeAll(async () => {
  dir = await tempDir('fg-e2e-gps-');
  const port = await freePort();
  mqttPort = await freePort();
  osmandPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  gw = runCli(['start'], {
    DATA_DIR: dir.dir,
    HTTP_PORT: String(port),
    MQTT_PORT: String(mqttPort),
    OSMAND_PORT: String(osmandPort),
    ADMIN_API_KEY: ADMIN,
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
    GPS_CLICKHOUSE_BATCH_MS: '50',
  });
  await gw.waitHealthy(`${base}/readyz`, 120_000);
}, 150_000);
afterAll(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exited;
  await dir?.remove();
});

const api = (method: string, path: string, body?: unknown) => adminApi(base, ADMIN).api(method, path, body);
const register = (id: string) => adminApi(base, ADMIN).register(id);
const connect = (id: string, token: string, session: { clientId?: string; clean?: boolean } = {}) =>
  connectDevice(mqttPort, id, token, session);

describe('GPS end to end in the real process', () => {
  it('takes points over MQTT (mqtt.js and mosquitto_pub) into the track, the positions and analytics, each once', async () => {
    const token = await register('truck-1');
    const c = await connect('truck-1', token);
    const t0 = Date.now() - 60_000;
    const points = Array.from({ length: 5 }, (_, i) => ({
      ts: t0 + i * 1000,
      lat: 55.75 + i * 0.001,
      lon: 37.61,
      speed: 40 + i,
      id: `p${i}`,
    }));
    await c.publishAsync('v1/devices/truck-1/location', JSON.stringify(points.slice(0, 3)), { qos: 1 });
    await c.publishAsync('v1/devices/truck-1/location', JSON.stringify(points[3]), { qos: 1 });
    await c.publishAsync('v1/devices/truck-1/location', JSON.stringify(points[3]), { qos: 1 }); // a resend
    await c.endAsync();
    await exec('mosquitto_pub', [
      '-V',
      'mqttv311',
      '-h',
      '127.0.0.1',
      '-p',
      String(mqttPort),
      '-u',
      'truck-1',
      '-P',
      token,
      '-q',
      '1',
      '-t',
      'v1/devices/truck-1/location',
      '-m',
      JSON.stringify(points[4]),
    ]);

    const track = await until(
      async () => {
        const r = await api('GET', `/api/v1/vehicles/truck-1/track?from=${t0 - 1}&to=${t0 + 10_000}`);
        const pts = (r.body.points as { ts: number }[] | undefined) ?? [];
        return pts.length >= 5 ? pts : undefined;
      },
      { what: 'five points in the track', ...gatewayPolling },
    );
    expect(track.map((p) => p.ts)).toEqual(points.map((p) => p.ts));
    const positions = await api('GET', '/api/v1/vehicles/positions?ids=truck-1');
    expect(JSON.stringify(positions.body)).toContain(String(points[4]?.lat));
    const refused = await api('POST', '/api/v1/analytics/query', { sql: 'DROP TABLE fleetgate.gps_tracking' });
    expect(refused.status).toBe(400);
    const count = await api('POST', '/api/v1/analytics/query', {
      sql: "SELECT count() AS n FROM fleetgate.gps_tracking FINAL WHERE device_id = 'truck-1'",
    });
    expect(Number((count.body.rows as { n: string }[])[0]?.n)).toBe(5);
  }, 60_000);

  it('delivers a downlink command to a connected device, and one sent while offline when it connects', async () => {
    const token = await register('truck-2');
    const offline = await api('POST', '/api/v1/devices/truck-2/commands', { command: 'set_interval', payload: { seconds: 5 } });
    expect(offline.status).toBe(202);
    await new Promise((r) => setTimeout(r, 300)); // projected meanwhile
    // A persistent session: Aedes then reports which message a PUBACK acknowledges.
    const c = await connect('truck-2', token, { clientId: 'truck-2', clean: false });
    const received: { id: string; command: string }[] = [];
    c.on('message', (_t, payload) => received.push(JSON.parse(payload.toString())));
    await c.subscribeAsync('v1/devices/truck-2/commands', { qos: 1 });
    await until(() => received.length >= 1, { what: 'the queued command', ...gatewayPolling });
    const live = await api('POST', '/api/v1/devices/truck-2/commands', { command: 'reboot' });
    await until(() => received.some((m) => m.id === live.body.id), { what: 'the live command', ...gatewayPolling });
    expect(received.map((m) => m.command)).toEqual(['set_interval', 'reboot']);
    const status = await until(
      async () => {
        const r = await api('GET', `/api/v1/devices/truck-2/commands/${live.body.id}`);
        return r.body.status === 'acked' ? r.body : undefined;
      },
      { what: 'the acked status', ...gatewayPolling },
    );
    expect(status.ackedAt).not.toBeNull();
    await c.endAsync();
  }, 60_000);

  it('closes a device session at once when its token is rotated, and refuses the old token', async () => {
    const old = await register('truck-3');
    const c = await connect('truck-3', old);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    const rotated = await api('POST', '/api/v1/devices/truck-3/rotate');
    expect(rotated.status).toBe(200);
    await closed;
    await expect(connect('truck-3', old)).rejects.toThrow(/Bad username or password|Not authorized/i);
    const again = await connect('truck-3', rotated.body.token as string);
    await again.endAsync();
  }, 30_000);

  it('takes a point from the OsmAnd protocol as the Traccar Client sends it, by device token', async () => {
    const token = (await api('POST', '/api/v1/devices', { id: 'phone-9', kind: 'phone' })).body.token as string;
    const ts = Math.floor(Date.now() / 1000) - 30;
    const res = await fetch(`http://127.0.0.1:${osmandPort}/?id=${token}&lat=55.7&lon=37.6&timestamp=${ts}&speed=10&batt=64`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
    const wrong = await fetch(`http://127.0.0.1:${osmandPort}/?id=phone-9&lat=55.7&lon=37.6&timestamp=${ts}`, { method: 'POST' });
    expect(wrong.status).toBe(400);
    const pos = await until(
      async () => {
        const r = await api('GET', '/api/v1/vehicles/positions?ids=phone-9');
        const list = (r.body.positions ?? r.body.vehicles ?? r.body.items) as { speed: number; battery: number }[] | undefined;
        return list?.length ? list[0] : undefined;
      },
      { what: 'the OsmAnd point in positions', ...gatewayPolling },
    );
    expect(Math.round(pos.speed)).toBe(19); // 10 knots
    expect(pos.battery).toBe(64);
  }, 30_000);
});
