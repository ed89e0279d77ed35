import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError, isGatewayError } from '../../schemas/errors.js';
import type { EventEnvelope, EventLog, LogMessage, StreamName } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';
import type { Sql, TransactionSql } from '../stores/postgres.js';

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

const TIMEOUT = Symbol('timeout');

export const readCheckpoint = async (sql: Sql | TransactionSql, projection: Projection): Promise<number> => {
  const [row] = await sql<{ last_seq: string }[]>`
    INSERT INTO projection_checkpoints (name, stream) VALUES (${projection.name}, ${projection.stream})
    ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING last_seq`;
  return Number(row?.last_seq ?? 0);
};

/**
 * Tags each event with its position in place: every read parses fresh objects that nothing else
 * holds, and a copy per event cost a quarter of a no-op projection's throughput.
 */
const toStored = (m: LogMessage): StoredEvent[] => {
  for (const e of m.events) Object.assign(e, { seq: m.seq, stream: m.stream });
  return m.events as StoredEvent[];
};

/**
 * Folds one batch and moves the checkpoint from `from` to `to` in one transaction. The row lock
 * fences a second runner (another process, or a rebuild): if the checkpoint is no longer `from`,
 * nothing is applied and the caller resumes from the stored position.
 */
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

  /** Follows the log from the checkpoint and folds batches until aborted; returns on fencing or error. */
  const runOnce = async (signal: AbortSignal) => {
    position = await readCheckpoint(sql, projection);
    metrics.projectionPosition.set({ projection: projection.name }, position);
    const it = log
      .follow(projection.stream, { fromSeq: position + 1, filterSubject: projection.filterSubject, signal })
      [Symbol.asyncIterator]();
    let ahead: Promise<IteratorResult<LogMessage>> | undefined;
    try {
      for (;;) {
        const first = await (ahead ?? it.next());
        ahead = undefined;
        if (first.done) return;
        const batch = [first.value];
        let events = first.value.events.length;
        const flushAt = Date.now() + opts.batchDelayMs;
        let ended = false;
        while (events < opts.batchSize) {
          ahead = it.next();
          const wait = flushAt - Date.now();
          const r = wait > 0 ? await Promise.race([ahead, sleep(wait, TIMEOUT)]) : TIMEOUT;
          if (r === TIMEOUT) break;
          ahead = undefined;
          if (r.done) {
            ended = true;
            break;
          }
          batch.push(r.value);
          events += r.value.events.length;
        }
        position = await applyBatch(sql, projection, position, batch);
        metrics.projectionEvents.inc({ projection: projection.name }, events);
        metrics.projectionPosition.set({ projection: projection.name }, position);
        progress.dispatchEvent(new Event('progress'));
        if (ended) return;
      }
    } finally {
      await it.return?.();
    }
  };

  const run = async () => {
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        await runOnce(abort.signal);
        failures = 0;
      } catch (e) {
        if (abort.signal.aborted) return;
        if (isGatewayError(e, 'GW_ERR_PROJECTION_FENCED')) {
          // Another runner (process) or a rebuild moved the checkpoint: resume from it.
          plog.debug({ err: e.message }, 'fenced; resuming from the stored checkpoint');
          await sleep(20);
          continue;
        }
        failures++;
        metrics.projectionErrors.inc({ projection: projection.name });
        // A poison event stops the fold rather than being skipped: the read model must equal a replay.
        plog.error({ err: e, failures }, 'projection batch failed; retrying from the checkpoint');
        await sleep(Math.min(30_000, 100 * 2 ** Math.min(failures, 9)), undefined, { signal: abort.signal }).catch(() => {});
      }
    }
  };

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
