/**
 * MQTT 3.1.1 packets for the raw load generator (bench/gpsLoad.ts): encoded once per device and
 * patched in place per point (packet id, timestamp, sequence digits), and a reader that frames
 * what the broker sends back (CONNACK, PUBACK, PINGRESP) without decoding anything else. A load
 * process built on mqtt.js spent about one core at ~17k QoS 1 points/s; this costs a fraction.
 */

const varint = (n: number) => {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};

const str = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

export const PINGREQ = Buffer.from([0xc0, 0x00]);

/** CONNECT with a clean session, and username + password when a token is given. */
export const connectPacket = (clientId: string, keepaliveS: number, token?: string) => {
  const flags = 0x02 | (token === undefined ? 0 : 0xc0);
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, keepaliveS >> 8, keepaliveS & 0xff]);
  const payload = [str(clientId), ...(token === undefined ? [] : [str(clientId), str(token)])];
  const rest = Buffer.concat([variable, ...payload]);
  return Buffer.concat([Buffer.from([0x10, ...varint(rest.length)]), rest]);
};

/** Every point is padded to this many bytes of JSON (through its `id`). */
export const PAYLOAD_BYTES = 150;
const TS_DIGITS = 13;
const SEQ_DIGITS = 10;
export const NONCE_CHARS = 8;

/**
 * A device's PUBLISH packet for one QoS, with the offsets of the parts that change per point.
 * Payload: `{"ts":…,"lat":…,"lon":…,"speed":…,"heading":…,"battery":…,"id":"<nonce>-<seq>"}`,
 * PAYLOAD_BYTES long, fields fixed-width so a point is a copy and a few digit writes.
 */
export interface PublishTemplate {
  packet: Buffer;
  /** Offset of the packet id (QoS 1), or -1. */
  pidAt: number;
  tsAt: number;
  latAt: number;
  lonAt: number;
  nonceAt: number;
  seqAt: number;
}

export const publishTemplate = (topic: string, qos: 0 | 1, lat: number, lon: number): PublishTemplate => {
  const head = `{"ts":${'0'.repeat(TS_DIGITS)},"lat":${lat.toFixed(6)},"lon":${lon.toFixed(6)},"speed":42.0,"heading":123.5,"battery":77,"id":"`;
  const pad = PAYLOAD_BYTES - head.length - NONCE_CHARS - 1 - 2;
  if (pad < SEQ_DIGITS) throw new Error('payload template too long');
  const json = `${head}${'x'.repeat(NONCE_CHARS)}-${'0'.repeat(pad)}"}`;
  const t = str(topic);
  const remaining = t.length + (qos === 1 ? 2 : 0) + json.length;
  const fixed = Buffer.from([0x30 | (qos << 1), ...varint(remaining)]);
  const packet = Buffer.concat([fixed, t, Buffer.alloc(qos === 1 ? 2 : 0), Buffer.from(json, 'latin1')]);
  const payloadAt = fixed.length + t.length + (qos === 1 ? 2 : 0);
  const at = (needle: string) => payloadAt + json.indexOf(needle) + needle.length;
  return {
    packet,
    pidAt: qos === 1 ? fixed.length + t.length : -1,
    tsAt: at('"ts":'),
    // the last three decimals of lat and lon move with the sequence number
    latAt: at('"lat":') + lat.toFixed(6).length - 3,
    lonAt: at('"lon":') + lon.toFixed(6).length - 3,
    nonceAt: at('"id":"'),
    seqAt: payloadAt + json.length - 2 - SEQ_DIGITS,
  };
};

/** Writes `value` as `width` decimal digits ending at `at + width` (leading zeros). */
const digits = (buf: Buffer, at: number, width: number, value: number) => {
  let v = value;
  for (let i = at + width - 1; i >= at; i--) {
    buf[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
};

/** Sets the phase's nonce in the template itself (once per phase). */
export const setNonce = (t: PublishTemplate, nonce: string) => {
  t.packet.write(nonce.padEnd(NONCE_CHARS, '0').slice(0, NONCE_CHARS), t.nonceAt, 'latin1');
};

/** A fresh copy of the template for point `seq` (the socket may still hold the previous copy). */
export const publishPacket = (t: PublishTemplate, seq: number, packetId: number, nowMs: number) => {
  const buf = Buffer.allocUnsafe(t.packet.length);
  t.packet.copy(buf);
  if (t.pidAt >= 0) {
    buf[t.pidAt] = packetId >> 8;
    buf[t.pidAt + 1] = packetId & 0xff;
  }
  digits(buf, t.tsAt, TS_DIGITS, nowMs);
  digits(buf, t.latAt, 3, seq % 1000);
  digits(buf, t.lonAt, 3, (seq * 7) % 1000);
  digits(buf, t.seqAt, SEQ_DIGITS, seq);
  return buf;
};

/**
 * Frames the broker's packets out of a byte stream: calls `onPacket(firstByte, body)` for each
 * whole packet. Keeps a partial packet across chunks.
 */
export const packetReader = (onPacket: (first: number, body: Buffer) => void) => {
  let pending: Buffer | undefined;
  return (chunk: Buffer) => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let i = 0;
    while (i < buf.length) {
      if (i + 2 > buf.length) break;
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let done = false;
      while (j < buf.length && j < i + 5) {
        const b = buf[j++] as number;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          done = true;
          break;
        }
      }
      if (!done || j + len > buf.length) break;
      onPacket(buf[i] as number, buf.subarray(j, j + len));
      i = j + len;
    }
    if (i < buf.length) pending = Buffer.from(buf.subarray(i));
  };
};
