import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '../../schemas/errors.js';
import type { EventEnvelope, EventLog, LogMessage } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';
import type { Sql, TransactionSql } from '../stores/postgres.js';
import { followBatches, runFoldLoop } from './foldLoop.js';
import type { FoldProjection, Projection, SinkProjection, Stored, StoredEvent } from './projection.js';
import type { ProjectionLeases } from './projectionLease.js';

/**
 * Set on a single-event copy the handler runner appends when it splits a multi-event command
 * message: the value is `<stream>:<seq>` of the original. Read models skip such copies.
 */
export const SPLIT_HEADER = 'fg-split-of';

export type { FoldProjection, Projection, SinkProjection, Stored, StoredEvent } from './projection.js';
export { readsAll, readsDomains } from './projection.js';

export interface ProjectionRunnerOptions {
  log: EventLog;
  sql: Sql;
  projection: Projection;
  /** Batch limits of a projection that declares none (`PROJECTION_BATCH_SIZE`, `PROJECTION_BATCH_DELAY_MS`). */
  batchSize: number;
  batchDelayMs: number;
  logger: Logger;
  /** Back-off after a failure, and between retries of a sink's write (default 100 ms doubling to 30 s). */
  retry?: { baseMs: number; maxMs: number };
  /**
   * Several processes on one Postgres: the runner folds only while it holds the projection's
   * lease, so one process at a time does the work and another takes over when it dies. Without
   * it (one process, or a rebuild) the runner folds at once.
   */
  leases?: ProjectionLeases;
}

export interface ProjectionRunner {
  /** false: the projection is switched off (`enabled: false`); `start` does nothing and it is always caught up. */
  readonly enabled: boolean;
  /** Resolves once the loop is running; it keeps going until `stop`. */
  start(): Promise<void>;
  /** Finishes the batch in hand, commits it, and stops. */
  stop(): Promise<void>;
  /** Position of the read model. */
  checkpoint(): Promise<number>;
  /** Resolves when the read model has folded everything up to the log's current end. */
  caughtUp(timeoutMs?: number): Promise<void>;
}

export const readCheckpoint = async (
  sql: Sql | TransactionSql,
  projection: Pick<Projection, 'name' | 'stream'>,
): Promise<number> => {
  const [row] = await sql<{ last_seq: string }[]>`
    INSERT INTO projection_checkpoints (name, stream) VALUES (${projection.name}, ${projection.stream})
    ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING last_seq`;
  return Number(row?.last_seq ?? 0);
};

/**
 * Tags each event with its position in place: a copy per event cost a quarter of a no-op
 * projection's throughput. A GPS message's events may be shared with the process's other readers
 * (decoded once); the tags are the same for every reader of that message.
 */
const toStored = (m: LogMessage): StoredEvent[] => {
  for (const e of m.events) Object.assign(e, { seq: m.seq, stream: m.stream });
  return m.events as StoredEvent[];
};

/** The events of a batch a projection reads. Split copies (handler runner) repeat events already in the log: work, not history. */
const eventsFor = <E extends EventEnvelope>(projection: Projection<E>, messages: readonly LogMessage[]): Stored<E>[] =>
  messages
    .filter((m) => m.headers[SPLIT_HEADER] === undefined)
    .flatMap(toStored)
    .filter((e): e is Stored<E> => projection.reads(e));

/**
 * Resolves at the next `progress` event or after `ms`, whichever comes first. The listener goes
 * either way: a caller polling every `ms` would otherwise pile one up per timeout.
 */
export const nextProgress = (progress: EventTarget, ms: number) =>
  new Promise<void>((resolve) => {
    const done = new AbortController();
    const timer = setTimeout(() => {
      done.abort();
      resolve();
    }, ms);
    progress.addEventListener(
      'progress',
      () => {
        clearTimeout(timer);
        done.abort();
        resolve();
      },
      { once: true, signal: done.signal },
    );
  });

/**
 * Folds one batch and moves the checkpoint from `from` to `to` in one transaction. The checkpoint
 * is moved first, by a compare-and-set that also takes the row lock: it fences a second runner
 * (another process, or a rebuild). If the checkpoint is no longer `from` (or another runner moved
 * it while this one waited for the lock), nothing is applied and the caller resumes from the
 * stored position. One statement where a locking read and a later update were two round trips.
 */
export const applyBatch = async <E extends EventEnvelope>(
  sql: Sql,
  projection: FoldProjection<E>,
  from: number,
  messages: readonly LogMessage[],
) => {
  const to = (messages[messages.length - 1] as LogMessage).seq;
  await sql.begin(async (tx) => {
    const moved = await tx`
      UPDATE projection_checkpoints SET last_seq = ${to}, updated_at = now()
      WHERE name = ${projection.name} AND last_seq = ${from}`;
    if (moved.count !== 1) {
      throw new GatewayError('GW_ERR_PROJECTION_FENCED', `${projection.name}: checkpoint moved from ${from}`);
    }
    const events = eventsFor(projection, messages);
    if (events.length > 0) await projection.apply(tx, events);
  });
  return to;
};

/** Compare-and-set after a sink's write: a second runner or a rebuild that moved the checkpoint fences this one. */
const advance = async (sql: Sql, projection: Projection, from: number, to: number) => {
  const moved = await sql`
    UPDATE projection_checkpoints SET last_seq = ${to}, updated_at = now()
    WHERE name = ${projection.name} AND last_seq = ${from}`;
  if (moved.count !== 1) throw new GatewayError('GW_ERR_PROJECTION_FENCED', `${projection.name}: checkpoint moved from ${from}`);
};

const backoffDelay = (retry: { baseMs: number; maxMs: number }, failures: number) =>
  Math.min(retry.maxMs, retry.baseMs * 2 ** Math.min(failures, 16));

export const projectionRunner = (opts: ProjectionRunnerOptions): ProjectionRunner => {
  const { log, sql, projection, logger } = opts;
  const name = projection.name;
  const plog = logger.child({ projection: name });
  const retry = opts.retry ?? { baseMs: 100, maxMs: 30_000 };
  const enabled = projection.enabled !== false;
  let abort = new AbortController();
  let loop: Promise<void> | undefined;
  let position = 0;
  const progress = new EventTarget();

  /** Retries until the sink takes the batch; after `stop` one failure gives up (the checkpoint stays put). */
  const writeWithRetry = async (sink: SinkProjection, events: readonly StoredEvent[], signal: AbortSignal) => {
    for (let failures = 0; ; failures++) {
      try {
        return await sink.write(events);
      } catch (e) {
        metrics.projectionErrors.inc({ projection: name });
        if (signal.aborted) throw e;
        const delay = backoffDelay(retry, failures);
        plog.warn({ err: e, events: events.length, failures: failures + 1, retryInMs: delay }, 'sink write failed; retrying');
        await sleep(delay, undefined, { signal }).catch(() => {});
      }
    }
  };

  /** Writes one batch to a sink, then moves the checkpoint: the events it wrote count. */
  const flush = async (sink: SinkProjection, batch: readonly LogMessage[], signal: AbortSignal) => {
    const newest = batch[batch.length - 1] as LogMessage;
    const events = eventsFor(sink, batch);
    await writeWithRetry(sink, events, signal);
    await advance(sql, sink, position, newest.seq);
    sink.committed?.(newest);
    return events.length;
  };

  /** Follows the log from the checkpoint and folds batches until aborted; throws on fencing or error. */
  const runOnce = async (signal: AbortSignal) => {
    position = await readCheckpoint(sql, projection);
    metrics.projectionPosition.set({ projection: name }, position);
    const batches = {
      fromSeq: position + 1,
      filterSubject: projection.filterSubject,
      signal,
      maxEvents: projection.batch?.maxEvents ?? opts.batchSize,
      maxDelayMs: projection.batch?.maxDelayMs ?? opts.batchDelayMs,
    };
    await followBatches(log, projection.stream, batches, async (batch, events) => {
      const to = (batch[batch.length - 1] as LogMessage).seq;
      let counted = events;
      if (projection.kind === 'fold') {
        await applyBatch(sql, projection, position, batch);
        projection.committed?.(to);
      } else counted = await flush(projection, batch, signal);
      position = to;
      metrics.projectionEvents.inc({ projection: name }, counted);
      metrics.projectionPosition.set({ projection: name }, position);
      progress.dispatchEvent(new Event('progress'));
    });
  };

  // A sink's repeat after a restart is absorbed by its store (idempotent writes).
  const fold = (signal: AbortSignal) => runFoldLoop({ name, logger: plog, signal, backoff: retry }, runOnce);

  /** Waits for the lease, folds while holding it, and waits again once it is lost. */
  const run = async () => {
    const { leases } = opts;
    if (!leases) return fold(abort.signal);
    while (!abort.signal.aborted) {
      const lease = await leases.acquire(name, abort.signal);
      if (!lease) return;
      try {
        await fold(AbortSignal.any([abort.signal, lease.lost]));
      } finally {
        await lease.release();
      }
    }
  };

  return {
    enabled,
    async start() {
      if (loop) return;
      if (!enabled) {
        plog.info(`${name} is switched off: not started`);
        return;
      }
      abort = new AbortController();
      position = await readCheckpoint(sql, projection);
      plog.info({ checkpoint: position }, 'projection started');
      loop = run();
    },
    async stop() {
      abort.abort();
      await loop;
      loop = undefined;
    },
    checkpoint: () => readCheckpoint(sql, projection),
    async caughtUp(timeoutMs = 30_000) {
      if (!enabled) return;
      const deadline = Date.now() + timeoutMs;
      // Caught up = nothing matching the filter lies beyond the checkpoint.
      const behind = async () =>
        (
          await log.read(projection.stream, 1, {
            fromSeq: (await readCheckpoint(sql, projection)) + 1,
            filterSubject: projection.filterSubject,
          })
        ).length > 0;
      while (await behind()) {
        if (Date.now() > deadline) throw new Error(`${name} did not catch up within ${timeoutMs} ms`);
        await nextProgress(progress, 50);
      }
    },
  };
};

/**
 * Rebuild (`fleetgate replay NAME`): empties the read model and resets its checkpoint, then folds
 * the whole log again, even where the live projection is switched off. A running runner is fenced
 * by the checkpoint reset and resumes from zero as well. A fold's table and checkpoint are reset
 * in one transaction; a sink's checkpoint is reset first, so rows a fenced runner writes after
 * the store is emptied are points of the log anyway and collapse with the replayed ones.
 */
export const rebuildProjection = async (opts: ProjectionRunnerOptions & { timeoutMs?: number }) => {
  const { sql, projection } = opts;
  await readCheckpoint(sql, projection);
  if (projection.kind === 'fold') {
    await sql.begin(async (tx) => {
      await tx`SELECT 1 FROM projection_checkpoints WHERE name = ${projection.name} FOR UPDATE`;
      await projection.reset(tx);
      await tx`UPDATE projection_checkpoints SET last_seq = 0, updated_at = now() WHERE name = ${projection.name}`;
    });
  } else {
    await sql`UPDATE projection_checkpoints SET last_seq = 0, updated_at = now() WHERE name = ${projection.name}`;
    await projection.reset();
  }
  const runner = projectionRunner({ ...opts, projection: { ...projection, enabled: true } });
  await runner.start();
  try {
    await runner.caughtUp(opts.timeoutMs ?? 24 * 3_600_000);
  } finally {
    await runner.stop();
  }
  return runner.checkpoint();
};
