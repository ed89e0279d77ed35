/** The live feed's snapshot of last known positions: chunks, online/offline, backpressure, stopping. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SnapshotTarget, sendSnapshot } from '../../api/live/snapshot.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { freshPglite } from '../support/stores.js';

const NOW = Date.UTC(2026, 0, 5, 9, 0, 0);
const OFFLINE_AFTER_MS = 300_000;
const VEHICLES = 1_200; // more than two query pages
let store: PostgresStore;

beforeAll(async () => {
  store = await freshPglite();
  // Every third vehicle last reported an hour ago (offline), the others a minute ago.
  await store.sql`
    INSERT INTO vehicle_positions (device_id, ts, lat, lon, speed, heading, battery, source, received_at, last_seq)
    SELECT 'car-' || lpad(i::text, 5, '0'), to_timestamp(${NOW / 1000}) - make_interval(secs => CASE WHEN i % 3 = 0 THEN 3601 ELSE 61 END),
           55 + i / 10000.0, 37 + i / 10000.0, 30, 90, 80, 'mqtt',
           to_timestamp(${NOW / 1000}) - make_interval(secs => CASE WHEN i % 3 = 0 THEN 3600 ELSE 60 END), i
    FROM generate_series(1, ${VEHICLES}) AS i`;
}, 60_000);
afterAll(async () => {
  await store?.close();
});

interface Snapshot {
  type: 'snapshot';
  done: boolean;
  positions: { deviceId: string; lat: number; ts: number; receivedAt: number; online: boolean; ageMs: number }[];
}

/** A socket stand-in: records messages; `room` resolves only when the test lets it. */
const target = () => {
  const sent: string[] = [];
  let open = true;
  let waiting: (() => void) | undefined;
  let autoRoom = true;
  const t: SnapshotTarget & { sent: string[]; close(): void; hold(): void; release(): void; waiting(): boolean } = {
    sent,
    current: () => open,
    send: (text) => {
      sent.push(text);
    },
    room: () => (autoRoom ? Promise.resolve() : new Promise<void>((r) => (waiting = r))),
    close: () => {
      open = false;
    },
    hold: () => {
      autoRoom = false;
    },
    release: () => {
      autoRoom = true;
      waiting?.();
    },
    waiting: () => waiting !== undefined,
  };
  return t;
};
const parsed = (sent: string[]) => sent.map((s) => JSON.parse(s) as Snapshot);
const opts = (vehicles: Set<string> | null = null, chunkBytes = 4096) => ({
  sql: store.sql,
  vehicles,
  offlineAfterMs: OFFLINE_AFTER_MS,
  chunkBytes,
  now: () => NOW,
});

describe('sendSnapshot', () => {
  it("sends every vehicle's last position once, in messages of at most chunkBytes, marked online or offline with its age", async () => {
    const t = target();
    expect(await sendSnapshot(t, opts())).toBe(VEHICLES);
    const msgs = parsed(t.sent);
    // ~180 bytes a position: about 22 to a 4 KiB message.
    expect(msgs.length).toBeGreaterThan(VEHICLES / 25);
    // The envelope around the positions is the only excess over chunkBytes.
    for (const s of t.sent) expect(Buffer.byteLength(s)).toBeLessThanOrEqual(4096 + 64);
    expect(msgs.map((m) => m.done)).toEqual([...Array(msgs.length - 1).fill(false), true]);
    const all = msgs.flatMap((m) => m.positions);
    expect(all.map((p) => p.deviceId)).toEqual(
      Array.from({ length: VEHICLES }, (_, i) => `car-${String(i + 1).padStart(5, '0')}`),
    );
    const car3 = all.find((p) => p.deviceId === 'car-00003');
    const car4 = all.find((p) => p.deviceId === 'car-00004');
    expect(car3).toMatchObject({
      online: false,
      ageMs: 3_600_000,
      receivedAt: NOW - 3_600_000,
      ts: NOW - 3_601_000,
      lat: 55.0003,
    });
    expect(car4).toMatchObject({ online: true, ageMs: 60_000, receivedAt: NOW - 60_000 });
    expect(all.filter((p) => !p.online)).toHaveLength(VEHICLES / 3);
  });

  it('sends only the vehicles asked for (those with a position), and one empty done message when there are none', async () => {
    const t = target();
    const ids = new Set(['car-00010', 'car-00600', 'car-01199', 'never-reported']);
    expect(await sendSnapshot(t, opts(ids))).toBe(3);
    const msgs = parsed(t.sent);
    expect(msgs.flatMap((m) => m.positions.map((p) => p.deviceId)).sort()).toEqual(['car-00010', 'car-00600', 'car-01199']);
    expect(msgs.at(-1)?.done).toBe(true);

    const none = target();
    expect(await sendSnapshot(none, opts(new Set(['nobody'])))).toBe(0);
    expect(parsed(none.sent)).toEqual([{ type: 'snapshot', positions: [], done: true }]);
  });

  it('sends the next message only once the socket has room, without holding up another subscriber', async () => {
    const slow = target();
    slow.hold();
    const slowDone = sendSnapshot(slow, opts());
    // Its first message waits for room: nothing is sent to it meanwhile.
    while (!slow.waiting()) await new Promise((r) => setTimeout(r, 5));
    expect(slow.sent).toHaveLength(0);
    // Another subscriber's snapshot goes through in full while the slow one waits.
    const fast = target();
    expect(await sendSnapshot(fast, opts())).toBe(VEHICLES);
    expect(slow.sent).toHaveLength(0);
    slow.release();
    expect(await slowDone).toBe(VEHICLES);
    expect(parsed(slow.sent).flatMap((m) => m.positions)).toHaveLength(VEHICLES);
  });

  it('stops when the subscriber closes or subscribes again, sending nothing more', async () => {
    const t = target();
    t.hold();
    const done = sendSnapshot(t, opts(null, 1024));
    while (!t.waiting()) await new Promise((r) => setTimeout(r, 5));
    t.close();
    t.release();
    expect(await done).toBeNull();
    expect(t.sent).toHaveLength(0);
  });
});
