import type { EventDef, EventDomain, EventUnion } from '../../schemas/events/define.js';
import type { EventEnvelope, LogMessage, StreamName } from '../eventlog/port.js';
import type { TransactionSql } from '../stores/postgres.js';

/** An event together with its place in the log. */
export type Stored<E extends EventEnvelope = EventEnvelope> = E & { seq: number; stream: StreamName };
export type StoredEvent = Stored;

// biome-ignore lint/suspicious/noExplicitAny: any domain, whatever its declarations
type AnyDomain = EventDomain<any>;
/** The union of the events of several domains. */
export type EventOfDomains<D extends readonly AnyDomain[]> = {
  [K in keyof D]: D[K] extends EventDomain<infer Defs extends Readonly<Record<string, EventDef>>> ? EventUnion<Defs> : never;
}[number];

/** Which of a stream's events a projection reads; the runner hands it only those, narrowed to `E`. */
export type EventFilter<E extends EventEnvelope> = (e: EventEnvelope) => e is E;

/** A filter taking the events of the given domains (`readsDomains(smsEvents)`): folds then `switch` on their union. */
export const readsDomains =
  <const D extends readonly AnyDomain[]>(...domains: D): EventFilter<EventOfDomains<D>> =>
  (e): e is EventOfDomains<D> =>
    domains.some((d) => d.is(e));

/** Every event of the stream as read (test read models over their own event types). */
export const readsAll: EventFilter<EventEnvelope> = (e): e is EventEnvelope => true;

interface ProjectionBase<E extends EventEnvelope> {
  /** Checkpoint key and consumer name (`fleetgate replay NAME`). */
  name: string;
  stream: StreamName;
  filterSubject?: string;
  /** The events it folds; the others of `filterSubject` move the checkpoint and nothing else. */
  reads: EventFilter<E>;
  /** Closes a batch at this many events or this long after its first message (default: `PROJECTION_BATCH_*`). */
  batch?: { maxEvents: number; maxDelayMs: number };
  /** false: the runner does not start it (a replay still runs it). Default true. */
  enabled?: boolean;
}

/**
 * A Postgres read model. `apply` folds a batch in order inside the runner's transaction, which
 * also moves the checkpoint: the read model and its position commit together, so redelivery
 * never applies an event twice.
 */
export interface FoldProjection<E extends EventEnvelope = EventEnvelope> extends ProjectionBase<E> {
  kind: 'fold';
  // Method syntax on purpose: a fold over one domain's events stands in a list of projections.
  apply(tx: TransactionSql, events: readonly Stored<E>[]): Promise<void>;
  /** Empties the read model for a rebuild (in the transaction that resets the checkpoint). */
  reset(tx: TransactionSql): Promise<void>;
  /** Called once a batch is committed, with the new checkpoint (read-your-write waiters in this process). */
  committed?(position: number): void;
}

/**
 * A read model in a store that cannot join the checkpoint's Postgres transaction (ClickHouse).
 * The runner writes a batch first and moves the checkpoint after, so a crash in between writes
 * the batch again: `write` must be idempotent (the store collapses a repeat). A failing write is
 * retried in place with back-off; the batch is never skipped.
 */
export interface SinkProjection<E extends EventEnvelope = EventEnvelope> extends ProjectionBase<E> {
  kind: 'sink';
  write(events: readonly Stored<E>[]): Promise<void>;
  /** Empties the store for a rebuild, after the runner reset the checkpoint (fencing a live runner). */
  reset(): Promise<void>;
  /** Called once a batch is committed (its checkpoint moved), with the batch's newest message. */
  committed?(newest: LogMessage): void;
}

export type Projection<E extends EventEnvelope = EventEnvelope> = FoldProjection<E> | SinkProjection<E>;
