import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { LogMessage } from '../../core/eventlog/port.js';
import { freshPostgresDb } from '../support/stores.js';

let db: Awaited<ReturnType<typeof freshPostgresDb>>;
beforeAll(async () => {
  db = await freshPostgresDb();
});
afterAll(async () => db.close());

// RELIABILITY.md T12: sequence values commit out of order on Postgres; a reader that polls
// `seq > checkpoint` must still never skip one that commits late.
describe('embedded log on Postgres with late commits', () => {
  it('never lets a follower skip a sequence that commits after a higher one would have', async () => {
    const log = embeddedEventLog(db.sql, { pollMs: 5 });
    const total = 1_200;
    const ac = new AbortController();
    const seen: LogMessage[] = [];
    const follower = (async () => {
      for await (const m of log.follow('EVENTS', { filterSubject: 'evt.late.>', signal: ac.signal })) {
        seen.push(m);
        if (seen.length === total) ac.abort();
      }
    })();
    let next = 0;
    let delayed = 0;
    const writer = async () => {
      while (next < total) {
        const i = next++;
        const e = newEvent({ type: 'late.appended', subject: `evt.late.${i % 8}`, source: 'test', data: { i } });
        const slow = i % 10 === 3;
        if (slow) delayed++;
        // The append and a pause before COMMIT in one transaction: later appends try to commit first.
        await db.sql.begin(async (tx) => {
          await tx`SELECT * FROM fleetgate_append('EVENTS', ${e.subject}, ${e.id}, '{}'::jsonb, ${tx.json([e] as never)}, NULL)`;
          if (slow) await tx`SELECT pg_sleep(${Math.random() * 0.08})`;
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, writer));
    await Promise.race([follower, new Promise((r) => setTimeout(r, 20_000))]);
    ac.abort();
    expect(delayed).toBeGreaterThan(100);
    expect(seen).toHaveLength(total);
    const seqs = seen.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seen.map((m) => (m.events[0]?.data as { i: number } | undefined)?.i)).size).toBe(total);
    await log.close();
  }, 60_000);
});
