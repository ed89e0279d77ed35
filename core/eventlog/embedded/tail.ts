import type { LogMessage } from '../port.js';
import { subjectMatches } from '../subjects.js';

/** A page of a follow and the stream's end as of the same snapshot (0: not known). */
export interface Page {
  batch: LogMessage[];
  committed: number;
}

/** Reads every message from `fromSeq` on, at most `max`, with the stream's end in the same statement. */
export type ReadRaw = (fromSeq: number, max: number) => Promise<Page>;

/** The newest messages kept for the followers behind the head; a GPS message holds up to about a thousand points. */
const KEEP_EVENTS = 32_000;

/**
 * The newest messages of one stream as the first of its followers read them, handed to the others.
 * Each append to GPS wakes its followers in this process (live feed, vehicle_positions,
 * gps_tracking) at once, and each read the same rows: PGlite turned the same jsonb into text
 * and postgres.js parsed it once per follower. Here one read serves them all, and the events
 * are decoded once (JetStream mode shares GPS events between readers the same way, so the
 * readers treat them as read-only).
 *
 * `from..end` are complete: every message of the stream with a sequence in that range is in
 * `kept`, in order. A follower inside it is served from memory; one at `end + 1` waits for the
 * one read in flight (or starts it); any other reads on its own (`null`).
 */
export const sharedTail = (readRaw: ReadRaw, wakeupsSoFar: () => number) => {
  let kept: LogMessage[] = [];
  let keptEvents = 0;
  let from = 0;
  let end = -1;
  /** Wake-ups emitted when the read that set `end` started: appends after that may be missing. */
  let endSeen = -1;
  let reading: Promise<void> | undefined;

  const trim = () => {
    let drop = 0;
    while (keptEvents > KEEP_EVENTS && drop < kept.length - 1) {
      keptEvents -= (kept[drop] as LogMessage).events.length;
      drop++;
    }
    if (drop === 0) return;
    from = (kept[drop - 1] as LogMessage).seq + 1;
    kept = kept.slice(drop);
  };

  const extend = (max: number) => {
    const at = end + 1;
    const seen = wakeupsSoFar();
    const p = readRaw(at, max).then(({ batch, committed }) => {
      // Another extension cannot have run meanwhile (one at a time), so `end` is still `at - 1`.
      // Trimmed before, not after: the follower that asked for this read is served from it.
      trim();
      for (const m of batch) {
        kept.push(m);
        keptEvents += m.events.length;
      }
      const last = batch[batch.length - 1];
      end = batch.length === max && last ? last.seq : Math.max(end, committed, last?.seq ?? 0);
      endSeen = seen;
    });
    reading = p.finally(() => {
      reading = undefined;
    });
    return reading;
  };

  const serve = (fromSeq: number, max: number, filter: string | undefined): Page => {
    const batch: LogMessage[] = [];
    let i = kept.findIndex((m) => m.seq >= fromSeq);
    if (i < 0) i = kept.length;
    for (; i < kept.length && batch.length < max; i++) {
      const m = kept[i] as LogMessage;
      if (filter === undefined || subjectMatches(filter, m.subject)) batch.push(m);
    }
    // A full page may stop short of `end`: only its own last message counts as read.
    return { batch, committed: batch.length === max ? 0 : end };
  };

  return {
    /**
     * Messages from `fromSeq` (matching `filter`), at most `max`, with the end they were read up
     * to; null when `fromSeq` is outside what is kept and not the next to read. `armedAt`: the
     * wake-up count when the caller armed its wait: a page that reaches the end only comes from a
     * read started since, or an append between that read and the arming would wake no one.
     */
    async page(fromSeq: number, max: number, filter: string | undefined, armedAt: number): Promise<Page | null> {
      for (;;) {
        if (end < 0 && !reading) {
          // The first follower to ask places the tail where it stands.
          from = fromSeq;
          end = fromSeq - 1;
        }
        if (fromSeq < from || fromSeq > end + 1) return null;
        if (fromSeq <= end) {
          const page = serve(fromSeq, max, filter);
          if (page.committed === 0 || endSeen >= armedAt) return page;
        } else if (endSeen >= armedAt) return { batch: [], committed: end };
        // What is kept may predate the caller's arming: read on from `end + 1` (one read at a time).
        await (reading ?? extend(max));
      }
    },
    /** A follower that read on its own reached the stream's end past what is kept: start again from there. */
    restartAt(committed: number) {
      if (reading || committed <= end) return;
      kept = [];
      keptEvents = 0;
      from = committed + 1;
      end = committed;
      endSeen = -1;
    },
  };
};
