import type {
  ApplicationAssignedData,
  NotificationLocale,
  PasswordResetData,
  PaymentReceivedData,
} from '../../schemas/http/notifications.js';

/** The short forms of a CRM notification: an SMS or Telegram text, a push title and body. */
export interface ShortTexts {
  text: string;
  title: string;
  body: string;
}

/** The e-mail side: the handler renders this template (HTML and text) with these variables. */
export interface EmailTemplateCall {
  template: string;
  data: Record<string, unknown>;
}

/**
 * Intl separates with no-break spaces, which are outside the GSM 7-bit alphabet: one would turn a
 * Latin SMS into UCS-2 and halve what fits in a segment.
 */
const plainSpaces = (s: string) => s.replace(/[\u00a0\u202f]/g, ' ');

export const money = (amountMinor: number, currency: string, locale: NotificationLocale) => {
  const format = new Intl.NumberFormat(locale === 'ru' ? 'ru-RU' : 'en-GB', { style: 'currency', currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return plainSpaces(format.format(amountMinor / 10 ** digits));
};

export const when = (iso: string, locale: NotificationLocale, timeZone: string) =>
  plainSpaces(
    new Intl.DateTimeFormat(locale === 'ru' ? 'ru-RU' : 'en-GB', { dateStyle: 'short', timeStyle: 'short', timeZone }).format(
      new Date(iso),
    ),
  );

/** `Name, you…` when a name is given, else `You…`: SMS stays short. */
const addressed = (name: string | undefined, sentence: string) =>
  name ? `${name}, ${sentence}` : `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}`;

export const applicationAssignedTexts = (
  d: ApplicationAssignedData,
  locale: NotificationLocale,
  timeZone: string,
  name?: string,
): ShortTexts => {
  const where = [d.pickupAddress, d.pickupTime && when(d.pickupTime, locale, timeZone)].filter(Boolean).join(', ');
  const title = locale === 'ru' ? `Новая заявка №${d.applicationId}` : `New application #${d.applicationId}`;
  const text =
    locale === 'ru'
      ? addressed(name, `вам назначена заявка №${d.applicationId}${where ? `: ${where}` : ''}.`)
      : addressed(name, `you have been assigned application #${d.applicationId}${where ? `: ${where}` : ''}.`);
  return { text: d.url ? `${text} ${d.url}` : text, title, body: where || text };
};

export const paymentReceivedTexts = (d: PaymentReceivedData, locale: NotificationLocale): ShortTexts => {
  const sum = money(d.amount, d.currency, locale);
  const text =
    locale === 'ru' ? `Оплата по заказу №${d.orderId} получена: ${sum}.` : `Payment for order #${d.orderId} received: ${sum}.`;
  return {
    text: d.receiptUrl ? `${text} ${d.receiptUrl}` : text,
    title: locale === 'ru' ? 'Оплата получена' : 'Payment received',
    body: text,
  };
};

export const passwordResetTexts = (d: PasswordResetData, locale: NotificationLocale): ShortTexts => {
  const minutes = d.expiresInMinutes;
  const text =
    locale === 'ru'
      ? `Ссылка для сброса пароля: ${d.resetUrl}${minutes ? ` (действует ${minutes} мин)` : ''}. Если вы не запрашивали сброс, ничего не делайте.`
      : `Reset your password: ${d.resetUrl}${minutes ? ` (valid for ${minutes} min)` : ''}. If you did not ask for this, ignore it.`;
  return { text, title: locale === 'ru' ? 'Сброс пароля' : 'Password reset', body: text };
};
