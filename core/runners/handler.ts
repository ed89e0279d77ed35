import type { DataOfType, KnownEventType } from '../../schemas/events/catalog.js';
import type { EventDef } from '../../schemas/events/define.js';
import type { AttemptFailed, Priority, StreamName } from '../../schemas/events/envelope.js';
import type { HandlerError } from './handlerError.js';
import type { StoredEvent } from './projectionRunner.js';

/**
 * An event a handler wants appended as the outcome of the one it handled: a declared type with
 * the data its declaration says (`ResultEvent<string>` for a test's own types).
 */
export type ResultEvent<T extends string = KnownEventType> = T extends string
  ? {
      subject: string;
      type: T;
      data: DataOfType<T>;
      /**
       * A message id shared with another writer of the same fact (the SMS status poller), so the
       * log keeps one of them; otherwise the runner derives it from (cause, handler, index).
       */
      msgId?: string;
    }
  : never;

/** A command as the handler receives it: a stored event of one of its types, `data` as declared. */
export type CommandOf<T extends string> = T extends string ? StoredEvent & { type: T; data: DataOfType<T> } : never;

export interface HandlerContext {
  /** The delivery count: 1 on the first attempt. */
  attempt: number;
  maxAttempts: number;
}

/**
 * A work-queue consumer of command events. `handle` returns the outcome events or throws a
 * `HandlerError`; the runner appends, retries, records attempts and dead-letters.
 */
export interface Handler<T extends string = string, R extends string = KnownEventType> {
  /** Durable consumer prefix; one consumer per priority: `<name>-<priority>`. */
  name: string;
  stream: StreamName;
  /**
   * Subject filter per priority, highest first (the producer's subject builder, e.g.
   * `smsCommandSubject`). Priorities share nothing but the worker slots, so a new urgent event
   * overtakes a backlog of low ones.
   */
  subjects: Partial<Record<Priority, string>>;
  /** Event types this handler acts on; others are acknowledged untouched. */
  eventTypes: readonly T[];
  /**
   * The domain's `<domain>.attempt_failed` declaration (`smsEvents.defs.attemptFailed`): the
   * runner records each failed attempt that will be retried with it. None: no record.
   */
  attemptFailed?: EventDef<string, typeof AttemptFailed>;
  handle(event: CommandOf<T>, ctx: HandlerContext): Promise<readonly ResultEvent<R>[] | undefined>;
  /**
   * Outcome events for a command given up on (e.g. `sms.failed`), appended before the dead letter.
   * `error` is the last failure: the handler's own `HandlerError` subclass carries its details.
   */
  onGiveUp?(event: CommandOf<T>, reason: string, error: HandlerError): readonly ResultEvent<R>[];
  /** Releases the handler's provider connections; called once the runner has stopped and drained. */
  close?(): Promise<void>;
  /**
   * Periodic work that belongs with this handler (e.g. polling a provider for delivery status),
   * started with the runner and stopped before it drains. It must be safe to run in every
   * handlers process at once.
   */
  background?(): { stop(): Promise<void> };
}

/**
 * Any handler, whatever its types: what the runner runs and `buildHandlers` lists. Spelled out
 * (not `Handler<string, string>`) so a `Handler<'sms.requested'>` is compared member by member;
 * TypeScript cannot relate two instances of the generic through its conditional types.
 */
export interface AnyHandler extends Omit<Handler, 'eventTypes' | 'handle' | 'onGiveUp'> {
  eventTypes: readonly string[];
  handle(event: StoredEvent, ctx: HandlerContext): Promise<readonly ResultEvent<string>[] | undefined>;
  onGiveUp?(event: StoredEvent, reason: string, error: HandlerError): readonly ResultEvent<string>[];
}
