import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, commandSubject } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { AttemptFailed, Priority } from './envelope.js';

/**
 * Deliberately loose (RFC 5322 allows far more): one `@`, a dot in the domain (not its first or
 * last character), no spaces or list separators. The domain's first dot is matched by a run that
 * cannot hold a dot: `X+\.X+` with `.` inside `X` backtracks quadratically (issue 23), this is linear.
 */
export const EmailAddress = Type.String({
  maxLength: 254,
  pattern: '^[^\\s@<>(),;:"]+@[^\\s@<>(),;:"][^\\s@<>(),;:".]*\\.[^\\s@<>(),;:"]+$',
  description: 'one e-mail address, e.g. driver@example.com',
});

/** A template under the handler's template directory (`application_assigned`, `password_reset`, …). */
export const EmailTemplateName = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'a template name' });

/**
 * Base64 without line breaks. Padding to a multiple of 4 is checked by the route: a pattern with a
 * repeated group overflows V8's regex stack on a 10 MB attachment.
 */
export const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$' });

/**
 * The decoded size all attachments of one e-mail may add up to. They travel inside the
 * `email.requested` event, and a log message must stay under NATS' default max_payload (1 MiB)
 * once base64 (4/3) and the envelope are added. Larger files need an object store (not built).
 */
export const EMAIL_ATTACHMENTS_MAX_BYTES = 512 * 1024;

export const EmailAttachment = Type.Object(
  {
    filename: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/\\\\\\x00-\\x1f]+$' }),
    contentBase64: { ...Base64, description: 'the file, base64 (standard alphabet, padded, no line breaks)' },
    contentType: Type.String({ maxLength: 255, pattern: '^[\\w.+-]+/[\\w.+-]+$', description: 'e.g. application/pdf' }),
  },
  { additionalProperties: false },
);
export type EmailAttachment = Static<typeof EmailAttachment>;

/** The fields of an e-mail command, shared by the HTTP body and the event. */
export const emailFields = {
  to: EmailAddress,
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998 })),
  template: Type.Optional(EmailTemplateName),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'template variables' })),
  html: Type.Optional(Type.String({ minLength: 1 })),
  text: Type.Optional(Type.String({ minLength: 1 })),
  attachments: Type.Optional(Type.Array(EmailAttachment, { maxItems: 20 })),
};

/** `email.requested`: a client asked for an e-mail; the handler renders the template and sends it. */
export const EmailRequested = Type.Object(
  { ...emailFields, priority: Priority, ...CommandAudit },
  { additionalProperties: false },
);
export type EmailRequested = Static<typeof EmailRequested>;

/** Where the e-mail handler appends its outcomes: apart from the command subjects its consumers read. */
export const EMAIL_RESULT_SUBJECT = 'evt.email.result';

/** `email.sent`: the SMTP server took the message (or, in test mode, it would have been sent). */
export const EmailSent = Type.Object(
  {
    /** The Message-ID header, derived from the command id: a retry sends the same one. */
    messageId: Type.String(),
    accepted: Type.Array(Type.String()),
    rejected: Type.Array(Type.String()),
    /** The server's last reply, e.g. `250 2.0.0 Ok: queued as 4XyZ`. */
    response: Type.String(),
    testMode: Type.Boolean(),
    /** The subject as sent (rendered from the template when the request had none). */
    subject: Type.String(),
    template: Type.Optional(Type.String()),
    locale: Type.Optional(Type.String()),
    /** Which attempt succeeded (1 = the first). */
    attempt: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type EmailSent = Static<typeof EmailSent>;

/**
 * `email.failed`: given up on, at once for a permanent error or after the last attempt.
 * `code`: `SMTP_<reply code>` (`SMTP_550`), a nodemailer code (`EAUTH`, `ECONNECTION`), or
 * `TEMPLATE_UNKNOWN`, `TEMPLATE_DATA`, `ATTACHMENT_TOO_LARGE`, `INVALID_COMMAND`.
 */
export const EmailFailed = Type.Object(
  {
    reason: Type.String(),
    code: Type.Optional(Type.String()),
    testMode: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type EmailFailed = Static<typeof EmailFailed>;

/** Every e-mail event, declared once: type literal and data schema. */
export const emailEvents = eventDomain({
  requested: defineEvent('email.requested', EmailRequested),
  sent: defineEvent('email.sent', EmailSent),
  failed: defineEvent('email.failed', EmailFailed),
  /** The handler runner's record of one failed attempt that will be retried. */
  attemptFailed: defineEvent('email.attempt_failed', AttemptFailed),
});
export type EmailEvent = EventUnion<typeof emailEvents.defs>;

export const EMAIL_REQUESTED = emailEvents.defs.requested.type;
export const EMAIL_SENT = emailEvents.defs.sent.type;
export const EMAIL_FAILED = emailEvents.defs.failed.type;
export const EMAIL_ATTEMPT_FAILED = emailEvents.defs.attemptFailed.type;

/** Where the API appends `email.requested`, one subject per priority (the handler's queues). */
export const emailCommandSubject = (priority: Priority) => commandSubject('email', priority);
