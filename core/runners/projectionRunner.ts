import { GatewayError } from '../../schemas/errors.js';
import type { EventEnvelope, EventLog, LogMessage, StreamName } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';
import type { Sql, TransactionSql } from '../stores/postgres.js';
import { followBatches, runFoldLoop } from './foldLoop.js';

/**
 * Set on a single-event copy the handler runner appends when it splits a multi-event command
 * message: the value is `<stream>:<seq>` of the original. Read models skip such copies.
 */
export const SPLIT_HEADER = 'fg-split-of';

/** An event together with its place in the log. */
export type StoredEvent = EventEnvelope & { seq: number; stream: StreamName };

/**
 * A Postgres read model. `apply` folds a batch in order inside the runner's transaction, which
 * also moves the checkpoint: the read model and its position commit together, so redelivery
 * never applies an event twice.
 */
export interface Projection {
  /** Checkpoint key and consumer name. */
  name: string;
  stream: StreamName;
  filterSubject?: string;
  apply(tx: TransactionSql, events: readonly StoredEvent[]): Promise<void>;
  /** Empties the read model for a rebuild. */
  reset(tx: TransactionSql): Promise<void>;
}

export interface ProjectionRunnerOptions {
  log: EventLog;
  sql: Sql;
  projection: Projection;
  batchSize: number;
  batchDelayMs: number;
  logger: Logger;
}

export interface ProjectionRunner {
  /** Resolves once the loop is running; it keeps going until `stop`. */
  start(): Promise<void>;
  /** Finishes the batch in hand, commits it, and stops. */
  stop(): Promise<void>;
  /** Position of the read model. */
  checkpoint(): Promise<number>;
  /** Resolves when the read model has folded everything up to the log's current end. */
  caughtUp(timeoutMs?: number): Promise<void>;
}

export const readCheckpoint = async (sql: Sql | TransactionSql, projection: Projection): Promise<number> => {
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
 * Folds one batch and moves the checkpoint from `from` to `to` in one transaction. The row lock
 * fences a second runner (another process, or a rebuild): if the checkpoint is no longer `from`,
 * nothing is applied and the caller resumes from the stored position.
 */
export const applyBatch = async (sql: Sql, projection: Projection, from: number, messages: readonly LogMessage[]) => {
  const to = (messages[messages.length - 1] as LogMessage).seq;
  await sql.begin(async (tx) => {
    const [row] = await tx<{ last_seq: string }[]>`
      SELECT last_seq FROM projection_checkpoints WHERE name = ${projection.name} FOR UPDATE`;
    if (Number(row?.last_seq) !== from) {
      throw new GatewayError('GW_ERR_PROJECTION_FENCED', `${projection.name}: checkpoint moved from ${from} to ${row?.last_seq}`);
    }
    // Split copies (handler runner) repeat events already in the log: work, not history.
    const events = messages.filter((m) => m.headers[SPLIT_HEADER] === undefined).flatMap(toStored);
    if (events.length > 0) await projection.apply(tx, events);
    await tx`UPDATE projection_checkpoints SET last_seq = ${to}, updated_at = now() WHERE name = ${projection.name}`;
  });
  return to;
};

export const projectionRunner = (opts: ProjectionRunnerOptions): ProjectionRunner => {
  const { log, sql, projection, logger } = opts;
  const plog = logger.child({ projection: projection.name });
  let abort = new AbortController();
  let loop: Promise<void> | undefined;
  let position = 0;
  const progress = new EventTarget();

  /** Follows the log from the checkpoint and folds batches until aborted; throws on fencing or error. */
  const runOnce = async (signal: AbortSignal) => {
    position = await readCheckpoint(sql, projection);
    metrics.projectionPosition.set({ projection: projection.name }, position);
    const batches = {
      fromSeq: position + 1,
      filterSubject: projection.filterSubject,
      signal,
      maxEvents: opts.batchSize,
      maxDelayMs: opts.batchDelayMs,
    };
    await followBatches(log, projection.stream, batches, async (batch, events) => {
      position = await applyBatch(sql, projection, position, batch);
      metrics.projectionEvents.inc({ projection: projection.name }, events);
      metrics.projectionPosition.set({ projection: projection.name }, position);
      progress.dispatchEvent(new Event('progress'));
    });
  };

  const run = () =>
    runFoldLoop({ name: projection.name, logger: plog, signal: abort.signal, backoff: { baseMs: 100, maxMs: 30_000 } }, runOnce);

  return {
    async start() {
      if (loop) return;
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
        if (Date.now() > deadline) throw new Error(`${projection.name} did not catch up within ${timeoutMs} ms`);
        await nextProgress(progress, 50);
      }
    },
  };
};

/**
 * Rebuild: empties the read model and its checkpoint in one transaction, then folds the whole
 * log again. A running runner is fenced by the checkpoint reset and resumes from zero as well.
 */
export const rebuildProjection = async (opts: Omit<ProjectionRunnerOptions, 'logger'> & { logger: Logger }) => {
  const { sql, projection } = opts;
  await readCheckpoint(sql, projection);
  await sql.begin(async (tx) => {
    await tx`SELECT 1 FROM projection_checkpoints WHERE name = ${projection.name} FOR UPDATE`;
    await projection.reset(tx);
    await tx`UPDATE projection_checkpoints SET last_seq = 0, updated_at = now() WHERE name = ${projection.name}`;
  });
  const runner = projectionRunner(opts);
  await runner.start();
  try {
    await runner.caughtUp(24 * 3_600_000);
  } finally {
    await runner.stop();
  }
  return runner.checkpoint();
};
