import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { backoffDelay, type Handler, HandlerError, handlerRunner } from '../../core/runners/handlerRunner.js';
import { defineEvent } from '../../schemas/events/define.js';
import { AttemptFailed, type Priority } from '../../schemas/events/envelope.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

let store: Awaited<ReturnType<typeof freshPglite>>;
let log: EventLog;
beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
});
afterAll(async () => {
  await log.close();
  await store.close();
});

let n = 0;
const ns = () => `h${++n}${Date.now().toString(36)}`;
const command = (domain: string, priority: Priority, data: object) => {
  const id = `${domain}-${priority}-${++n}`;
  const subject = `evt.${domain}.${priority}.${id}`;
  return log.append(subject, newEvent({ type: `${domain}.requested`, subject, source: 'test', data }));
};
/** A test handler of its own types, recording failed attempts as `<name>.attempt_failed`. */
const runner = (handler: Handler<string, string>, over: Partial<Parameters<typeof handlerRunner>[0]> = {}) =>
  handlerRunner({
    log,
    handler: { attemptFailed: defineEvent(`${handler.name}.attempt_failed`, AttemptFailed), ...handler },
    logger: silentLogger(),
    concurrency: 2,
    maxAttempts: 3,
    ackWaitMs: 5_000,
    backoffBaseMs: 30,
    backoffMaxMs: 200,
    ...over,
  });
const subjectsFor = (domain: string) =>
  Object.fromEntries((['urgent', 'high', 'normal', 'low'] as const).map((p) => [p, `evt.${domain}.${p}.>`]));

describe('handler runner', () => {
  it('retries a retryable failure with back-off, then appends the result once', async () => {
    const domain = ns();
    const attempts: number[] = [];
    const times: number[] = [];
    const r = runner({
      name: domain,
      stream: 'EVENTS',
      subjects: subjectsFor(domain),
      eventTypes: [`${domain}.requested`],
      async handle(event, { attempt }) {
        attempts.push(attempt);
        times.push(Date.now());
        if (attempt < 3) throw new HandlerError('provider 503', true);
        return [{ subject: event.subject, type: `${domain}.sent`, data: { ok: true } }];
      },
    });
    const cmd = await command(domain, 'normal', { to: '+70000000000' });
    await r.start();
    await until(() => attempts.length === 3);
    await until(async () => (await log.read('EVENTS', 10, { filterSubject: `evt.${domain}.>` })).length === 4);
    await r.stop();
    expect(attempts).toEqual([1, 2, 3]);
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(14);
    const all = await log.read('EVENTS', 10, { filterSubject: `evt.${domain}.>` });
    // Each failed attempt is recorded for the queue's read model, with when the next one is due.
    const failed = all.slice(1, 3).map((m) => m.events[0] as (typeof m.events)[number]);
    expect(failed.map((e) => [e.type, (e.data as { attempt: number }).attempt])).toEqual([
      [`${domain}.attempt_failed`, 1],
      [`${domain}.attempt_failed`, 2],
    ]);
    expect(failed[0]).toMatchObject({ causationId: all[0]?.events[0]?.id, data: { error: 'provider 503' } });
    expect(Date.parse((failed[0]?.data as { nextAttemptAt: string } | undefined)?.nextAttemptAt ?? '')).toBeGreaterThan(
      Date.parse(failed[0]?.time ?? ''),
    );
    const result = all[3]?.events[0];
    expect(result).toMatchObject({ type: `${domain}.sent`, causationId: all[0]?.events[0]?.id });
    expect(all[0]?.seq).toBe(cmd.seq);
    expect((await log.read('DLQ', 5, { filterSubject: `dlq.${domain}-normal` })).length).toBe(0);
  });

  it('splits a message of several commands so a failing one is retried alone', async () => {
    const domain = ns();
    const calls = new Map<number, number>();
    const r = runner({
      name: domain,
      stream: 'EVENTS',
      subjects: subjectsFor(domain),
      eventTypes: [`${domain}.requested`],
      async handle(event) {
        const i = (event.data as { i: number }).i;
        calls.set(i, (calls.get(i) ?? 0) + 1);
        if (i === 2 && calls.get(i) === 1) throw new HandlerError('provider 503', true);
        return [{ subject: `evt.${domain}.result`, type: `${domain}.sent`, data: { i } }];
      },
    });
    // One log message holding three commands, as the API writes a burst.
    const subject = `evt.${domain}.normal.burst`;
    const batch = [1, 2, 3].map((i) => newEvent({ type: `${domain}.requested`, subject, source: 'test', data: { i } }));
    const original = await log.append(subject, batch);
    await r.start();
    const results = async () => (await log.read('EVENTS', 20, { filterSubject: `evt.${domain}.result` })).length;
    await until(async () => (await results()) === 3);
    await r.stop();
    expect(Object.fromEntries(calls)).toEqual({ 1: 1, 2: 2, 3: 1 });
    const copies = (await log.read('EVENTS', 20, { filterSubject: subject })).filter(
      (m) => m.seq !== original.seq && m.events[0]?.type === `${domain}.requested`,
    );
    expect(copies.map((m) => m.events.map((e) => e.id))).toEqual(batch.map((e) => [e.id]));
    expect(copies.every((m) => m.headers['fg-split-of'] === `EVENTS:${original.seq}`)).toBe(true);
    // Read models fold the original only: a copy is work, not history.
    const folded: string[] = [];
    const { applyBatch, readCheckpoint, readsAll } = await import('../../core/runners/projectionRunner.js');
    const projection = {
      kind: 'fold' as const,
      reads: readsAll,
      name: `${domain}_fold`,
      stream: 'EVENTS' as const,
      apply: async (_tx: unknown, events: readonly { id: string }[]) => {
        folded.push(...events.map((e) => e.id));
      },
      reset: async () => {},
    };
    const from = await readCheckpoint(store.sql, projection);
    const [first] = await log.read('EVENTS', 1, { fromSeq: original.seq });
    await applyBatch(store.sql, projection, from, [first as never, ...(copies as never[])]);
    expect(folded).toEqual(batch.map((e) => e.id));
  });

  it('dead-letters a permanent failure at once and a retryable one after max attempts', async () => {
    const domain = ns();
    const calls = new Map<string, number>();
    const r = runner({
      name: domain,
      stream: 'EVENTS',
      subjects: subjectsFor(domain),
      eventTypes: [`${domain}.requested`],
      async handle(event) {
        const kind = (event.data as { kind: string }).kind;
        calls.set(kind, (calls.get(kind) ?? 0) + 1);
        throw new HandlerError(kind === 'permanent' ? 'invalid number' : 'timeout', kind !== 'permanent');
      },
      onGiveUp: (event, reason) => [{ subject: event.subject, type: `${domain}.failed`, data: { reason } }],
    });
    await command(domain, 'high', { kind: 'permanent' });
    await command(domain, 'high', { kind: 'flaky' });
    await r.start();
    await until(async () => (await log.read('DLQ', 5, { filterSubject: `dlq.${domain}-high` })).length === 2);
    await r.stop();
    expect(Object.fromEntries(calls)).toEqual({ permanent: 1, flaky: 3 });
    const dead = await log.read('DLQ', 5, { filterSubject: `dlq.${domain}-high` });
    const reasons = dead.map((m) => m.headers['fg-dlq-reason']).sort();
    expect(reasons).toEqual(['gave up after 3 attempts: timeout', 'permanent: invalid number']);
    const failed = (await log.read('EVENTS', 10, { filterSubject: `evt.${domain}.>` })).filter(
      (m) => m.events[0]?.type === `${domain}.failed`,
    );
    expect(failed).toHaveLength(2);
  });

  it('takes a new urgent command before an older backlog of low ones', async () => {
    const domain = ns();
    const order: string[] = [];
    const r = runner(
      {
        name: domain,
        stream: 'EVENTS',
        subjects: subjectsFor(domain),
        eventTypes: [`${domain}.requested`],
        async handle(event) {
          await new Promise((res) => setTimeout(res, 3));
          order.push((event.data as { tag: string }).tag);
          return undefined;
        },
      },
      { concurrency: 1 },
    );
    const backlog = 300;
    const batch = Array.from({ length: backlog }, (_, i) => {
      const subject = `evt.${domain}.low.${i}`;
      return log.append(subject, newEvent({ type: `${domain}.requested`, subject, source: 'test', data: { tag: `low${i}` } }));
    });
    await Promise.all(batch);
    await r.start();
    await until(() => order.length >= 10);
    await command(domain, 'urgent', { tag: 'URGENT' });
    await until(() => order.includes('URGENT'));
    const lowDoneBeforeUrgent = order.indexOf('URGENT');
    await r.stop();
    // The urgent one waits at most for the few low ones already fetched, not for the backlog.
    expect(lowDoneBeforeUrgent).toBeLessThan(backlog / 2);
    expect(order.slice(0, lowDoneBeforeUrgent).every((t) => t.startsWith('low'))).toBe(true);
  });

  it('appends a retried result only once (message id derived from the cause)', async () => {
    const domain = ns();
    let calls = 0;
    const r = runner({
      name: domain,
      stream: 'EVENTS',
      subjects: { normal: `evt.${domain}.normal.>` },
      eventTypes: [`${domain}.requested`],
      async handle(event) {
        calls++;
        // Result appended, then the "crash": the retry appends the same result again.
        const result = [{ subject: event.subject, type: `${domain}.sent`, data: { n: calls } }];
        if (calls === 1) {
          await log.append(event.subject, newEvent({ type: `${domain}.sent`, subject: event.subject, source: 'x', data: {} }), {
            msgId: (await import('../../core/eventlog/newEvent.js')).derivedMsgId(event.id, domain, 0),
          });
          throw new HandlerError('lost connection after sending', true);
        }
        return result;
      },
    });
    await command(domain, 'normal', {});
    await r.start();
    await until(() => calls === 2);
    await r.stop();
    const all = await log.read('EVENTS', 10, { filterSubject: `evt.${domain}.>` });
    expect(all.map((m) => m.events[0]?.type)).toEqual([`${domain}.requested`, `${domain}.sent`, `${domain}.attempt_failed`]);
  });

  it('computes capped exponential back-off with jitter', () => {
    expect(backoffDelay(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffDelay(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffDelay(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffDelay(30, 1000, 60_000, () => 0.5)).toBe(45_000);
  });
});
