import type { Sql } from '../../stores/postgres.js';
import type { LogMessage, ReadOptions, StreamName } from '../port.js';
import { filterToRegex, validateFilter } from '../subjects.js';
import { type LogRow, toMessage } from './rows.js';
import type { AppendWakeups } from './wakeups.js';

/** follow() pages: at most this many messages, aiming at about FOLLOW_PAGE_EVENTS events. */
const FOLLOW_MAX_PAGE = 1_000;
const FOLLOW_FIRST_PAGE = 100;
const FOLLOW_PAGE_EVENTS = 10_000;

export interface EmbeddedReaderOptions {
  wakeups: AppendWakeups;
  pollMs: number;
  /** Where an idle poll's back-off stops (see idlePollCapMs). */
  idlePollCapMs: number;
  isClosed(): boolean;
}

/** `read`, `follow` and `lastSeq` of the embedded log: plain queries on `fleetgate_log`, no consumer state. */
export const embeddedReader = (sql: Sql, { wakeups, pollMs, idlePollCapMs, isClosed }: EmbeddedReaderOptions) => {
  const read = async (stream: StreamName, max: number, opts: ReadOptions = {}): Promise<LogMessage[]> => {
    if (opts.filterSubject) validateFilter(opts.filterSubject);
    const f = opts.filterSubject;
    // A literal subject (one payment's events) is an index lookup on (stream, subject, seq); a regex scans.
    const literal = f !== undefined && !/(^|\.)[*>](\.|$)/.test(f);
    const where = f === undefined ? sql`` : literal ? sql`AND subject = ${f}` : sql`AND subject ~ ${filterToRegex(f)}`;
    const rows = await sql<LogRow[]>`
      SELECT seq, subject, msg_id, headers, events, stored_at FROM fleetgate_log
      WHERE stream = ${stream} AND seq >= ${opts.fromSeq ?? 1} ${where}
      ORDER BY seq LIMIT ${max}`;
    return rows.map((r) => toMessage(stream, r));
  };

  const lastSeq = async (stream: StreamName) => {
    const [row] = await sql<{ last_seq: string }[]>`SELECT last_seq FROM fleetgate_streams WHERE name = ${stream}`;
    return Number(row?.last_seq ?? 0);
  };

  async function* follow(stream: StreamName, opts: ReadOptions & { signal: AbortSignal }): AsyncIterable<LogMessage> {
    let next = opts.fromSeq ?? 1;
    let limit = FOLLOW_FIRST_PAGE;
    /** The next page, asked for while the caller works through this one. */
    let ahead: Promise<LogMessage[]> | undefined;
    const readAhead = (fromSeq: number) => {
      const p = read(stream, limit, { ...opts, fromSeq });
      p.catch(() => {}); // handled when awaited; never an unhandled rejection meanwhile
      return p;
    };
    /** Polls in a row that found nothing and were not cut short by a local append (see idlePollCapMs). */
    let idlePolls = 0;
    try {
      while (!opts.signal.aborted && !isClosed()) {
        // Armed before the page query: an append committing while it runs (or while the caller
        // works through the page) wakes the wait below at once. A read-ahead page was asked for
        // before this listener existed, so no wait follows one (read again first).
        const readBeforeArming = ahead !== undefined;
        const armed = wakeups.arm(stream, opts.signal, opts.filterSubject);
        const asked = limit;
        // Read before the page: an append committing between the page query and a later
        // lastSeq() would otherwise be skipped as "unmatched" without ever being read.
        let committed = 0;
        let batch: LogMessage[];
        try {
          committed = opts.filterSubject && !ahead ? await lastSeq(stream) : 0;
          batch = await (ahead ?? read(stream, limit, { ...opts, fromSeq: next }));
        } catch (e) {
          armed.cancel();
          throw e;
        }
        ahead = undefined;
        const full = batch.length === asked;
        if (batch.length > 0) {
          // Size pages by events, not messages: a page of big batches is a big result, which
          // PGlite (on this thread) produces and postgres.js parses in one go.
          const events = batch.reduce((n, m) => n + m.events.length, 0);
          limit = Math.max(1, Math.min(FOLLOW_MAX_PAGE, asked * 4, Math.floor((FOLLOW_PAGE_EVENTS * batch.length) / events)));
          if (full) ahead = readAhead((batch[batch.length - 1] as LogMessage).seq + 1);
        }
        let paged = false;
        try {
          for (const m of batch) {
            if (opts.signal.aborted) return;
            next = m.seq + 1;
            yield m;
          }
          paged = true;
        } finally {
          // Also when the caller stopped following mid-page: no wait follows, so no listener may stay.
          if (!paged || full || readBeforeArming) armed.cancel();
        }
        if (batch.length > 0) idlePolls = 0;
        if (!full) {
          // Unmatched sequences in between are skipped for good: everything up to lastSeq is committed.
          if (opts.filterSubject) next = Math.max(next, committed + 1);
          if (readBeforeArming) continue;
          const woken = await armed.wait(Math.min(idlePollCapMs, pollMs * 2 ** idlePolls));
          idlePolls = woken ? 0 : Math.min(idlePolls + 1, 8);
        }
      }
    } finally {
      await ahead?.catch(() => {});
    }
  }

  return { read, follow, lastSeq };
};
