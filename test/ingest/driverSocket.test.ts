import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../core/config.js';
import { appendDeviceAudit } from '../../core/devices/audit.js';
import { type DeviceRegistry, deviceRegistry } from '../../core/devices/registry.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { HttpServer } from '../../core/http/server.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { mountDriverSocket } from '../../ingest/ws/driverSocket.js';
import type { GpsReported } from '../../schemas/events/gps.js';
import { startTestHttpServer } from '../support/httpServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let log: EventLog;
let http: HttpServer;
let sockets: { close(): Promise<void> };
let url: string;
let devices: DeviceRegistry;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
  devices = deviceRegistry(store.sql);
  for (const id of ['phone-a', 'phone-b', 'phone-r', 'phone-d'])
    tokens[id] = (await devices.create({ id, kind: 'phone', driverId: `drv-${id}` })).token;
  const config = loadConfig({ WS_MAX_MESSAGE_BYTES: '4096', WS_MAX_MESSAGES_PER_SECOND: '10' });
  http = await startTestHttpServer(async (app) => {
    sockets = mountDriverSocket(app, { config, log, devices, logger: silentLogger() });
  });
  url = `ws://127.0.0.1:${http.port}/v1/ws/driver`;
}, 60_000);
afterAll(async () => {
  await sockets?.close();
  http?.close();
  await log?.close();
  await store?.close();
});

interface Reply {
  type: string;
  ids: string[];
  code?: string;
}
const open = (token: string, how: 'header' | 'query' = 'header') =>
  new Promise<{ ws: WebSocket; replies: Reply[]; next(): Promise<Reply>; closed: Promise<number> }>((resolve, reject) => {
    const ws =
      how === 'header'
        ? new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
        : new WebSocket(`${url}?token=${token}`);
    const replies: Reply[] = [];
    const waiters: ((r: Reply) => void)[] = [];
    ws.on('message', (d) => {
      const r = JSON.parse(d.toString()) as Reply;
      const w = waiters.shift();
      if (w) w(r);
      else replies.push(r);
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.once('open', () =>
      resolve({
        ws,
        replies,
        closed,
        next: () => {
          const r = replies.shift();
          return r ? Promise.resolve(r) : new Promise((res) => waiters.push(res));
        },
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
const stored = async (id: string) =>
  (await log.read('GPS', 10_000)).flatMap((m) => m.events).filter((e) => (e.data as GpsReported).pointId === id);

describe('/v1/ws/driver', () => {
  it('acknowledges a point only once the log holds it, by the id the phone gave', async () => {
    const c = await open(tokens['phone-a'] as string);
    c.ws.send(
      JSON.stringify({ type: 'location', ts: Date.now() - 1000, lat: 55.7, lon: 37.6, speed: 20, battery: 80, id: 'a-1' }),
    );
    const ack = await c.next();
    expect(ack).toEqual({ type: 'ack', ids: ['a-1'] });
    const [e] = await stored('a-1');
    expect(e?.data).toMatchObject({ deviceId: 'phone-a', source: 'ws', lat: 55.7, speed: 20, battery: 80 });
    c.ws.close();
  });

  it('answers each refused point with its reason and acknowledges the rest of a batch', async () => {
    const c = await open(tokens['phone-a'] as string, 'query');
    const t = Date.now() - 5000;
    c.ws.send(
      JSON.stringify({
        type: 'locations',
        items: [
          { ts: t, lat: 55.1, lon: 37.1, id: 'b-1' },
          { ts: t, lat: 95, lon: 37.1, id: 'b-2' },
          { ts: Date.now() + 86_400_000, lat: 55.1, lon: 37.1, id: 'b-3' },
          { ts: t + 1, lat: 55.2, lon: 37.2, id: 'b-4' },
        ],
      }),
    );
    const replies = [await c.next(), await c.next(), await c.next()];
    expect(replies.filter((r) => r.type === 'error').map((r) => [r.code, r.ids])).toEqual([
      ['lat_out_of_range', ['b-2']],
      ['future_time', ['b-3']],
    ]);
    expect(replies.find((r) => r.type === 'ack')?.ids).toEqual(['b-1', 'b-4']);
    expect(await stored('b-2')).toHaveLength(0);
    c.ws.send('not json');
    expect((await c.next()).code).toBe('malformed_json');
    c.ws.close();
  });

  it('never lets a token for one device report as another', async () => {
    const c = await open(tokens['phone-a'] as string);
    c.ws.send(JSON.stringify({ type: 'location', deviceId: 'phone-b', ts: Date.now(), lat: 1, lon: 1, id: 'x-1' }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'device_mismatch' });
    expect(await stored('x-1')).toHaveLength(0);
    c.ws.close();
    await expect(open('fgd_guessed')).rejects.toThrow('HTTP 401');
    await expect(open('')).rejects.toThrow('HTTP 401');
  });

  it('closes a socket that sends an oversized message (1009) or too many messages (4029)', async () => {
    const big = await open(tokens['phone-b'] as string);
    big.ws.send(JSON.stringify({ type: 'location', pad: 'x'.repeat(8000) }));
    expect(await big.closed).toBe(1009);
    const chatty = await open(tokens['phone-b'] as string);
    for (let i = 0; i < 30; i++)
      chatty.ws.send(JSON.stringify({ type: 'location', ts: Date.now(), lat: 1, lon: 1, id: `r-${i}` }));
    expect(await chatty.closed).toBe(4029);
  });

  it('closes the sockets of a device whose token was rotated or that was disabled, in another process, within the cache time', async () => {
    // Another process (or the CLI): its own registry, and the audit event every process follows.
    const elsewhere = deviceRegistry(store.sql);
    const rotated = await open(tokens['phone-r'] as string);
    const disabled = await open(tokens['phone-d'] as string, 'query');
    const bystander = await open(tokens['phone-a'] as string);
    const t0 = Date.now();
    await elsewhere.rotate('phone-r');
    await appendDeviceAudit(log, { type: 'device.token_rotated', source: 'cli', data: { deviceId: 'phone-r' } });
    await elsewhere.setDisabled('phone-d', true);
    await appendDeviceAudit(log, { type: 'device.disabled', source: 'api', data: { deviceId: 'phone-d', by: 'k1' } });
    expect(await Promise.all([rotated.closed, disabled.closed])).toEqual([4401, 4401]);
    // Within the API key cache's 10 s (it takes the log's delivery time: the embedded log polls every 20 ms).
    expect(Date.now() - t0).toBeLessThan(10_000);
    // This process cached the old token: a reconnect with it is refused all the same.
    await expect(open(tokens['phone-r'] as string)).rejects.toThrow('HTTP 401');
    // Other devices keep their sockets.
    bystander.ws.send(JSON.stringify({ type: 'location', ts: Date.now(), lat: 1, lon: 1, id: 'still-here' }));
    expect(await bystander.next()).toMatchObject({ type: 'ack', ids: ['still-here'] });
    bystander.ws.close();
  });
});
