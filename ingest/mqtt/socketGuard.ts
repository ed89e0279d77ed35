import type { Duplex } from 'node:stream';
import { mqttMetrics } from './metrics.js';

/**
 * Stops every guarded socket from being read while closed: the broker's parser gets nothing, the
 * socket's buffer fills to its high-water mark, and TCP pushes back on the devices. Used while
 * the GPS intake is saturated, and at shutdown.
 */
export const readGate = () => {
  let open = true;
  const parked = new Set<Duplex>();
  return {
    get open() {
      return open;
    },
    park(socket: Duplex) {
      parked.add(socket);
      mqttMetrics.pausedSockets.set(parked.size);
    },
    forget(socket: Duplex) {
      if (parked.delete(socket)) mqttMetrics.pausedSockets.set(parked.size);
    },
    close() {
      if (open) mqttMetrics.intakePauses.inc();
      open = false;
    },
    reopen() {
      open = true;
      const waiting = [...parked];
      parked.clear();
      mqttMetrics.pausedSockets.set(0);
      // Aedes reads only from its 'readable' listener; a parked socket already had that event and
      // would wait for the next packet that a device blocked on its PUBACKs never sends.
      for (const s of waiting) if (!s.destroyed) s.emit('readable');
    },
  };
};
export type ReadGate = ReturnType<typeof readGate>;

export type FrameViolation = 'packet_too_large' | 'malformed_packet';

export interface FrameLimits {
  /** Largest packet, fixed header included. */
  maxPacketBytes: number;
  /** Largest first packet, which must be CONNECT: an unauthenticated peer gets little memory. */
  maxConnectBytes: number;
}

/**
 * Walks MQTT fixed headers across chunks without buffering, and reports the first packet whose
 * Remaining Length exceeds the limit – as soon as its 2–5 header bytes arrived, before a payload
 * byte is buffered. Aedes has no maximum packet size for 3.1.1 and its parser reserves whatever
 * the header announces (up to 256 MB from 5 bytes, moscajs/aedes#1086).
 */
export const frameScanner = (limits: FrameLimits) => {
  let first = true;
  let state: 'type' | 'length' | 'body' = 'type';
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let skip = 0;
  const scan = (buf: Buffer): { violation: FrameViolation; detail: string } | undefined => {
    let i = 0;
    while (i < buf.length) {
      if (state === 'body') {
        const n = Math.min(skip, buf.length - i);
        i += n;
        skip -= n;
        if (skip === 0) state = 'type';
        continue;
      }
      const byte = buf[i++] as number;
      if (state === 'type') {
        // [MQTT-3.1.0-1] the first packet must be CONNECT (type 1)
        if (first && byte >> 4 !== 1) return { violation: 'malformed_packet', detail: 'first packet is not CONNECT' };
        state = 'length';
        length = 0;
        multiplier = 1;
        lengthBytes = 0;
        continue;
      }
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (byte & 0x80) {
        if (lengthBytes === 4) return { violation: 'malformed_packet', detail: 'remaining length longer than 4 bytes' };
        continue;
      }
      const total = 1 + lengthBytes + length;
      const limit = first ? limits.maxConnectBytes : limits.maxPacketBytes;
      if (total > limit) return { violation: 'packet_too_large', detail: `${total} bytes announced, limit ${limit}` };
      first = false;
      skip = length;
      state = skip === 0 ? 'type' : 'body';
    }
    return undefined;
  };
  /** Bytes still to come before the packet in progress ends: 0 between packets, 1 inside a header. */
  const toBoundary = () => (state === 'type' ? 0 : state === 'body' ? skip : 1);
  return Object.assign(scan, { toBoundary });
};

/**
 * Bytes handed to Aedes per read of a WebSocket stream, then up to the end of the packet in
 * progress. TCP sockets are not capped: their buffer holds at most the high-water mark plus one
 * socket read, and the split reads cost a fifth of QoS 1 throughput in the gps bench.
 */
export const WS_READ_CHUNK_BYTES = 16_384;

/**
 * Puts the frame scanner and the read gate between a socket and Aedes. Aedes pulls bytes only
 * through `conn.read()`, so wrapping that one method sees every byte it parses while the socket
 * itself stays the real one (remote address, timeouts, drain) for Aedes and for Node.
 */
export const guardSocket = (
  socket: Duplex,
  limits: FrameLimits,
  gate: ReadGate,
  onViolation: (violation: FrameViolation, detail: string) => void,
  /** Cap each read at this many bytes (then to the packet's end); undefined: whatever is buffered. */
  readChunkBytes?: number,
): void => {
  const scan = frameScanner(limits);
  const read = socket.read.bind(socket);
  // Aedes parses and hands on every packet of a chunk before it reads again, so the gate acts
  // only between chunks. `read(null)` returns the whole buffer, and a WebSocket stream's is not held
  // to its high-water mark (ws pushes every frame of the TCP chunk it is parsing): 49 KB, 550
  // points read after the intake saturated, more than the batcher takes past that mark, and a
  // QoS 0 point was refused as overloaded. So a read stops at `readChunkBytes`, stretched to the
  // end of the packet in progress: each chunk completes a packet (Aedes calls back and reads again)
  // and the parser is never left holding a fragment while bytes wait unread.
  socket.read = (size?: number) => {
    if (size === 0) return read(0); // Node's own "refill" call, never returns data
    if (!gate.open) {
      gate.park(socket);
      return null;
    }
    // Aedes asks with `read(null)`: everything buffered.
    const capped =
      readChunkBytes !== undefined &&
      (size ?? Number.POSITIVE_INFINITY) > readChunkBytes &&
      socket.readableLength > readChunkBytes;
    const chunk: Buffer | null = read(capped ? readChunkBytes : size);
    if (!chunk) return null;
    const parts = [chunk];
    let bad = scan(chunk);
    while (capped && !bad && scan.toBoundary() > 0 && socket.readableLength > 0) {
      const more: Buffer = read(Math.min(scan.toBoundary(), socket.readableLength));
      parts.push(more);
      bad = scan(more);
    }
    if (bad) {
      onViolation(bad.violation, bad.detail);
      socket.destroy();
      return null;
    }
    return parts.length === 1 ? chunk : Buffer.concat(parts);
  };
  socket.once('close', () => gate.forget(socket));
};
