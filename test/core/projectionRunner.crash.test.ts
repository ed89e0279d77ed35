import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import { silentLogger } from '../../core/logger.js';
import { readCheckpoint, rebuildProjection } from '../../core/runners/projectionRunner.js';
import { migrate } from '../../core/stores/migrate.js';
import { openPostgres, type PostgresStore } from '../../core/stores/postgres.js';
import { counterChecksum, counterProjection, createCounterTable } from '../support/counterProjection.js';
import { freshPostgresDb, tempDir } from '../support/stores.js';

const EVENTS = 6_000;
const worker = (target: string, ...args: string[]) =>
  spawn(process.execPath, ['--import', 'tsx', 'test/support/projectionWorker.ts', target, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
const lines = (child: ChildProcess, onLine: (l: string) => void) => {
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  });
};
const exited = (child: ChildProcess) => new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

/** Fills the log with events for keys k0..k49; returns the expected totals. */
const seed = async (store: PostgresStore) => {
  await createCounterTable(store.sql);
  const log = embeddedEventLog(store.sql);
  const expected = new Map<string, number>();
  for (let m = 0; m < EVENTS / 20; m++) {
    const batch = Array.from({ length: 20 }, (_, j) => {
      const i = m * 20 + j;
      const key = `k${i % 50}`;
      expected.set(key, (expected.get(key) ?? 0) + i);
      return newEvent({ type: 'counter.added', subject: `evt.counter.${key}`, source: 'test', data: { key, amount: i } });
    });
    await log.append(`evt.counter.m${m}`, batch);
    if (m % 10 === 0)
      await log.append(`evt.other.${m}`, newEvent({ type: 'other.thing', subject: `evt.other.${m}`, source: 'test', data: {} }));
  }
  return expected;
};

/** Kill a worker while a batch is being applied, restart it until caught up, compare with a rebuild. */
const crashAndCompare = async (target: string, open: () => Promise<PostgresStore>) => {
  const first = worker(target);
  let batches = 0;
  lines(first, (l) => {
    if (l.startsWith('batch') && ++batches === 3) first.kill('SIGKILL');
  });
  expect(await exited(first)).toBe(null); // killed, not finished
  expect(batches).toBe(3);

  let store = await open();
  const afterKill = await readCheckpoint(store.sql, counterProjection());
  await store.close();

  const second = worker(target, '--until-caught-up');
  let done = '';
  lines(second, (l) => {
    if (l.startsWith('done')) done = l;
  });
  expect(await exited(second)).toBe(0);

  store = await open();
  try {
    const live = await counterChecksum(store.sql);
    const log = embeddedEventLog(store.sql);
    const checkpoint = await readCheckpoint(store.sql, counterProjection());
    expect(done).toBe(`done ${checkpoint}`);
    const [lastCounter] = await store.sql<{ seq: string }[]>`
      SELECT max(seq) AS seq FROM fleetgate_log WHERE stream = 'EVENTS' AND subject LIKE 'evt.counter.%'`;
    expect(checkpoint).toBe(Number(lastCounter?.seq));
    await rebuildProjection({
      log,
      sql: store.sql,
      projection: counterProjection(),
      batchSize: 1000,
      batchDelayMs: 0,
      logger: silentLogger(),
    });
    const rebuilt = await counterChecksum(store.sql);
    const events = await store.sql<{ n: string }[]>`SELECT sum(events) AS n FROM test_counter`;
    await log.close();
    return { live, rebuilt, afterKill, checkpoint, folded: Number(events[0]?.n) };
  } finally {
    await store.close();
  }
};

describe('projection runner killed mid-batch', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('on PGlite: after restart the read model equals a rebuild from the log', async () => {
    const t = await tempDir();
    cleanups.push(t.remove);
    const dir = join(t.dir, 'pg');
    const open = async () => openPostgres({ pgliteDir: dir, poolMax: 1 });
    const store = await open();
    await migrate({ postgres: store, gpsRetentionDays: 90 });
    const expected = await seed(store);
    await store.close();
    const r = await crashAndCompare(dir, open);
    expect(r.afterKill).toBeGreaterThan(0);
    expect(r.live).toEqual(r.rebuilt);
    expect(r.live.rows).toBe(expected.size);
    expect(r.folded).toBe(EVENTS);
  }, 180_000);

  it('on Postgres: after restart the read model equals a rebuild from the log', async () => {
    const db = await freshPostgresDb();
    cleanups.push(db.close);
    const expected = await seed(db);
    const r = await crashAndCompare(db.url, async () => openPostgres({ databaseUrl: db.url, pgliteDir: '', poolMax: 2 }));
    expect(r.afterKill).toBeGreaterThan(0);
    expect(r.live).toEqual(r.rebuilt);
    expect(r.live.rows).toBe(expected.size);
    expect(r.folded).toBe(EVENTS);
  }, 180_000);
});
