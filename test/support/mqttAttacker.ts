/**
 * Child process for the MQTT fault test (T15, test/ingest/mqtt.faults.test.ts): every malformed and
 * oversized input at once, from outside the broker's process so that the attack's own work does not
 * sit in the event loop whose PUBACK latency is measured. Prints `ready`, attacks when a line comes
 * on stdin, then prints one line `done <json>` (AttackResult) and exits.
 *
 * Usage: node --import tsx test/support/mqttAttacker.ts
 * Env:   ATTACK_PORT, ATTACK_DEVICE, ATTACK_TOKEN  the broker and a registered device to attack as
 *        ATTACK_MAX_PACKET                          MQTT_MAX_PACKET_BYTES of the broker
 *        ATTACK_CONNECT_TIMEOUT_MS                  the broker's connectTimeout
 *        FAULT_SCALE                                size multiplier (default 1; 10 = RELIABILITY.md sizes)
 */
import { randomBytes } from 'node:crypto';
import { connectPacket, PT, publishPacket, type RawClient, rawClient, rawDevice } from './rawMqtt.js';

export interface AttackResult {
  /** Each bad connection: how long after its offending bytes it was closed (ms), and the bound it must meet. */
  closes: { kind: string; ms: number; limit: number }[];
  /** PUBACKs received on connections whose only PUBLISH was bad (must be 0). */
  badPubacks: number;
  randomBytesWritten: number;
  /** PUBRECs per QoS 2 flood connection, and the broker-side client ids of those sessions. */
  qos2Pubrecs: number[];
  qos2ClientIds: string[];
}

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const port = Number(env('ATTACK_PORT'));
const device = env('ATTACK_DEVICE');
const token = env('ATTACK_TOKEN');
const maxPacket = Number(env('ATTACK_MAX_PACKET'));
const connectTimeout = Number(env('ATTACK_CONNECT_TIMEOUT_MS'));
const SCALE = Math.max(1, Number(process.env.FAULT_SCALE) || 1);
const sized = (base: number, full: number) => Math.min(full, Math.round(base * SCALE));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fix = (id: string) => JSON.stringify({ ts: Date.now() - 1_000, lat: 55.75, lon: 37.62, id });
const location = `v1/devices/${device}/location`;

const result: AttackResult = { closes: [], badPubacks: 0, randomBytesWritten: 0, qos2Pubrecs: [], qos2ClientIds: [] };
/** Waits for the close (at most `limit` + 2 s), records it against `limit`. */
const closeOf = async (kind: string, c: RawClient, from: number, limit: number) => {
  const at = await Promise.race([c.closed, sleep(limit + 2_000).then(() => Number.POSITIVE_INFINITY)]);
  c.socket.destroy();
  result.closes.push({ kind, ms: at - from, limit });
};
const atOnce = 1_000;
const atConnectTimeout = connectTimeout + 1_000;
const atKeepalive = 1_500 + 1_000;

const attack = async () => {
  // Random bytes until the total is written: 8 at a time, each connection fresh or after an
  // authenticated CONNECT, sending 16 KiB chunks until the broker hangs up (or 128 KiB were sent).
  // After CONNECT the bytes may happen to start a long valid packet and end inside it: keep-alive
  // (1 s, so 1.5 s without a whole packet) closes that one.
  const randomTotal = sized(1, 10) * 1_048_576;
  let connections = 0;
  const random = Array.from({ length: 8 }, async () => {
    while (result.randomBytesWritten < randomTotal) {
      const k = connections++;
      const c = k % 2 ? await rawDevice(port, device, token, { clientId: `rnd-${k}`, keepalive: 1 }) : await rawClient(port);
      let t0 = Date.now();
      for (let sent = 0; sent < 131_072 && c.closedAt === undefined; sent += 16_384) {
        t0 = Date.now();
        c.send(randomBytes(16_384));
        result.randomBytesWritten += 16_384;
        await new Promise((r) => setImmediate(r));
      }
      await closeOf(k % 2 ? 'random after CONNECT' : 'random', c, t0, k % 2 ? atKeepalive : atOnce);
    }
  });

  // 5 bytes announcing a 256 MB CONNECT, then silence (aedes #1086): the size limit closes these.
  const hanging = Array.from({ length: sized(50, 200) }, async () => {
    const c = await rawClient(port);
    c.send(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
    await closeOf('0x10 FF FF FF 7F', c, Date.now(), atOnce);
  });

  // Nothing at all, or half a CONNECT: only connectTimeout ends these.
  const slow = Array.from({ length: sized(10, 50) }, async (_, k) => {
    const c = await rawClient(port);
    const t0 = Date.now();
    if (k % 2) c.send(connectPacket({ clientId: `half-${k}`, username: device, password: token }).subarray(0, 12));
    await closeOf(k % 2 ? 'half a CONNECT' : 'silent', c, t0, atConnectTimeout);
  });

  const early = Array.from({ length: sized(5, 20) }, async () => {
    const c = await rawClient(port);
    c.send(publishPacket(location, fix('atk-early'), 1, 1));
    await closeOf('PUBLISH before CONNECT', c, Date.now(), atOnce);
  });

  // Authenticated, then one bad QoS 1 PUBLISH carrying a valid fix: no PUBACK, closed.
  const bad: [string, string | Buffer, number][] = [
    ['payload MQTT_MAX_PACKET_BYTES + 1', location, maxPacket + 1],
    ['64 KB topic', `${location}/${'x'.repeat(65_535 - location.length - 1)}`, 0],
    ['500-level topic', `${'l/'.repeat(499)}l`, 0],
    ['zero-length topic', '', 0],
    ['invalid UTF-8 topic (overlong)', Buffer.concat([Buffer.from(location.slice(0, -1)), Buffer.from([0xc1, 0xae])]), 0],
    ['invalid UTF-8 topic (surrogate)', Buffer.concat([Buffer.from(location), Buffer.from([0xed, 0xa0, 0x80])]), 0],
    ['NUL in topic', `${location}\u0000`, 0],
    ['+ in topic', 'v1/devices/+/location', 0],
    ['# in topic', `v1/devices/${device}/#`, 0],
  ];
  const topics = bad.map(async ([kind, topic, pad], k) => {
    const c = await rawDevice(port, device, token, { clientId: `bad-${k}` });
    const payload = pad ? Buffer.alloc(pad, 0x20) : Buffer.from(fix(`atk-${k}`));
    const t0 = Date.now();
    c.send(publishPacket(topic, payload, 1, 9));
    await closeOf(kind, c, t0, atOnce);
    result.badPubacks += c.packets.filter((p) => p.type === PT.puback).length;
  });

  // QoS 2 without PUBREL: up to 100 packets of 200 KB, half on persistent sessions (fresh client ids).
  const qos2 = Array.from({ length: sized(4, 20) }, async (_, k) => {
    const c = await rawDevice(port, device, token, { clientId: `q2-${k}`, clean: k % 2 === 0 });
    result.qos2ClientIds.push(`${device}/q2-${k}`);
    const body = Buffer.from(JSON.stringify({ id: `atk-q2-${k}`, pad: 'x'.repeat(200_000) }));
    const t0 = Date.now();
    for (let m = 1; m <= 100 && c.closedAt === undefined; m++) {
      if (!c.send(publishPacket(location, body, 2, m))) await sleep(1);
    }
    await closeOf('QoS 2 flood without PUBREL', c, t0, atOnce);
    result.qos2Pubrecs.push(c.packets.filter((p) => p.type === PT.pubrec).length);
  });

  await Promise.all([...random, ...hanging, ...slow, ...early, ...topics, ...qos2]);
};

process.stdout.write('ready\n');
process.stdin.once('end', () => process.exit(0)); // the test went away without a go
process.stdin.once('data', () => {
  attack().then(
    () => {
      process.stdout.write(`done ${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
});
