import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Logger } from '../../core/logger.js';
import { type Handler, HandlerError, type ResultEvent } from '../../core/runners/handlerRunner.js';
import {
  EMAIL_ATTACHMENTS_MAX_BYTES,
  EMAIL_FAILED,
  EMAIL_REQUESTED,
  EMAIL_RESULT_SUBJECT,
  EMAIL_SENT,
  type EmailFailed,
  EmailRequested,
  type EmailSent,
} from '../../schemas/events/email.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import type { MailConfig } from './config.js';
import type { Mailer, OutgoingEmail } from './mailer.js';
import { emailRenderer, TemplateError } from './render.js';

/** A failed e-mail with the code `email.failed` records (`SMTP_550`, `TEMPLATE_DATA`, …). */
export class EmailSendError extends HandlerError {
  constructor(
    readonly code: string,
    message: string,
    retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, retryable, undefined, options);
    this.name = 'EmailSendError';
  }
}

const permanent = (code: string, message: string, options?: ErrorOptions) => new EmailSendError(code, message, false, options);

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
      if (e instanceof TemplateError) throw permanent(e.code, e.message, { cause: e });
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
export const emailHandler = ({ mailer, config, logger }: EmailHandlerOptions): Handler => {
  const compose = composer(config);
  const log = logger.child({ handler: 'email', testMode: mailer.testMode });
  return {
    name: 'email',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, `evt.email.cmd.${p}`])),
    eventTypes: [EMAIL_REQUESTED],
    async handle(event, { attempt }): Promise<ResultEvent[]> {
      const { message, template, locale } = compose(event.id, event.data);
      const meta = { id: event.id, to: message.to, template, attempt, attachments: message.attachments.length };
      const outcome = await mailer.send(message);
      if (!outcome.ok) {
        const retryable = outcome.retryable && config.queueEnabled;
        log.warn({ ...meta, code: outcome.code, retryable, err: outcome.message }, 'email not sent');
        const note = outcome.retryable && !retryable ? ' (not retried: MAIL_QUEUE_ENABLED=false)' : '';
        throw new EmailSendError(outcome.code, `${outcome.message}${note}`, retryable);
      }
      const data: EmailSent = {
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
      return [{ subject: EMAIL_RESULT_SUBJECT, type: EMAIL_SENT, data }];
    },
    onGiveUp(event, reason, error) {
      const data: EmailFailed = {
        reason,
        ...(error instanceof EmailSendError ? { code: error.code } : {}),
        testMode: mailer.testMode,
      };
      log.warn({ id: event.id, code: data.code, reason }, 'email failed');
      return [{ subject: EMAIL_RESULT_SUBJECT, type: EMAIL_FAILED, data }];
    },
    close: () => mailer.close(),
  };
};
