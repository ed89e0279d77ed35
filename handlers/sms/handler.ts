import { Value } from '@sinclair/typebox/value';
import type { Logger } from '../../core/logger.js';
import { type Handler, HandlerError, type ResultEvent } from '../../core/runners/handlerRunner.js';
import { PRIORITIES, type Priority } from '../../schemas/events/envelope.js';
import {
  SMS_FAILED,
  SMS_OPT_OUT_SUBJECT,
  SMS_OPTED_OUT,
  SMS_REFUSED,
  SMS_REQUESTED,
  SMS_RESULT_SUBJECT,
  SMS_SENT,
  type SmsFailed,
  type SmsOptOut,
  type SmsRefused,
  SmsRequested,
  type SmsSent,
} from '../../schemas/events/sms.js';
import type { CallRow, SmsCalls } from './calls.js';
import type { SmsGuards } from './guards.js';
import { maskPhone, type SmsProvider, SmsProviderError, type SmsProviderName } from './provider.js';
import { providerOrder } from './providers.js';

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

/** What the runner's give-up needs to name the failure; kept from the throw to `onGiveUp` in this process. */
interface FailureDetail {
  code?: string;
  provider?: SmsProviderName;
  optOut?: { phone: string; source: string; reason: string };
}
const MAX_REMEMBERED = 10_000;

const result = (type: string, data: object): ResultEvent => ({ subject: SMS_RESULT_SUBJECT, type, data });

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
export const smsHandler = (deps: SmsHandlerDeps): Handler => {
  const failures = new Map<string, FailureDetail>();
  const remember = (id: string, detail: FailureDetail) => {
    if (failures.size >= MAX_REMEMBERED) failures.delete(failures.keys().next().value as string);
    failures.set(id, detail);
  };
  const logger = deps.logger.child({ handler: 'sms' });

  return {
    name: 'sms',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, `evt.sms.cmd.${p}`])) as Record<Priority, string>,
    eventTypes: [SMS_REQUESTED],

    async handle(event, { attempt, maxAttempts }) {
      const smsId = event.id;
      failures.delete(smsId);
      if (!Value.Check(SmsRequested, event.data)) {
        remember(smsId, { code: 'invalid_command' });
        throw new HandlerError('the sms.requested payload does not match its schema', false);
      }
      const cmd = event.data;
      const to = maskPhone(cmd.to);

      const prior = await deps.calls.forCommand(smsId);
      const unconfirmed = prior.filter((c) => c.state === 'calling' || c.state === 'unknown').length;
      const accepted = prior.find((c) => c.state === 'accepted');
      if (accepted) {
        // Sent before the process died (or the append failed): report it, do not send again.
        const sent = sentFromCall(smsId, accepted, attempt, unconfirmed);
        logger.info(
          { smsId, provider: sent.provider, to, providerMessageId: sent.providerMessageId, attempt },
          'sms sent earlier; result recovered',
        );
        return [result(SMS_SENT, sent)];
      }
      if (unconfirmed > 0) {
        logger.warn(
          { smsId, to, unconfirmed, attempt },
          'an earlier provider call has no known outcome; sending again (a copy may arrive)',
        );
      }

      const verdict = await deps.guards.admit({ id: smsId, to: cmd.to, source: cmd.requestedBy, text: cmd.text });
      if (!verdict.ok) {
        logger.warn({ smsId, to, source: cmd.requestedBy, reason: verdict.reason, detail: verdict.detail }, 'sms refused');
        const refused: SmsRefused = { smsId, reason: verdict.reason, detail: verdict.detail };
        return [result(SMS_REFUSED, refused)];
      }

      const disabled = await deps.disabled();
      const failedOver: { provider: SmsProviderName; error: string }[] = [];
      const retryable: SmsProviderError[] = [];
      let outcomeUnknown = unconfirmed > 0;
      let last: SmsProviderError | undefined;
      for (const name of providerOrder(cmd.provider ?? deps.defaultProvider)) {
        const provider = deps.providers.get(name);
        if (!provider || disabled.has(name)) {
          failedOver.push({ provider: name, error: provider ? 'disabled in integration_settings' : 'not configured' });
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
          return [result(SMS_SENT, sent)];
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
            remember(smsId, {
              code: err.code,
              provider: name,
              ...(err.opts.optOut
                ? { optOut: { phone: cmd.to, source: `provider:${name}`, reason: `${err.code}: ${err.message}` } }
                : {}),
            });
            throw new HandlerError(`${name} refused the message (${err.code}): ${err.message}`, false);
          }
          if (err.kind === 'retryable') retryable.push(err);
          failedOver.push({ provider: name, error: `${err.code}: ${err.message}` });
        }
      }

      const summary = failedOver.map((f) => `${f.provider}: ${f.error}`).join('; ');
      const detail: FailureDetail = { code: last?.code ?? 'not_configured', ...(last ? { provider: last.provider } : {}) };
      if (retryable.length > 0) {
        // Every retryable error stated a wait: honour the shortest; otherwise the runner's back-off decides.
        const waits = retryable.map((e) => e.opts.retryAfterMs);
        const retryAfterMs = waits.every((w) => w !== undefined) ? Math.min(...(waits as number[])) : undefined;
        if (attempt >= maxAttempts && !outcomeUnknown) await deps.guards.release(smsId);
        remember(smsId, detail);
        throw new HandlerError(`no provider sent it: ${summary}`, true, retryAfterMs);
      }
      if (!outcomeUnknown) await deps.guards.release(smsId);
      remember(smsId, detail);
      throw new HandlerError(`no provider can send it: ${summary}`, false);
    },

    onGiveUp(event, reason) {
      const smsId = event.id;
      const detail = failures.get(smsId) ?? {};
      failures.delete(smsId);
      const failed: SmsFailed = {
        smsId,
        reason,
        permanent: reason.startsWith('permanent'),
        ...(detail.code ? { code: detail.code } : {}),
        ...(detail.provider ? { provider: detail.provider } : {}),
      };
      const out = [result(SMS_FAILED, failed)];
      if (detail.optOut) {
        const optOut: SmsOptOut = detail.optOut;
        out.push({ subject: SMS_OPT_OUT_SUBJECT, type: SMS_OPTED_OUT, data: optOut });
      }
      return out;
    },
  };
};
