import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { paymentReceivedTexts } from '../../core/notifications/texts.js';
import { loadPayment } from '../../core/payments/ledger.js';
import type { Handler, ResultEvent } from '../../core/runners/handlerRunner.js';
import { emailCommandSubject, emailEvents } from '../../schemas/events/email.js';
import { PAYMENT_SUBJECTS, paymentEvents } from '../../schemas/events/payment.js';
import { smsCommandSubject, smsEvents } from '../../schemas/events/sms.js';
import type { NotificationLocale } from '../../schemas/http/notifications.js';

const SUCCEEDED = paymentEvents.defs.succeeded.type;

/** A success older than this (a consumer created on a log that already holds payments) gets no receipt. */
const MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface PaymentReceiptDeps {
  log: EventLog;
  logger: Logger;
  /** PAYMENT_RECEIPT_CHANNELS: empty sends nothing. */
  channels: readonly ('sms' | 'email')[];
  locale?: NotificationLocale;
  now?: () => number;
}

/**
 * `payment-receipts`: tells the customer a payment arrived, through the channels
 * PAYMENT_RECEIPT_CHANNELS names and the customer has an address for, with the texts and the
 * `payment_receipt` e-mail template of `POST /api/v1/notifications/payment-received`. The
 * commands are results of the `payment.succeeded` event (ids derived from it), so a redelivery
 * appends nothing twice; the SMS and e-mail handlers carry them out with their own retries and
 * history.
 */
export const paymentReceiptHandler = (deps: PaymentReceiptDeps): Handler<typeof SUCCEEDED> => {
  const logger = deps.logger.child({ handler: 'payment-receipts' });
  const locale = deps.locale ?? 'ru';
  const now = deps.now ?? Date.now;
  return {
    name: 'payment-receipts',
    stream: 'EVENTS',
    subjects: { normal: PAYMENT_SUBJECTS },
    eventTypes: [SUCCEEDED],
    async handle(e) {
      if (deps.channels.length === 0) return undefined;
      if (now() - Date.parse(e.time) > MAX_AGE_MS) {
        logger.info({ paymentId: e.data.paymentId }, 'no receipt: the payment succeeded more than a day ago');
        return undefined;
      }
      const { state } = await loadPayment(deps.log, e.data.paymentId);
      const customer = state?.customer;
      if (!state || !customer) return undefined;
      const data = {
        orderId: state.orderId,
        amount: e.data.capturedMinor,
        currency: state.currency,
        paidAt: e.data.paidAt,
      };
      const texts = paymentReceivedTexts(data, locale);
      const audit = { requestedBy: 'payments', via: 'payment-receipts' };
      const out: ResultEvent[] = [];
      if (deps.channels.includes('email') && customer.email) {
        out.push({
          subject: emailCommandSubject('normal'),
          type: emailEvents.defs.requested.type,
          data: {
            to: customer.email,
            template: 'payment_receipt',
            data: {
              ...data,
              name: customer.name ?? (locale === 'ru' ? 'Клиент' : 'Customer'),
              ...(state.description ? { description: state.description } : {}),
              locale,
            },
            priority: 'normal',
            ...audit,
          },
        });
      }
      if (deps.channels.includes('sms') && customer.phone) {
        out.push({
          subject: smsCommandSubject('normal'),
          type: smsEvents.defs.requested.type,
          data: { to: customer.phone, text: texts.text, priority: 'normal', ...audit },
        });
      }
      if (out.length > 0)
        logger.info({ paymentId: e.data.paymentId, commands: out.map((c) => c.type) }, 'payment receipt queued');
      return out;
    },
  };
};
