import type { Sql } from '../../core/stores/postgres.js';
import type { SmsProviderName } from './port.js';

/** Failover order after the chosen provider. */
export const SMS_PROVIDER_NAMES: readonly SmsProviderName[] = ['smsru', 'twilio'];

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
