import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { Delivery, EventLog, LogMessage } from '../../core/eventlog/port.js';
import { isGatewayError, VersionConflictError } from '../../schemas/errors.js';

export interface EventLogHarness {
  log: EventLog;
  close(): Promise<void>;
}

const uniq = () => `t${randomBytes(5).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ev = (subject: string, n = 0) =>
  newEvent({ type: 'test.happened', subject, source: 'contract', data: { n, pad: 'x'.repeat(16) } });

/** Fetch until `count` deliveries arrived or `ms` passed. */
const collect = async (fetch: (o: { max: number; expiresMs: number }) => Promise<Delivery[]>, count: number, ms = 4000) => {
  const out: Delivery[] = [];
  const deadline = Date.now() + ms;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await fetch({ max: count - out.length, expiresMs: Math.min(500, deadline - Date.now() + 1) })));
  }
  return out;
};

/**
 * Every behaviour the event-log port promises. Run unchanged against each adapter; a test that
 * only one adapter can pass does not belong here.
 */
export function eventLogContract(name: string, open: () => Promise<EventLogHarness>) {
  describe(`${name} satisfies EventLog`, () => {
    let h: EventLogHarness;
    let log: EventLog;
    beforeAll(async () => {
      h = await open();
      log = h.log;
    }, 60_000);
    afterAll(async () => h?.close());

    it('acknowledges an append with its sequence and stores it for reading', async () => {
      const p = uniq();
      const e = ev(`evt.${p}.a`);
      const ack = await log.append(`evt.${p}.a`, e);
      expect(ack).toMatchObject({ stream: 'EVENTS', duplicate: false });
      expect(ack.seq).toBeGreaterThan(0);
      expect(await log.lastSeq('EVENTS')).toBeGreaterThanOrEqual(ack.seq);
      const [m] = await log.read('EVENTS', 1, { fromSeq: ack.seq });
      expect(m?.seq).toBe(ack.seq);
      expect(m?.subject).toBe(`evt.${p}.a`);
      expect(m?.msgId).toBe(e.id);
      expect(m?.events).toEqual([e]);
      expect(Math.abs((m?.storedAt ?? 0) - Date.now())).toBeLessThan(60_000);
    });

    it('routes subjects to their stream and numbers each stream on its own', async () => {
      const p = uniq();
      const a = await log.append(`gps.${p}`, ev(`gps.${p}`));
      const b = await log.append(`gps.${p}`, ev(`gps.${p}`));
      expect(a.stream).toBe('GPS');
      expect(b.seq).toBe(a.seq + 1);
      expect(await log.lastSeq('GPS')).toBeGreaterThanOrEqual(b.seq);
      await expect(log.append(`nope.${p}`, ev(`nope.${p}`))).rejects.toThrow(RangeError);
    });

    it('stores a batch as one message whose events keep their ids and order', async () => {
      const p = uniq();
      const batch = Array.from({ length: 50 }, (_, i) => ev(`gps.${p}`, i));
      const ack = await log.append(`gps.${p}`, batch);
      const [m] = await log.read('GPS', 5, { fromSeq: ack.seq, filterSubject: `gps.${p}` });
      expect(m?.events.map((e) => e.id)).toEqual(batch.map((e) => e.id));
      expect(m?.events[49]?.data).toEqual({ n: 49, pad: 'x'.repeat(16) });
      expect((await log.read('GPS', 5, { fromSeq: ack.seq, filterSubject: `gps.${p}` })).length).toBe(1);
    });

    it('drops a re-sent message id and answers with the original sequence', async () => {
      const p = uniq();
      const e = ev(`evt.${p}.d`);
      const first = await log.append(`evt.${p}.d`, e);
      const again = await log.append(`evt.${p}.d`, e);
      expect(again).toEqual({ ...first, duplicate: true });
      const batch = [ev(`evt.${p}.d`, 1), ev(`evt.${p}.d`, 2)];
      const b1 = await log.append(`evt.${p}.d`, batch);
      const b2 = await log.append(`evt.${p}.d`, batch);
      expect(b2).toEqual({ ...b1, duplicate: true });
      const explicit = await log.append(`evt.${p}.d`, ev(`evt.${p}.d`, 3), { msgId: `${p}-k` });
      const explicitAgain = await log.append(`evt.${p}.d`, ev(`evt.${p}.d`, 4), { msgId: `${p}-k` });
      expect(explicitAgain.duplicate).toBe(true);
      expect(explicitAgain.seq).toBe(explicit.seq);
      const all = await log.read('EVENTS', 100, { fromSeq: first.seq, filterSubject: `evt.${p}.>` });
      expect(all.map((m) => m.seq)).toEqual([first.seq, b1.seq, explicit.seq]);
    });

    it('keeps each of many concurrent appends its own message, deduping repeats within the burst', async () => {
      const p = uniq();
      const events = Array.from({ length: 60 }, (_, i) => ev(`evt.${p}.burst`, i));
      // Every event twice, interleaved, all in flight at once: each id is stored exactly once.
      const acks = await Promise.all(
        [...events, ...events].map((e, i) => log.append(`evt.${p}.${i % 2 ? 'odd' : 'even'}`, e, { msgId: e.id })),
      );
      const first = acks.slice(0, 60);
      const again = acks.slice(60);
      const stored = acks.filter((a) => !a.duplicate);
      expect(stored).toHaveLength(60);
      expect(new Set(stored.map((a) => a.seq)).size).toBe(60);
      expect(again.map((a) => a.seq)).toEqual(first.map((a) => a.seq));
      const read = await log.read('EVENTS', 200, { fromSeq: Math.min(...first.map((a) => a.seq)), filterSubject: `evt.${p}.>` });
      expect(read.map((m) => m.msgId).sort()).toEqual(events.map((e) => e.id).sort());
    });

    it('appends only while the subject is still at the expected sequence', async () => {
      const p = uniq();
      const s = `evt.${p}.agg`;
      const a = await log.append(s, ev(s), { expectedLastSubjectSeq: 0 });
      await log.append(`evt.${p}.other`, ev(`evt.${p}.other`));
      const b = await log.append(s, ev(s), { expectedLastSubjectSeq: a.seq });
      const stale = log.append(s, ev(s), { expectedLastSubjectSeq: a.seq });
      await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
      await stale.catch((e) => expect(isGatewayError(e, 'GW_ERR_VERSION_CONFLICT')).toBe(true));
      await expect(log.append(s, ev(s), { expectedLastSubjectSeq: 0 })).rejects.toBeInstanceOf(VersionConflictError);
      expect((await log.read('EVENTS', 10, { fromSeq: a.seq, filterSubject: s })).map((m) => m.seq)).toEqual([a.seq, b.seq]);
    });

    it('lets exactly one of many concurrent writers win the same expected sequence', async () => {
      const p = uniq();
      const s = `evt.${p}.race`;
      const base = await log.append(s, ev(s));
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => log.append(s, ev(s, i), { expectedLastSubjectSeq: base.seq })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const losers = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(losers.every((r) => r.reason instanceof VersionConflictError)).toBe(true);
    });

    it('delivers only the filtered subjects to a durable consumer, in order', async () => {
      const p = uniq();
      for (let i = 0; i < 6; i++) await log.append(`evt.${p}.${i % 2 ? 'odd' : 'even'}.x`, ev(`evt.${p}.x`, i));
      const c = await log.consumer({
        stream: 'EVENTS',
        name: p,
        filterSubject: `evt.${p}.odd.>`,
        ackWaitMs: 5_000,
        maxDeliver: 3,
      });
      const got = await collect((o) => c.fetch(o), 3);
      expect(got.map((d) => (d.events[0]?.data as { n: number } | undefined)?.n)).toEqual([1, 3, 5]);
      expect(got.every((d) => d.deliveryCount === 1)).toBe(true);
      expect(await c.info()).toMatchObject({ pending: 0, ackPending: 3 });
      for (const d of got) await d.ack();
      expect(await c.info()).toMatchObject({ pending: 0, ackPending: 0 });
      expect(await c.fetch({ max: 5, expiresMs: 300 })).toEqual([]);
    });

    it('waits in fetch for a message appended meanwhile', async () => {
      const p = uniq();
      const c = await log.consumer({
        stream: 'EVENTS',
        name: p,
        filterSubject: `evt.${p}.>`,
        ackWaitMs: 5_000,
        maxDeliver: 3,
        startSeq: (await log.lastSeq('EVENTS')) + 1,
      });
      const pending = c.fetch({ max: 1, expiresMs: 3_000 });
      await sleep(150);
      await log.append(`evt.${p}.late`, ev(`evt.${p}.late`));
      const [d] = await pending;
      expect(d?.subject).toBe(`evt.${p}.late`);
      await d?.ack();
    });

    it('redelivers a message not acknowledged within ack wait, counting deliveries', async () => {
      const p = uniq();
      await log.append(`evt.${p}.w`, ev(`evt.${p}.w`));
      const c = await log.consumer({ stream: 'EVENTS', name: p, filterSubject: `evt.${p}.>`, ackWaitMs: 700, maxDeliver: 5 });
      const [first] = await collect((o) => c.fetch(o), 1);
      expect(first?.deliveryCount).toBe(1);
      expect(await c.fetch({ max: 1, expiresMs: 300 })).toEqual([]);
      const [second] = await collect((o) => c.fetch(o), 1, 3000);
      expect(second?.seq).toBe(first?.seq);
      expect(second?.deliveryCount).toBe(2);
      await second?.ack();
      expect(await c.fetch({ max: 1, expiresMs: 1200 })).toEqual([]);
    });

    it('restarts the ack-wait clock when the consumer says it is still working', async () => {
      const p = uniq();
      await log.append(`evt.${p}.w`, ev(`evt.${p}.w`));
      const c = await log.consumer({ stream: 'EVENTS', name: p, filterSubject: `evt.${p}.>`, ackWaitMs: 900, maxDeliver: 5 });
      const [d] = await collect((o) => c.fetch(o), 1);
      for (let i = 0; i < 3; i++) {
        await sleep(500);
        await d?.working();
      }
      expect(await c.fetch({ max: 1, expiresMs: 300 })).toEqual([]);
      await d?.ack();
    });

    it('redelivers a nak after its delay and not before', async () => {
      const p = uniq();
      await log.append(`evt.${p}.n`, ev(`evt.${p}.n`));
      const c = await log.consumer({ stream: 'EVENTS', name: p, filterSubject: `evt.${p}.>`, ackWaitMs: 10_000, maxDeliver: 5 });
      const [d] = await collect((o) => c.fetch(o), 1);
      const nakAt = Date.now();
      await d?.nak(900, 'try later');
      expect(await c.fetch({ max: 1, expiresMs: 400 })).toEqual([]);
      // One long wait, as the runners fetch. Not short polls: with nats-server 2.9.10 a pull that
      // expires within a few ms of the redelivery time is never answered and the message then
      // comes ~5 s later with its delivery count reset to 1 (seen by tracing `_INBOX.>`).
      const [again] = await c.fetch({ max: 1, expiresMs: 3_000 });
      expect(Date.now() - nakAt).toBeGreaterThanOrEqual(850);
      expect(again?.deliveryCount).toBe(2);
      await again?.ack();
    });

    it('moves a terminated message to the dead-letter subject with its reason', async () => {
      const p = uniq();
      const a = await log.append(`evt.${p}.t`, [ev(`evt.${p}.t`, 1), ev(`evt.${p}.t`, 2)]);
      const c = await log.consumer({ stream: 'EVENTS', name: p, filterSubject: `evt.${p}.>`, ackWaitMs: 700, maxDeliver: 5 });
      const [d] = await collect((o) => c.fetch(o), 1);
      await d?.term('invalid phone number');
      expect(await c.fetch({ max: 1, expiresMs: 1500 })).toEqual([]);
      const dead = await log.read('DLQ', 10, { filterSubject: `dlq.${p}` });
      expect(dead).toHaveLength(1);
      expect(dead[0]?.events).toEqual(d?.events);
      expect(dead[0]?.headers).toMatchObject({
        'fg-dlq-stream': 'EVENTS',
        'fg-dlq-seq': String(a.seq),
        'fg-dlq-subject': `evt.${p}.t`,
        'fg-dlq-consumer': p,
        'fg-dlq-deliveries': '1',
        'fg-dlq-reason': 'invalid phone number',
      });
    });

    it('removes a dead letter by its sequence, once; EVENTS stays as it was', async () => {
      const p = uniq();
      const a = await log.append(`evt.${p}.t`, ev(`evt.${p}.t`));
      const c = await log.consumer({ stream: 'EVENTS', name: p, filterSubject: `evt.${p}.>`, ackWaitMs: 5_000, maxDeliver: 5 });
      const [d] = await collect((o) => c.fetch(o), 1);
      await d?.term('smtp down');
      const [dead] = await log.read('DLQ', 10, { filterSubject: `dlq.${p}` });
      expect(dead).toBeDefined();
      const seq = dead?.seq as number;
      const [same] = await log.read('DLQ', 1, { fromSeq: seq });
      expect(same?.events).toEqual(d?.events);
      expect(await log.removeDeadLetter(seq)).toBe(true);
      expect(await log.read('DLQ', 10, { filterSubject: `dlq.${p}` })).toEqual([]);
      expect(await log.removeDeadLetter(seq)).toBe(false);
      // Only the dead letter went: the original message is still in EVENTS, and the DLQ keeps numbering.
      expect((await log.read('EVENTS', 1, { fromSeq: a.seq }))[0]?.seq).toBe(a.seq);
      await log.append(`dlq.${p}`, ev(`dlq.${p}`));
      expect((await log.read('DLQ', 10, { filterSubject: `dlq.${p}` }))[0]?.seq).toBeGreaterThan(seq);
    });

    it('dead-letters after max deliveries, whether nak-ed or left to expire', async () => {
      const p = uniq();
      await log.append(`evt.${p}.nak`, ev(`evt.${p}.nak`));
      await log.append(`evt.${p}.expire`, ev(`evt.${p}.expire`));
      const c = await log.consumer({ stream: 'EVENTS', name: p, filterSubject: `evt.${p}.>`, ackWaitMs: 600, maxDeliver: 2 });
      const seen: string[] = [];
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline && (await log.read('DLQ', 10, { filterSubject: `dlq.${p}` })).length < 2) {
        for (const d of await c.fetch({ max: 2, expiresMs: 300 })) {
          seen.push(`${d.subject.split('.').pop()}#${d.deliveryCount}`);
          if (d.subject.endsWith('.nak')) await d.nak(0, 'provider down');
        }
      }
      expect(seen.filter((s) => s.startsWith('nak')).sort()).toEqual(['nak#1', 'nak#2']);
      expect(seen.filter((s) => s.startsWith('expire')).sort()).toEqual(['expire#1', 'expire#2']);
      const dead = await log.read('DLQ', 10, { filterSubject: `dlq.${p}` });
      const bySubject = Object.fromEntries(dead.map((m) => [m.headers['fg-dlq-subject'], m.headers]));
      expect(bySubject[`evt.${p}.nak`]?.['fg-dlq-reason']).toBe('provider down');
      expect(bySubject[`evt.${p}.expire`]?.['fg-dlq-reason']).toMatch(/ack wait/);
      expect(await c.info()).toMatchObject({ pending: 0, ackPending: 0 });
    });

    it('resumes a durable consumer by name where it left off', async () => {
      const p = uniq();
      for (let i = 0; i < 4; i++) await log.append(`evt.${p}.r`, ev(`evt.${p}.r`, i));
      const cfg = { stream: 'EVENTS' as const, name: p, filterSubject: `evt.${p}.>`, ackWaitMs: 5_000, maxDeliver: 3 };
      const c1 = await log.consumer(cfg);
      for (const d of await collect((o) => c1.fetch(o), 2)) await d.ack();
      const c2 = await log.consumer(cfg);
      const rest = await collect((o) => c2.fetch(o), 2);
      expect(rest.map((d) => (d.events[0]?.data as { n: number } | undefined)?.n)).toEqual([2, 3]);
      for (const d of rest) await d.ack();
      await log.deleteConsumer('EVENTS', p);
      const c3 = await log.consumer(cfg);
      expect((await collect((o) => c3.fetch(o), 4)).length).toBe(4);
    });

    it('starts a new consumer at a given sequence', async () => {
      const p = uniq();
      const seqs: number[] = [];
      for (let i = 0; i < 4; i++) seqs.push((await log.append(`evt.${p}.s`, ev(`evt.${p}.s`, i))).seq);
      const c = await log.consumer({
        stream: 'EVENTS',
        name: p,
        filterSubject: `evt.${p}.>`,
        ackWaitMs: 5_000,
        maxDeliver: 3,
        startSeq: seqs[2],
      });
      const got = await collect((o) => c.fetch(o), 2);
      expect(got.map((d) => d.seq)).toEqual(seqs.slice(2));
      expect(await c.info()).toMatchObject({ pending: 0 });
    });

    it('replays from any sequence and then follows new messages', async () => {
      const p = uniq();
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await log.append(`evt.${p}.f`, ev(`evt.${p}.f`, i))).seq);
      const ranged = await log.read('EVENTS', 2, { fromSeq: seqs[1], filterSubject: `evt.${p}.>` });
      expect(ranged.map((m) => m.seq)).toEqual(seqs.slice(1, 3));
      const ac = new AbortController();
      const seen: LogMessage[] = [];
      const done = (async () => {
        for await (const m of log.follow('EVENTS', { fromSeq: seqs[3], filterSubject: `evt.${p}.>`, signal: ac.signal })) {
          seen.push(m);
          if (seen.length === 3) ac.abort();
        }
      })();
      await sleep(200);
      const late = await log.append(`evt.${p}.f`, ev(`evt.${p}.f`, 5));
      await Promise.race([done, sleep(5000)]);
      expect(seen.map((m) => m.seq)).toEqual([seqs[3], seqs[4], late.seq]);
    });

    it('answers ping while reachable', async () => {
      expect(await log.ping()).toBe(true);
    });
  });
}
