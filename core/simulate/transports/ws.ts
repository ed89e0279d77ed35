import WebSocket from 'ws';
import type { SimPoint } from '../vehicle.js';
import { type DeviceLink, inBatches, type OpenLink } from './link.js';

interface Reply {
  type: string;
  ids?: string[];
  code?: string;
}

/** No answer within this long: the batch counts as failed (the vehicle keeps it and sends it again). */
const ACK_TIMEOUT_MS = 15_000;

/**
 * A driver's phone on `/v1/ws/driver` (the token as a Bearer header): a fix as `location`, a
 * buffered batch as `locations`; a send resolves when every point of it was acked or refused.
 */
export const wsLink =
  (baseUrl: string): OpenLink =>
  async (device, onRefused) => {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/ws/driver`, {
      headers: { authorization: `Bearer ${device.token}` },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`ws upgrade answered ${res.statusCode}`)));
    });
    // A broken socket shows as a closed one (its batches fail and the vehicle reconnects); an unheard 'error' would end the process.
    socket.on('error', () => {});
    /** Point id → the batch waiting for it. */
    const waiting = new Map<string, () => void>();
    const failAll = (why: Error) => {
      for (const [id, settle] of waiting) {
        waiting.delete(id);
        settle();
      }
      return why;
    };
    socket.on('message', (data) => {
      let reply: Reply;
      try {
        reply = JSON.parse(data.toString()) as Reply;
      } catch {
        return;
      }
      if (reply.type === 'error') onRefused(device.id, reply.code ?? 'unknown', Math.max(1, reply.ids?.length ?? 0));
      for (const id of reply.ids ?? []) {
        waiting.get(id)?.();
        waiting.delete(id);
      }
    });
    socket.on('close', () => failAll(new Error('closed')));
    const sendBatch = (batch: SimPoint[]) =>
      new Promise<void>((resolve, reject) => {
        let left = batch.length;
        const timer = setTimeout(() => reject(new Error(`no ack within ${ACK_TIMEOUT_MS} ms`)), ACK_TIMEOUT_MS);
        for (const p of batch)
          waiting.set(p.id, () => {
            if (--left === 0) {
              clearTimeout(timer);
              socket.readyState === WebSocket.OPEN ? resolve() : reject(new Error('socket closed before the ack'));
            }
          });
        const message = batch.length === 1 ? { type: 'location', ...batch[0] } : { type: 'locations', items: batch };
        socket.send(JSON.stringify(message), (e) => {
          if (e) {
            clearTimeout(timer);
            for (const p of batch) waiting.delete(p.id);
            reject(e);
          }
        });
      });
    const link: DeviceLink = {
      send: (points) => inBatches(points, sendBatch),
      close: () =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          socket.close(1000, 'simulation stopped');
          setTimeout(() => {
            socket.terminate();
            resolve();
          }, 2_000).unref();
        }),
    };
    return link;
  };
