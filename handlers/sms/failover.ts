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
 * Providers switched off in `integration_settings` (`enabled = false` on the row named
 * `sms.smsru` or `sms.twilio`), for a process without the run-time settings service (which
 * handlers/sms/index.ts uses when it has one). Read at most every `ttlMs`; a failed read keeps
 * the last answer.
 */
export const disabledProviders = (sql: Sql, ttlMs = 5_000) => {
  let cached: ReadonlySet<string> = new Set();
  let readAt = 0;
  return async (): Promise<ReadonlySet<string>> => {
    if (Date.now() - readAt < ttlMs) return cached;
    readAt = Date.now();
    try {
      const rows = await sql<{ name: string }[]>`
        SELECT name FROM integration_settings WHERE name IN ${sql(SMS_PROVIDER_NAMES.map((n) => `sms.${n}`))} AND enabled = false`;
      cached = new Set(rows.map((r) => r.name.slice('sms.'.length)));
    } catch {
      // The settings table belongs to another part; until it answers, nothing counts as disabled.
    }
    return cached;
  };
};
