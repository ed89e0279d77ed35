/**
 * RELIABILITY.md T6: a handler consumer at MaxAckPending pauses delivery silently on the server's
 * side. The stall watch must report it (metric, log, `stalled()` behind `/readyz`) within
 * 2 × ack wait, clear it once the handler settles again, and nothing may be lost or doubled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { startGateway } from '../../core/main.js';
import { registry } from '../../core/metrics.js';
import { type AnyHandler, handlerRunner } from '../../core/runners/handlerRunner.js';
import { defineEvent } from '../../schemas/events/define.js';
import { AttemptFailed } from '../../schemas/events/envelope.js';
import { freePort, type NatsServerHandle, startNatsServer } from '../support/natsServer.js';
import { freshPostgresDb, tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

const ACK_WAIT_MS = 2_000;
const MAX_ACK_PENDING = 50;
const COMMANDS = 80;

let server: NatsServerHandle;
let log: EventLog;
beforeAll(async () => {
  server = await startNatsServer();
  log = await jetStreamEventLog({
    servers: server.url,
    replicas: 1,
    eventsMaxAgeMs: 0,
    gpsMaxAgeMs: 3_600_000,
    dlqMaxAgeMs: 0,
    duplicateWindowMs: 60_000,
    gpsDuplicateWindowMs: 10_000,
    timeoutMs: 3_000,
  });
});
afterAll(async () => {
  await log?.close();
  await server?.stop();
});

/** The gauge's value for one consumer as `/metrics` serves it (undefined: no series). */
const stalledGauge = async (consumer: string) => {
  const family = (await registry.getMetricsAsJSON()).find((m) => m.name === 'fleetgate_consumer_stalled');
  return family?.values.find((v) => v.labels.consumer === consumer)?.value;
};

const handlerFor = (domain: string, handle: (id: string) => Promise<void>): AnyHandler => ({
  name: domain,
  stream: 'EVENTS',
  subjects: { normal: `evt.${domain}.normal.>` },
  eventTypes: [`${domain}.requested`],
  attemptFailed: defineEvent(`${domain}.attempt_failed`, AttemptFailed),
  async handle(event) {
    await handle(event.id);
    // Outside the consumer's filter: the results are not fed back to it.
    return [{ subject: event.subject.replace('.normal.', '.done.'), type: `${domain}.done`, data: {} }];
  },
});

const runnerFor = (domain: string, handle: (id: string) => Promise<void>, maxAckPending = MAX_ACK_PENDING) =>
  handlerRunner({
    log,
    handler: handlerFor(domain, handle),
    logger: silentLogger(),
    // As many slots as the server lets out: every delivery the consumer holds is in the handler.
    concurrency: maxAckPending,
    maxAttempts: 3,
    ackWaitMs: ACK_WAIT_MS,
    maxAckPending,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
  });

const appendCommands = async (domain: string, n: number) => {
  for (let i = 0; i < n; i++) {
    const subject = `evt.${domain}.normal.c${i}`;
    await log.append(subject, newEvent({ type: `${domain}.requested`, subject, source: 'test', data: { i } }));
  }
};

describe('MaxAckPending stall (T6)', () => {
  it('reports a handler hung on max_ack_pending deliveries within 2 × ack wait, clears it on release, loses and doubles nothing', async () => {
    const domain = `stall${Date.now().toString(36)}`;
    const consumer = `${domain}-normal`;
    const calls = new Map<string, number>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let hungSince = 0;
    const r = runnerFor(domain, async (id) => {
      calls.set(id, (calls.get(id) ?? 0) + 1);
      if (calls.size === MAX_ACK_PENDING && !hungSince) hungSince = Date.now();
      await gate;
    });
    await appendCommands(domain, COMMANDS);
    await r.start();
    try {
      await until(() => hungSince, { timeoutMs: 10_000, what: `${MAX_ACK_PENDING} calls hung` });
      const c = await log.consumer({ stream: 'EVENTS', name: consumer, ackWaitMs: ACK_WAIT_MS, maxDeliver: 3 });
      // The server's own view is the stall the watch must see: at the limit, more waiting.
      expect(await c.info()).toMatchObject({
        ackPending: MAX_ACK_PENDING,
        maxAckPending: MAX_ACK_PENDING,
        pending: COMMANDS - MAX_ACK_PENDING,
      });
      await until(async () => (await stalledGauge(consumer)) === 1, {
        timeoutMs: 2 * ACK_WAIT_MS + 1_000,
        intervalMs: 50,
        what: 'fleetgate_consumer_stalled = 1',
      });
      const detectedAfter = Date.now() - hungSince;
      expect(detectedAfter).toBeLessThanOrEqual(2 * ACK_WAIT_MS);
      expect(r.stalled()).toEqual([consumer]);
      // Still stuck, still reported: no delivery beyond the limit happened meanwhile.
      expect(calls.size).toBe(MAX_ACK_PENDING);

      release();
      await until(async () => (await log.read('EVENTS', 1_000, { filterSubject: `evt.${domain}.>` })).length === 2 * COMMANDS, {
        timeoutMs: 15_000,
        what: 'every command handled with its result appended',
      });
      await until(async () => (await stalledGauge(consumer)) === 0, {
        timeoutMs: 2 * ACK_WAIT_MS + 1_000,
        what: 'fleetgate_consumer_stalled back to 0',
      });
      expect(r.stalled()).toEqual([]);
      expect(calls.size).toBe(COMMANDS);
      expect([...calls.values()].every((n) => n === 1)).toBe(true);
      const done = (await log.read('EVENTS', 1_000, { filterSubject: `evt.${domain}.>` })).filter(
        (m) => m.events[0]?.type === `${domain}.done`,
      );
      expect(done).toHaveLength(COMMANDS);
      expect(await c.info()).toMatchObject({ pending: 0, ackPending: 0 });
      console.log(`T6 stall reported ${detectedAfter} ms after the handler hung (ack wait ${ACK_WAIT_MS} ms)`);
    } finally {
      release();
      await r.stop(5_000);
    }
    expect(await stalledGauge(consumer)).toBeUndefined();
  }, 40_000);

  it('a slow handler at the limit that keeps settling is not reported', async () => {
    const domain = `slow${Date.now().toString(36)}`;
    const consumer = `${domain}-normal`;
    let handled = 0;
    let everStalled = false;
    const r = runnerFor(
      domain,
      async () => {
        await new Promise((res) => setTimeout(res, 150 + Math.random() * 200));
        handled++;
      },
      10,
    );
    await appendCommands(domain, 400);
    await r.start();
    try {
      const c = await log.consumer({ stream: 'EVENTS', name: consumer, ackWaitMs: ACK_WAIT_MS, maxDeliver: 3 });
      const saturatedReads: boolean[] = [];
      // Five stall-check periods at the limit with work still waiting.
      const until5 = Date.now() + 5 * (ACK_WAIT_MS / 2);
      while (Date.now() < until5) {
        const i = await c.info();
        saturatedReads.push(i.ackPending >= 10 && i.pending > 0);
        if ((await stalledGauge(consumer)) === 1 || r.stalled().length) everStalled = true;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(saturatedReads.filter(Boolean).length).toBeGreaterThan(saturatedReads.length / 2);
      expect(handled).toBeGreaterThan(0);
      expect(everStalled).toBe(false);
    } finally {
      await r.stop(5_000);
    }
  }, 40_000);

  it('a gateway names the stalled consumer in /readyz (still ready) and serves the gauge at /metrics', async () => {
    const domain = `gw${Date.now().toString(36)}`;
    const consumer = `${domain}-normal`;
    const db = await freshPostgresDb();
    const dir = await tempDir();
    const [httpPort, metricsPort] = [await freePort(), await freePort()];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const config = loadConfig({
      DATA_DIR: dir.dir,
      DATABASE_URL: db.url,
      NATS_URL: server.url,
      ROLES: 'handlers',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      HANDLER_CONCURRENCY: String(MAX_ACK_PENDING),
      HANDLER_MAX_ACK_PENDING: String(MAX_ACK_PENDING),
      // As the consumer's settings below: attaching with others would update the durable.
      HANDLER_MAX_ATTEMPTS: '3',
      HANDLER_ACK_WAIT_SECONDS: String(ACK_WAIT_MS / 1000),
      LOG_LEVEL: 'silent',
    });
    const gateway = await startGateway(config, silentLogger(), {
      projections: () => [],
      handlers: () => [
        handlerFor(domain, async () => {
          calls++;
          await gate;
        }),
      ],
    });
    const readyz = async () =>
      (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).json() as Promise<{
        status: string;
        checks: Record<string, unknown>;
      }>;
    try {
      await appendCommands(domain, COMMANDS);
      await until(() => calls === MAX_ACK_PENDING, { timeoutMs: 10_000, what: 'the handler hung on the limit' });
      const stalled = await until(
        async () => {
          const r = await readyz();
          return r.checks.stalledConsumers ? r : undefined;
        },
        { timeoutMs: 2 * ACK_WAIT_MS + 2_000, intervalMs: 100, what: '/readyz naming the stalled consumer' },
      );
      expect(stalled).toMatchObject({ status: 'ready', checks: { stalledConsumers: consumer, eventLog: true } });
      const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(scraped).toContain(`fleetgate_consumer_stalled{consumer="${consumer}"} 1`);
      release();
      await until(async () => !(await readyz()).checks.stalledConsumers, {
        timeoutMs: 2 * ACK_WAIT_MS + 2_000,
        intervalMs: 100,
        what: '/readyz without stalledConsumers after release',
      });
      const c = await log.consumer({ stream: 'EVENTS', name: consumer, ackWaitMs: ACK_WAIT_MS, maxDeliver: 3 });
      let last: { pending?: number; ackPending?: number } = {};
      await until(
        async () => {
          last = await c.info();
          return last.pending === 0 && last.ackPending === 0;
        },
        { timeoutMs: 15_000, what: () => `every command settled (${calls} calls, ${JSON.stringify(last)})` },
      );
      // Once each: none sat unkept in a pull at the limit until ack wait sent it round again.
      expect(calls).toBe(COMMANDS);
    } finally {
      release();
      await gateway.stop();
      await db.close();
      await dir.remove();
    }
  }, 40_000);
});
