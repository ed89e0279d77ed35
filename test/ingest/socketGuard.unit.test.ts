import { describe, expect, it } from 'vitest';
import { frameScanner } from '../../ingest/mqtt/socketGuard.js';

const limits = { maxPacketBytes: 1_024, maxConnectBytes: 256 };
/** A packet of `type` with a `body`-byte variable part: the scanner reads only the fixed header. */
const frame = (type: number, body: number) => {
  const len: number[] = [];
  let n = body;
  do {
    len.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type << 4, ...len]), Buffer.alloc(body, 0x61)]);
};
const connect = frame(1, 40);
const publish = (payload: number) => frame(3, 2 + 22 + 2 + payload); // topic length, topic, message id
const ping = frame(12, 0);

/** Feeds `stream` in chunks of `size` and returns the first violation. */
const scanIn = (stream: Buffer, size: number) => {
  const scan = frameScanner(limits);
  for (let i = 0; i < stream.length; i += size) {
    const v = scan(stream.subarray(i, i + size));
    if (v) return v;
  }
  return undefined;
};

describe('frameScanner', () => {
  it('passes a valid session however TCP cuts it (byte by byte, odd chunks, all at once)', () => {
    const stream = Buffer.concat([connect, publish(10), ping, publish(900), publish(0), ping]);
    for (const size of [1, 2, 3, 7, 64, stream.length]) expect(scanIn(stream, size)).toBeUndefined();
  });

  it('flags a packet over the limit from its header alone, even split inside the length bytes', () => {
    const header = publish(2_000).subarray(0, 4); // type, 2 length bytes, a payload byte
    for (const size of [1, 2, 100]) {
      expect(scanIn(Buffer.concat([connect, header]), size)).toEqual({
        violation: 'packet_too_large',
        detail: expect.stringMatching(/limit 1024$/),
      });
    }
    expect(scanIn(Buffer.concat([connect, publish(1_024 - 30)]), 1)).toBeUndefined();
  });

  it('holds the first packet to the CONNECT limit and to being a CONNECT', () => {
    expect(scanIn(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]), 1)).toMatchObject({ violation: 'packet_too_large' });
    expect(scanIn(publish(1), 64)).toEqual({ violation: 'malformed_packet', detail: 'first packet is not CONNECT' });
    expect(scanIn(Buffer.concat([connect, Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])]), 3)).toMatchObject({
      violation: 'malformed_packet',
    });
  });
});
