import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Mailer, OutgoingEmail, SentEmail } from './port.js';

/**
 * MAIL_TEST_MODE: the message is composed by nodemailer exactly as for SMTP (MIME tree,
 * encodings, attachments), then dropped. The answer is what an SMTP server answers.
 */
export const testModeMailer = (): Mailer => {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    testMode: true,
    async send(m: OutgoingEmail): Promise<SentEmail> {
      const info = await transport.sendMail({
        from: m.from,
        to: m.to,
        subject: m.subject,
        ...(m.html === undefined ? {} : { html: m.html }),
        ...(m.text === undefined ? {} : { text: m.text }),
        attachments: m.attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
        messageId: m.messageId,
      });
      const size = Buffer.isBuffer(info.message) ? info.message.length : 0;
      const queueId = randomBytes(5).toString('hex').toUpperCase();
      return {
        messageId: String(info.messageId ?? m.messageId),
        accepted: [...(info.envelope?.to ?? [m.to])].map(String),
        rejected: [],
        response: `250 2.0.0 Ok: queued as TEST${queueId} (test mode, ${size} bytes not sent)`,
      };
    },
    async close() {},
  };
};
