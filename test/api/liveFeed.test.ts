import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { postgresApiKeyStore, prefixOf } from '../../api/auth.js';
import { KEY_REVOKED_CLOSE } from '../../api/live/keyWatch.js';
import { liveMetrics } from '../../api/live/metrics.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { gpsEvent } from '../../ingest/gps/batcher.js';
import { gpsSubject } from '../../schemas/events/gps.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { settledRss } from '../support/memory.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store, { GPS_OFFLINE_AFTER: '5', WS_MAX_BUFFERED_BYTES: '16384' });
  key = await api.key(['vehicles']);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

interface Msg {
  type: string;
  deviceId?: string;
  ts?: number;
  online?: boolean;
  source?: string;
}
const subscribe = (vehicles: '*' | string[], k = key) =>
  new Promise<{ ws: WebSocket; got: Msg[]; closed: Promise<number> }>((resolve, reject) => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/live?key=${k}`);
    const got: Msg[] = [];
    const closed = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Msg;
      if (m.type === 'subscribed') resolve({ ws, got, closed });
      else got.push(m);
    });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', vehicles })));
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
const report = (deviceId: string, i: number, source: 'mqtt' | 'ws' | 'osmand' = 'mqtt') =>
  api.log.append(gpsSubject(source), [
    gpsEvent({
      deviceId,
      ts: Date.now() - 10_000 + i,
      lat: 55 + i / 1000,
      lon: 37,
      source,
      receivedAt: Date.now(),
      pointId: `${deviceId}-${i}`,
    }),
  ]);
const mb = (b: number) => (b / 1_048_576).toFixed(1);

describe('/v1/ws/live', () => {
  it("follows the GPS stream only while someone is connected, starting from each vehicle's last report", async () => {
    const following = async () => (await liveMetrics.following.get()).values[0]?.value ?? 0;
    expect(await following()).toBe(0);
    // Reported before anyone watched: one still fresh, one already past GPS_OFFLINE_AFTER (5 s).
    const now = Date.now();
    for (const [deviceId, receivedAt] of [
      ['fresh-1', now],
      ['stale-1', now - 60_000],
    ] as const) {
      await api.log.append(gpsSubject('mqtt'), [
        gpsEvent({ deviceId, ts: receivedAt - 1_000, lat: 55, lon: 37, source: 'mqtt', receivedAt, pointId: `${deviceId}-0` }),
      ]);
    }
    await api.caughtUp();
    expect(await following()).toBe(0);

    const sub = await subscribe('*');
    expect(await following()).toBe(1);
    // fresh-1 goes offline without reporting again; stale-1 was offline already and says nothing.
    await until(() => sub.got.some((m) => m.type === 'status' && m.deviceId === 'fresh-1' && m.online === false), {
      timeoutMs: 10_000,
      what: 'fresh-1 offline',
    });
    expect(sub.got.filter((m) => m.deviceId === 'stale-1')).toEqual([]);
    await report('stale-1', 1);
    await until(() => sub.got.some((m) => m.type === 'position' && m.deviceId === 'stale-1'));
    expect(sub.got.filter((m) => m.deviceId === 'stale-1').map((m) => m.type === 'status' && m.online)).toEqual([true, false]);

    // The last subscriber gone: following stops once GPS_OFFLINE_AFTER passed.
    sub.ws.close();
    await until(async () => (await following()) === 0, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'following stopped after the last subscriber left',
    });
  }, 30_000);

  it('streams positions from every source in order per vehicle, only the vehicles asked for, and online/offline transitions', async () => {
    const all = await subscribe('*');
    const one = await subscribe(['van-2']);
    const sources = ['mqtt', 'ws', 'osmand'] as const;
    for (let i = 0; i < 9; i++) await report(i % 2 ? 'van-1' : 'van-2', i, sources[i % 3]);
    await until(() => all.got.filter((m) => m.type === 'position').length === 9);
    const van2 = all.got.filter((m) => m.type === 'position' && m.deviceId === 'van-2').map((m) => m.ts as number);
    expect(van2).toEqual([...van2].sort((a, b) => a - b));
    expect(new Set(all.got.filter((m) => m.type === 'position').map((m) => m.source))).toEqual(new Set(sources));
    expect(
      all.got
        .filter((m) => m.type === 'status' && m.online)
        .map((m) => m.deviceId)
        .sort(),
    ).toEqual(['van-1', 'van-2']);
    await until(() => one.got.filter((m) => m.type === 'position').length === 5);
    // Everything but the snapshot of last known positions names its vehicle: only van-2.
    expect(new Set(one.got.filter((m) => m.type !== 'snapshot').map((m) => m.deviceId))).toEqual(new Set(['van-2']));
    // No report for GPS_OFFLINE_AFTER (5 s): each goes offline once.
    await until(() => all.got.filter((m) => m.type === 'status' && m.online === false).length === 2, {
      timeoutMs: 10_000,
      what: 'two offline statuses',
    });
    all.ws.close();
    one.ws.close();
  }, 20_000);

  it("sends each subscribed vehicle's last known position on subscribing, online or offline with its age, then the live ones", async () => {
    const now = Date.now();
    // 300 vehicles (several snapshot messages at WS_MAX_BUFFERED_BYTES 16 KiB), every tenth silent for a minute.
    await api.log.append(
      gpsSubject('mqtt'),
      Array.from({ length: 300 }, (_, i) => {
        const receivedAt = i % 10 === 0 ? now - 60_000 : now;
        const deviceId = `snap-${String(i).padStart(3, '0')}`;
        return gpsEvent({
          deviceId,
          ts: receivedAt - 500,
          lat: 56 + i / 1000,
          lon: 38,
          source: 'mqtt',
          receivedAt,
          pointId: `${deviceId}-0`,
        });
      }),
    );
    await api.caughtUp();
    interface Snap {
      type: string;
      done?: boolean;
      positions?: { deviceId: string; lat: number; online: boolean; ageMs: number; receivedAt: number }[];
    }
    const snaps = (got: Msg[]) => (got as Snap[]).filter((m) => m.type === 'snapshot');
    const snapshotDone = (got: Msg[]) => until(() => snaps(got).some((m) => m.done), { what: 'snapshot done' });

    const all = await subscribe('*');
    await snapshotDone(all.got);
    const messages = snaps(all.got);
    expect(messages.length).toBeGreaterThan(1);
    expect(messages.map((m) => m.done)).toEqual([...Array(messages.length - 1).fill(false), true]);
    const positions = messages.flatMap((m) => m.positions ?? []).filter((p) => p.deviceId.startsWith('snap-'));
    expect(positions).toHaveLength(300);
    expect(positions.find((p) => p.deviceId === 'snap-010')).toMatchObject({
      online: false,
      lat: 56.01,
      receivedAt: now - 60_000,
    });
    expect(positions.find((p) => p.deviceId === 'snap-011')).toMatchObject({ online: true, lat: 56.011, receivedAt: now });
    expect(positions.find((p) => p.deviceId === 'snap-010')?.ageMs).toBeGreaterThanOrEqual(60_000);
    expect(positions.filter((p) => !p.online)).toHaveLength(30);

    // A list: only those vehicles; then live positions follow as before.
    const one = await subscribe(['snap-001', 'snap-002', 'nope']);
    await snapshotDone(one.got);
    expect(snaps(one.got).flatMap((m) => (m.positions ?? []).map((p) => p.deviceId))).toEqual(['snap-001', 'snap-002']);
    await report('snap-001', 1);
    await until(() => one.got.some((m) => m.type === 'position' && m.deviceId === 'snap-001'));
    expect(one.got.filter((m) => m.deviceId === 'snap-002')).toEqual([]);
    expect((await liveMetrics.snapshotPositions.get()).values[0]?.value).toBeGreaterThanOrEqual(302);
    all.ws.close();
    one.ws.close();
  }, 30_000);

  it('refuses a key without the vehicles scope', async () => {
    await expect(subscribe('*', await api.key(['sms']))).rejects.toThrow('HTTP 403');
    await expect(subscribe('*', 'nope')).rejects.toThrow('HTTP 401');
  });

  it("closes a revoked key's live sockets within the key cache's 10 s, also when another process revoked it", async () => {
    const revoked = await api.key(['vehicles']);
    const [a, b, other] = await Promise.all([subscribe('*', revoked), subscribe(['veh-x'], revoked), subscribe('*')]);
    const t0 = Date.now();
    // Another process: its own key store (and cache); only Postgres is shared.
    expect(await postgresApiKeyStore(store.sql).revoke(prefixOf(revoked))).toBe(true);
    expect(await Promise.all([a.closed, b.closed])).toEqual([KEY_REVOKED_CLOSE, KEY_REVOKED_CLOSE]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // A key still valid keeps streaming.
    await report('veh-still', 1);
    await until(() => other.got.some((m) => m.deviceId === 'veh-still'));
    other.ws.close();
  }, 20_000);

  it('drops subscribers that stop reading instead of buffering for them: bounded bytes held, bounded RSS', async () => {
    const flood = async (tag: string, total: number) => {
      for (let b = 0; b < total / 1000; b++) {
        await api.log.append(
          gpsSubject('mqtt'),
          Array.from({ length: 1000 }, (_, k) =>
            gpsEvent({
              deviceId: `bus-${k % 50}`,
              ts: Date.now() - 60_000 + b * 1000 + k,
              lat: 55,
              lon: 37,
              source: 'mqtt',
              receivedAt: Date.now(),
              pointId: `${tag}-${b}-${k}`,
            }),
          ),
        );
      }
    };
    // A healthy reader that only counts, so the test's own memory does not blur the server's.
    const counter = await subscribe('*');
    let positions = 0;
    counter.ws.removeAllListeners('message');
    counter.ws.on('message', () => positions++);
    // Warm-up with nobody stalled: the log, projections and JIT reach their working size first.
    const total = 40_000;
    let seen = 0;
    const floodAll = async (tag: string) => {
      const rss0 = await settledRss();
      await flood(tag, total);
      seen += total;
      await until(() => positions >= seen, { timeoutMs: 30_000, what: () => `${seen} positions (got ${positions})` });
      return (await settledRss()) - rss0;
    };
    await floodAll('warm');
    // The same flood once more with nobody stalled: what the log and the test itself add to RSS.
    const baseline = await floodAll('base');

    // Without the drop, each paused reader would make the server hold what the kernel's socket
    // buffers do not (measured: ~2.6 MB of these 8 MB each).
    const stalled = await Promise.all(Array.from({ length: 40 }, () => subscribe('*')));
    for (const s of stalled) (s.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const dropped0 = (await liveMetrics.dropped.get()).values[0]?.value ?? 0;
    let maxHeld = 0;
    const sampler = setInterval(() => {
      maxHeld = Math.max(maxHeld, api.liveBufferedBytes());
    }, 2);
    const grown = await floodAll('stall');
    clearInterval(sampler);
    console.log(
      `RSS growth over a 40k-point flood: ${mb(baseline)} MB with nobody stalled, ${mb(grown)} MB with 40 stalled; most held ${maxHeld} B`,
    );
    for (const s of stalled) (s.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    for (const s of stalled) expect(await s.closed).not.toBe(1000);
    expect((await liveMetrics.dropped.get()).values[0]?.value).toBe(dropped0 + stalled.length);
    // uWS's own count of bytes queued for subscribers: each stalled one at most the limit (16 KiB) plus a message.
    expect(maxHeld).toBeLessThan(stalled.length * (16_384 + 1_024));
    // Holding for them would add ~100 MB over the baseline.
    expect(grown - baseline).toBeLessThan(40 * 1024 * 1024);
    counter.ws.close();
  }, 90_000);
});
