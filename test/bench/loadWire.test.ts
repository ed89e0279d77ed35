/**
 * The benches' raw load generators write MQTT packets and WebSocket frames by hand: a real broker
 * (Aedes) and a real WebSocket server (ws) must read them as what they claim to be, and the
 * readers must frame what those servers send back, however the bytes are split.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  connectPacket,
  PAYLOAD_BYTES,
  packetReader,
  publishPacket,
  publishTemplate,
  setNonce,
} from '../../bench/load/mqttWire.js';
import { frameReader, locationFrame, locationId, locationTemplate, maskedFrame, upgrade } from '../../bench/load/wsWire.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const listen = (server: Server | WebSocketServer) =>
  new Promise<number>((resolve) => {
    if (server instanceof WebSocketServer) server.once('listening', () => resolve((server.address() as { port: number }).port));
    else server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

describe('raw MQTT packets (bench/load/mqttWire)', () => {
  it('connects to Aedes, publishes QoS 1 and 0 points a subscriber reads as JSON, and frames the PUBACKs', async () => {
    const broker = await Aedes.createBroker();
    const server = createServer((s) => broker.handle(s));
    const port = await listen(server);
    cleanups.push(() => new Promise<void>((r) => broker.close(() => server.close(() => r()))));

    const sub = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 4 });
    cleanups.push(() => sub.endAsync(true));
    await sub.subscribeAsync('v1/devices/+/location', { qos: 0 });
    const received: { topic: string; body: Record<string, unknown>; bytes: number }[] = [];
    sub.on('message', (topic, payload) => received.push({ topic, body: JSON.parse(payload.toString()), bytes: payload.length }));

    const { connect } = await import('node:net');
    const socket = connect({ host: '127.0.0.1', port });
    cleanups.push(() => void socket.destroy());
    const packets: { type: number; body: Buffer }[] = [];
    // Feed the reader one byte at a time: a packet split across chunks must still come out whole.
    const read = packetReader((first, body) => packets.push({ type: first >> 4, body: Buffer.from(body) }));
    socket.on('data', (d: Buffer) => {
      for (const b of d) read(Buffer.from([b]));
    });
    await new Promise((r) => socket.once('connect', r));
    socket.write(connectPacket('dev-7', 30, 'secret-token'));
    await expect.poll(() => packets.find((p) => p.type === 2)?.body[1]).toBe(0); // CONNACK accepted

    const q1 = publishTemplate('v1/devices/dev-7/location', 1, 40.1, 10.2);
    const q0 = publishTemplate('v1/devices/dev-7/location', 0, 40.1, 10.2);
    setNonce(q1, 'abcd1234');
    setNonce(q0, 'abcd1234');
    const now = Date.now();
    socket.write(Buffer.concat([publishPacket(q1, 1234, 513, now), publishPacket(q0, 1235, 0, now + 1)]));

    await expect.poll(() => received.length).toBe(2);
    const pubacks = packets.filter((p) => p.type === 4);
    expect(pubacks.map((p) => p.body.readUInt16BE(0))).toEqual([513]);
    expect(received.map((r) => r.topic)).toEqual(['v1/devices/dev-7/location', 'v1/devices/dev-7/location']);
    expect(received.every((r) => r.bytes === PAYLOAD_BYTES)).toBe(true);
    // The QoS 0 copy may reach the subscriber first: order by id. Ids are zero-padded to keep every payload PAYLOAD_BYTES long.
    const [a, b] = [...received].sort((x, y) => String(x.body.id).localeCompare(String(y.body.id)));
    expect(a?.body.id).toMatch(/^abcd1234-0+1234$/);
    expect(b?.body.id).toMatch(/^abcd1234-0+1235$/);
    expect(a?.body.ts).toBe(now);
    expect(b?.body.ts).toBe(now + 1);
    // lat's last three decimals move with the sequence number, lon's with 7 × it
    expect(a?.body.lat).toBeCloseTo(40.100234, 6);
    expect(a?.body.lon).toBeCloseTo(10.2 + ((1234 * 7) % 1000) / 1e6, 6);
  });
});

describe('raw WebSocket frames (bench/load/wsWire)', () => {
  it('upgrades, sends masked location frames the server decodes, and frames its answers', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const port = await listen(wss);
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    const got: { url: string | undefined; text: string }[] = [];
    wss.on('connection', (ws: WebSocket, req) => {
      ws.on('message', (d) => {
        got.push({ url: req.url, text: d.toString() });
        const m = JSON.parse(d.toString()) as { id?: string; items?: { id: string }[] };
        // An answer long enough for the 16-bit length form, so both header forms are read.
        ws.send(JSON.stringify({ type: 'ack', ids: m.items ? m.items.map((i) => i.id) : [m.id], pad: 'x'.repeat(200) }));
      });
    });

    const { socket, rest } = await upgrade(`ws://127.0.0.1:${port}/v1/ws/driver?token=t0`);
    cleanups.push(() => void socket.destroy());
    const answers: string[] = [];
    const read = frameReader((op, payload) => op === 1 && answers.push(payload.toString()));
    if (rest.length > 0) read(rest);
    socket.on('data', (d: Buffer) => {
      for (let i = 0; i < d.length; i += 7) read(d.subarray(i, i + 7));
    });

    const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const t = locationTemplate(key, 'n0nce001', 55.042);
    const ts = Date.now();
    socket.write(locationFrame(t, 42, ts));
    const items = [{ id: 'b-1', ts, lat: 55, lon: 37 }];
    socket.write(maskedFrame(Buffer.from(JSON.stringify({ type: 'locations', items, pad: 'y'.repeat(300) })), key));

    await expect.poll(() => answers.length).toBe(2);
    expect(got[0]?.url).toBe('/v1/ws/driver?token=t0');
    expect(JSON.parse(got[0]?.text ?? '')).toMatchObject({
      type: 'location',
      id: locationId('n0nce001', 42),
      ts,
      lat: 55.042,
      lon: 37.0042,
    });
    expect(JSON.parse(got[1]?.text ?? '')).toMatchObject({ type: 'locations', items });
    expect(answers.map((a) => (JSON.parse(a) as { ids: string[] }).ids)).toEqual([[locationId('n0nce001', 42)], ['b-1']]);
  });
});
