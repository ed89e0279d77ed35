import { batchMsgId, newEvent } from '../../core/eventlog/newEvent.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { GatewayError } from '../../schemas/errors.js';
import { GPS_REPORTED, type GpsReported, type GpsSource, gpsSubject } from '../../schemas/events/gps.js';
import { gpsMetrics } from './metrics.js';
import { pointEventId } from './parsePoints.js';

export interface GpsBatcherOptions {
  log: EventLog;
  source: GpsSource;
  /** Points per log message. */
  maxPoints: number;
  /** How long the first point of an open batch waits for company. */
  maxMs: number;
  /**
   * Appends in flight at once (default 1). More than one pipelines the log's round trip: a batch
   * goes after `maxMs` even while another is being stored, instead of waiting for its ack. One
   * log connection stores them in the order sent.
   */
  maxInFlight?: number;
  /**
   * Points waiting (not counting appends in flight) at which `saturated` turns true; callers
   * stop reading input until `drained()` resolves. `add()` refuses beyond twice this.
   */
  maxPending: number;
  /** Told when `saturated` flips, so an intake can stop and resume reading. */
  onPressure?(saturated: boolean): void;
  onAppendError?(err: unknown, points: number): void;
}

interface Batch {
  events: EventEnvelope<GpsReported>[];
  ids: Set<string>;
  settled: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

/** More points waiting than twice `maxPending`: the caller ignored `saturated`. */
export class GpsIntakeOverloadedError extends GatewayError {
  constructor(pending: number) {
    super('GW_ERR_LOG_UNAVAILABLE', `GPS intake overloaded (${pending} points waiting)`);
  }
}

const newBatch = (): Batch => {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const settled = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { events: [], ids: new Set(), settled, resolve, reject };
};

export const gpsEvent = (point: GpsReported): EventEnvelope<GpsReported> =>
  newEvent({
    id: pointEventId(point.deviceId, point),
    type: GPS_REPORTED,
    subject: gpsSubject(point.source),
    time: new Date(point.receivedAt),
    source: `ingest/${point.source}`,
    data: point,
  });

/**
 * Group commit of GPS points from every device of one source into GPS-stream appends. Up to
 * `maxInFlight` appends are in flight; a full batch goes at once, a partial one after `maxMs` or
 * the moment an append is acknowledged, whichever comes first. Each caller learns when *its*
 * points are durable (or not).
 */
export const gpsBatcher = (opts: GpsBatcherOptions) => {
  const subject = gpsSubject(opts.source);
  const hardLimit = opts.maxPending * 2;
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
  const durable = gpsMetrics.durableSeconds.labels({ source: opts.source });
  const sealed: Batch[] = [];
  let open: Batch | undefined;
  let pending = 0;
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let saturated = false;
  let drainWaiters: (() => void)[] = [];
  let closed = false;

  const setPressure = () => {
    const now = saturated ? pending > opts.maxPending / 2 : pending >= opts.maxPending;
    if (now === saturated) return;
    saturated = now;
    opts.onPressure?.(saturated);
    if (!saturated) {
      for (const w of drainWaiters) w();
      drainWaiters = [];
    }
  };

  const seal = () => {
    if (open && open.events.length > 0) sealed.push(open);
    open = undefined;
  };

  const send = (batch: Batch) => {
    pending -= batch.events.length;
    gpsMetrics.pendingPoints.set({ source: opts.source }, pending);
    const started = performance.now();
    const append: Promise<void> = opts.log.append(subject, batch.events, { msgId: batchMsgId(batch.events) }).then(
      () => {
        gpsMetrics.batchPoints.observe({ source: opts.source }, batch.events.length);
        gpsMetrics.appendSeconds.observe({ source: opts.source }, (performance.now() - started) / 1000);
        batch.resolve();
      },
      (e: unknown) => {
        opts.onAppendError?.(e, batch.events.length);
        batch.reject(
          new GatewayError('GW_ERR_LOG_UNAVAILABLE', `GPS append of ${batch.events.length} points failed`, { cause: e }),
        );
      },
    );
    inFlight.add(append);
    void append.finally(() => {
      inFlight.delete(append);
      pump(true);
    });
  };

  const sealOpen = () => {
    clearTimeout(timer);
    timer = undefined;
    seal();
  };

  /** `afterAppend`: an append just finished, so whatever waited goes now (group commit). */
  const pump = (afterAppend = false) => {
    let sent = false;
    while (inFlight.size < maxInFlight) {
      if (sealed.length === 0 && open && (afterAppend || closed)) sealOpen();
      const next = sealed.shift();
      if (!next) break;
      send(next);
      sent = true;
    }
    // With every slot busy the next acknowledgement takes the open batch: no timer needed.
    if (open && !timer && inFlight.size < maxInFlight) {
      timer = setTimeout(() => {
        timer = undefined;
        if (inFlight.size >= maxInFlight) return;
        sealOpen();
        pump();
      }, opts.maxMs);
    }
    // Only now: onPressure may resume intake, which may call add() and pump() re-entrantly.
    if (sent) setPressure();
  };

  return {
    /**
     * Queues points; resolves once every one of them is in an acknowledged log message, rejects
     * with `GW_ERR_LOG_UNAVAILABLE` if an append carrying some of them failed or the batcher is
     * over its hard limit (the caller ignored `saturated`).
     */
    add(events: readonly EventEnvelope<GpsReported>[]): Promise<void> {
      if (closed) return Promise.reject(new GatewayError('GW_ERR_LOG_UNAVAILABLE', 'GPS intake is shutting down'));
      if (events.length === 0) return Promise.resolve();
      if (pending + events.length > hardLimit) {
        return Promise.reject(new GpsIntakeOverloadedError(pending));
      }
      const touched = new Set<Batch>();
      for (const e of events) {
        if (!open || open.events.length >= opts.maxPoints) {
          seal();
          open = newBatch();
        }
        touched.add(open);
        // The same point twice in one message (a resend racing its original) is one row downstream anyway.
        if (open.ids.has(e.id)) continue;
        open.ids.add(e.id);
        open.events.push(e);
        pending++;
      }
      if (open && open.events.length >= opts.maxPoints) seal();
      gpsMetrics.pendingPoints.set({ source: opts.source }, pending);
      setPressure();
      pump();
      const queued = performance.now();
      const [first] = touched;
      const settled = touched.size === 1 && first ? first.settled : Promise.all([...touched].map((b) => b.settled));
      return settled.then(() => {
        durable.observe((performance.now() - queued) / 1000);
      });
    },
    get saturated() {
      return saturated;
    },
    get pending() {
      return pending;
    },
    /** Resolves when the batcher is no longer saturated (at once if it is not). */
    drained(): Promise<void> {
      return saturated ? new Promise((resolve) => drainWaiters.push(resolve)) : Promise.resolve();
    },
    /** Refuses new points, then appends everything queued; resolves when the last append settled. */
    async close(): Promise<void> {
      closed = true;
      while (inFlight.size > 0 || sealed.length > 0 || (open && open.events.length > 0)) {
        pump();
        if (inFlight.size === 0) break;
        await Promise.race(inFlight);
      }
      clearTimeout(timer);
      for (const w of drainWaiters) w();
      drainWaiters = [];
    },
  };
};
export type GpsBatcher = ReturnType<typeof gpsBatcher>;
