/** MQTT over WebSocket (MQTT_WS_PORT, path /mqtt): the same broker, auth, limits and durability as on TCP. */
import type { ErrorWithReasonCode, MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { EventLog } from '../../core/eventlog/port.js';
import { commandsTopic, locationTopic } from '../../ingest/mqtt/broker.js';
import { closed, connectDeviceWs, counter, fix, gpsEvents, type Harness, publish, sleep, startHarness } from './harness.js';

const REFUSALS = 'fleetgate_mqtt_refusals_total';
let h: Harness;
let wsPort: number;
let token: string;
beforeAll(async () => {
  h = await startHarness({ MQTT_MAX_PACKET_BYTES: '2048' }, { wsPort: 0 });
  wsPort = h.ingest.wsPort as number;
  token = await h.device('ws-unit');
}, 60_000);
afterAll(() => h?.close());

const pointsOf = async (log: EventLog, deviceId: string) =>
  (await gpsEvents(log)).filter((e) => e.data.deviceId === deviceId).map((e) => e.data);

describe('MQTT over WebSocket', () => {
  it('listens only when asked: a port of its own, none by default', async () => {
    expect(wsPort).toBeGreaterThan(0);
    expect(wsPort).not.toBe(h.port);
    const plain = await startHarness();
    try {
      expect(plain.ingest.wsPort).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it('stores a point before its PUBACK, one object or a batch, as on TCP', async () => {
    const c = await connectDeviceWs(wsPort, 'ws-unit', token);
    try {
      await publish(c, locationTopic('ws-unit'), fix({ id: 'w-1', speed: 42 }));
      // PUBACK came: the point is in the log now, not eventually.
      const [first] = await pointsOf(h.log, 'ws-unit');
      expect(first).toMatchObject({ deviceId: 'ws-unit', source: 'mqtt', speed: 42, pointId: 'w-1' });
      await publish(c, locationTopic('ws-unit'), [fix({ id: 'w-2' }), fix({ id: 'w-3', lat: 55.76 })]);
      expect((await pointsOf(h.log, 'ws-unit')).map((p) => p.pointId)).toEqual(['w-1', 'w-2', 'w-3']);
    } finally {
      c.end(true);
    }
  });

  it('refuses a wrong token with CONNACK 4 and appends nothing', async () => {
    const before = await counter(REFUSALS, { reason: 'bad_credentials' });
    const stored = (await gpsEvents(h.log)).length;
    const err = (await connectDeviceWs(wsPort, 'ws-unit', `${token}x`).catch((e: unknown) => e)) as ErrorWithReasonCode;
    expect(err.code).toBe(4);
    expect(await counter(REFUSALS, { reason: 'bad_credentials' })).toBe(before + 1);
    expect((await gpsEvents(h.log)).length).toBe(stored);
  });

  it("keeps the topic rules: another device's topic closes the connection unacknowledged, a foreign subscription gets 0x80", async () => {
    await h.device('ws-other');
    const c = await connectDeviceWs(wsPort, 'ws-unit', token);
    const before = await counter(REFUSALS, { reason: 'publish_forbidden' });
    let acked = false;
    c.publish(locationTopic('ws-other'), JSON.stringify(fix({ id: 'forged' })), { qos: 1 }, (e) => {
      if (!e) acked = true;
    });
    await closed(c);
    c.end(true);
    expect(acked).toBe(false);
    expect(await pointsOf(h.log, 'ws-other')).toEqual([]);
    expect(await counter(REFUSALS, { reason: 'publish_forbidden' })).toBe(before + 1);
    const d = await connectDeviceWs(wsPort, 'ws-unit', token);
    try {
      // mqtt.js fails the whole call when one filter gets 0x80; the SUBACK is on the error.
      const suback = (await d
        .subscribeAsync([commandsTopic('ws-unit'), commandsTopic('ws-other')], { qos: 1 })
        .catch((e: { packet?: { granted: number[] } }) => e.packet)) as { granted: number[] };
      expect(suback.granted).toEqual([1, 0x80]);
    } finally {
      d.end(true);
    }
  });

  it('delivers a downlink command to a device connected over WebSocket', async () => {
    const c = await connectDeviceWs(wsPort, 'ws-unit', token);
    try {
      await c.subscribeAsync(commandsTopic('ws-unit'), { qos: 1 });
      const got = new Promise<string>((resolve) => c.once('message', (_t, payload) => resolve(payload.toString())));
      h.ingest.broker.publish(
        { cmd: 'publish', topic: commandsTopic('ws-unit'), payload: '{"command":"lock"}', qos: 1, retain: false, dup: false },
        () => {},
      );
      expect(JSON.parse(await got)).toEqual({ command: 'lock' });
    } finally {
      c.end(true);
    }
  });

  it('drops a packet over MQTT_MAX_PACKET_BYTES as soon as its header arrives, counted, nothing stored', async () => {
    const c = await connectDeviceWs(wsPort, 'ws-unit', token);
    const before = await counter(REFUSALS, { reason: 'packet_too_large' });
    const stored = (await pointsOf(h.log, 'ws-unit')).length;
    c.publish(locationTopic('ws-unit'), JSON.stringify(fix({ id: 'big', pad: 'x'.repeat(4_000) })), { qos: 1 });
    await closed(c);
    c.end(true);
    expect(await counter(REFUSALS, { reason: 'packet_too_large' })).toBe(before + 1);
    expect((await pointsOf(h.log, 'ws-unit')).length).toBe(stored);
  });

  it('closes a WebSocket message over its own limit with 1009, counted as an oversized packet', async () => {
    const before = await counter(REFUSALS, { reason: 'packet_too_large' });
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/mqtt`, 'mqtt');
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    ws.send(Buffer.alloc(2048 + 5 + 65_536 + 1));
    expect(await code).toBe(1009);
    expect(await counter(REFUSALS, { reason: 'packet_too_large' })).toBe(before + 1);
  });

  it('answers plain HTTP with 426 and refuses another path', async () => {
    const res = await fetch(`http://127.0.0.1:${wsPort}/mqtt`);
    expect(res.status).toBe(426);
    expect(await res.text()).toMatch(/WebSocket/);
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/elsewhere`, 'mqtt');
    const status = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0)).once('error', () => resolve(-1)),
    );
    expect(status).toBe(400);
  });
});

describe('MQTT over WebSocket under limits', () => {
  it('applies the per-address connect limit of the TCP port', async () => {
    const limited = await startHarness({ MQTT_CONNECTS_PER_IP_PER_MINUTE: '2' }, { wsPort: 0 });
    const clients: MqttClient[] = [];
    try {
      const t = await limited.device('ws-rl');
      const port = limited.ingest.wsPort as number;
      const before = await counter(REFUSALS, { reason: 'rate_limited' });
      clients.push(await connectDeviceWs(port, 'ws-rl', t, { clientId: 'a' }));
      clients.push(await connectDeviceWs(port, 'ws-rl', t, { clientId: 'b' }));
      await expect(connectDeviceWs(port, 'ws-rl', t, { clientId: 'c' })).rejects.toThrow();
      expect(await counter(REFUSALS, { reason: 'rate_limited' })).toBe(before + 1);
    } finally {
      for (const c of clients) c.end(true);
      await limited.close();
    }
  });

  it('with TRUST_PROXY, counts connects per X-Forwarded-For address (a TLS proxy in front)', async () => {
    // Two proxies: the one connecting (127.0.0.1) and 10.9.9.9 before it.
    const proxied = await startHarness(
      { MQTT_CONNECTS_PER_IP_PER_MINUTE: '2', TRUST_PROXY: '127.0.0.1,10.0.0.0/8' },
      { wsPort: 0 },
    );
    const clients: MqttClient[] = [];
    try {
      const t = await proxied.device('ws-px');
      const port = proxied.ingest.wsPort as number;
      const from = (address: string, clientId: string) =>
        connectDeviceWs(port, 'ws-px', t, { clientId, wsOptions: { headers: { 'x-forwarded-for': `${address}, 10.9.9.9` } } });
      clients.push(await from('198.51.100.7', 'a'), await from('198.51.100.7', 'b'));
      await expect(from('198.51.100.7', 'c')).rejects.toThrow();
      // Another device behind the same proxy has its own budget.
      clients.push(await from('198.51.100.8', 'd'));
      // A device cannot buy a new budget by writing an address left of what the proxies wrote.
      await expect(from('203.0.113.1, 198.51.100.7', 'e')).rejects.toThrow();
    } finally {
      for (const c of clients) c.end(true);
      await proxied.close();
    }
  });

  it('stops reading WebSocket clients while the log lags, and loses nothing', async () => {
    let parked = 0;
    const slow = (log: EventLog): EventLog => ({
      ...log,
      append: async (subject, events, opts) => {
        parked = Math.max(parked, await counter('fleetgate_mqtt_paused_sockets'));
        await sleep(25);
        return log.append(subject, events, opts);
      },
    });
    const lagging = await startHarness(
      { GPS_BATCH_MAX_POINTS: '100', GPS_BATCH_MAX_MS: '5', GPS_APPENDS_IN_FLIGHT: '1' },
      { wsPort: 0, wrapLog: slow, maxPendingPoints: 500 },
    );
    try {
      const t = await lagging.device('ws-flood');
      const pausesBefore = await counter('fleetgate_mqtt_intake_pauses_total');
      const c = await connectDeviceWs(lagging.ingest.wsPort as number, 'ws-flood', t);
      const total = 3_000; // ~4,000 points/s stored (100 per 25 ms): the flood outruns the log
      for (let i = 0; i < total; i++) c.publish(locationTopic('ws-flood'), JSON.stringify(fix({ id: `f-${i}` })), { qos: 0 });
      let stored = 0;
      for (let n = 0; n < 200 && stored < total; n++) {
        await sleep(50);
        stored = (await pointsOf(lagging.log, 'ws-flood')).length;
      }
      expect(stored).toBe(total);
      expect(await counter('fleetgate_mqtt_intake_pauses_total')).toBeGreaterThan(pausesBefore);
      expect(parked).toBe(1); // the WebSocket's byte stream itself was held, not read into memory
      c.end(true);
    } finally {
      await lagging.close();
    }
  });

  it('closes connected WebSocket clients at shutdown after their PUBACKs', async () => {
    const h2 = await startHarness({}, { wsPort: 0 });
    const t = await h2.device('ws-bye');
    const c = await connectDeviceWs(h2.ingest.wsPort as number, 'ws-bye', t);
    await publish(c, locationTopic('ws-bye'), fix({ id: 'last' }));
    const gone = closed(c, 10_000);
    await h2.ingest.close();
    await gone;
    expect((await pointsOf(h2.log, 'ws-bye')).map((p) => p.pointId)).toEqual(['last']);
    c.end(true);
    await h2.close();
  });
});
