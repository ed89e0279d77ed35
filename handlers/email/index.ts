import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../index.js';
import { emailHandler } from './handler.js';
import { liveMailer } from './liveMailer.js';
import { smtpMailer } from './smtp.js';
import { testModeMailer } from './testMode.js';

/** The e-mail handler with the mailer `config.mail` asks for: SMTP, or test mode. */
export const buildEmailHandler = (deps: HandlerDeps): AnyHandler => {
  const config = deps.config.mail;
  const logger = deps.logger.child({ channel: 'email' });
  if (deps.integrations) {
    const live = liveMailer(deps.integrations.settings, config, logger);
    return emailHandler({ mailer: live.mailer, config: live.config, logger: deps.logger });
  }
  if (config.testMode) logger.warn({ reason: config.testModeReason }, 'e-mail runs in test mode: nothing is sent');
  else logger.info({ host: config.smtp.host, port: config.smtp.port, encryption: config.smtp.encryption }, 'e-mail via SMTP');
  const mailer = config.testMode
    ? testModeMailer()
    : smtpMailer(config.smtp, {
        onIdleError: (err) => logger.warn({ err: err.message }, 'SMTP pool connection failed while idle'),
      });
  return emailHandler({ mailer, config, logger: deps.logger });
};
