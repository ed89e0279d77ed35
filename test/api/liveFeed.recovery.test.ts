import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { postgresApiKeyStore } from '../../api/auth.js';
import { mountLiveFeed } from '../../api/live/liveFeed.js';
import { liveMetrics } from '../../api/live/metrics.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { HttpServer } from '../../core/http/server.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { gpsEvent } from '../../ingest/gps/batcher.js';
import { gpsSubject } from '../../schemas/events/gps.js';
import { startTestHttpServer } from '../support/httpServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let log: EventLog;
let http: HttpServer;
let feed: Awaited<ReturnType<typeof mountLiveFeed>> | undefined;
let follows = 0;
let key: string;

beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
  // The first follower breaks after its first message, as when the log's connection is lost.
  const flaky: EventLog = {
    ...log,
    follow: (stream, opts) => {
      const inner = log.follow(stream, opts);
      if (follows++ > 0) return inner;
      return (async function* () {
        for await (const m of inner) {
          yield m;
          throw new Error('connection to the log lost');
        }
      })();
    },
  };
  const keys = postgresApiKeyStore(store.sql);
  http = await startTestHttpServer(async (app) => {
    feed = await mountLiveFeed(app, {
      log: flaky,
      sql: store.sql,
      keys,
      logger: silentLogger(),
      offlineAfterMs: 60_000,
      maxBufferedBytes: 16_384,
    });
  });
  key = (await keys.create(['vehicles'], 'test')).key;
}, 60_000);
afterAll(async () => {
  http?.close();
  await feed?.close();
  await log?.close();
  await store?.close();
});

const report = (i: number) =>
  log.append(gpsSubject('mqtt'), [
    gpsEvent({
      deviceId: 'van-9',
      ts: Date.now() - 10_000 + i,
      lat: 55,
      lon: 37,
      source: 'mqtt',
      receivedAt: Date.now(),
      pointId: `r-${i}`,
    }),
  ]);

it('follows again when the GPS stream breaks under a connected subscriber', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${http.port}/v1/ws/live?key=${key}`);
  const positions: number[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; ts?: number };
      if (m.type === 'subscribed') resolve();
      if (m.type === 'position') positions.push(m.ts as number);
    });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', vehicles: '*' })));
    ws.once('error', reject);
  });
  await report(1); // delivered, then the follower breaks
  const deadline = Date.now() + 10_000;
  while (follows < 2) {
    if (Date.now() > deadline) throw new Error('no second follower within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  expect((await liveMetrics.following.get()).values[0]?.value).toBe(1);
  await report(2);
  while (positions.length < 2) {
    if (Date.now() > deadline) throw new Error(`only ${positions.length} positions arrived`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(positions).toHaveLength(2);
  ws.close();
}, 30_000);
