import nodemailer from 'nodemailer';
import type { MailConfig } from './config.js';
import { EmailSendError, type Mailer, type MailFailure, type OutgoingEmail, type SentEmail } from './port.js';

/** Connection-level failures: the message never reached a server that judged it. */
const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EPROTOCOL', 'ECONNRESET', 'ECONNREFUSED']);

/**
 * SMTP reply classes decide (RFC 5321 §4.2.1): 4xx is transient, 5xx permanent. Auth failures
 * follow the same rule: 454 (temporary) is retried, 535 (credentials invalid, RFC 4954) is not,
 * since the same password fails again and repeated bad logins get the account or address blocked
 * by the provider's brute-force guard. STARTTLS refused for good (ETLS, not 454) means
 * MAIL_ENCRYPTION does not match the server: an operator has to fix it, retries cannot.
 */
export const classifySmtpError = (e: unknown): MailFailure => {
  const err = (e ?? {}) as { code?: unknown; responseCode?: unknown; message?: unknown; command?: unknown };
  const code = typeof err.code === 'string' ? err.code : undefined;
  const reply = typeof err.responseCode === 'number' ? err.responseCode : undefined;
  const message = `${code ? `${code}: ` : ''}${typeof err.message === 'string' ? err.message : String(e)}`.slice(0, 1_000);
  // 454 is "TLS not available due to temporary reason" (RFC 3207); anything else is a mismatch.
  if (code === 'ETLS') return { code, message, retryable: reply !== undefined && reply >= 400 && reply < 500 };
  if (reply !== undefined && reply >= 400 && reply < 600) {
    return { code: code === 'EAUTH' ? `EAUTH_${reply}` : `SMTP_${reply}`, message, retryable: reply < 500 };
  }
  if (code && TRANSIENT_CODES.has(code)) return { code, message, retryable: true };
  if (code === 'EAUTH' || code === 'EENVELOPE' || code === 'EMESSAGE') {
    return { code, message, retryable: false };
  }
  // Unknown: most likely the network; the attempt limit bounds the cost of being wrong.
  return { code: code ?? 'SMTP_ERROR', message, retryable: true };
};

export interface SmtpMailerOptions {
  /** Extra TLS options (a private CA for a test server). */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** Errors of the pool outside a send (an idle connection dropped). */
  onIdleError?: (err: Error) => void;
}

/** nodemailer's pooled SMTP transport behind the `Mailer` port. */
export const smtpMailer = (cfg: MailConfig['smtp'], opts: SmtpMailerOptions = {}): Mailer => {
  const { onIdleError } = opts;
  const create = () =>
    nodemailer.createTransport({
      pool: true,
      maxConnections: cfg.maxConnections,
      maxMessages: 100,
      // nodemailer re-queues a message whose connection closed mid-send, 5 times by default and
      // unseen by email_log. Once covers a pooled connection the server dropped; beyond that the
      // runner retries with back-off and records each attempt.
      maxRequeues: 1,
      host: cfg.host,
      port: cfg.port,
      // ssl: implicit TLS (465); tls: STARTTLS required, never plain text; none: never upgrade.
      secure: cfg.encryption === 'ssl',
      requireTLS: cfg.encryption === 'tls',
      ignoreTLS: cfg.encryption === 'none',
      ...(cfg.auth ? { auth: cfg.auth } : {}),
      ...(opts.tls ? { tls: opts.tls } : {}),
      // nodemailer waits up to 2 min to connect and 10 min for a reply by default: a worker slot each.
      connectionTimeout: cfg.timeoutMs,
      greetingTimeout: cfg.timeoutMs,
      socketTimeout: cfg.timeoutMs,
      // Content is only ever our strings and buffers: no file paths or URLs fetched on a sender's behalf.
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    });
  // Opened on first use and again after close(): a runner may be stopped and started.
  let transport: ReturnType<typeof create> | undefined;
  const open = () => {
    const t = create();
    // A pooled connection failing while idle is reported here; unhandled, it would crash the process.
    t.on('error', (err) => onIdleError?.(err));
    return t;
  };
  return {
    testMode: false,
    async send(m: OutgoingEmail): Promise<SentEmail> {
      try {
        transport ??= open();
        const info = await transport.sendMail({
          from: m.from,
          to: m.to,
          subject: m.subject,
          ...(m.html === undefined ? {} : { html: m.html }),
          ...(m.text === undefined ? {} : { text: m.text }),
          attachments: m.attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
          messageId: m.messageId,
        });
        return {
          messageId: String(info.messageId ?? m.messageId),
          accepted: (info.accepted ?? []).map(String),
          rejected: (info.rejected ?? []).map(String),
          response: String(info.response ?? ''),
        };
      } catch (e) {
        throw EmailSendError.of(classifySmtpError(e), e);
      }
    },
    async close() {
      transport?.close();
      transport = undefined;
    },
  };
};
