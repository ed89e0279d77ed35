/** T14 and T15 at the MQTT edge: who may connect, publish and subscribe, and how much they may send. */
import { connect as tcpConnect } from 'node:net';
import type { ErrorWithReasonCode } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorsTopic, locationTopic } from '../../ingest/mqtt/broker.js';
import { closed, connectDevice, counter, fix, gpsEvents, type Harness, publish, sleep, startHarness } from './harness.js';

const REFUSALS = 'fleetgate_mqtt_refusals_total';
let h: Harness;
let tokenA: string;
let tokenB: string;
beforeAll(async () => {
  h = await startHarness({ MQTT_MAX_PACKET_BYTES: '2048', MQTT_KEEPALIVE_MAX_SECONDS: '60' });
  tokenA = await h.device('unit-a');
  tokenB = await h.device('unit-b');
}, 60_000);
afterAll(() => h?.close());

const refusedWith = async (username: string, password: string) => {
  const err = (await connectDevice(h.port, username, password).then(
    (c) => {
      c.end(true);
      throw new Error('connected');
    },
    (e: unknown) => e,
  )) as ErrorWithReasonCode;
  return err.code;
};

describe('MQTT authentication', () => {
  it('refuses a wrong token, an unknown device, no credentials and a disabled device with CONNACK 4', async () => {
    const before = await counter(REFUSALS, { reason: 'bad_credentials' });
    expect(await refusedWith('unit-a', `${tokenA}x`)).toBe(4);
    expect(await refusedWith('unit-zz', tokenA)).toBe(4);
    expect(await refusedWith('', '')).toBe(4);
    const tokenD = await h.device('unit-disabled');
    await h.devices.setDisabled('unit-disabled', true);
    expect(await refusedWith('unit-disabled', tokenD)).toBe(4);
    expect(await counter(REFUSALS, { reason: 'bad_credentials' })).toBe(before + 4);
  });

  it('refuses MQTT 5 at CONNECT: the client gets CONNACK return code 1 and the socket is closed', async () => {
    const before = await counter(REFUSALS, { reason: 'protocol_unsupported' });
    const err = (await connectDevice(h.port, 'unit-a', tokenA, { protocolVersion: 5 }).catch(
      (e: unknown) => e,
    )) as ErrorWithReasonCode;
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(1);
    expect(err.message).toMatch(/unacceptable protocol version/i);
    expect(await counter(REFUSALS, { reason: 'protocol_unsupported' })).toBe(before + 1);
  });

  it('keeps a device in its own session: a foreign client id cannot take over another device', async () => {
    const b = await connectDevice(h.port, 'unit-b', tokenB);
    let bClosed = false;
    b.once('close', () => {
      bClosed = true;
    });
    const a = await connectDevice(h.port, 'unit-a', tokenA, { clientId: 'unit-b' });
    await sleep(300);
    expect(bClosed).toBe(false);
    expect(Object.keys((h.ingest.broker as unknown as { clients: object }).clients)).toEqual(
      expect.arrayContaining(['unit-b', 'unit-a/unit-b']),
    );
    await publish(b, locationTopic('unit-b'), fix({ id: 'takeover-check' }));
    a.end(true);
    b.end(true);
  });

  it('caps keep-alive 0 at MQTT_KEEPALIVE_MAX_SECONDS', async () => {
    const before = await counter('fleetgate_mqtt_keepalive_capped_total');
    const c = await connectDevice(h.port, 'unit-a', tokenA, { keepalive: 0 });
    expect(await counter('fleetgate_mqtt_keepalive_capped_total')).toBe(before + 1);
    const server = (h.ingest.broker as unknown as { clients: Record<string, { _keepaliveInterval: number }> }).clients['unit-a'];
    expect(server?._keepaliveInterval).toBe(60 * 1500 + 1); // [MQTT-3.1.2-24] 1.5 × keep-alive
    c.end(true);
  });
});

describe('MQTT ACL', () => {
  it("drops a publish to another device's topic, with no PUBACK and nothing appended", async () => {
    const before = await counter(REFUSALS, { reason: 'publish_forbidden' });
    const eventsBefore = (await gpsEvents(h.log)).length;
    const a = await connectDevice(h.port, 'unit-a', tokenA);
    let acked = false;
    a.publish(locationTopic('unit-b'), JSON.stringify(fix()), { qos: 1 }, (e) => {
      if (!e) acked = true;
    });
    await closed(a);
    for (const topic of ['$SYS/x', 'v1/devices/unit-a/status', 'v1/devices/unit-a/location/extra']) {
      const c = await connectDevice(h.port, 'unit-a', tokenA);
      c.publish(topic, JSON.stringify(fix()), { qos: 0 });
      await closed(c);
    }
    expect(acked).toBe(false);
    expect((await gpsEvents(h.log)).length).toBe(eventsBefore);
    expect(await counter(REFUSALS, { reason: 'publish_forbidden' })).toBe(before + 4);
    a.end(true);
  });

  it('grants only its own commands and errors topics; anything else gets SUBACK 0x80 and no data', async () => {
    const before = await counter(REFUSALS, { reason: 'subscribe_forbidden' });
    const a = await connectDevice(h.port, 'unit-a', tokenA);
    const topics = [
      'v1/devices/unit-a/commands',
      errorsTopic('unit-a'),
      'v1/devices/unit-b/#',
      '#',
      '$SYS/#',
      'v1/devices/+/location',
    ];
    // mqtt.js fails the whole call when one filter gets 0x80; the SUBACK is on the error.
    const suback = (await a.subscribeAsync(topics, { qos: 1 }).catch((e: { packet?: { granted: number[] } }) => e.packet)) as {
      granted: number[];
    };
    expect(suback.granted).toEqual([1, 1, 0x80, 0x80, 0x80, 0x80]);
    const received: string[] = [];
    a.on('message', (topic) => received.push(topic));
    const b = await connectDevice(h.port, 'unit-b', tokenB);
    await publish(b, locationTopic('unit-b'), fix());
    await sleep(200);
    expect(received).toEqual([]);
    expect(await counter(REFUSALS, { reason: 'subscribe_forbidden' })).toBe(before + 4);
    a.end(true);
    b.end(true);
  });
});

describe('MQTT input limits (T15)', () => {
  it('drops a PUBLISH above MQTT_MAX_PACKET_BYTES as soon as its header arrives; nothing appended', async () => {
    const before = await counter(REFUSALS, { reason: 'packet_too_large' });
    const eventsBefore = (await gpsEvents(h.log)).length;
    const a = await connectDevice(h.port, 'unit-a', tokenA);
    let acked = false;
    a.publish(locationTopic('unit-a'), JSON.stringify([fix({ pad: 'x'.repeat(3_000) })]), { qos: 1 }, (e) => {
      if (!e) acked = true;
    });
    await closed(a);
    expect(acked).toBe(false);
    expect((await gpsEvents(h.log)).length).toBe(eventsBefore);
    expect(await counter(REFUSALS, { reason: 'packet_too_large' })).toBe(before + 1);
    a.end(true);
  });

  const rawSocketClosed = (bytes: Buffer) =>
    new Promise<number>((resolve, reject) => {
      const t0 = Date.now();
      const s = tcpConnect({ host: '127.0.0.1', port: h.port }, () => s.write(bytes));
      s.on('error', () => {});
      s.once('close', () => resolve(Date.now() - t0));
      setTimeout(() => reject(new Error('socket still open')), 3_000);
    });

  it('closes at once a connection announcing a 256 MB packet and withholding it (aedes #1086)', async () => {
    const before = await counter(REFUSALS, { reason: 'packet_too_large' });
    const ms = await Promise.all(Array.from({ length: 50 }, () => rawSocketClosed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]))));
    expect(Math.max(...ms)).toBeLessThan(1_000);
    expect(await counter(REFUSALS, { reason: 'packet_too_large' })).toBe(before + 50);
  });

  it('closes a connection whose first packet is not CONNECT, and one with a 5-byte remaining length', async () => {
    const before = await counter(REFUSALS, { reason: 'malformed_packet' });
    await rawSocketClosed(Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x7b, 0x7d])); // PUBLISH before CONNECT
    await rawSocketClosed(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]));
    expect(await counter(REFUSALS, { reason: 'malformed_packet' })).toBe(before + 2);
  });

  it('refuses a topic deeper than 8 levels (the connection is closed)', async () => {
    const a = await connectDevice(h.port, 'unit-a', tokenA);
    a.publish(`${'x/'.repeat(20)}y`, '{}', { qos: 0 });
    await closed(a);
    expect(await counter('fleetgate_mqtt_client_errors_total', { kind: 'topic_too_deep' })).toBeGreaterThanOrEqual(1);
  });

  it('throttles connects per address (MQTT_CONNECTS_PER_IP_PER_MINUTE)', async () => {
    const limited = await startHarness({ MQTT_CONNECTS_PER_IP_PER_MINUTE: '3' }, { shareStore: h.store });
    try {
      const token = await h.device('unit-r');
      const before = await counter(REFUSALS, { reason: 'rate_limited' });
      for (let i = 0; i < 3; i++) (await connectDevice(limited.port, 'unit-r', token, { clientId: `r${i}` })).end(true);
      await expect(connectDevice(limited.port, 'unit-r', token, { clientId: 'r4' })).rejects.toThrow(/closed before CONNACK/);
      expect(await counter(REFUSALS, { reason: 'rate_limited' })).toBe(before + 1);
    } finally {
      await limited.close();
    }
  });
});
