import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { rebuildProjection } from '../../core/runners/projectionRunner.js';
import { type NatsCluster, startNatsCluster } from '../support/cluster.js';
import { freshPostgresDb } from '../support/stores.js';
import { until } from '../support/until.js';
import { createOrderedTable, orderedChecksum, orderedProjection } from './orderedProjection.js';

const SCALE = Number(process.env.FAULT_SCALE ?? 1);
/** Events in the short run; test:cluster runs FAULT_SCALE=10. */
const EVENTS = Math.round(1_500 * SCALE);
const KEYS = 10;

interface Worker {
  name: string;
  child: ChildProcess;
  out(): string;
  exited: Promise<void>;
}

const startWorker = (name: string, natsUrl: string, dbUrl: string): Worker => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/cluster/projectionWorker.ts', name, natsUrl, dbUrl], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { name, child, out: () => out, exited: new Promise((r) => child.once('exit', () => r())) };
};

let cluster: NatsCluster;
let db: Awaited<ReturnType<typeof freshPostgresDb>>;
let log: EventLog;
const workers: Worker[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster();
  db = await freshPostgresDb();
  await createOrderedTable(db.sql);
  log = await jetStreamEventLog({
    servers: cluster.urls,
    replicas: 3,
    eventsMaxAgeMs: 0,
    gpsMaxAgeMs: 3_600_000,
    dlqMaxAgeMs: 0,
    duplicateWindowMs: 120_000,
    gpsDuplicateWindowMs: 120_000,
  });
}, 60_000);

afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await log?.close();
  await db?.close();
  await cluster?.close();
});

/** Appends `count` events round-robin over the keys, each retried with its own id until acknowledged. */
const appendEvents = async (count: number, perSecond: number) => {
  const next = new Map<string, number>();
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const key = `k${i % KEYS}`;
    const n = (next.get(key) ?? 0) + 1;
    next.set(key, n);
    const subject = `evt.ordered.${key}`;
    const e = newEvent({ type: 'ordered.added', subject, source: 'test', data: { key, n } });
    for (;;) {
      try {
        await log.append(subject, e);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const ahead = (i + 1) * (1_000 / perSecond) - (Date.now() - started);
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
  }
};

const checkpoint = async () =>
  Number(
    (await db.sql<{ last_seq: string }[]>`SELECT last_seq FROM projection_checkpoints WHERE name = 'cluster_ordered'`)[0]
      ?.last_seq ?? 0,
  );

describe('two projection processes for one projection on a 3-node cluster', () => {
  it('runs it in one process at a time, hands over within seconds of a SIGKILL, applies nothing twice, equals a replay', async () => {
    workers.push(startWorker('a', cluster.natsUrl, db.url), startWorker('b', cluster.natsUrl, db.url));
    await until(() => workers.every((w) => w.out().includes('started')), { timeoutMs: 30_000, what: 'workers started' });
    const load = appendEvents(EVENTS, 150);
    await until(() => workers.some((w) => w.out().includes('batch')), { timeoutMs: 20_000, what: 'first batch' });
    const active = workers.find((w) => w.out().includes('active')) as Worker;
    const standby = workers.find((w) => w !== active) as Worker;
    expect(standby.out()).not.toContain('active');
    expect(standby.out()).not.toContain('batch');

    // Kill the active runner once it has folded part of the load.
    await until(async () => (await checkpoint()) > 0 && (await orderedChecksum(db.sql)).rows > EVENTS / 4, {
      timeoutMs: 60_000,
      what: 'a quarter folded',
    });
    active.child.kill('SIGKILL');
    await active.exited;
    const killedAt = Date.now();
    await until(() => standby.out().includes('batch'), { timeoutMs: 20_000, intervalMs: 20, what: 'standby takes over' });
    const takeoverMs = Date.now() - killedAt;
    // The lease poll is 250 ms; Postgres frees the dead process's lock as its socket closes.
    expect(takeoverMs).toBeLessThan(5_000);

    // The killed one comes back as a standby: the lease stays where it is.
    const again = startWorker(`${active.name}2`, cluster.natsUrl, db.url);
    workers.push(again);
    await load;
    const last = await log.lastSeq('EVENTS');
    await until(async () => (await checkpoint()) === last, { timeoutMs: 60_000, what: 'caught up' });
    expect(again.out()).not.toContain('batch');

    // Nothing twice (the primary key would have failed a batch for ever), nothing missing, in order per key.
    const rows = await db.sql<{ key: string; n: number; seq: string; worker: string }[]>`
      SELECT key, n, seq, worker FROM cluster_ordered ORDER BY seq`;
    expect(rows.length).toBe(EVENTS);
    const lastN = new Map<string, number>();
    for (const r of rows) {
      expect(r.n).toBe((lastN.get(r.key) ?? 0) + 1);
      lastN.set(r.key, r.n);
    }
    // One active runner at a time: by log order, the applying process changes exactly once.
    const switches = rows.filter((r, i) => i > 0 && r.worker !== rows[i - 1]?.worker).length;
    expect(switches).toBe(1);
    expect(new Set(rows.map((r) => r.worker))).toEqual(new Set([active.name, standby.name]));

    // The read model equals a replay of the log.
    const live = await orderedChecksum(db.sql);
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await rebuildProjection({
      log,
      sql: db.sql,
      projection: orderedProjection('replay'),
      batchSize: 1_000,
      batchDelayMs: 0,
      logger: silentLogger(),
    });
    expect(await orderedChecksum(db.sql)).toEqual(live);
    console.info(`projection takeover: ${EVENTS} events, takeover ${takeoverMs} ms after SIGKILL`);
  }, 180_000);
});
