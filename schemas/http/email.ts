import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { EMAIL_LOCALES, EMAIL_TEMPLATE_NAMES } from '../emailTemplates.js';
import { EMAIL_ATTACHMENTS_MAX_BYTES, emailFields } from '../events/email.js';
import { Priority } from '../events/envelope.js';
import { HistoryEntry } from './sms.js';

export const SendEmailRequest = Type.Object(
  { ...emailFields, priority: Type.Optional(Priority) },
  {
    additionalProperties: false,
    $id: 'SendEmailRequest',
    description:
      'Either a `template` (rendered with `data`; `subject` overrides its subject), or a `subject` with `html` ' +
      'and/or `text`. Templates: ' +
      `${EMAIL_TEMPLATE_NAMES.join(', ')}; \`data.locale\`: ${EMAIL_LOCALES.join(' or ')}. ` +
      `Attachments may add up to ${EMAIL_ATTACHMENTS_MAX_BYTES / 1_048_576} MB decoded.`,
  },
);
export type SendEmailRequest = Static<typeof SendEmailRequest>;

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** `GET /api/v1/email/{id}`: the e-mail as `email_log` holds it, with every event in `history`. */
export const EmailStatus = Type.Object(
  {
    id: Type.String(),
    status: Type.String({ description: 'queued (also between retries), sent or failed' }),
    to: Type.String(),
    subject: Nullable(Type.String({ description: 'as sent; null until a template is rendered' })),
    template: Nullable(Type.String()),
    locale: Nullable(Type.String()),
    priority: Priority,
    messageId: Nullable(Type.String({ description: 'the Message-ID header' })),
    response: Nullable(Type.String({ description: "the SMTP server's last reply" })),
    accepted: Type.Array(Type.String()),
    rejected: Type.Array(Type.String()),
    attachments: Type.Array(
      Type.Object({ filename: Type.String(), contentType: Type.String(), size: Type.Integer({ description: 'bytes' }) }),
    ),
    error: Nullable(Type.Object({ code: Nullable(Type.String()), message: Nullable(Type.String()) })),
    attempts: Type.Integer(),
    nextAttemptAt: Nullable(Type.String({ format: 'date-time' })),
    testMode: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    sentAt: Nullable(Type.String({ format: 'date-time' })),
    history: Type.Array(HistoryEntry),
  },
  { $id: 'EmailStatus' },
);
export type EmailStatus = Static<typeof EmailStatus>;
