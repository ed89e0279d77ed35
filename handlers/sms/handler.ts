import { Value } from '@sinclair/typebox/value';
import type { Logger } from '../../core/logger.js';
import type { Handler, ResultEvent } from '../../core/runners/handlerRunner.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import {
  SMS_OPT_OUT_SUBJECT,
  SMS_RESULT_SUBJECT,
  type SmsRefused,
  SmsRequested,
  type SmsSent,
  smsCommandSubject,
  smsEvents,
} from '../../schemas/events/sms.js';
import type { CallRow, SmsCalls } from './calls.js';
import { providerOrder } from './failover.js';
import type { SmsGuards } from './guards.js';
import { maskPhone, type SmsFailure, type SmsProvider, SmsProviderError, type SmsProviderName, SmsSendError } from './port.js';

export interface SmsHandlerDeps {
  providers: ReadonlyMap<SmsProviderName, SmsProvider>;
  /** `SMS_PROVIDER`: used when the request names none. */
  defaultProvider: SmsProviderName;
  guards: SmsGuards;
  calls: SmsCalls;
  /** Providers switched off by an operator (integration_settings). */
  disabled(): Promise<ReadonlySet<string>>;
  /** Resolves when the provider's send rate allows one more call (waits, never refuses). */
  throttle(provider: SmsProviderName): Promise<void>;
  logger: Logger;
}

const { defs } = smsEvents;
const DISABLED = 'disabled in integration_settings';
const sentEvent = (data: SmsSent): ResultEvent => ({ subject: SMS_RESULT_SUBJECT, type: defs.sent.type, data });

const sentFromCall = (smsId: string, call: CallRow, attempt: number, unconfirmed: number): SmsSent => ({
  smsId,
  provider: call.provider,
  providerMessageId: call.provider_message_id as string,
  segments: call.segments ?? 1,
  cost:
    call.cost_minor === null || call.currency === null ? null : { amountMinor: Number(call.cost_minor), currency: call.currency },
  testMode: call.test_mode,
  attempt,
  recovered: true,
  ...(unconfirmed > 0 ? { unconfirmedCalls: unconfirmed } : {}),
});

/**
 * `sms`: sends `sms.requested` (subjects `evt.sms.cmd.<priority>`, urgent first) through the
 * chosen provider (the request's, else SMS_PROVIDER), failing over to the next configured one
 * when it is down, rate-limited, misconfigured or switched off. Cost guards run before any call;
 * a refusal is `sms.refused`. A message-level rejection (bad number, stop-list) fails at once
 * without failover: no provider would send it, and a stop-list is the recipient's wish.
 */
export const smsHandler = (deps: SmsHandlerDeps): Handler<typeof defs.requested.type> => {
  const logger = deps.logger.child({ handler: 'sms' });

  return {
    name: 'sms',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, smsCommandSubject(p)])),
    // `sms.requested`, checked against its declaration so a renamed type fails to compile here.
    eventTypes: ['sms.requested' satisfies typeof defs.requested.type],
    attemptFailed: defs.attemptFailed,

    async handle(event, { attempt, maxAttempts }) {
      const smsId = event.id;
      // Declared and appended only by the API, but a command from an older release may differ.
      if (!Value.Check(SmsRequested, event.data)) {
        throw new SmsSendError('the sms.requested payload does not match its schema', false, {
          details: { code: 'invalid_command' },
        });
      }
      const cmd = event.data;
      const to = maskPhone(cmd.to);

      // Earlier calls and the cost guards' verdict in one round trip (guards.ts, checkIn).
      const { prior, verdict } = await deps.guards.checkIn({ id: smsId, to: cmd.to, source: cmd.requestedBy, text: cmd.text });
      const unconfirmed = prior.filter((c) => c.state === 'calling' || c.state === 'unknown').length;
      const accepted = prior.find((c) => c.state === 'accepted');
      if (accepted) {
        // Sent before the process died (or the append failed): report it, do not send again.
        const sent = sentFromCall(smsId, accepted, attempt, unconfirmed);
        logger.info(
          { smsId, provider: sent.provider, to, providerMessageId: sent.providerMessageId, attempt },
          'sms sent earlier; result recovered',
        );
        return [sentEvent(sent)];
      }
      if (unconfirmed > 0) {
        logger.warn(
          { smsId, to, unconfirmed, attempt },
          'an earlier provider call has no known outcome; sending again (a copy may arrive)',
        );
      }

      if (verdict === undefined) {
        throw new Error('the cost guards gave no verdict although no earlier call was accepted');
      }
      if (!verdict.ok) {
        logger.warn({ smsId, to, source: cmd.requestedBy, reason: verdict.reason, detail: verdict.detail }, 'sms refused');
        const refused: SmsRefused = { smsId, reason: verdict.reason, detail: verdict.detail };
        return [{ subject: SMS_RESULT_SUBJECT, type: defs.refused.type, data: refused }];
      }

      const disabled = await deps.disabled();
      const failedOver: { provider: SmsProviderName; error: string }[] = [];
      const retryable: SmsProviderError[] = [];
      let outcomeUnknown = unconfirmed > 0;
      let last: SmsProviderError | undefined;
      for (const name of providerOrder(cmd.provider ?? deps.defaultProvider)) {
        const provider = deps.providers.get(name);
        if (!provider || disabled.has(name)) {
          failedOver.push({ provider: name, error: provider ? DISABLED : 'not configured' });
          continue;
        }
        await deps.throttle(name);
        const callNo = await deps.calls.begin(smsId, name, provider.testMode);
        try {
          const r = await provider.send({ to: cmd.to, text: cmd.text });
          await deps.calls.accepted(smsId, callNo, name, provider.testMode, r);
          const sent: SmsSent = {
            smsId,
            provider: name,
            providerMessageId: r.providerMessageId,
            segments: r.segments,
            cost: r.cost,
            testMode: provider.testMode,
            attempt,
            ...(failedOver.length ? { failedOver } : {}),
            ...(unconfirmed > 0 ? { unconfirmedCalls: unconfirmed } : {}),
          };
          logger.info(
            {
              smsId,
              provider: name,
              to,
              providerMessageId: r.providerMessageId,
              segments: r.segments,
              cost: r.cost,
              testMode: provider.testMode,
              attempt,
              failedOver: failedOver.map((f) => f.provider),
            },
            'sms sent',
          );
          return [sentEvent(sent)];
        } catch (e) {
          const err =
            e instanceof SmsProviderError
              ? e
              : new SmsProviderError(name, 'retryable', 'internal', `${name}: ${(e as Error)?.message ?? String(e)}`, {
                  outcomeUnknown: true,
                  cause: e,
                });
          await deps.calls.failed(smsId, callNo, err);
          outcomeUnknown ||= err.opts.outcomeUnknown === true;
          last = err;
          logger.warn(
            {
              smsId,
              provider: name,
              to,
              kind: err.kind,
              code: err.code,
              err: err.message,
              outcomeUnknown: err.opts.outcomeUnknown ?? false,
              attempt,
            },
            'sms provider call failed',
          );
          if (err.kind === 'permanent') {
            if (!outcomeUnknown) await deps.guards.release(smsId);
            throw new SmsSendError(`${name} refused the message (${err.code}): ${err.message}`, false, {
              cause: err,
              details: {
                code: err.code,
                provider: name,
                ...(err.opts.optOut
                  ? { optOut: { phone: cmd.to, source: `provider:${name}`, reason: `${err.code}: ${err.message}` } }
                  : {}),
              },
            });
          }
          if (err.kind === 'retryable') retryable.push(err);
          failedOver.push({ provider: name, error: `${err.code}: ${err.message}` });
        }
      }

      const summary = failedOver.map((f) => `${f.provider}: ${f.error}`).join('; ');
      const details: SmsFailure = { code: last?.code ?? 'not_configured', ...(last ? { provider: last.provider } : {}) };
      if (retryable.length > 0) {
        // Every retryable error stated a wait: honour the shortest; otherwise the runner's back-off decides.
        const waits = retryable.map((e) => e.opts.retryAfterMs);
        const retryAfterMs = waits.every((w) => w !== undefined) ? Math.min(...(waits as number[])) : undefined;
        if (attempt >= maxAttempts && !outcomeUnknown) await deps.guards.release(smsId);
        throw new SmsSendError(`no provider sent it: ${summary}`, true, {
          details,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      if (failedOver.some((f) => f.error === DISABLED)) {
        // Switched off by an operator, not broken: retried (then dead-lettered, retryable from
        // there) so turning a provider back on sends it; a switch-off never drops a message.
        if (attempt >= maxAttempts && !outcomeUnknown) await deps.guards.release(smsId);
        throw new SmsSendError(`every provider that could send it is switched off: ${summary}`, true, {
          details: { ...details, code: 'disabled' },
        });
      }
      if (!outcomeUnknown) await deps.guards.release(smsId);
      throw new SmsSendError(`no provider can send it: ${summary}`, false, { details });
    },

    onGiveUp(event, reason, error) {
      const { code, provider, optOut } = (error instanceof SmsSendError ? error.details : undefined) ?? {};
      const out: ResultEvent[] = [
        {
          subject: SMS_RESULT_SUBJECT,
          type: defs.failed.type,
          data: {
            smsId: event.id,
            reason,
            permanent: reason.startsWith('permanent'),
            ...(code ? { code } : {}),
            ...(provider ? { provider } : {}),
          },
        },
      ];
      if (optOut) out.push({ subject: SMS_OPT_OUT_SUBJECT, type: defs.optedOut.type, data: optOut });
      return out;
    },
  };
};
