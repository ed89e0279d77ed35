/** The publish path: what a PUBACK promises, batches, bad points, resends, a failing log, mosquitto_pub. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../core/eventlog/port.js';
import { pointEventId } from '../../ingest/gps/parsePoints.js';
import { errorsTopic, locationTopic } from '../../ingest/mqtt/broker.js';
import { GatewayError } from '../../schemas/errors.js';
import { closed, connectDevice, counter, fix, gpsEvents, type Harness, publish, sleep, startHarness } from './harness.js';

/** How the log behaves for the next appends: fine, down, or storing but failing to answer (a lost ack). */
let mode: 'ok' | 'down' | 'lose-ack' = 'ok';
const flaky = (log: EventLog): EventLog => ({
  ...log,
  append: async (subject, events, opts) => {
    if (mode === 'down') throw new GatewayError('GW_ERR_LOG_UNAVAILABLE', 'log down (test)');
    const ack = await log.append(subject, events, opts);
    if (mode === 'lose-ack') {
      mode = 'ok';
      throw new GatewayError('GW_ERR_LOG_UNAVAILABLE', 'ack lost (test)');
    }
    return ack;
  },
});

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness({ GPS_BATCH_MAX_MS: '10' }, { wrapLog: flaky });
  token = await h.device('unit-1');
}, 60_000);
afterAll(() => h?.close());
beforeEach(() => {
  mode = 'ok';
});

const topic = locationTopic('unit-1');
const byPointId = async (id: string) => (await gpsEvents(h.log)).filter((e) => e.data.pointId === id);

describe('MQTT QoS 1', () => {
  it('PUBACKs only after the point is in the GPS stream', async () => {
    const c = await connectDevice(h.port, 'unit-1', token);
    const found = await new Promise<number>((resolve, reject) =>
      c.publish(topic, JSON.stringify(fix({ id: 'q1-a', speed: 42 })), { qos: 1 }, (e) => {
        if (e) return reject(e);
        // Inside the PUBACK callback: the log must already hold it.
        byPointId('q1-a').then((events) => resolve(events.length), reject);
      }),
    );
    expect(found).toBe(1);
    const [event] = await byPointId('q1-a');
    expect(event).toMatchObject({
      id: pointEventId('unit-1', { pointId: 'q1-a', ts: 0, lat: 0, lon: 0 }),
      type: 'gps.reported',
      subject: 'gps.reported.mqtt',
      data: { deviceId: 'unit-1', lat: 55.75, lon: 37.62, speed: 42, source: 'mqtt', pointId: 'q1-a' },
    });
    c.end(true);
  });

  it('appends every point of an offline buffer (an array) before its one PUBACK', async () => {
    const c = await connectDevice(h.port, 'unit-1', token);
    const t0 = Date.now() - 3_600_000;
    const buffer = Array.from({ length: 300 }, (_, i) => fix({ id: `buf-${i}`, ts: t0 + i * 1_000, lat: 55 + i / 1_000 }));
    await publish(c, topic, buffer);
    const stored = (await gpsEvents(h.log)).filter((e) => e.data.pointId?.startsWith('buf-'));
    expect(stored.map((e) => e.data.pointId)).toEqual(buffer.map((p) => p.id));
    c.end(true);
  });

  it('PUBACKs a bad point, reports it on the errors topic with its reason, and counts it', async () => {
    const before = await counter('fleetgate_gps_points_refused_total', { source: 'mqtt', reason: 'lat_out_of_range' });
    const c = await connectDevice(h.port, 'unit-1', token);
    await c.subscribeAsync(errorsTopic('unit-1'), { qos: 0 });
    const errors: unknown[] = [];
    c.on('message', (t, payload) => {
      if (t === errorsTopic('unit-1')) errors.push(JSON.parse(payload.toString()));
    });
    await publish(c, topic, [
      fix({ id: 'ok-1' }),
      fix({ id: 'bad-lat', lat: 91 }),
      fix({ id: 'bad-ts', ts: Date.now() + 86_400_000 }),
    ]);
    await sleep(100);
    expect(errors).toEqual([
      { reason: 'lat_out_of_range', index: 1, id: 'bad-lat', detail: expect.any(String) },
      { reason: 'future_time', index: 2, id: 'bad-ts', detail: expect.any(String) },
    ]);
    expect(await byPointId('ok-1')).toHaveLength(1);
    expect(await byPointId('bad-lat')).toHaveLength(0);
    expect(await counter('fleetgate_gps_points_refused_total', { source: 'mqtt', reason: 'lat_out_of_range' })).toBe(before + 1);
    await publish(c, topic, 'not json');
    await sleep(100);
    expect(errors.at(-1)).toMatchObject({ reason: 'malformed_json', index: null, id: null });
    c.end(true);
  });

  it('gives a resent point (same id) the same event id, also after a PUBACK lost with the connection', async () => {
    const c = await connectDevice(h.port, 'unit-1', token);
    await publish(c, topic, fix({ id: 'again', ts: 1_700_000_000_000 }));
    await publish(c, topic, fix({ id: 'again', ts: 1_700_000_000_000 }));
    c.end(true);

    // The append is stored but its ack is lost: no PUBACK, the connection drops, mqtt.js resends
    // the packet (DUP) after reconnecting, and the same event id comes back.
    mode = 'lose-ack';
    const r = await connectDevice(h.port, 'unit-1', token, { reconnectPeriod: 100, clean: false });
    let closes = 0;
    r.on('close', () => closes++);
    await publish(r, topic, fix({ id: 'lost-ack' }));
    expect(closes).toBe(1);
    r.end(true);

    const ids = (await gpsEvents(h.log)).filter((e) => ['again', 'lost-ack'].includes(e.data.pointId ?? '')).map((e) => e.id);
    expect(new Set(ids)).toEqual(
      new Set([
        pointEventId('unit-1', { pointId: 'again', ts: 0, lat: 0, lon: 0 }),
        pointEventId('unit-1', { pointId: 'lost-ack', ts: 0, lat: 0, lon: 0 }),
      ]),
    );
  });

  it('takes QoS 2 like QoS 1: stored before PUBREC, never routed through Aedes (no retained copy)', async () => {
    const c = await connectDevice(h.port, 'unit-1', token);
    await c.publishAsync(topic, JSON.stringify(fix({ id: 'qos2' })), { qos: 2, retain: true });
    expect(await byPointId('qos2')).toHaveLength(1);
    const { persistence } = h.ingest.broker as unknown as {
      persistence: { createRetainedStream(pattern: string): AsyncIterable<unknown> };
    };
    const retained: unknown[] = [];
    for await (const p of persistence.createRetainedStream('#')) retained.push(p);
    expect(retained).toEqual([]);
    c.end(true);
  });

  it('does not PUBACK when the log is down: the connection drops and nothing is acknowledged', async () => {
    const before = await counter('fleetgate_mqtt_refusals_total', { reason: 'log_unavailable' });
    mode = 'down';
    const c = await connectDevice(h.port, 'unit-1', token);
    const pubacks: number[] = [];
    c.on('packetreceive', (p) => {
      if (p.cmd === 'puback') pubacks.push(p.messageId ?? -1);
    });
    c.publish(topic, JSON.stringify(fix({ id: 'while-down' })), { qos: 1 });
    await closed(c);
    expect(pubacks).toEqual([]);
    expect(await byPointId('while-down')).toHaveLength(0);
    expect(await counter('fleetgate_mqtt_refusals_total', { reason: 'log_unavailable' })).toBe(before + 1);
    c.end(true);
  });
});

describe('MQTT QoS 0', () => {
  it('batches points of several devices into few appends, without PUBACKs', async () => {
    const tokens = await Promise.all(['q0-a', 'q0-b', 'q0-c'].map((id) => h.device(id)));
    const clients = await Promise.all(['q0-a', 'q0-b', 'q0-c'].map((id, i) => connectDevice(h.port, id, tokens[i] as string)));
    const seqBefore = await h.log.lastSeq('GPS');
    for (let i = 0; i < 100; i++) {
      for (const [n, c] of clients.entries()) {
        c.publish(locationTopic(`q0-${'abc'[n]}`), JSON.stringify(fix({ id: `z${n}-${i}` })), { qos: 0 });
      }
    }
    let stored = 0;
    for (let t = 0; t < 100 && stored < 300; t++) {
      await sleep(50);
      stored = (await gpsEvents(h.log)).filter((e) => /^z\d-/.test(e.data.pointId ?? '')).length;
    }
    expect(stored).toBe(300);
    const messages = (await h.log.lastSeq('GPS')) - seqBefore;
    expect(messages).toBeLessThan(100); // coalesced; typically a handful
    for (const c of clients) c.end(true);
  });

  it('counts QoS 0 points lost to a failing append (the device is never told)', async () => {
    const before = await counter('fleetgate_mqtt_qos0_points_lost_total');
    mode = 'down';
    const c = await connectDevice(h.port, 'unit-1', token);
    c.publish(topic, JSON.stringify([fix(), fix({ lat: 1 })]), { qos: 0 });
    await sleep(200);
    expect(c.connected).toBe(true);
    expect(await counter('fleetgate_mqtt_qos0_points_lost_total')).toBe(before + 2);
    c.end(true);
  });
});

describe('mosquitto_pub', () => {
  it('publishes a point (MQTT 3.1.1, QoS 1) that lands in the log', async () => {
    const run = promisify(execFile);
    const args = ['-h', '127.0.0.1', '-p', String(h.port), '-V', 'mqttv311', '-i', 'unit-1', '-u', 'unit-1', '-P', token];
    await run('/usr/bin/mosquitto_pub', [...args, '-q', '1', '-t', topic, '-m', JSON.stringify(fix({ id: 'mosq-1' }))]);
    expect(await byPointId('mosq-1')).toHaveLength(1);
    const v5 = await run('/usr/bin/mosquitto_pub', [...args, '-V', 'mqttv5', '-t', topic, '-m', '{}']).catch((e) => e);
    expect(String(v5.stderr)).toMatch(/unacceptable protocol version|unsupported protocol version/i);
  });
});
