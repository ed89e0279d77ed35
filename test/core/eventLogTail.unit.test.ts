import { describe, expect, it } from 'vitest';
import { sharedTail } from '../../core/eventlog/embedded/tail.js';
import type { LogMessage } from '../../core/eventlog/port.js';

const msg = (seq: number, subject = `gps.reported.d${seq % 3}`, events = 1): LogMessage => ({
  stream: 'GPS',
  seq,
  subject,
  msgId: `m${seq}`,
  storedAt: 0,
  headers: {},
  events: Array.from({ length: events }, () => ({}) as LogMessage['events'][number]),
});

/** A stream held in an array, read as the embedded log reads it: from a sequence, with its end in the same snapshot. */
const fakeStream = () => {
  const stored: LogMessage[] = [];
  const reads: number[] = [];
  let emitted = 0;
  return {
    stored,
    reads,
    /** The wake-up count, as a follower reads it when it arms. */
    armed: () => emitted,
    append: (m: LogMessage) => {
      stored.push(m);
      emitted++;
    },
    readRaw: async (fromSeq: number, max: number) => {
      reads.push(fromSeq);
      await new Promise((r) => setTimeout(r, 1));
      return {
        batch: stored.filter((m) => m.seq >= fromSeq).slice(0, max),
        committed: stored.at(-1)?.seq ?? 0,
      };
    },
  };
};

describe('shared GPS tail', () => {
  it('reads again for a follower that armed after the read it would be served from (no lost wake-up)', async () => {
    const s = fakeStream();
    const tail = sharedTail(s.readRaw, s.armed);
    s.append(msg(1));
    await tail.page(1, 100, undefined, s.armed());
    // Appended after that read: its wake-up came before the next follower armed, so only a read finds it.
    s.append(msg(2));
    const page = await tail.page(1, 100, undefined, s.armed());
    expect(page?.batch.map((m) => m.seq)).toEqual([1, 2]);
    expect(page?.committed).toBe(2);
    // A follower armed before that append may take what is kept without a read.
    const reads = s.reads.length;
    expect((await tail.page(2, 100, undefined, 1))?.batch.map((m) => m.seq)).toEqual([2]);
    expect(s.reads).toHaveLength(reads);
  });

  it('serves followers at the head from one read, each through its own filter, with the end read up to', async () => {
    const s = fakeStream();
    const tail = sharedTail(s.readRaw, s.armed);
    for (let i = 1; i <= 5; i++) s.append(msg(i, i % 2 ? 'gps.reported.a' : 'gps.other.b'));
    const [all, a, b] = await Promise.all([
      tail.page(1, 100, undefined, s.armed()),
      tail.page(1, 100, 'gps.reported.>', s.armed()),
      tail.page(1, 100, 'gps.other.>', s.armed()),
    ]);
    expect(s.reads).toEqual([1]);
    expect(all?.batch.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(a?.batch.map((m) => m.seq)).toEqual([1, 3, 5]);
    expect(b?.batch.map((m) => m.seq)).toEqual([2, 4]);
    expect(a?.committed).toBe(5);
    // The same object for every follower: decoded once.
    expect(a?.batch[0]).toBe(all?.batch[0]);
  });

  it('reads on only for the next sequences; a page that fills stops at its own last message', async () => {
    const s = fakeStream();
    const tail = sharedTail(s.readRaw, s.armed);
    for (let i = 1; i <= 3; i++) s.append(msg(i));
    await tail.page(1, 100, undefined, s.armed());
    s.append(msg(4));
    s.append(msg(5));
    const two = await tail.page(2, 2, undefined, s.armed());
    expect(two?.batch.map((m) => m.seq)).toEqual([2, 3]);
    expect(two?.committed).toBe(0);
    expect(s.reads).toEqual([1]);
    const rest = await tail.page(4, 100, undefined, s.armed());
    expect(rest?.batch.map((m) => m.seq)).toEqual([4, 5]);
    expect(s.reads).toEqual([1, 4]);
    const none = await tail.page(6, 100, undefined, s.armed());
    expect(none).toEqual({ batch: [], committed: 5 });
  });

  it('leaves a follower outside what it keeps to read on its own, and restarts at the end such a read reached', async () => {
    const s = fakeStream();
    const tail = sharedTail(s.readRaw, s.armed);
    for (let i = 1; i <= 10; i++) s.append(msg(i));
    await tail.page(8, 100, undefined, s.armed());
    expect(await tail.page(3, 100, undefined, s.armed())).toBeNull();
    expect(await tail.page(12, 100, undefined, s.armed())).toBeNull();
    tail.restartAt(5); // behind what it holds: ignored
    expect((await tail.page(8, 100, undefined, s.armed()))?.batch.map((m) => m.seq)).toEqual([8, 9, 10]);
    for (let i = 11; i <= 14; i++) s.append(msg(i));
    tail.restartAt(14);
    expect(await tail.page(11, 100, undefined, s.armed())).toBeNull();
    s.append(msg(15));
    expect((await tail.page(15, 100, undefined, s.armed()))?.batch.map((m) => m.seq)).toEqual([15]);
  });

  it('keeps a bounded number of events, dropping the oldest messages', async () => {
    const s = fakeStream();
    const tail = sharedTail(s.readRaw, s.armed);
    for (let i = 1; i <= 40; i++) s.append(msg(i, 'gps.reported.x', 1_000));
    const first = await tail.page(1, 100, undefined, s.armed());
    expect(first?.batch).toHaveLength(40);
    s.append(msg(41, 'gps.reported.x', 1_000));
    expect((await tail.page(41, 100, undefined, s.armed()))?.batch.map((m) => m.seq)).toEqual([41]);
    // 32,000 events kept at most before a read adds its own: the oldest eight went.
    expect(await tail.page(8, 100, undefined, s.armed())).toBeNull();
    expect((await tail.page(9, 100, undefined, s.armed()))?.batch).toHaveLength(33);
  });
});
