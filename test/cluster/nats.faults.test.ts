import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JetStreamConfig, jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { isGatewayError } from '../../schemas/errors.js';
import { type NatsCluster, startNatsCluster } from '../support/cluster.js';
import { until } from '../support/until.js';

/*
 * RELIABILITY.md T1, T2, T3 and T7 against three real nats-server nodes (R3 streams), through the
 * gateway's own event-log adapter. Sizes: the short run (npm test) does 2 leader kills, 2
 * whole-cluster crashes and a 10 s quorum loss at 100 appends/s; `npm run test:cluster`
 * (FAULT_SCALE=5) 10 kills, 10 crashes, 60 s without quorum. The 60k events at 500/s
 * do not fit next to three servers on a loaded 2-core machine: the rate is cut, not the checks.
 */
const SCALE = Number(process.env.FAULT_SCALE ?? 1);
const KILLS = Math.max(2, Math.round(2 * SCALE));
const CRASHES = Math.max(2, Math.round(2 * SCALE));
const NO_QUORUM_MS = Math.min(60_000, 10_000 * SCALE);
const TIMEOUT_MS = 3_000;

let cluster: NatsCluster;
const logs: EventLog[] = [];
const config = (servers: string[]): JetStreamConfig => ({
  servers,
  replicas: 3,
  eventsMaxAgeMs: 0,
  gpsMaxAgeMs: 3_600_000,
  dlqMaxAgeMs: 0,
  duplicateWindowMs: 120_000,
  gpsDuplicateWindowMs: 120_000,
  timeoutMs: TIMEOUT_MS,
});
const openLog = async (servers: string[]) => {
  const log = await jetStreamEventLog(config(servers));
  logs.push(log);
  return log;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  cluster = await startNatsCluster();
}, 60_000);
afterAll(async () => {
  for (const l of logs) await l.close().catch(() => {});
  await cluster?.close();
});

/**
 * Appends `evt.t.<n>` events at `perSecond`, each retried with its own message id for up to 30 s
 * (T1's generator). `acked` holds what the log acknowledged, `ackTimes` when.
 */
const generator = (log: EventLog, subject: string, perSecond: number) => {
  const acked = new Set<string>();
  const ackTimes: number[] = [];
  let running = true;
  let gaveUp = 0;
  const loop = (async () => {
    for (let n = 0; running; n++) {
      const e = newEvent({ type: 't.added', subject, source: 'test', data: { n } });
      const t0 = Date.now();
      for (;;) {
        try {
          await log.append(subject, e);
          acked.add(e.id);
          ackTimes.push(Date.now());
          break;
        } catch {
          if (Date.now() - t0 > 30_000) {
            gaveUp++;
            break;
          }
          await sleep(100);
        }
      }
      await sleep(1_000 / perSecond);
    }
  })();
  return {
    acked,
    ackTimes,
    gaveUp: () => gaveUp,
    async stop() {
      running = false;
      await loop;
    },
  };
};

/** Every event id of `subject` in the stream, with how often it is stored. */
const storedIds = async (log: EventLog, subject: string) => {
  const count = new Map<string, number>();
  for (const m of await log.read('EVENTS', 10_000_000, { filterSubject: subject })) {
    for (const e of m.events) count.set(e.id, (count.get(e.id) ?? 0) + 1);
  }
  return count;
};

/** The longest pause between two acknowledgements that spans `at`. */
const gapAround = (times: number[], at: number) => {
  let gap = 0;
  for (let i = 1; i < times.length; i++) {
    const a = times[i - 1] as number;
    const b = times[i] as number;
    if (a <= at && b >= at) gap = Math.max(gap, b - a);
  }
  return gap;
};

describe("T1 + T7: stream leader and a follower's node SIGKILLed and restarted (R3)", () => {
  it('keeps every acknowledged append exactly once; a follower and a durable consumer resume without a restart and without a gap', async () => {
    const writer = await openLog(cluster.urls);
    // Connected to n1 first: cycles that kill n1 kill the node its connection uses (T7).
    const reader = await openLog([(cluster.nodes[0] as { url: string }).url]);
    const gen = generator(writer, 'evt.t1.a', 100);
    const followed: string[] = [];
    const abort = new AbortController();
    const following = (async () => {
      for await (const m of reader.follow('EVENTS', { filterSubject: 'evt.t1.>', signal: abort.signal })) {
        for (const e of m.events) followed.push(e.id);
      }
    })();
    const durable = await reader.consumer({
      stream: 'EVENTS',
      name: 't7-durable',
      filterSubject: 'evt.t1.>',
      ackWaitMs: 5_000,
      maxDeliver: 100,
    });
    const consumed = new Set<string>();
    let consuming = true;
    const consumerLoop = (async () => {
      while (consuming) {
        try {
          for (const d of await durable.fetch({ max: 100, expiresMs: 1_000 })) {
            for (const e of d.events) consumed.add(e.id);
            await d.ack();
          }
        } catch {
          await sleep(200);
        }
      }
    })();

    const windows: number[] = [];
    const resumes: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      await sleep(3_000);
      const victim = k % 2 === 0 ? await cluster.streamLeader('EVENTS') : (cluster.nodes[0] as (typeof cluster.nodes)[number]);
      const before = followed.length;
      await victim.kill();
      const killedAt = Date.now();
      await sleep(3_000);
      await victim.start();
      await cluster.waitHealthy(60_000);
      await until(() => followed.length > before + 10, { timeoutMs: 30_000, what: 'follower resumed' });
      resumes.push(Date.now() - killedAt);
      windows.push(gapAround(gen.ackTimes, killedAt));
    }
    await sleep(2_000);
    await gen.stop();
    const stored = await storedIds(writer, 'evt.t1.a');
    await until(() => followed.length >= gen.acked.size && [...gen.acked].every((id) => consumed.has(id)), {
      timeoutMs: 30_000,
      what: () => `follower and consumer caught up (${followed.length}, ${consumed.size} of ${gen.acked.size})`,
    });
    consuming = false;
    abort.abort();
    await Promise.all([following, consumerLoop]);

    expect(gen.gaveUp()).toBe(0);
    expect([...gen.acked].filter((id) => stored.get(id) !== 1)).toEqual([]); // lost or stored twice
    expect(stored.size).toBe(gen.acked.size);
    // The follower saw the log in order, each event once, across every reset.
    const inLog = [...stored.keys()];
    expect(followed.filter((id) => stored.has(id))).toEqual(inLog);
    expect(new Set(followed).size).toBe(followed.length);
    const sorted = [...windows].sort((a, b) => a - b);
    console.info(
      `T1/T7: ${gen.acked.size} acked, ${KILLS} kills; publish unavailability per kill ms ${JSON.stringify(windows)} (p50 ${sorted[Math.floor(sorted.length / 2)]}); follower resumed after kill (incl. 3 s down) ms ${JSON.stringify(resumes)}`,
    );
  }, 240_000);
});

describe('T2: quorum lost', () => {
  it('fails appends loudly with a typed error within the timeout, acknowledges nothing, and keeps every earlier ack', async () => {
    const log = await openLog(cluster.urls);
    const before: string[] = [];
    for (let i = 0; i < 50; i++) {
      const e = newEvent({ type: 't.added', subject: 'evt.t2.a', source: 'test', data: { i } });
      await log.append('evt.t2.a', e);
      before.push(e.id);
    }
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[number], (typeof cluster.nodes)[number]];
    await Promise.all([a.kill(), b.kill()]);
    const down = Date.now();
    let acksDuringOutage = 0;
    const firstErrorMs: number[] = [];
    const attempted: string[] = [];
    while (Date.now() - down < NO_QUORUM_MS) {
      const e = newEvent({ type: 't.added', subject: 'evt.t2.a', source: 'test', data: { outage: true } });
      attempted.push(e.id);
      const t0 = Date.now();
      try {
        await log.append('evt.t2.a', e);
        acksDuringOutage++;
      } catch (err) {
        firstErrorMs.push(Date.now() - t0);
        expect(isGatewayError(err, 'GW_ERR_LOG_UNAVAILABLE')).toBe(true);
      }
    }
    await Promise.all([a.start(), b.start()]);
    const back = Date.now();
    // After the quorum is back, appends resume (retry with a fresh id until one is acknowledged).
    await until(
      async () =>
        log.append('evt.t2.a', newEvent({ type: 't.added', subject: 'evt.t2.a', source: 'test', data: { after: true } })).then(
          () => true,
          () => false,
        ),
      { timeoutMs: 60_000, intervalMs: 200, what: 'appends resume' },
    );
    const resumeMs = Date.now() - back;
    await cluster.waitHealthy(60_000);

    expect(acksDuringOutage).toBe(0);
    expect(Math.max(...firstErrorMs)).toBeLessThanOrEqual(TIMEOUT_MS + 1_000);
    const stored = await storedIds(log, 'evt.t2.a');
    expect(before.filter((id) => stored.get(id) !== 1)).toEqual([]);
    console.info(
      `T2: ${NO_QUORUM_MS} ms without quorum, ${attempted.length} appends refused (slowest ${Math.max(...firstErrorMs)} ms, timeout ${TIMEOUT_MS}), 0 acknowledged; appends resumed ${resumeMs} ms after the restart; ${attempted.filter((id) => stored.has(id)).length} refused appends stored anyway (a timeout is not a "no")`,
    );
  }, 180_000);
});

describe('T3: all three nodes crash together', () => {
  it('keeps the streams, every acknowledged append and the consumer ack floor, crash after crash', async () => {
    const log = await openLog(cluster.urls);
    const gen = generator(log, 'evt.t3.a', 50);
    const durable = await log.consumer({
      stream: 'EVENTS',
      name: 't3-durable',
      filterSubject: 'evt.t3.>',
      ackWaitMs: 5_000,
      maxDeliver: 100,
    });
    const healthyMs: number[] = [];
    // Acknowledged (the server confirmed the ack) ids: one delivered again means the ack floor went back.
    const acked = new Set<string>();
    let redeliveredAfterAck = 0;
    let consuming = true;
    const consumerLoop = (async () => {
      while (consuming) {
        const got = await durable.fetch({ max: 200, expiresMs: 500 }).catch(() => []);
        if (got.length === 0) await sleep(100);
        for (const d of got) {
          for (const e of d.events) if (acked.has(e.id)) redeliveredAfterAck++;
          await d.ack().then(
            () => {
              for (const e of d.events) acked.add(e.id);
            },
            () => {},
          );
        }
      }
    })();
    for (let k = 0; k < CRASHES; k++) {
      await sleep(2_000);
      const lastBefore = await log.lastSeq('EVENTS');
      await Promise.all(cluster.nodes.map((n) => n.kill()));
      const crashedAt = Date.now();
      await sleep(2_000);
      await Promise.all(cluster.nodes.map((n) => n.start()));
      await cluster.waitHealthy(90_000);
      healthyMs.push(Date.now() - crashedAt);
      await until(async () => (await log.lastSeq('EVENTS').catch(() => 0)) >= lastBefore, {
        timeoutMs: 60_000,
        what: 'stream back with everything it had',
      });
    }
    await sleep(2_000);
    await gen.stop();
    expect(gen.gaveUp()).toBe(0);
    const stored = await storedIds(log, 'evt.t3.a');
    expect([...gen.acked].filter((id) => !stored.has(id))).toEqual([]);
    expect([...gen.acked].filter((id) => (stored.get(id) ?? 0) > 1)).toEqual([]);
    for (const s of ['EVENTS', 'GPS', 'DLQ'] as const) expect(await log.lastSeq(s)).toBeGreaterThanOrEqual(0);
    // The consumer survived every crash and works off everything; what it acknowledged stayed acknowledged.
    await until(() => [...gen.acked].every((id) => acked.has(id)), {
      timeoutMs: 30_000,
      what: () => `consumer caught up (${acked.size} of ${gen.acked.size})`,
    });
    consuming = false;
    await consumerLoop;
    // Finding on 2.9.10: a coordinated crash can roll a consumer back past acks the server had
    // confirmed (consumer state is applied and synced asynchronously), so a few acknowledged
    // messages come again – handlers and projections must stay idempotent (they are: derived
    // message ids, call records, checkpoints). Bounded by what was in flight: one fetch per crash.
    expect(redeliveredAfterAck).toBeLessThanOrEqual(CRASHES * 200);
    console.info(
      `T3: ${CRASHES} whole-cluster SIGKILLs, ${gen.acked.size} acked, 0 lost, ${redeliveredAfterAck} acknowledged deliveries delivered again; healthy again after (incl. 2 s down) ms ${JSON.stringify(healthyMs)}`,
    );
  }, 300_000);
});
