import { randomBytes, randomInt } from 'node:crypto';
import type { Money } from '../../schemas/events/sms.js';
import { type SendResult, type SmsProvider, SmsProviderError, type SmsProviderName, type StatusResult, toMinor } from './port.js';
import { smsSegments } from './segments.js';

/** What a segment costs in the simulation: SMS.ru's usual Russian mobile rate, Twilio's US rate. */
const PRICE: Readonly<Record<SmsProviderName, { perSegment: number; currency: string; balance: string }>> = {
  smsru: { perSegment: 3.95, currency: 'RUB', balance: '5000.00' },
  twilio: { perSegment: 0.0079, currency: 'USD', balance: '20.00' },
};

/*
 * Twilio's test-credential "magic" recipients, honoured for both providers so a client can try
 * the failure paths in test mode: each fails as the real provider would.
 */
const MAGIC: Readonly<Record<string, { smsru: [string, string]; twilio: [string, string]; optOut?: boolean }>> = {
  '+15005550001': {
    smsru: ['202', 'Неправильно указан номер'],
    twilio: ['21211', "The 'To' number is not a valid phone number."],
  },
  '+15005550009': { smsru: ['207', 'Нет маршрута'], twilio: ['21614', "'To' number is not a valid mobile number"] },
  '+15005550004': {
    smsru: ['209', 'Номер в стоп-листе'],
    twilio: ['21610', 'Attempt to send to unsubscribed recipient'],
    optOut: true,
  },
};

/** An id shaped like the provider's: SMS.ru `000000-10000000`, Twilio `SM` + 32 hex digits. */
const messageId = (name: SmsProviderName) =>
  name === 'twilio'
    ? `SM${randomBytes(16).toString('hex')}`
    : `${String(randomInt(0, 1_000_000)).padStart(6, '0')}-${randomInt(10_000_000, 100_000_000)}`;

const price = (name: SmsProviderName, segments: number): Money => {
  const p = PRICE[name];
  return toMinor((p.perSegment * segments).toFixed(6), p.currency) as Money;
};

/**
 * SMS_TEST_MODE: stands in for `name` without any network call. It answers as that provider
 * would (its id format, segments, its price and currency), reports every message delivered when
 * asked, and fails on the magic numbers above; the handler logs and records it like a live send,
 * marked `testMode`.
 */
export const testModeProvider = (name: SmsProviderName): SmsProvider => {
  const sent = new Map<string, number>();
  return {
    name,
    testMode: true,
    async send({ to, text }): Promise<SendResult> {
      const magic = MAGIC[to];
      if (magic) {
        const [code, message] = magic[name];
        throw new SmsProviderError(name, 'permanent', code, `${name} (test mode): ${message}`, { optOut: magic.optOut ?? false });
      }
      const segments = smsSegments(text);
      const providerMessageId = messageId(name);
      sent.set(providerMessageId, segments);
      // Like the real APIs: Twilio often prices at once (we simulate it), SMS.ru only in sms/status.
      return { providerMessageId, segments, cost: name === 'twilio' ? price(name, segments) : null };
    },
    async status(id): Promise<StatusResult> {
      const segments = sent.get(id) ?? 1;
      return { state: 'delivered', providerStatus: name === 'twilio' ? 'delivered' : '103', cost: price(name, segments) };
    },
    async balance() {
      return toMinor(PRICE[name].balance, PRICE[name].currency) as Money;
    },
  };
};
