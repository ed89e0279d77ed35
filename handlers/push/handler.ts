import { Value } from '@sinclair/typebox/value';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { activeDeviceTokens } from '../../core/readModels/deviceTokens.js';
import type { CommandOf, Handler, ResultEvent } from '../../core/runners/handlerRunner.js';
import type { Sql } from '../../core/stores/postgres.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import {
  PUSH_RESULTS_SUBJECT,
  PUSH_TOKENS_SUBJECT,
  type PushPartiallySent,
  PushRequested,
  type PushTokenResult,
  pushCommandSubject,
  pushEvents,
} from '../../schemas/events/push.js';
import { classifyFcmError, FCM_QUOTA_RETRY_AFTER_MS } from './fcmErrors.js';
import { type PushMessage, PushSendError, type PushSender } from './port.js';

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

const REVOKED_BY = 'handler/push';
const { defs } = pushEvents;
type PushCommand = CommandOf<typeof defs.requested.type>;
const refuse = (code: string, message: string) => new PushSendError(message, false, { details: { code } });

/**
 * `push.requested` → FCM. A push to `token` goes to that device; a push to `userId` to every
 * active token of the user in `device_tokens`. Per token: accepted, retryable (the attempt is
 * retried for those tokens only), invalid (revoked by `push.token_revoked`) or rejected.
 */
export const pushHandler = (opts: PushHandlerOptions): Handler<typeof defs.requested.type> => {
  const { sender, sql, log } = opts;
  const logger = opts.logger.child({ handler: 'push', testMode: sender.testMode });
  const quotaRetryAfterMs = opts.quotaRetryAfterMs ?? FCM_QUOTA_RETRY_AFTER_MS;

  /** The latest `push.partially_sent` of this command: its results so far and the tokens still to try. */
  const readProgress = async (event: PushCommand): Promise<PushPartiallySent | undefined> => {
    const messages = await log.read('EVENTS', 1_000, { fromSeq: event.seq, filterSubject: pushProgressSubject(event.id) });
    let latest: PushPartiallySent | undefined;
    for (const e of messages.flatMap((m) => m.events)) {
      if (e.causationId !== event.id || !pushEvents.is(e)) continue;
      if (e.type === defs.partiallySent.type) latest = e.data;
    }
    return latest;
  };

  const revocation = (token: string, reason: string, userId: string | undefined): ResultEvent => ({
    subject: PUSH_TOKENS_SUBJECT,
    type: defs.tokenRevoked.type,
    data: { token, reason, requestedBy: REVOKED_BY, via: 'fcm', ...(userId ? { userId } : {}) },
  });

  return {
    name: 'push',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, pushCommandSubject(p)])),
    // `push.requested`, checked against its declaration so a renamed type fails to compile here.
    eventTypes: ['push.requested' satisfies typeof defs.requested.type],
    attemptFailed: defs.attemptFailed,

    async handle(event, { attempt, maxAttempts }) {
      // Declared and appended only by the API, but a command from an older release may differ.
      if (!Value.Check(PushRequested, event.data)) {
        const first = Value.Errors(PushRequested, event.data).First();
        throw refuse('invalid_request', `invalid push.requested: ${first?.path || '/'} ${first?.message ?? ''}`);
      }
      const cmd = event.data;
      if ((cmd.userId === undefined) === (cmd.token === undefined)) {
        throw refuse('invalid_request', 'invalid push.requested: exactly one of userId and token is needed');
      }

      const prior = attempt > 1 ? await readProgress(event) : undefined;
      const targets =
        prior?.pending ??
        (cmd.token !== undefined ? [cmd.token] : cmd.userId !== undefined ? await activeDeviceTokens(sql, cmd.userId) : []);
      if (targets.length === 0) {
        throw refuse('no_tokens', `user ${cmd.userId} has no active device tokens`);
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
        // The runner appends the progress before the retry; the next attempt reads it for the tokens still to try.
        const progress: ResultEvent[] =
          retryable.length < latest.length
            ? [
                {
                  subject: pushProgressSubject(event.id),
                  type: defs.partiallySent.type,
                  data: { ...outcome, pending: retryable.map((r) => r.token) },
                },
                ...revocations,
              ]
            : [];
        throw new PushSendError(
          `${retryable.length} of ${targets.length} devices failed retryably (${firstRetryable(retryable)})`,
          true,
          { results: progress, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
        );
      }
      if (successCount > 0) {
        return [...revocations, { subject: PUSH_RESULTS_SUBJECT, type: defs.sent.type, data: outcome }];
      }
      const error = retryable[0]?.error ?? firstError;
      const { testMode: _, ...failure } = outcome;
      throw new PushSendError(`no device accepted the push (${error?.code}: ${error?.message})`, retryable.length > 0, {
        results: revocations,
        details: { ...failure, ...(error ? { code: error.code } : {}) },
      });
    },

    onGiveUp(event, reason, error) {
      const details = error instanceof PushSendError ? error.details : undefined;
      logger.warn({ command: event.id, code: details?.code, reason }, 'push failed');
      return [{ subject: PUSH_RESULTS_SUBJECT, type: defs.failed.type, data: { ...details, testMode: sender.testMode, reason } }];
    },
  };
};

const firstRetryable = (rs: PushTokenResult[]) => `${rs[0]?.error?.code}: ${rs[0]?.error?.message}`;
