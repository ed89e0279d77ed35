import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../stores/postgres.js';
import type { LogMessage, ReadOptions, StreamName } from '../port.js';
import { filterToRegex, validateFilter } from '../subjects.js';
import { type LogRow, toMessage } from './rows.js';
import { type Page, sharedTail } from './tail.js';
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
  /**
   * A GPS follower woken by an append reads this much later, so the appends that follow within it
   * come in the same read: at 2,000 points/s the GPS appends are small and many (a few points each,
   * one every few ms), and each woke a read and a fold.
   */
  gpsLingerMs: number;
  isClosed(): boolean;
}

/** `read`, `follow` and `lastSeq` of the embedded log: plain queries on `fleetgate_log`, no consumer state. */
export const embeddedReader = (sql: Sql, { wakeups, pollMs, idlePollCapMs, gpsLingerMs, isClosed }: EmbeddedReaderOptions) => {
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

  /** A page and the stream's end in one statement, so one snapshot: no later lastSeq() can skip a late commit. */
  const readPage = async (stream: StreamName, fromSeq: number, max: number, filter?: string): Promise<Page> => {
    const rows = await sql<(Omit<LogRow, 'seq'> & { seq: string | null; last_seq: string })[]>`
      SELECT s.last_seq, l.seq, l.subject, l.msg_id, l.headers, l.events, l.stored_at
      FROM fleetgate_streams s
      LEFT JOIN LATERAL (
        SELECT seq, subject, msg_id, headers, events, stored_at FROM fleetgate_log
        WHERE stream = ${stream} AND seq >= ${fromSeq} AND seq <= s.last_seq
        ${filter ? sql`AND subject ~ ${filterToRegex(filter)}` : sql``}
        ORDER BY seq LIMIT ${max}
      ) l ON true
      WHERE s.name = ${stream}
      ORDER BY l.seq`;
    const batch: LogMessage[] = [];
    for (const r of rows) if (r.seq !== null) batch.push(toMessage(stream, r as LogRow));
    return { batch, committed: Number(rows[0]?.last_seq ?? 0) };
  };

  /** GPS only: its followers read the same newest messages at once (see sharedTail); EVENTS ones go to handlers that may change them. */
  const gpsTail = sharedTail(
    (fromSeq, max) => readPage('GPS', fromSeq, max),
    () => wakeups.count('GPS'),
  );
  /** `armedAt`: the stream's wake-up count when the caller armed (see sharedTail). */
  const pageOf = async (stream: StreamName, fromSeq: number, max: number, armedAt: number, filter?: string): Promise<Page> => {
    if (stream !== 'GPS') return readPage(stream, fromSeq, max, filter);
    const shared = await gpsTail.page(fromSeq, max, filter, armedAt);
    if (shared) return shared;
    const own = await readPage(stream, fromSeq, max, filter);
    if (own.batch.length < max) gpsTail.restartAt(own.committed);
    return own;
  };

  async function* follow(stream: StreamName, opts: ReadOptions & { signal: AbortSignal }): AsyncIterable<LogMessage> {
    if (opts.filterSubject) validateFilter(opts.filterSubject);
    let next = opts.fromSeq ?? 1;
    let limit = FOLLOW_FIRST_PAGE;
    const linger = stream === 'GPS' ? gpsLingerMs : 0;
    /** The next page, asked for while the caller works through this one. */
    let ahead: Promise<Page> | undefined;
    const readAhead = (fromSeq: number) => {
      // No wait follows a read-ahead page (it is read again first): any count will do.
      const p = pageOf(stream, fromSeq, limit, 0, opts.filterSubject);
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
        const armedAt = wakeups.count(stream);
        const asked = limit;
        let page: Page;
        try {
          page = await (ahead ?? pageOf(stream, next, limit, armedAt, opts.filterSubject));
        } catch (e) {
          armed.cancel();
          throw e;
        }
        ahead = undefined;
        const { batch, committed } = page;
        const full = batch.length >= asked;
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
          // Unmatched sequences in between are skipped for good: everything up to the end the page
          // was read with is committed (appends are serialised per stream).
          next = Math.max(next, committed + 1);
          if (readBeforeArming) continue;
          const woken = await armed.wait(Math.min(idlePollCapMs, pollMs * 2 ** idlePolls));
          idlePolls = woken ? 0 : Math.min(idlePolls + 1, 8);
          if (woken && linger > 0) await sleep(linger, undefined, { signal: opts.signal }).catch(() => {});
        }
      }
    } finally {
      await ahead?.catch(() => {});
    }
  }

  return { read, follow, lastSeq };
};
