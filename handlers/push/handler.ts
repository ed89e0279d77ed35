import { Value } from '@sinclair/typebox/value';
import { derivedMsgId, newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { type Handler, HandlerError, type ResultEvent } from '../../core/runners/handlerRunner.js';
import type { StoredEvent } from '../../core/runners/projectionRunner.js';
import type { Sql } from '../../core/stores/postgres.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import {
  PUSH_FAILED,
  PUSH_PARTIALLY_SENT,
  PUSH_REQUESTED,
  PUSH_RESULTS_SUBJECT,
  PUSH_SENT,
  PUSH_TOKEN_REVOKED,
  PUSH_TOKENS_SUBJECT,
  type PushFailed,
  type PushPartiallySent,
  PushRequested,
  type PushSent,
  type PushTokenResult,
  type PushTokenRevoked,
} from '../../schemas/events/push.js';
import { classifyFcmError, FCM_QUOTA_RETRY_AFTER_MS } from './fcmErrors.js';
import type { PushMessage, PushSender } from './sender.js';

export interface PushHandlerOptions {
  sender: PushSender;
  sql: Sql;
  log: EventLog;
  logger: Logger;
  /** Delay after FCM's QUOTA_EXCEEDED (the runner caps it at HANDLER_BACKOFF_MAX_MS). */
  quotaRetryAfterMs?: number;
}

/** A multicast's progress between attempts lives in the log, under a subject of its own. */
export const pushProgressSubject = (commandId: string) => `evt.push.progress.${commandId}`;

/** What `onGiveUp` adds to `push.failed` for a command `handle` gave up on; the runner only passes a reason. */
interface GiveUp {
  revocations: ResultEvent[];
  failed: Omit<PushFailed, 'reason'>;
}
/** Entries of commands retried elsewhere are never collected; this bounds them. */
const GIVE_UP_MAX = 1_000;

const REVOKED_BY = 'handler/push';

/**
 * `push.requested` → FCM. A push to `token` goes to that device; a push to `userId` to every
 * active token of the user in `device_tokens`. Per token: accepted, retryable (the attempt is
 * retried for those tokens only), invalid (revoked by `push.token_revoked`) or rejected.
 */
export const pushHandler = (opts: PushHandlerOptions): Handler => {
  const { sender, sql, log } = opts;
  const logger = opts.logger.child({ handler: 'push', testMode: sender.testMode });
  const quotaRetryAfterMs = opts.quotaRetryAfterMs ?? FCM_QUOTA_RETRY_AFTER_MS;
  const giveUps = new Map<string, GiveUp>();

  const giveUp = (event: StoredEvent, g: GiveUp, error: HandlerError) => {
    giveUps.set(event.id, g);
    if (giveUps.size > GIVE_UP_MAX) giveUps.delete(giveUps.keys().next().value as string);
    return error;
  };
  const refuse = (event: StoredEvent, code: string, message: string) =>
    giveUp(event, { revocations: [], failed: { code, testMode: sender.testMode } }, new HandlerError(message, false));

  /** The latest `push.partially_sent` of this command: its results so far and the tokens still to try. */
  const readProgress = async (event: StoredEvent) => {
    const messages = await log.read('EVENTS', 1_000, { fromSeq: event.seq, filterSubject: pushProgressSubject(event.id) });
    const progress = messages
      .flatMap((m) => m.events)
      .filter((e) => e.type === PUSH_PARTIALLY_SENT && e.causationId === event.id)
      .at(-1);
    return progress?.data as PushPartiallySent | undefined;
  };

  const activeTokens = async (userId: string) =>
    (
      await sql<{ token: string }[]>`
      SELECT token FROM device_tokens WHERE user_id = ${userId} AND active ORDER BY created_at, token`
    ).map((r) => r.token);

  const revocation = (token: string, reason: string, userId: string | undefined): ResultEvent => {
    const data: PushTokenRevoked = { token, reason, requestedBy: REVOKED_BY, via: 'fcm', ...(userId ? { userId } : {}) };
    return { subject: PUSH_TOKENS_SUBJECT, type: PUSH_TOKEN_REVOKED, data };
  };

  /**
   * Appends an attempt's progress itself: the runner appends results only when a command ends. The
   * message ids differ from the runner's own `push/attempt-N` ones, or the log would drop one as a duplicate.
   */
  const appendProgress = async (event: StoredEvent, attempt: number, results: ResultEvent[]) => {
    for (const [i, r] of results.entries()) {
      await log.append(
        r.subject,
        newEvent({
          type: r.type,
          subject: r.subject,
          data: r.data,
          source: `handler/push`,
          causationId: event.id,
          correlationId: event.correlationId ?? event.id,
        }),
        { msgId: derivedMsgId(event.id, `push/progress-${attempt}`, i) },
      );
    }
  };

  return {
    name: 'push',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, `evt.push.cmd.${p}`])),
    eventTypes: [PUSH_REQUESTED],

    async handle(event, { attempt, maxAttempts }) {
      giveUps.delete(event.id);
      if (!Value.Check(PushRequested, event.data)) {
        const first = Value.Errors(PushRequested, event.data).First();
        throw refuse(event, 'invalid_request', `invalid push.requested: ${first?.path || '/'} ${first?.message ?? ''}`);
      }
      const cmd = event.data;
      if ((cmd.userId === undefined) === (cmd.token === undefined)) {
        throw refuse(event, 'invalid_request', 'invalid push.requested: exactly one of userId and token is needed');
      }

      const prior = attempt > 1 ? await readProgress(event) : undefined;
      const targets = prior ? prior.pending : cmd.token !== undefined ? [cmd.token] : await activeTokens(cmd.userId as string);
      if (targets.length === 0) {
        throw refuse(event, 'no_tokens', `user ${cmd.userId} has no active device tokens`);
      }

      const message: PushMessage = {
        title: cmd.title,
        body: cmd.body,
        ...(cmd.data ? { data: Object.fromEntries(Object.entries(cmd.data).map(([k, v]) => [k, String(v)])) } : {}),
        urgent: cmd.priority === 'urgent' || cmd.priority === 'high',
        collapseId: event.id,
      };
      const answers = await sender.sendToTokens(targets, message);

      let retryAfterMs: number | undefined;
      const revocations: ResultEvent[] = [];
      const latest: PushTokenResult[] = answers.map((a) => {
        if (a.messageId !== undefined) return { token: a.token, messageId: a.messageId, outcome: 'sent' };
        const c = classifyFcmError(a.error, quotaRetryAfterMs);
        if (c.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, c.retryAfterMs);
        if (c.outcome === 'invalid_token')
          revocations.push(revocation(a.token, `${a.error.code}: ${a.error.message}`, cmd.userId));
        return { token: a.token, error: a.error, outcome: c.outcome };
      });
      const byToken = new Map((prior?.results ?? []).map((r) => [r.token, r]));
      for (const r of latest) byToken.set(r.token, r);
      const results = [...byToken.values()];
      const successCount = results.filter((r) => r.outcome === 'sent').length;
      const retryable = latest.filter((r) => r.outcome === 'retryable');
      const outcome = { results, successCount, failureCount: results.length - successCount, attempt, testMode: sender.testMode };
      const firstError = latest.find((r) => r.error)?.error;

      logger.info(
        {
          command: event.id,
          attempt,
          devices: targets.length,
          sent: latest.filter((r) => r.outcome === 'sent').length,
          retryable: retryable.length,
          revoked: revocations.length,
          rejected: latest.filter((r) => r.outcome === 'rejected').length,
          error: firstError?.code,
        },
        'push attempt',
      );

      if (retryable.length > 0 && attempt < maxAttempts) {
        if (retryable.length < latest.length) {
          const progress: PushPartiallySent = { ...outcome, pending: retryable.map((r) => r.token) };
          await appendProgress(event, attempt, [
            { subject: pushProgressSubject(event.id), type: PUSH_PARTIALLY_SENT, data: progress },
            ...revocations,
          ]);
        }
        throw new HandlerError(
          `${retryable.length} of ${targets.length} devices failed retryably (${firstRetryable(retryable)})`,
          true,
          retryAfterMs,
        );
      }
      if (successCount > 0) {
        const sent: PushSent = outcome;
        return [...revocations, { subject: PUSH_RESULTS_SUBJECT, type: PUSH_SENT, data: sent }];
      }
      const error = retryable[0]?.error ?? firstError;
      throw giveUp(
        event,
        { revocations, failed: { ...outcome, ...(error ? { code: error.code } : {}) } },
        new HandlerError(`no device accepted the push (${error?.code}: ${error?.message})`, retryable.length > 0),
      );
    },

    onGiveUp(event, reason) {
      const g = giveUps.get(event.id);
      giveUps.delete(event.id);
      const failed: PushFailed = { ...(g?.failed ?? { testMode: sender.testMode }), reason };
      logger.warn({ command: event.id, code: failed.code, reason }, 'push failed');
      return [...(g?.revocations ?? []), { subject: PUSH_RESULTS_SUBJECT, type: PUSH_FAILED, data: failed }];
    },
  };
};

const firstRetryable = (rs: PushTokenResult[]) => `${rs[0]?.error?.code}: ${rs[0]?.error?.message}`;
