import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { isGatewayError } from '../../schemas/errors.js';

/** The message of the configuration error `loadConfig` throws for `env`. */
const problemsOf = (env: Record<string, string>): string => {
  try {
    loadConfig({ DATA_DIR: '/nonexistent', ...env });
  } catch (e) {
    if (isGatewayError(e, 'GW_ERR_CONFIG')) return e.message;
    throw e;
  }
  throw new Error('loadConfig accepted the configuration');
};

describe('config slices', () => {
  it('reads mail, push and Telegram into typed slices, defaults in test mode', () => {
    const c = loadConfig({ DATA_DIR: '/nonexistent', MAIL_QUEUE_ENABLED: 'false', MAIL_TIMEOUT_SECONDS: '7' });
    expect(c.mail).toMatchObject({ testMode: true, testModeReason: 'MAIL_HOST is not set', queueEnabled: false });
    expect(c.mail.smtp.timeoutMs).toBe(7_000);
    expect(c.push).toEqual({ testMode: true, serviceAccountPath: undefined });
    expect(c.telegram).toEqual({
      testMode: true,
      apiUrl: 'https://api.telegram.org',
      ratePerSecond: 30,
      webhookEnabled: false,
      botUsername: undefined,
      updateMaxAgeSeconds: 300,
    });
    expect(c.osmand).toEqual({ port: 5055, portExplicit: false });
    // The raw variables stay inside loadConfig: parts read their slice.
    expect('env' in c).toBe(false);
  });

  it('gives live FCM and Telegram their credentials', () => {
    const c = loadConfig({
      DATA_DIR: '/nonexistent',
      FCM_TEST_MODE: 'false',
      FCM_SERVICE_ACCOUNT: '/etc/fleetgate/fcm.json',
      TELEGRAM_TEST_MODE: 'false',
      TELEGRAM_BOT_TOKEN: '123:abc',
      TELEGRAM_RATE_LIMIT_PER_SECOND: '5',
    });
    expect(c.push).toEqual({ testMode: false, serviceAccountPath: '/etc/fleetgate/fcm.json' });
    expect(c.telegram).toEqual({
      testMode: false,
      botToken: '123:abc',
      apiUrl: 'https://api.telegram.org',
      ratePerSecond: 5,
      webhookEnabled: false,
      botUsername: undefined,
      updateMaxAgeSeconds: 300,
    });
  });

  it('refuses the MAIL_* setup in loadConfig, so an API-only process stops at start-up', () => {
    const message = problemsOf({ ROLES: 'api', MAIL_HOST: 'smtp.example', MAIL_USERNAME: 'crm' });
    expect(message).toContain('MAIL_FROM_ADDRESS: required to send e-mail (MAIL_HOST is set)');
    expect(message).toContain('MAIL_PASSWORD: required with MAIL_USERNAME');
  });

  it('lists every problem together: schema, mail, push, Telegram and the rest', () => {
    const message = problemsOf({
      HTTP_PORT: '70000',
      MAIL_TIME_ZONE: 'Moscow',
      MAIL_USERNAME: 'crm',
      FCM_TEST_MODE: 'false',
      TELEGRAM_TEST_MODE: 'false',
      HANDLER_BACKOFF_BASE_MS: '5000',
      HANDLER_BACKOFF_MAX_MS: '100',
    });
    expect(message.split('\n')).toEqual([
      'invalid configuration:',
      '  HTTP_PORT="70000": expected a TCP port: an integer from 0 to 65535',
      '  HANDLER_BACKOFF_BASE_MS must not exceed HANDLER_BACKOFF_MAX_MS',
      '  MAIL_TIME_ZONE="Moscow": expected an IANA time zone, e.g. Europe/Moscow',
      '  MAIL_PASSWORD: required with MAIL_USERNAME',
      '  FCM_TEST_MODE=false needs FCM_SERVICE_ACCOUNT (a service-account JSON file path)',
      '  TELEGRAM_TEST_MODE=false needs TELEGRAM_BOT_TOKEN',
    ]);
  });

  it('never quotes a secret, nor the password in a URL', () => {
    const key = 'short-admin-key-do-not-print';
    const message = problemsOf({ ADMIN_API_KEY: key, DATABASE_URL: 'mysql://crm:hunter2@db/fleet' });
    expect(message).toContain('ADMIN_API_KEY=(secret, not shown): expected an API key of at least 32 characters');
    expect(message).toContain('DATABASE_URL="mysql://crm:***@db/fleet": expected');
    expect(message).not.toContain(key);
    expect(message).not.toContain('hunter2');
  });
});
