import { ATTEMPT_FAILED, type AttemptFailed, PRIORITIES, type Priority } from '../../schemas/events/envelope.js';
import { derivedMsgId, newEvent } from '../eventlog/newEvent.js';
import type { Consumer, Delivery, EventEnvelope, EventLog, StreamName } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';
import { SPLIT_HEADER, type StoredEvent } from './projectionRunner.js';

/** An event a handler wants appended as the outcome of the one it handled. */
export interface ResultEvent {
  subject: string;
  type: string;
  data: unknown;
}

/**
 * A handler failure. `retryable: false` (an invalid phone number, an unregistered token) goes to
 * the dead letter at once; retryable ones are retried with back-off until the attempts run out.
 */
export class HandlerError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HandlerError';
  }
}

export interface Handler {
  /** Durable consumer prefix; one consumer per priority: `<name>-<priority>`. */
  name: string;
  stream: StreamName;
  /**
   * Subject filter per priority, highest first. Priorities share nothing but the worker slots, so
   * a new urgent event overtakes a backlog of low ones.
   */
  subjects: Partial<Record<Priority, string>>;
  /** Event types this handler acts on; others are acknowledged untouched. */
  eventTypes: readonly string[];
  handle(event: StoredEvent, ctx: { attempt: number; maxAttempts: number }): Promise<ResultEvent[] | undefined>;
  /**
   * Outcome events for a command given up on (e.g. `sms.failed`), appended before the dead letter.
   * `error` is the last failure, so a handler can record its own code (a subclass of HandlerError).
   */
  onGiveUp?(event: StoredEvent, reason: string, error: HandlerError): ResultEvent[];
  /** Releases the handler's provider connections; called once the runner has stopped and drained. */
  close?(): Promise<void>;
  /**
   * Periodic work that belongs with this handler (e.g. polling a provider for delivery status),
   * started with the runner and stopped before it drains. It must be safe to run in every
   * handlers process at once.
   */
  background?(): { stop(): Promise<void> };
}

export interface HandlerRunnerOptions {
  log: EventLog;
  handler: Handler;
  logger: Logger;
  concurrency: number;
  maxAttempts: number;
  ackWaitMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
}

export interface HandlerRunner {
  start(): Promise<void>;
  /** Stops taking work, hands buffered deliveries back, waits for calls in flight. */
  stop(timeoutMs?: number): Promise<void>;
  readonly inFlight: number;
}

/** Exponential back-off with "equal jitter": half fixed, half random, capped. */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number, random = Math.random) => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
};

interface Buffered {
  delivery: Delivery;
  priority: Priority;
}

export const handlerRunner = (opts: HandlerRunnerOptions): HandlerRunner => {
  const { log, handler, logger, concurrency } = opts;
  const hlog = logger.child({ handler: handler.name });
  const priorities = PRIORITIES.filter((p) => handler.subjects[p] !== undefined);
  const buffers = new Map<Priority, Buffered[]>(priorities.map((p) => [p, []]));
  const inFlight = new Set<Promise<void>>();
  const held = new Set<Delivery>();
  let running = false;
  let pumps: Promise<void>[] = [];
  let keepAlive: NodeJS.Timeout | undefined;
  const waiters = new Set<() => void>();
  const changed = () => {
    const ws = [...waiters];
    waiters.clear();
    for (const w of ws) w();
  };
  const nextChange = () => new Promise<void>((r) => waiters.add(r));
  const buffered = () => [...buffers.values()].reduce((n, b) => n + b.length, 0);

  const appendResults = async (event: StoredEvent, results: readonly ResultEvent[]) => {
    for (const [i, r] of results.entries()) {
      // A deterministic message id per (cause, handler, index): a retried handler's result is a duplicate the log drops.
      await log.append(
        r.subject,
        newEvent({
          type: r.type,
          subject: r.subject,
          data: r.data,
          source: `handler/${handler.name}`,
          causationId: event.id,
          correlationId: event.correlationId ?? event.id,
        }),
        { msgId: derivedMsgId(event.id, handler.name, i) },
      );
    }
  };

  /** `<domain>.attempt_failed` for each command of a delivery that will be retried; one per attempt. */
  const appendAttemptFailed = async (delivery: Delivery, attempt: number, delayMs: number, err: HandlerError) => {
    for (const e of delivery.events) {
      if (!handler.eventTypes.includes(e.type)) continue;
      const type = `${e.type.slice(0, e.type.indexOf('.'))}.${ATTEMPT_FAILED}`;
      const data: AttemptFailed = {
        attempt,
        error: err.message.slice(0, 1_000),
        nextAttemptAt: new Date(Date.now() + delayMs).toISOString(),
      };
      await log.append(
        e.subject,
        newEvent({
          type,
          subject: e.subject,
          data,
          source: `handler/${handler.name}`,
          causationId: e.id,
          correlationId: e.correlationId ?? e.id,
        }),
        { msgId: derivedMsgId(e.id, `${handler.name}/attempt-${attempt}`, 0) },
      );
    }
  };

  /*
   * A message of several commands (the API coalesces bursts) is first split into one message per
   * command, appended under the same subject: each is then handled, retried and dead-lettered on
   * its own, and a failure or crash never makes the handler redo a sibling it already finished.
   * Message ids derive from the original's position, so a split redone after a crash is a duplicate.
   */
  const split = async (delivery: Delivery, events: readonly EventEnvelope[]) => {
    await Promise.all(
      events.map((e, i) =>
        log.append(delivery.subject, e, {
          msgId: `s-${delivery.stream}-${delivery.seq}-${i}`,
          headers: { [SPLIT_HEADER]: `${delivery.stream}:${delivery.seq}` },
        }),
      ),
    );
  };

  const process = async ({ delivery, priority }: Buffered) => {
    const labels = { handler: handler.name, priority };
    const attempt = delivery.deliveryCount;
    const stop = metrics.handlerSeconds.startTimer({ handler: handler.name });
    try {
      const mine = delivery.events.filter((e) => handler.eventTypes.includes(e.type));
      if (mine.length > 1) {
        await split(delivery, mine);
        await delivery.ack();
        metrics.handled.inc({ ...labels, outcome: 'split' }, mine.length);
        return;
      }
      for (const e of delivery.events) {
        if (!handler.eventTypes.includes(e.type)) continue;
        const event: StoredEvent = { ...e, seq: delivery.seq, stream: delivery.stream };
        const results = await handler.handle(event, { attempt, maxAttempts: opts.maxAttempts });
        if (results?.length) await appendResults(event, results);
      }
      await delivery.ack();
      metrics.handled.inc({ ...labels, outcome: 'ok' });
    } catch (e) {
      const err =
        e instanceof HandlerError ? e : new HandlerError(String((e as Error)?.message ?? e), true, undefined, { cause: e });
      const last = !err.retryable || attempt >= opts.maxAttempts;
      if (last) {
        const reason = err.retryable ? `gave up after ${attempt} attempts: ${err.message}` : `permanent: ${err.message}`;
        hlog.warn({ seq: delivery.seq, attempt, reason }, 'dead-lettering command');
        try {
          for (const ev of delivery.events) {
            if (!handler.eventTypes.includes(ev.type) || !handler.onGiveUp) continue;
            const event: StoredEvent = { ...ev, seq: delivery.seq, stream: delivery.stream };
            await appendResults(event, handler.onGiveUp(event, reason, err));
          }
          await delivery.term(reason);
          metrics.handled.inc({ ...labels, outcome: 'dead_letter' });
        } catch (settleErr) {
          // Left unacknowledged: ack wait brings it back, and the log's dedupe absorbs the repeat.
          hlog.error({ err: settleErr, seq: delivery.seq }, 'could not dead-letter; it will be redelivered');
        }
        return;
      }
      const delay = Math.min(
        opts.backoffMaxMs,
        Math.max(err.retryAfterMs ?? 0, backoffDelay(attempt, opts.backoffBaseMs, opts.backoffMaxMs, opts.random)),
      );
      hlog.info({ seq: delivery.seq, attempt, delayMs: delay, err: err.message }, 'retrying command');
      metrics.handled.inc({ ...labels, outcome: 'retry' });
      // The queue's read model (attempts, next attempt, last error) is folded from these.
      await appendAttemptFailed(delivery, attempt, delay, err).catch((appendErr) =>
        hlog.warn({ err: appendErr, seq: delivery.seq }, 'could not record the failed attempt'),
      );
      await delivery
        .nak(delay, err.message)
        .catch((nakErr) => hlog.error({ err: nakErr }, 'nak failed; ack wait will redeliver'));
    } finally {
      stop();
    }
  };

  /** Keeps one priority's buffer topped up to `concurrency` deliveries. */
  const pump = async (priority: Priority, consumer: Consumer) => {
    const buffer = buffers.get(priority) as Buffered[];
    while (running) {
      if (buffer.length >= concurrency) {
        await nextChange();
        continue;
      }
      try {
        // Whatever arrives after stop() is still buffered and drained, never dropped.
        const got = await consumer.fetch({ max: concurrency - buffer.length, expiresMs: 1_000 });
        for (const delivery of got) {
          held.add(delivery);
          buffer.push({ delivery, priority });
        }
        if (got.length) changed();
      } catch (e) {
        if (!running) return;
        hlog.error({ err: e, priority }, 'fetch failed; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  };

  /** Fills free worker slots from the highest non-empty priority; after stop, until the buffers are empty. */
  const dispatch = async () => {
    while (running || buffered() > 0) {
      while (inFlight.size < concurrency) {
        const next = priorities
          .map((p) => buffers.get(p) as Buffered[])
          .find((b) => b.length > 0)
          ?.shift();
        if (!next) break;
        const job: Promise<void> = process(next).finally(() => {
          held.delete(next.delivery);
          inFlight.delete(job);
          changed();
        });
        inFlight.add(job);
        changed();
      }
      if (!running && buffered() === 0) break;
      await nextChange();
    }
  };

  let dispatcher: Promise<void> | undefined;
  let background: { stop(): Promise<void> } | undefined;

  return {
    get inFlight() {
      return inFlight.size;
    },
    async start() {
      if (running) return;
      running = true;
      const consumers = await Promise.all(
        priorities.map((p) =>
          log.consumer({
            stream: handler.stream,
            name: `${handler.name}-${p}`,
            filterSubject: handler.subjects[p],
            ackWaitMs: opts.ackWaitMs,
            maxDeliver: opts.maxAttempts,
          }),
        ),
      );
      // Buffered and running deliveries must not outlive ack wait, or they would be handled twice.
      keepAlive = setInterval(
        () => {
          for (const d of held) d.working().catch(() => {});
        },
        Math.max(100, Math.floor(opts.ackWaitMs / 3)),
      );
      pumps = priorities.map((p, i) => pump(p, consumers[i] as Consumer));
      dispatcher = dispatch();
      background = handler.background?.();
      hlog.info({ priorities, concurrency }, 'handler started');
    },
    async stop(timeoutMs = 20_000) {
      if (!running) return;
      running = false;
      changed();
      await background?.stop().catch((err) => hlog.warn({ err }, 'background work did not stop cleanly'));
      background = undefined;
      let timer: NodeJS.Timeout | undefined;
      const drained = (async () => {
        await Promise.all(pumps);
        changed();
        await dispatcher;
        await Promise.all(inFlight);
      })();
      await Promise.race([
        drained,
        new Promise((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      clearInterval(keepAlive);
      await handler.close?.().catch((err) => hlog.warn({ err }, 'closing the handler failed'));
      if (inFlight.size || buffered()) {
        // Unsettled deliveries come back after ack wait, to this process or another.
        hlog.warn({ inFlight: inFlight.size, buffered: buffered() }, 'stopped before draining');
      }
    },
  };
};
