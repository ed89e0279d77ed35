import type { Logger } from '../../../core/logger.js';
import type { CommandOf, Handler } from '../../../core/runners/handlerRunner.js';
import type { Sql } from '../../../core/stores/postgres.js';
import { ALERT_DEVICES_SUBJECT } from '../../../schemas/events/alert.js';
import { EMAIL_RESULT_SUBJECT } from '../../../schemas/events/email.js';
import { ERP_RUNS_SUBJECT } from '../../../schemas/events/erp.js';
import { PUSH_RESULTS_SUBJECT } from '../../../schemas/events/push.js';
import { SMS_RESULT_SUBJECT } from '../../../schemas/events/sms.js';
import type { TelegramAlertKind } from '../../../schemas/events/telegram.js';
import { type Alert, acceptAlert, alertSender } from './alertOutbox.js';
import type { Lang } from './texts.js';

/** The events that are alerts, and which kind each is. */
const ALERT_TYPES = {
  'payment.failed': 'payment_failed',
  'payment.refund_succeeded': 'payment_refunded',
  'sms.failed': 'notification_failed',
  'email.failed': 'notification_failed',
  'push.failed': 'notification_failed',
  'erp.sync_failed': 'erp_sync_failed',
  'alert.device_offline': 'device_offline',
  'alert.device_online': 'device_offline',
  'alert.speeding': 'speeding',
} as const satisfies Record<string, TelegramAlertKind>;
type AlertType = keyof typeof ALERT_TYPES;
type AlertEvent = CommandOf<AlertType>;

const hhmm = (iso: string) => iso.slice(11, 16);

const alertText = (e: AlertEvent, lang: Lang): string => {
  const ru = lang === 'ru';
  switch (e.type) {
    case 'payment.failed':
      return ru
        ? `⚠️ Платёж ${e.data.paymentId} не прошёл: ${e.data.reason}`
        : `⚠️ Payment ${e.data.paymentId} failed: ${e.data.reason}`;
    case 'payment.refund_succeeded':
      return ru
        ? `↩️ Возврат ${(e.data.amountMinor / 100).toFixed(2)} по платежу ${e.data.paymentId}`
        : `↩️ Refunded ${(e.data.amountMinor / 100).toFixed(2)} of payment ${e.data.paymentId}`;
    case 'erp.sync_failed':
      return ru
        ? `🔄 Синхронизация с ERP (${e.data.entity}, ${e.data.direction}) не удалась: ${e.data.error}`
        : `🔄 ERP sync (${e.data.entity}, ${e.data.direction}) failed: ${e.data.error}`;
    case 'alert.device_offline':
      return ru
        ? `📴 Устройство ${e.data.deviceId} не на связи (последний сигнал ${hhmm(e.data.lastSeenAt)} UTC)`
        : `📴 Device ${e.data.deviceId} is offline (last report ${hhmm(e.data.lastSeenAt)} UTC)`;
    case 'alert.device_online':
      return ru ? `📶 Устройство ${e.data.deviceId} снова на связи` : `📶 Device ${e.data.deviceId} is back online`;
    case 'alert.speeding':
      return ru
        ? `🚨 Превышение скорости: ${e.data.deviceId} ${Math.round(e.data.speedKmh)} км/ч (предел ${e.data.limitKmh}) с ${hhmm(e.data.startedAt)} UTC`
        : `🚨 Speeding: ${e.data.deviceId} at ${Math.round(e.data.speedKmh)} km/h (limit ${e.data.limitKmh}) since ${hhmm(e.data.startedAt)} UTC`;
    default: {
      const channel = e.type.slice(0, e.type.indexOf('.'));
      return ru
        ? `❌ Уведомление (${channel}) не доставлено: ${e.data.reason}`
        : `❌ ${channel} notification failed: ${e.data.reason}`;
    }
  }
};

/** The companies and drivers an alert concerns (their chats get it too), from the read models. */
const concerned = async (sql: Sql, e: AlertEvent): Promise<{ companyIds: string[]; driverIds: string[] }> => {
  let rows: { company_id: string | null; driver_id: string | null }[] = [];
  if (e.type === 'payment.failed' || e.type === 'payment.refund_succeeded') {
    rows = await sql`
      SELECT a.company_id, a.driver_id FROM payment_transactions p JOIN applications a ON a.id = p.order_id
      WHERE p.id::text = ${e.data.paymentId} AND NOT a.deleted`;
  } else if (e.type === 'alert.device_offline' || e.type === 'alert.device_online' || e.type === 'alert.speeding') {
    rows = await sql`
      SELECT company_id, driver_id FROM vehicles WHERE NOT deleted AND ${e.data.deviceId} = ANY (gps_device_ids)`;
  }
  const ids = (k: 'company_id' | 'driver_id') => [...new Set(rows.map((r) => r[k]).filter((x): x is string => !!x))];
  return { companyIds: ids('company_id'), driverIds: ids('driver_id') };
};

export interface AlertHandlerOptions {
  sql: Sql;
  logger: Logger;
}

/** Alert events of the handler's subjects → the outbox (`acceptAlert`); the sender does the rest. */
const alertFollower = (
  opts: AlertHandlerOptions,
  name: string,
  subjects: Handler['subjects'],
  extra?: Pick<Handler, 'background'>,
): Handler<AlertType> => ({
  name,
  stream: 'EVENTS',
  subjects,
  eventTypes: Object.keys(ALERT_TYPES) as AlertType[],
  async handle(e) {
    const alert: Alert = {
      id: e.id,
      kind: ALERT_TYPES[e.type],
      text: { en: alertText(e, 'en'), ru: alertText(e, 'ru') },
      ...(await concerned(opts.sql, e)),
    };
    await acceptAlert(opts.sql, alert);
    return [];
  },
  ...extra,
});

/**
 * `telegram-alerts`: payment, SMS, e-mail and push outcomes. The runner takes one subject filter
 * per priority slot (the embedded log's consumers filter on one subject), so the four subjects
 * alerts come from use the four slots, payments first, and this consumer never reads commands,
 * GPS or link events. It also runs the outbox sender (`alertSender`).
 */
export const telegramAlertHandler = (
  opts: AlertHandlerOptions & {
    send: Parameters<typeof alertSender>[0]['send'];
    globalPerSecond: number;
    windowMs?: number;
  },
): Handler<AlertType> =>
  alertFollower(
    opts,
    'telegram-alerts',
    { urgent: 'evt.payment.tx.>', high: SMS_RESULT_SUBJECT, normal: EMAIL_RESULT_SUBJECT, low: PUSH_RESULTS_SUBJECT },
    {
      background: () =>
        alertSender({
          sql: opts.sql,
          logger: opts.logger,
          send: opts.send,
          globalPerSecond: opts.globalPerSecond,
          ...(opts.windowMs === undefined ? {} : { windowMs: opts.windowMs }),
        }),
    },
  );

/**
 * `telegram-alerts-fleet`: the gateway's own alerts (device offline and back, speeding: the
 * detectors in its background append them first) and failed ERP runs.
 */
export const telegramFleetAlertHandler = (opts: AlertHandlerOptions, background?: Handler['background']): Handler<AlertType> =>
  alertFollower(
    opts,
    'telegram-alerts-fleet',
    { high: ALERT_DEVICES_SUBJECT, normal: ERP_RUNS_SUBJECT },
    background ? { background } : undefined,
  );
