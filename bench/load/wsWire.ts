/**
 * WebSocket on a raw TCP socket for the phones of `npm run bench -- ws`: the upgrade request, client
 * frames masked with the connection's key and built from a per-phone template (a message is a
 * buffer copy plus a few masked digit writes), and a reader that frames the server's messages. The
 * `ws` library spent most of a load process's CPU on framing, masking and events per message.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** Opens `url` (ws://host:port/path?query) and resolves once the server answered 101. */
export const upgrade = (url: string, timeoutMs = 60_000) =>
  new Promise<{ socket: Socket; rest: Buffer }>((resolve, reject) => {
    const u = new URL(url);
    const socket = connect({ host: u.hostname, port: Number(u.port), noDelay: true });
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`no upgrade within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.1 101/.test(status)) return fail(new Error(`upgrade refused: ${status}`));
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('connect', () =>
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
  });

const header = (opcode: number, length: number, key: Buffer) => {
  const h =
    length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | length])
      : Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff]);
  return Buffer.concat([h, key]);
};

/** A masked client frame (text by default) of `payload`. */
export const maskedFrame = (payload: Buffer, key: Buffer, opcode = 0x1) => {
  if (payload.length > 65_535) throw new Error('frame too large for this generator');
  const h = header(opcode, payload.length, key);
  const out = Buffer.allocUnsafe(h.length + payload.length);
  h.copy(out);
  for (let i = 0; i < payload.length; i++) out[h.length + i] = (payload[i] as number) ^ (key[i & 3] as number);
  return out;
};

export const TS_DIGITS = 13;
export const SEQ_DIGITS = 10;
export const NONCE_CHARS = 8;

/**
 * A phone's `location` message, masked once; per message only the id's sequence digits, the
 * timestamp and two coordinate digits are written (masked) into a copy.
 */
export interface LocationTemplate {
  frame: Buffer;
  key: Buffer;
  /** Offset of the payload in the frame. */
  payloadAt: number;
  seqAt: number;
  tsAt: number;
  lonAt: number;
}

export const locationTemplate = (key: Buffer, nonce: string, lat: number): LocationTemplate => {
  const json =
    `{"type":"location","id":"${nonce.padEnd(NONCE_CHARS, '0').slice(0, NONCE_CHARS)}-${'0'.repeat(SEQ_DIGITS)}",` +
    `"ts":${'0'.repeat(TS_DIGITS)},"lat":${lat.toFixed(3)},"lon":37.0000,"speed":30,"battery":80}`;
  const frame = maskedFrame(Buffer.from(json, 'latin1'), key);
  const payloadAt = frame.length - json.length;
  return {
    frame,
    key,
    payloadAt,
    seqAt: json.indexOf('-') + 1,
    tsAt: json.indexOf('"ts":') + 5,
    lonAt: json.indexOf('"lon":37.') + 9,
  };
};

/** The message id a template's point `seq` carries. */
export const locationId = (nonce: string, seq: number) =>
  `${nonce.padEnd(NONCE_CHARS, '0').slice(0, NONCE_CHARS)}-${String(seq).padStart(SEQ_DIGITS, '0')}`;

const maskedDigits = (t: LocationTemplate, buf: Buffer, at: number, width: number, value: number) => {
  let v = value;
  for (let i = at + width - 1; i >= at; i--) {
    buf[t.payloadAt + i] = (0x30 + (v % 10)) ^ (t.key[i & 3] as number);
    v = Math.floor(v / 10);
  }
};

export const locationFrame = (t: LocationTemplate, seq: number, ts: number) => {
  const buf = Buffer.allocUnsafe(t.frame.length);
  t.frame.copy(buf);
  maskedDigits(t, buf, t.seqAt, SEQ_DIGITS, seq);
  maskedDigits(t, buf, t.tsAt, TS_DIGITS, ts);
  maskedDigits(t, buf, t.lonAt, 4, seq % 10_000);
  return buf;
};

/**
 * Frames the server's (unmasked) messages out of a byte stream: `onMessage(opcode, payload)` per
 * whole frame. Fragmented messages are not expected from the servers under test.
 */
export const frameReader = (onMessage: (opcode: number, payload: Buffer) => void) => {
  let pending: Buffer | undefined;
  return (chunk: Buffer) => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let i = 0;
    while (i + 2 <= buf.length) {
      const opcode = (buf[i] as number) & 0x0f;
      let len = (buf[i + 1] as number) & 0x7f;
      let at = i + 2;
      if (len === 126) {
        if (at + 2 > buf.length) break;
        len = buf.readUInt16BE(at);
        at += 2;
      } else if (len === 127) {
        if (at + 8 > buf.length) break;
        len = Number(buf.readBigUInt64BE(at));
        at += 8;
      }
      if (at + len > buf.length) break;
      onMessage(opcode, buf.subarray(at, at + len));
      i = at + len;
    }
    if (i < buf.length) pending = Buffer.from(buf.subarray(i));
  };
};
