import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { buildEmailHandler } from '../../handlers/email/index.js';
import { isGatewayError } from '../../schemas/errors.js';

const config = (env: Record<string, string>) => loadConfig({ DATA_DIR: '/nonexistent', ...env }).mail;
const refusal = (env: Record<string, string>) => {
  try {
    config(env);
  } catch (e) {
    return e;
  }
  throw new Error('accepted');
};

describe('MAIL_* configuration', () => {
  it('maps the CRM variables onto the SMTP transport and the templates', () => {
    const c = config({
      MAIL_HOST: 'smtp.yandex.ru',
      MAIL_PORT: '465',
      MAIL_ENCRYPTION: 'ssl',
      MAIL_USERNAME: 'crm@fleet.example',
      MAIL_PASSWORD: 'pw',
      MAIL_FROM_ADDRESS: 'crm@fleet.example',
      MAIL_FROM_NAME: 'Fleet CRM',
      MAIL_DEFAULT_LOCALE: 'en',
      HANDLER_CONCURRENCY: '6',
    });
    expect(c).toMatchObject({
      testMode: false,
      queueEnabled: true,
      smtp: { host: 'smtp.yandex.ru', port: 465, encryption: 'ssl', auth: { user: 'crm@fleet.example', pass: 'pw' } },
      from: { name: 'Fleet CRM', address: 'crm@fleet.example' },
      defaultLocale: 'en',
      timeZone: 'Europe/Moscow',
    });
    // One pooled SMTP connection per handler worker slot.
    expect(c.smtp.maxConnections).toBe(6);
  });

  it('is in test mode with MAIL_TEST_MODE, or when no MAIL_HOST is set (defaults: ru, tls on 587)', () => {
    expect(config({ MAIL_HOST: 'smtp.example', MAIL_TEST_MODE: 'true' })).toMatchObject({
      testMode: true,
      testModeReason: 'MAIL_TEST_MODE=true',
    });
    expect(config({})).toMatchObject({
      testMode: true,
      testModeReason: 'MAIL_HOST is not set',
      defaultLocale: 'ru',
      smtp: { port: 587, encryption: 'tls' },
    });
  });

  it('refuses a live setup without a sender, a user without a password, an unknown time zone', () => {
    for (const [env, text] of [
      [{ MAIL_HOST: 'smtp.example' }, 'MAIL_FROM_ADDRESS'],
      [{ MAIL_USERNAME: 'u' }, 'MAIL_PASSWORD'],
      [{ MAIL_TIME_ZONE: 'Moscow' }, 'MAIL_TIME_ZONE'],
    ] as const) {
      const e = refusal(env);
      expect(isGatewayError(e, 'GW_ERR_CONFIG')).toBe(true);
      expect((e as Error).message).toContain(text);
    }
    expect(() => loadConfig({ MAIL_DEFAULT_LOCALE: 'de' })).toThrowError(/MAIL_DEFAULT_LOCALE/);
  });

  it('the handler takes every e-mail priority and releases its connections on close', async () => {
    const h = buildEmailHandler({
      config: loadConfig({ DATA_DIR: '/nonexistent' }),
      logger: (await import('../../core/logger.js')).silentLogger(),
      log: {} as never,
      sql: {} as never,
    });
    expect(h.subjects).toEqual({
      urgent: 'evt.email.cmd.urgent',
      high: 'evt.email.cmd.high',
      normal: 'evt.email.cmd.normal',
      low: 'evt.email.cmd.low',
    });
    expect(h.eventTypes).toEqual(['email.requested']);
    await expect(h.close?.()).resolves.toBeUndefined();
  });
});
