import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { nextProgress, projectionRunner, readCheckpoint, rebuildProjection } from '../../core/runners/projectionRunner.js';
import { counterChecksum, counterProjection, createCounterTable } from '../support/counterProjection.js';
import { freshPostgresDb } from '../support/stores.js';

let db: Awaited<ReturnType<typeof freshPostgresDb>>;
let log: EventLog;
beforeAll(async () => {
  db = await freshPostgresDb();
  await createCounterTable(db.sql);
  log = embeddedEventLog(db.sql, { pollMs: 20 });
});
afterAll(async () => {
  await log.close();
  await db.close();
});

const add = (i: number) => {
  const key = `k${i % 7}`;
  return log.append(
    `evt.counter.${key}`,
    newEvent({ type: 'counter.added', subject: `evt.counter.${key}`, source: 'test', data: { key, amount: i } }),
  );
};
const opts = (batchSize = 50) => ({
  log,
  sql: db.sql,
  projection: counterProjection(),
  batchSize,
  batchDelayMs: 5,
  logger: silentLogger(),
});

describe('projection runner', () => {
  it('folds each event once even with two runners racing on one projection, and equals a rebuild', async () => {
    for (let i = 0; i < 300; i++) await add(i);
    const a = projectionRunner(opts(37));
    const b = projectionRunner(opts(53));
    await Promise.all([a.start(), b.start()]);
    const more = (async () => {
      for (let i = 300; i < 600; i++) await add(i);
    })();
    await more;
    await a.caughtUp(30_000);
    await Promise.all([a.stop(), b.stop()]);
    const [row] = await db.sql<{ n: string; total: string }[]>`SELECT sum(events) AS n, sum(total) AS total FROM test_counter`;
    expect(Number(row?.n)).toBe(600);
    expect(Number(row?.total)).toBe((599 * 600) / 2);
    const live = await counterChecksum(db.sql);
    const checkpoint = await readCheckpoint(db.sql, counterProjection());
    expect(await rebuildProjection(opts(1000))).toBe(checkpoint);
    expect(await counterChecksum(db.sql)).toEqual(live);
  });
});

describe('nextProgress', () => {
  it('resolves on progress or after the timeout, and leaves no listener behind either way', async () => {
    const progress = new EventTarget();
    for (let i = 0; i < 20; i++) await nextProgress(progress, 1);
    expect(getEventListeners(progress, 'progress')).toHaveLength(0);
    const waiting = nextProgress(progress, 60_000);
    expect(getEventListeners(progress, 'progress')).toHaveLength(1);
    progress.dispatchEvent(new Event('progress'));
    await waiting;
    expect(getEventListeners(progress, 'progress')).toHaveLength(0);
  });
});
