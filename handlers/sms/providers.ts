import type { Config } from '../../core/config.js';
import type { Sql } from '../../core/stores/postgres.js';
import type { SmsProvider, SmsProviderName } from './provider.js';
import { smsRuProvider } from './smsru.js';
import { testModeProvider } from './testMode.js';
import { twilioProvider } from './twilio.js';

/** Failover order after the chosen provider. */
export const SMS_PROVIDER_NAMES: readonly SmsProviderName[] = ['smsru', 'twilio'];

/**
 * The providers this process can send through: in test mode both, simulated; otherwise those with
 * credentials (SMS.ru: `SMS_API_KEY`; Twilio: account SID, auth token and sender number).
 */
export const smsProvidersFromConfig = (sms: Config['sms']): ReadonlyMap<SmsProviderName, SmsProvider> => {
  const providers = new Map<SmsProviderName, SmsProvider>();
  if (sms.testMode) {
    for (const name of SMS_PROVIDER_NAMES) providers.set(name, testModeProvider(name));
    return providers;
  }
  if (sms.smsru.apiKey) {
    providers.set(
      'smsru',
      smsRuProvider({ baseUrl: sms.smsru.baseUrl, apiKey: sms.smsru.apiKey, from: sms.from, timeoutMs: sms.timeoutMs }),
    );
  }
  const t = sms.twilio;
  if (t.accountSid && t.authToken && t.from) {
    providers.set(
      'twilio',
      twilioProvider({
        accountSid: t.accountSid,
        authToken: t.authToken,
        from: t.from,
        baseUrl: t.baseUrl,
        statusCallback: sms.twilioStatusCallback,
        timeoutMs: sms.timeoutMs,
      }),
    );
  }
  return providers;
};

/** The chosen provider first, then the others in failover order. */
export const providerOrder = (preferred: SmsProviderName): SmsProviderName[] => [
  preferred,
  ...SMS_PROVIDER_NAMES.filter((n) => n !== preferred),
];

/**
 * Providers switched off in `integration_settings` (`enabled = false` on the row named `smsru` or
 * `twilio`). Read at most every `ttlMs`, so an operator's switch takes effect within seconds
 * without a query per message; a failed read keeps the last answer.
 */
export const disabledProviders = (sql: Sql, ttlMs = 5_000) => {
  let cached: ReadonlySet<string> = new Set();
  let readAt = 0;
  return async (): Promise<ReadonlySet<string>> => {
    if (Date.now() - readAt < ttlMs) return cached;
    readAt = Date.now();
    try {
      const rows = await sql<{ name: string }[]>`
        SELECT name FROM integration_settings WHERE name IN ${sql(SMS_PROVIDER_NAMES as string[])} AND NOT enabled`;
      cached = new Set(rows.map((r) => r.name));
    } catch {
      // The settings table belongs to another part; until it answers, nothing counts as disabled.
    }
    return cached;
  };
};
