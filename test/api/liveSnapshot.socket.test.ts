/**
 * A fleet's snapshot over a real `/v1/ws/live` socket whose reader has paused: the server paces
 * it by uWS's backpressure (holding a few KiB, not megabytes, and not dropping the reader), other
 * subscribers meanwhile get theirs and live positions, and the paused one gets all once it reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { liveMetrics } from '../../api/live/metrics.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { gpsEvent } from '../../ingest/gps/batcher.js';
import { gpsSubject } from '../../schemas/events/gps.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

// ~180 bytes each: ~11 MB of snapshot, more than the loopback socket buffers take from a paused reader.
const VEHICLES = 60_000;
const MAX_BUFFERED = 16_384;
let store: PostgresStore;
let api: ApiHarness;
let key: string;

beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store, { WS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED) });
  key = await api.key(['vehicles']);
  // Written straight into the read model: 60,000 points through the log would only slow the test.
  await store.sql`
    INSERT INTO vehicle_positions (device_id, ts, lat, lon, source, received_at, last_seq)
    SELECT 'fleet-' || lpad(i::text, 5, '0'), now(), 50 + i / 100000.0, 30, 'mqtt', now(), i
    FROM generate_series(1, ${VEHICLES}) AS i`;
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

interface Msg {
  type: string;
  deviceId?: string;
  done?: boolean;
  positions?: { deviceId: string }[];
}
const connect = (vehicles: '*' | string[]) => {
  const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/live?key=${key}`);
  const got: Msg[] = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString()) as Msg));
  ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', vehicles })));
  const closed = new Promise<number>((r) => ws.once('close', (c) => r(c)));
  return { ws, got, closed };
};
/** Snapshot positions of the seeded fleet received so far. */
const snapshotted = (got: Msg[]) =>
  got.flatMap((m) => (m.type === 'snapshot' ? (m.positions ?? []) : [])).filter((p) => p.deviceId.startsWith('fleet-')).length;
const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;

describe('the snapshot to a reader that pauses', () => {
  it('is paced by backpressure: bounded bytes held, the reader kept, others not held up, all delivered once it reads', async () => {
    const dropped0 = (await liveMetrics.dropped.get()).values[0]?.value ?? 0;
    const slow = connect('*');
    await until(() => slow.got.some((m) => m.type === 'subscribed'), { what: 'slow subscribed' });
    socketOf(slow.ws).pause();

    // While it is paused, the server holds at most two messages' worth for it, however long it waits.
    let maxHeld = 0;
    const sampler = setInterval(() => {
      maxHeld = Math.max(maxHeld, api.liveBufferedBytes());
    }, 2);
    await until(() => api.liveBufferedBytes() > 0, { timeoutMs: 30_000, what: 'the kernel buffers full' });
    const other = connect(['fleet-00042', 'live-1']);
    await until(() => other.got.some((m) => m.type === 'snapshot' && m.done), { what: "the other subscriber's snapshot" });
    expect(snapshotted(other.got)).toBe(1);
    await api.log.append(gpsSubject('mqtt'), [
      gpsEvent({
        deviceId: 'live-1',
        ts: Date.now(),
        lat: 51,
        lon: 31,
        source: 'mqtt',
        receivedAt: Date.now(),
        pointId: 'live-1-0',
      }),
    ]);
    await until(() => other.got.some((m) => m.type === 'position' && m.deviceId === 'live-1'), { what: 'a live position' });
    await new Promise((r) => setTimeout(r, 1_000));
    clearInterval(sampler);
    console.log(`paused reader: at most ${maxHeld} B held by the server for it (drop limit ${MAX_BUFFERED} B)`);
    expect(maxHeld).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(MAX_BUFFERED / 2 + 1_024);
    expect(snapshotted(slow.got)).toBeLessThan(VEHICLES);

    socketOf(slow.ws).resume();
    await until(() => slow.got.some((m) => m.type === 'snapshot' && m.done), { timeoutMs: 40_000, what: 'the whole snapshot' });
    expect(snapshotted(slow.got)).toBe(VEHICLES);
    expect(slow.got.some((m) => m.type === 'position' && m.deviceId === 'live-1')).toBe(true);
    expect((await liveMetrics.dropped.get()).values[0]?.value ?? 0).toBe(dropped0);
    slow.ws.close();
    other.ws.close();
    await Promise.all([slow.closed, other.closed]);
  }, 60_000);
});
