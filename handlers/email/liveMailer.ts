import { following } from '../../core/integrations/follow.js';
import type { IntegrationSettings } from '../../core/integrations/settings.js';
import type { Logger } from '../../core/logger.js';
import type { MailConfig } from './config.js';
import type { Mailer } from './port.js';
import { smtpMailer } from './smtp.js';
import { testModeMailer } from './testMode.js';

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** `email.smtp`'s effective settings over the start-up slice (timeouts, locale and pool size stay). */
export const mailConfigFrom = (settings: IntegrationSettings, base: MailConfig): MailConfig => {
  const e = settings.get('email.smtp');
  const f = e.fields;
  const host = str(f.host?.value);
  const user = str(f.username?.value);
  const testMode = e.testMode.value || host === undefined;
  return {
    ...base,
    testMode,
    ...(testMode ? { testModeReason: e.testMode.value ? `test mode (${e.testMode.source})` : 'no SMTP host' } : {}),
    smtp: {
      ...base.smtp,
      host: host ?? 'localhost',
      port: Number(f.port?.value ?? base.smtp.port),
      encryption: (str(f.encryption?.value) ?? base.smtp.encryption) as MailConfig['smtp']['encryption'],
      ...(user ? { auth: { user, pass: str(f.password?.value) ?? '' } } : { auth: undefined }),
    },
    from: {
      address: str(f.fromAddress?.value) ?? base.from.address,
      ...(str(f.fromName?.value) ? { name: str(f.fromName?.value) as string } : {}),
    },
  };
};

/**
 * A mailer that follows `email.smtp`: new settings build a new pooled transport for the next
 * e-mail; the old pool closes once the sends it carries have finished, so none is cut off.
 */
export const liveMailer = (settings: IntegrationSettings, base: MailConfig, logger: Logger) => {
  let config = mailConfigFrom(settings, base);
  const build = (): Mailer => {
    config = mailConfigFrom(settings, base);
    return config.testMode
      ? testModeMailer()
      : smtpMailer(config.smtp, {
          onIdleError: (err) => logger.warn({ err: err.message }, 'SMTP pool connection failed while idle'),
        });
  };
  const f = following(settings, 'email.smtp', build, { logger, close: (m) => m.close() });
  const mailer: Mailer = {
    get testMode() {
      return f.current.testMode;
    },
    send: (message) => f.use((m) => m.send(message)),
    close: () => f.close(),
  };
  // The handler reads `from` per message, so the sender follows the settings too. The target is a
  // fresh object: a proxy of the frozen config must answer its frozen values.
  const liveConfig = new Proxy({} as MailConfig, { get: (_t, key) => config[key as keyof MailConfig] });
  return { mailer, config: liveConfig };
};
