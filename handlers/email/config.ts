import type { Config } from '../../core/config.js';
import type { EmailLocale } from '../../schemas/emailTemplates.js';
import { GatewayError } from '../../schemas/errors.js';

/** The e-mail channel's slice of the configuration (MAIL_* variables). */
export interface MailConfig {
  /** MAIL_TEST_MODE, or no MAIL_HOST configured: nothing leaves. */
  testMode: boolean;
  /** Why test mode is on, for the start-up log. */
  testModeReason?: string;
  /** MAIL_QUEUE_ENABLED=false: one attempt per e-mail, no retry queue (the CRM sent at once). */
  queueEnabled: boolean;
  smtp: {
    host: string;
    port: number;
    encryption: 'tls' | 'ssl' | 'none';
    auth?: { user: string; pass: string };
    timeoutMs: number;
    /** Pooled connections: one per handler worker slot. */
    maxConnections: number;
  };
  from: { name?: string; address: string };
  defaultLocale: EmailLocale;
  timeZone: string;
}

const fail = (message: string) => new GatewayError('GW_ERR_CONFIG', `invalid configuration:\n  ${message}`);

export const mailConfig = (config: Config): MailConfig => {
  const env = config.env;
  try {
    new Intl.DateTimeFormat('en', { timeZone: env.MAIL_TIME_ZONE });
  } catch {
    throw fail(`MAIL_TIME_ZONE=${JSON.stringify(env.MAIL_TIME_ZONE)}: expected an IANA time zone, e.g. Europe/Moscow`);
  }
  const testModeReason = env.MAIL_TEST_MODE ? 'MAIL_TEST_MODE=true' : env.MAIL_HOST ? undefined : 'MAIL_HOST is not set';
  const testMode = testModeReason !== undefined;
  if (!testMode && !env.MAIL_FROM_ADDRESS) throw fail('MAIL_FROM_ADDRESS: required to send e-mail (MAIL_HOST is set)');
  if (env.MAIL_USERNAME && env.MAIL_PASSWORD === undefined) throw fail('MAIL_PASSWORD: required with MAIL_USERNAME');
  return {
    testMode,
    ...(testModeReason ? { testModeReason } : {}),
    queueEnabled: env.MAIL_QUEUE_ENABLED,
    smtp: {
      host: env.MAIL_HOST ?? 'localhost',
      port: env.MAIL_PORT,
      encryption: env.MAIL_ENCRYPTION,
      ...(env.MAIL_USERNAME ? { auth: { user: env.MAIL_USERNAME, pass: env.MAIL_PASSWORD ?? '' } } : {}),
      timeoutMs: env.MAIL_TIMEOUT_SECONDS * 1000,
      maxConnections: config.handlers.concurrency,
    },
    from: {
      address: env.MAIL_FROM_ADDRESS ?? 'noreply@fleetgate.invalid',
      ...(env.MAIL_FROM_NAME ? { name: env.MAIL_FROM_NAME } : {}),
    },
    defaultLocale: env.MAIL_DEFAULT_LOCALE,
    timeZone: env.MAIL_TIME_ZONE,
  };
};
