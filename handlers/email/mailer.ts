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

export type SendOutcome = ({ ok: true } & SentEmail) | ({ ok: false } & MailFailure);

/**
 * The e-mail provider port. Outcomes are data: `send` rejects only on a programming error.
 * `testMode` says what the handler records in `email.sent` and `email_log`.
 */
export interface Mailer {
  readonly testMode: boolean;
  send(message: OutgoingEmail): Promise<SendOutcome>;
  /** Closes pooled connections (QUIT). */
  close(): Promise<void>;
}
