/** Hand-built MQTT 3.1.1 packets and a raw TCP client, for input no well-behaved client library would send. */
import { type Socket, connect as tcpConnect } from 'node:net';

/** The Remaining Length varint; `n` may exceed what the protocol allows when a test wants it to. */
export const remainingLength = (n: number): Buffer => {
  const out: number[] = [];
  do {
    out.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.from(out);
};

/** A length-prefixed field; a Buffer is written as given (invalid UTF-8, NUL bytes). */
const field = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};

const packet = (firstByte: number, body: Buffer) => Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);

export const connectPacket = (o: {
  clientId: string;
  username?: string;
  password?: string;
  keepalive?: number;
  clean?: boolean;
}) => {
  const flags = (o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0) | (o.clean === false ? 0 : 0x02);
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(o.keepalive ?? 60);
  return packet(
    0x10,
    Buffer.concat([
      field('MQTT'),
      Buffer.from([4, flags]),
      keepalive,
      field(o.clientId),
      ...(o.username !== undefined ? [field(o.username)] : []),
      ...(o.password !== undefined ? [field(o.password)] : []),
    ]),
  );
};

export const publishPacket = (topic: string | Buffer, payload: Buffer | string, qos: 0 | 1 | 2 = 0, messageId = 1) => {
  const id = Buffer.alloc(qos > 0 ? 2 : 0);
  if (qos > 0) id.writeUInt16BE(messageId);
  return packet(
    0x30 | (qos << 1),
    Buffer.concat([field(topic), id, typeof payload === 'string' ? Buffer.from(payload) : payload]),
  );
};

export const subscribePacket = (messageId: number, filters: string[], qos: 0 | 1 = 0) => {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  return packet(0x82, Buffer.concat([id, ...filters.map((f) => Buffer.concat([field(f), Buffer.from([qos])]))]));
};

export interface RawPacket {
  type: number;
  flags: number;
  body: Buffer;
}

/** What a raw connection saw: packets parsed from the broker's bytes, and when it closed. */
export interface RawClient {
  socket: Socket;
  packets: RawPacket[];
  openedAt: number;
  /** Date.now() of the `close` event, undefined while open. */
  closedAt?: number;
  readonly closed: Promise<number>;
  send(b: Buffer): boolean;
  /** Resolves with the first packet of `type` (seen earlier or later), rejects on close or after `ms`. */
  next(type: number, ms?: number): Promise<RawPacket>;
  /** Stops reading the socket for good (a frozen device): the kernel buffers fill, then the broker's. */
  freeze(): void;
}

export const PT = { connack: 2, publish: 3, puback: 4, pubrec: 5, suback: 9 } as const;

/** Opens a TCP connection; resolves once connected. Never rejects on a reset: `closed` tells. */
export const rawClient = (port: number) =>
  new Promise<RawClient>((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
    let buf: Buffer = Buffer.alloc(0);
    const waiters: { type: number; resolve(p: RawPacket): void; reject(e: Error): void }[] = [];
    let onClosed: (t: number) => void = () => {};
    const c: RawClient = {
      socket,
      packets: [],
      openedAt: Date.now(),
      closed: new Promise<number>((r) => {
        onClosed = r;
      }),
      send: (b) => (socket.destroyed ? false : socket.write(b)),
      next: (type, ms = 3_000) => {
        const seen = c.packets.find((p) => p.type === type);
        if (seen) return Promise.resolve(seen);
        if (c.closedAt !== undefined) return Promise.reject(new Error(`closed before packet type ${type}`));
        return new Promise<RawPacket>((res, rej) => {
          const t = setTimeout(() => rej(new Error(`no packet type ${type} within ${ms} ms`)), ms);
          waiters.push({
            type,
            resolve: (p) => {
              clearTimeout(t);
              res(p);
            },
            reject: (e) => {
              clearTimeout(t);
              rej(e);
            },
          });
        });
      },
      freeze: () => {
        socket.removeListener('data', onData);
        socket.pause();
      },
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        let len = 0;
        let mul = 1;
        let i = 1;
        for (; i < buf.length && i <= 4; i++) {
          const b = buf[i] as number;
          len += (b & 0x7f) * mul;
          mul *= 128;
          if (!(b & 0x80)) break;
        }
        if (i >= buf.length || buf.length < i + 1 + len) return;
        const p = { type: (buf[0] as number) >> 4, flags: (buf[0] as number) & 0x0f, body: buf.subarray(i + 1, i + 1 + len) };
        buf = buf.subarray(i + 1 + len);
        c.packets.push(p);
        for (const w of waiters.filter((x) => x.type === p.type)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(p);
        }
      }
    };
    socket.on('data', onData);
    socket.on('error', () => {});
    socket.once('close', () => {
      c.closedAt = Date.now();
      onClosed(c.closedAt);
      for (const w of waiters.splice(0)) w.reject(new Error('closed'));
    });
    socket.once('connect', () => {
      c.openedAt = Date.now();
      resolve(c);
    });
    socket.once('error', (e) => {
      if (!socket.connecting) return;
      reject(e);
    });
  });

/** CONNACK return code of a raw CONNECT, or 'closed' when the broker hung up without one. */
export const connackOf = async (port: number, connect: Buffer): Promise<number | 'closed'> => {
  const c = await rawClient(port);
  c.send(connect);
  const rc = await c.next(PT.connack).then(
    (p) => p.body[1] as number,
    () => 'closed' as const,
  );
  c.socket.destroy();
  return rc;
};

/** A raw connection authenticated as a device, CONNACK 0 received. */
export const rawDevice = async (
  port: number,
  id: string,
  token: string,
  extra: { clientId?: string; clean?: boolean; keepalive?: number } = {},
) => {
  const c = await rawClient(port);
  c.send(connectPacket({ ...extra, clientId: extra.clientId ?? id, username: id, password: token }));
  const ack = await c.next(PT.connack);
  if (ack.body[1] !== 0) throw new Error(`CONNACK ${ack.body[1]}`);
  return c;
};

export const messageIdOf = (p: RawPacket) => p.body.readUInt16BE(0);
