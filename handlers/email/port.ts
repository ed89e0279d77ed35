import { HandlerError } from '../../core/runners/handlerRunner.js';

/** A message ready to go: rendered, attachments decoded. */
export interface OutgoingEmail {
  from: { name?: string; address: string };
  to: string;
  subject: string;
  html?: string;
  text?: string;
  attachments: readonly { filename: string; content: Buffer; contentType: string }[];
  /** The Message-ID header (`<id@domain>`); derived from the command id so a retry reuses it. */
  messageId: string;
}

/** What the server answered to a message it took. */
export interface SentEmail {
  messageId: string;
  accepted: string[];
  rejected: string[];
  /** The last SMTP reply, e.g. `250 2.0.0 Ok: queued as 4XyZ`. */
  response: string;
}

/** Why a message did not go, and whether trying the same message later may work. */
export interface MailFailure {
  /** `SMTP_550`, `EAUTH`, `ECONNECTION`, … (see `email.failed`). */
  code: string;
  message: string;
  retryable: boolean;
}

/**
 * The e-mail channel's handler error: a message that did not go, with the code `email.failed`
 * records (`SMTP_550`, `TEMPLATE_DATA`, …).
 */
export class EmailSendError extends HandlerError<{ code: string }> {
  get code(): string {
    return this.details?.code ?? 'SMTP_ERROR';
  }
  static of(f: MailFailure, cause?: unknown) {
    return new EmailSendError(f.message, f.retryable, { details: { code: f.code }, ...(cause ? { cause } : {}) });
  }
}

/**
 * The e-mail provider port. `send` resolves with what the server answered to a message it took,
 * or rejects with an `EmailSendError` that says whether the same message may go later.
 * `testMode` says what the handler records in `email.sent` and `email_log`.
 */
export interface Mailer {
  readonly testMode: boolean;
  send(message: OutgoingEmail): Promise<SentEmail>;
  /** Closes pooled connections (QUIT). */
  close(): Promise<void>;
}
