import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendWakeups, idlePollCapMs } from '../../core/eventlog/embedded/wakeups.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { freshPglite } from '../support/stores.js';

/** Far beyond the test timeout: a wait that depends on the poll fails the test instead of passing late. */
const NEVER_MS = 60_000;

describe('append wakeups', () => {
  it('an append between arming and waiting wakes the wait (no lost wake-up while a query runs)', async () => {
    const w = appendWakeups();
    const armed = w.arm('EVENTS', undefined, 'evt.payment.tx.>');
    w.emit('EVENTS', 'evt.payment.tx.p1');
    await expect(armed.wait(NEVER_MS)).resolves.toBe(true);
  });

  it('ignores appends its filter does not match, and says a timed-out wait was not woken', async () => {
    const w = appendWakeups();
    const armed = w.arm('EVENTS', undefined, 'evt.payment.tx.>');
    w.emit('EVENTS', 'evt.sms.tx.s1');
    w.emit('GPS', 'gps.d1');
    await expect(armed.wait(5)).resolves.toBe(false);
  });

  it('a subject-less emit (nak, close) and an abort end the wait', async () => {
    const w = appendWakeups();
    const armed = w.arm('EVENTS', undefined, 'evt.payment.tx.>');
    w.emit('EVENTS');
    await expect(armed.wait(NEVER_MS)).resolves.toBe(true);
    const ctl = new AbortController();
    const aborted = w.arm('EVENTS', ctl.signal).wait(NEVER_MS);
    ctl.abort();
    await expect(aborted).resolves.toBe(false);
  });

  it('an idle poll backs off to five intervals, at most a second unless the interval is longer', () => {
    expect(idlePollCapMs(200)).toBe(1_000);
    expect(idlePollCapMs(20)).toBe(100);
    expect(idlePollCapMs(1_000)).toBe(1_000);
  });
});

describe('embedded follow', () => {
  let log: EventLog;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const store = await freshPglite();
    log = embeddedEventLog(store.sql, { pollMs: NEVER_MS });
    close = async () => {
      await log.close();
      await store.close();
    };
  });
  afterAll(() => close());

  const ev = (subject: string, n: number) => newEvent({ type: 'test.happened', subject, source: 'test', data: { n } });

  it('delivers an append made while the follower works on a message without waiting for the poll', async () => {
    const ctl = new AbortController();
    const it = log.follow('EVENTS', { fromSeq: 1, filterSubject: 'evt.wake.>', signal: ctl.signal })[Symbol.asyncIterator]();
    await log.append('evt.wake.a', ev('evt.wake.a', 1));
    const first = await it.next();
    expect(first.value?.subject).toBe('evt.wake.a');
    // The follower is between pages now (the caller holds the message); the append's wake-up must not be lost.
    await log.append('evt.wake.b', ev('evt.wake.b', 2));
    const second = await it.next();
    expect(second.value?.subject).toBe('evt.wake.b');
    ctl.abort();
    await it.return?.();
  });
});

describe('embedded follow of GPS: followers share what the first one read', () => {
  let log: EventLog;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const store = await freshPglite();
    log = embeddedEventLog(store.sql, { pollMs: NEVER_MS, onlyWriter: true });
    close = async () => {
      await log.close();
      await store.close();
    };
  });
  afterAll(() => close());

  const point = (subject: string, n: number) => newEvent({ type: 'test.located', subject, source: 'test', data: { n } });
  const take = async (it: AsyncIterator<{ seq: number; subject: string }>, n: number) => {
    const got: string[] = [];
    while (got.length < n) {
      const r = await it.next();
      if (r.done) break;
      got.push(`${r.value.seq}:${r.value.subject}`);
    }
    return got;
  };

  it('each follower, filtered or not, from the head or far behind, gets its messages in order and none twice', async () => {
    const ctl = new AbortController();
    const follow = (fromSeq: number, filterSubject?: string) =>
      log.follow('GPS', { fromSeq, signal: ctl.signal, ...(filterSubject && { filterSubject }) })[Symbol.asyncIterator]();
    const all = follow(1);
    const onlyA = follow(1, 'gps.reported.a');
    const subjects = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'gps.reported.a' : 'gps.reported.b'));
    const firstHalf = Promise.all([take(all, 15), take(onlyA, 5)]);
    for (const [i, s] of subjects.slice(0, 15).entries()) await log.append(s, point(s, i));
    const [all1, a1] = await firstHalf;
    // Appends racing the followers' reads, and a third follower starting from the beginning meanwhile.
    const late = follow(1);
    const secondHalf = Promise.all([take(all, 15), take(onlyA, 5), take(late, 30)]);
    await Promise.all(subjects.slice(15).map((s, i) => log.append(s, point(s, 15 + i))));
    const [all2, a2, lateAll] = await secondHalf;
    const expected = subjects.map((s, i) => `${i + 1}:${s}`);
    expect([...all1, ...all2]).toEqual(expected);
    expect([...a1, ...a2]).toEqual(expected.filter((e) => e.endsWith('.a')));
    expect(lateAll).toEqual(expected);
    ctl.abort();
    await Promise.all([all.return?.(), onlyA.return?.(), late.return?.()]);
  });
});
