import { createHash } from 'node:crypto';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { type CommandOf, type Handler, HandlerError, type ResultEvent } from '../../core/runners/handlerRunner.js';
import type { Sql } from '../../core/stores/postgres.js';
import { SMS_DELIVERED, SMS_STATUS_SUBJECT, SMS_UNDELIVERED, smsEvents } from '../../schemas/events/sms.js';
import {
  WEBHOOK_PROCESSED,
  WEBHOOK_RECEIVED,
  type WebhookProcessedData,
  type WebhookReceivedData,
  webhookProcessedSubject,
} from '../../schemas/events/webhook.js';
import type { SmsCalls } from './calls.js';
import { type DeliveryState, type SmsProvider, SmsProviderError, type SmsProviderName, type StatusResult } from './port.js';
import { smsRuState } from './smsru.js';
import { twilioState } from './twilio.js';

type WebhookReceived = CommandOf<typeof WEBHOOK_RECEIVED>;

/** One delivery report, from a callback or a poll, before it becomes an event. */
export interface Report {
  provider: SmsProviderName;
  providerMessageId: string;
  state: DeliveryState;
  providerStatus: string;
  at: string;
  via: 'callback' | 'poll';
  cost?: StatusResult['cost'];
  errorCode?: string;
  errorMessage?: string;
}

export interface DeliveryDeps {
  providers: ReadonlyMap<SmsProviderName, SmsProvider>;
  calls: SmsCalls;
  log: EventLog;
  sql: Sql;
  logger: Logger;
}

/**
 * A report as `sms.delivered`, `sms.undelivered` or `sms.status_reported`. The message id is
 * (provider, message id, state): a callback and a poll of the same state, or two processes
 * polling at once, append it once.
 */
export const reportEvent = (smsId: string, r: Report): ResultEvent => {
  const common = {
    smsId,
    provider: r.provider,
    providerMessageId: r.providerMessageId,
    providerStatus: r.providerStatus,
    via: r.via,
    at: r.at,
    ...(r.cost !== undefined ? { cost: r.cost } : {}),
  };
  const key = r.state === 'delivered' ? SMS_DELIVERED : r.state === 'undelivered' ? SMS_UNDELIVERED : r.providerStatus;
  const msgId = `sms-status-${createHash('sha256')
    .update(`${r.provider}\0${r.providerMessageId}\0${key}`)
    .digest('base64url')
    .slice(0, 32)}`;
  const subject = SMS_STATUS_SUBJECT;
  switch (r.state) {
    case 'delivered':
      return { subject, msgId, type: smsEvents.defs.delivered.type, data: common };
    case 'undelivered':
      return {
        subject,
        msgId,
        type: smsEvents.defs.undelivered.type,
        data: {
          ...common,
          ...(r.errorCode ? { errorCode: r.errorCode } : {}),
          ...(r.errorMessage ? { errorMessage: r.errorMessage.slice(0, 500) } : {}),
        },
      };
    default:
      return { subject, msgId, type: smsEvents.defs.statusReported.type, data: common };
  }
};

/** A final state ends the message's polling. */
const endPolling = async (deps: DeliveryDeps, r: Report) => {
  if (r.state === 'delivered' || r.state === 'undelivered') {
    await deps.sql`DELETE FROM sms_status_polls WHERE provider = ${r.provider} AND provider_message_id = ${r.providerMessageId}`;
  }
};

/** The poller's path (background work, not a handler result): appends the report itself. */
export const appendReport = async (deps: DeliveryDeps, smsId: string, r: Report) => {
  const e = reportEvent(smsId, r);
  await deps.log.append(
    e.subject,
    newEvent({ type: e.type, subject: e.subject, source: 'handler/sms-delivery', data: e.data, correlationId: smsId }),
    e.msgId === undefined ? {} : { msgId: e.msgId },
  );
  await endPolling(deps, r);
  return e.type;
};

/** The report a callback carries: Twilio's form fields, or the SMS.ru record named by the event id. */
const callbackReport = (d: WebhookReceivedData): Report | undefined => {
  const body = Buffer.from(d.bodyBase64, 'base64').toString('utf8');
  const form = new URLSearchParams(body);
  if (d.provider === 'twilio') {
    const sid = form.get('MessageSid') ?? form.get('SmsSid');
    const status = form.get('MessageStatus') ?? form.get('SmsStatus');
    if (!sid || !status) return undefined;
    const errorCode = form.get('ErrorCode');
    const errorMessage = form.get('ErrorMessage');
    return {
      provider: 'twilio',
      providerMessageId: sid,
      state: twilioState(status),
      providerStatus: status,
      at: d.receivedAt,
      via: 'callback',
      ...(errorCode ? { errorCode } : {}),
      ...(errorMessage ? { errorMessage } : {}),
    };
  }
  // One SMS.ru delivery batches records (`data[N]` = type, sms_id, status, unix time); the gateway
  // appended one event per record, named `sms_id:status`.
  for (const [key, value] of form) {
    if (!/^data\[\d+\]$/.test(key)) continue;
    const [type, smsId, status, time] = value.split('\n').map((l) => l.trim());
    if (type !== 'sms_status' || !smsId || !status || `${smsId}:${status}` !== d.providerEventId) continue;
    const unix = Number(time);
    return {
      provider: 'smsru',
      providerMessageId: smsId,
      state: smsRuState(Number(status)),
      providerStatus: status,
      at: Number.isFinite(unix) && unix > 0 ? new Date(unix * 1000).toISOString() : d.receivedAt,
      via: 'callback',
      ...(smsRuState(Number(status)) === 'undelivered' ? { errorCode: status } : {}),
    };
  }
  return undefined;
};

const processed = (
  e: WebhookReceived,
  provider: WebhookReceivedData['provider'],
  outcome: WebhookProcessedData['outcome'],
  detail: string,
): ResultEvent => ({
  subject: webhookProcessedSubject(provider),
  type: WEBHOOK_PROCESSED,
  data: { webhookEventId: e.id, outcome, detail },
});

/**
 * `sms-delivery`: turns verified Twilio and SMS.ru status callbacks into delivery reports for the
 * message they name, and records on the `webhook.received` that it was processed. SMS.ru signs
 * nothing (a secret URL token only), so its final states are confirmed with `sms/status` before
 * they count (PROVIDERS.md §1); Twilio's are signed, and asked only for the price.
 */
export const smsDeliveryHandler = (
  deps: DeliveryDeps,
  background?: () => { stop(): Promise<void> },
): Handler<typeof WEBHOOK_RECEIVED> => {
  const logger = deps.logger.child({ handler: 'sms-delivery' });
  return {
    name: 'sms-delivery',
    stream: 'EVENTS',
    // Every provider's deliveries; the others (Stripe, Telegram, YooKassa) are acknowledged untouched.
    subjects: { normal: 'evt.webhook.*' },
    eventTypes: [WEBHOOK_RECEIVED],
    ...(background ? { background } : {}),

    async handle(event) {
      const d = event.data;
      if (d.provider !== 'twilio' && d.provider !== 'smsru') return undefined;
      // Refused, repeated or broken deliveries are audit records only.
      if (!d.signatureValid || d.duplicate || d.error) return undefined;
      const report = callbackReport(d);
      if (!report) return [processed(event, d.provider, 'ignored', 'not a message status callback')];
      const smsId = await deps.calls.byProviderMessage(report.provider, report.providerMessageId);
      if (!smsId) {
        // Not ours (another system on the same account), or older than our call records.
        return [processed(event, d.provider, 'ignored', `no SMS with ${report.provider} message id ${report.providerMessageId}`)];
      }
      const provider = deps.providers.get(report.provider);
      if (!provider && report.provider === 'smsru' && (report.state === 'delivered' || report.state === 'undelivered')) {
        return [processed(event, d.provider, 'ignored', 'SMS.ru is not configured here, so its claim cannot be confirmed')];
      }
      let final = report;
      if (provider && report.state !== 'pending' && report.state !== 'unknown') {
        try {
          const confirmed = await provider.status(report.providerMessageId);
          if (report.provider === 'smsru' && !provider.testMode) {
            if (confirmed.state === 'unknown') {
              return [processed(event, d.provider, 'ignored', `SMS.ru does not know message ${report.providerMessageId}`)];
            }
            final = { ...report, state: confirmed.state, providerStatus: confirmed.providerStatus, cost: confirmed.cost };
          } else {
            final = { ...report, cost: confirmed.cost };
          }
        } catch (e) {
          const err = e instanceof SmsProviderError ? e : undefined;
          // An unconfirmed SMS.ru claim waits for SMS.ru; a signed Twilio report stands without its price.
          if (report.provider === 'smsru' && !provider.testMode) {
            throw new HandlerError(`could not confirm the SMS.ru status: ${(e as Error).message}`, err?.retryable ?? true, {
              ...(err?.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
            });
          }
          logger.info(
            { err: (e as Error).message, providerMessageId: report.providerMessageId },
            'no price for the delivery report',
          );
        }
      }
      // The runner appends the report; should that fail, the redelivered callback reports it again.
      const reported = reportEvent(smsId, final);
      await endPolling(deps, final);
      logger.info(
        {
          smsId,
          provider: final.provider,
          providerMessageId: final.providerMessageId,
          status: final.providerStatus,
          type: reported.type,
        },
        'sms delivery report',
      );
      return [reported, processed(event, d.provider, 'applied', `${reported.type} for ${smsId}`)];
    },
  };
};
