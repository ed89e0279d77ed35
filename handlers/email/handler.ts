import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Logger } from '../../core/logger.js';
import type { Handler } from '../../core/runners/handlerRunner.js';
import {
  EMAIL_ATTACHMENTS_MAX_BYTES,
  EMAIL_RESULT_SUBJECT,
  EmailRequested,
  emailCommandSubject,
  emailEvents,
} from '../../schemas/events/email.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import type { MailConfig } from './config.js';
import { EmailSendError, type Mailer, type OutgoingEmail } from './port.js';
import { emailRenderer, TemplateError } from './render.js';

const { defs } = emailEvents;
const permanent = (code: string, message: string, cause?: unknown) =>
  EmailSendError.of({ code, message, retryable: false }, cause);

export interface EmailHandlerOptions {
  mailer: Mailer;
  config: MailConfig;
  logger: Logger;
}

const isCommand = TypeCompiler.Compile(EmailRequested);

/** Rendered content and decoded attachments of one command, or a permanent error saying why not. */
const composer = (config: MailConfig) => {
  const renderer = emailRenderer({
    defaultLocale: config.defaultLocale,
    timeZone: config.timeZone,
    brand: config.from.name ?? 'fleetgate',
  });
  const domain = config.from.address.slice(config.from.address.lastIndexOf('@') + 1);
  return (id: string, data: unknown) => {
    if (!isCommand.Check(data)) {
      const first = isCommand.Errors(data).First();
      throw permanent('INVALID_COMMAND', `not an email.requested command: ${first?.path || '(data)'} ${first?.message ?? ''}`);
    }
    const attachments = (data.attachments ?? []).map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: Buffer.from(a.contentBase64, 'base64'),
    }));
    const total = attachments.reduce((n, a) => n + a.content.length, 0);
    if (total > EMAIL_ATTACHMENTS_MAX_BYTES) {
      throw permanent(
        'ATTACHMENT_TOO_LARGE',
        `the attachments add up to ${total} bytes; at most ${EMAIL_ATTACHMENTS_MAX_BYTES} are sent`,
      );
    }
    // A copy per message: nodemailer rewrites the address objects it is given, and the config is frozen.
    const base = { from: { ...config.from }, to: data.to, attachments, messageId: `<${id}@${domain}>` };
    if (data.template === undefined) {
      if (data.subject === undefined || (data.html === undefined && data.text === undefined)) {
        throw permanent('INVALID_COMMAND', 'an e-mail without a template needs a subject and html or text');
      }
      const message: OutgoingEmail = {
        ...base,
        subject: data.subject,
        ...(data.html === undefined ? {} : { html: data.html }),
        ...(data.text === undefined ? {} : { text: data.text }),
      };
      return { message };
    }
    if (data.html !== undefined || data.text !== undefined) {
      throw permanent('INVALID_COMMAND', 'give a template or html/text, not both');
    }
    try {
      const r = renderer.render(data.template, data.data);
      const message: OutgoingEmail = { ...base, subject: data.subject ?? r.subject, html: r.html, text: r.text };
      return { message, template: r.template, locale: r.locale };
    } catch (e) {
      if (e instanceof TemplateError) throw permanent(e.code, e.message, e);
      throw e;
    }
  };
};

/**
 * `email.requested` → rendered, sent through the `Mailer` → `email.sent`, or `email.failed` when
 * given up on. SMTP 4xx and connection failures are retried (the runner backs off); 5xx, a bad
 * template or variables, and oversized attachments fail at once. With MAIL_QUEUE_ENABLED=false
 * nothing is retried: the CRM without its queue tried once and reported the outcome.
 */
export const emailHandler = ({ mailer, config, logger }: EmailHandlerOptions): Handler<typeof defs.requested.type> => {
  const compose = composer(config);
  const log = logger.child({ handler: 'email', testMode: mailer.testMode });

  const send = async (message: OutgoingEmail, meta: object) => {
    try {
      return await mailer.send(message);
    } catch (e) {
      if (!(e instanceof EmailSendError)) throw e;
      const retryable = e.retryable && config.queueEnabled;
      log.warn({ ...meta, code: e.code, retryable, err: e.message }, 'email not sent');
      if (retryable === e.retryable) throw e;
      const note = ' (not retried: MAIL_QUEUE_ENABLED=false)';
      throw EmailSendError.of({ code: e.code, message: `${e.message}${note}`, retryable }, e);
    }
  };

  return {
    name: 'email',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, emailCommandSubject(p)])),
    // `email.requested`, checked against its declaration so a renamed type fails to compile here.
    eventTypes: ['email.requested' satisfies typeof defs.requested.type],
    attemptFailed: defs.attemptFailed,
    async handle(event, { attempt }) {
      const { message, template, locale } = compose(event.id, event.data);
      const meta = { id: event.id, to: message.to, template, attempt, attachments: message.attachments.length };
      const outcome = await send(message, meta);
      const data = {
        messageId: outcome.messageId,
        accepted: outcome.accepted,
        rejected: outcome.rejected,
        response: outcome.response,
        testMode: mailer.testMode,
        subject: message.subject,
        ...(template === undefined ? {} : { template }),
        ...(locale === undefined ? {} : { locale }),
        attempt,
      };
      log.info({ ...meta, messageId: data.messageId, response: data.response }, 'email sent');
      return [{ subject: EMAIL_RESULT_SUBJECT, type: defs.sent.type, data }];
    },
    onGiveUp(event, reason, error) {
      const code = error instanceof EmailSendError ? error.code : undefined;
      log.warn({ id: event.id, code, reason }, 'email failed');
      const data = { reason, ...(code === undefined ? {} : { code }), testMode: mailer.testMode };
      return [{ subject: EMAIL_RESULT_SUBJECT, type: defs.failed.type, data }];
    },
    close: () => mailer.close(),
  };
};
