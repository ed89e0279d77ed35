import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MailConfig } from '../../handlers/email/config.js';
import { EmailSendError, type Mailer, type OutgoingEmail, type SentEmail } from '../../handlers/email/port.js';
import { classifySmtpError, smtpMailer } from '../../handlers/email/smtp.js';
import { testModeMailer } from '../../handlers/email/testMode.js';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.js';

const USER = 'gateway@example.com';
const PASSWORD = 'correct horse battery staple';

const smtp = (fake: FakeSmtp, over: Partial<MailConfig['smtp']> = {}): MailConfig['smtp'] => ({
  host: fake.host,
  port: fake.port,
  encryption: 'none',
  auth: { user: USER, pass: PASSWORD },
  timeoutMs: 5_000,
  maxConnections: 2,
  ...over,
});

let n = 0;
const message = (over: Partial<OutgoingEmail> = {}): OutgoingEmail => ({
  from: { name: 'Fleet CRM', address: 'noreply@fleet.example' },
  to: 'driver@example.com',
  subject: 'Заявка № A-17',
  html: '<p>Привет</p>',
  text: 'Привет',
  attachments: [],
  messageId: `<test-${++n}@fleet.example>`,
  ...over,
});

/** A send's answer or its `EmailSendError`, as one value to assert on. */
type Outcome = ({ ok: true } & SentEmail) | { ok: false; code: string; message: string; retryable: boolean };
const outcomes = (m: Mailer) => ({
  send: (msg: OutgoingEmail): Promise<Outcome> =>
    m.send(msg).then(
      (sent) => ({ ok: true, ...sent }),
      (e: unknown) => {
        expect(e).toBeInstanceOf(EmailSendError);
        const err = e as EmailSendError;
        return { ok: false, code: err.code, message: err.message, retryable: err.retryable };
      },
    ),
});

let fake: FakeSmtp;
const mailers: Mailer[] = [];
const open = (cfg: MailConfig['smtp'], tls?: { rejectUnauthorized: boolean }) => {
  const m = smtpMailer(cfg, tls ? { tls } : {});
  mailers.push(m);
  return outcomes(m);
};

beforeAll(async () => {
  fake = await startFakeSmtp({ user: USER, password: PASSWORD, maxBytes: 2 * 1024 * 1024 });
});
afterEach(async () => {
  for (const m of mailers.splice(0)) await m.close();
});
afterAll(async () => {
  await fake.close();
});

describe('SMTP mailer (nodemailer) against a real SMTP server', () => {
  it('logs in and delivers subject, HTML and text alternative with the given Message-ID', async () => {
    const before = fake.received.length;
    const m = open(smtp(fake));
    const msg = message();
    const out = await m.send(msg);
    expect(out).toMatchObject({ ok: true, messageId: msg.messageId, accepted: ['driver@example.com'], rejected: [] });
    expect(out.ok && out.response).toMatch(/^250 2\.0\.0 Ok: queued as FAKE\d+$/);
    const [got] = (await fake.waitFor(before + 1)).slice(before);
    expect(got?.user).toBe(USER);
    expect(got?.envelope).toEqual({ from: 'noreply@fleet.example', to: ['driver@example.com'] });
    expect(got?.parsed.subject).toBe('Заявка № A-17');
    expect(got?.parsed.messageId).toBe(msg.messageId);
    expect(got?.parsed.from?.value).toEqual([{ name: 'Fleet CRM', address: 'noreply@fleet.example' }]);
    expect(got?.parsed.html).toContain('<p>Привет</p>');
    expect(got?.parsed.text?.trim()).toBe('Привет');
    expect(got?.raw.toString()).toMatch(/Content-Type: multipart\/alternative/i);
    expect(fake.logins.at(-1)).toEqual({ user: USER, ok: true });
  });

  it('a wrong password is EAUTH_535, permanent, and nothing is sent', async () => {
    const before = fake.received.length;
    const m = open(smtp(fake, { auth: { user: USER, pass: 'wrong' } }));
    const out = await m.send(message());
    expect(out).toMatchObject({ ok: false, code: 'EAUTH_535', retryable: false });
    expect(fake.logins.at(-1)).toEqual({ user: USER, ok: false });
    expect(fake.received.length).toBe(before);
  });

  it('without credentials the server refuses MAIL FROM (530): permanent', async () => {
    const before = fake.received.length;
    const { auth: _drop, ...noAuth } = smtp(fake);
    const out = await open(noAuth).send(message());
    expect(out).toMatchObject({ ok: false, code: 'SMTP_530', retryable: false });
    expect(fake.received.length).toBe(before);
  });

  it('550 mailbox unavailable is permanent; 451 and 421 are transient', async () => {
    const m = open(smtp(fake));
    expect(await m.send(message({ to: 'nobody@bounce.test' }))).toMatchObject({
      ok: false,
      code: 'SMTP_550',
      retryable: false,
    });
    fake.failNext({ stage: 'rcpt', code: 451, message: '4.7.1 Greylisted, try again later' });
    const greylisted = await m.send(message());
    expect(greylisted).toMatchObject({ ok: false, code: 'SMTP_451', retryable: true });
    expect(!greylisted.ok && greylisted.message).toContain('Greylisted');
    fake.failNext({ stage: 'data', code: 452, message: '4.3.1 Insufficient system storage' });
    expect(await m.send(message())).toMatchObject({ ok: false, code: 'SMTP_452', retryable: true });
    fake.failNext({ stage: 'connect', code: 421, message: '4.3.2 Service shutting down' });
    expect(await open(smtp(fake)).send(message())).toMatchObject({ ok: false, code: 'SMTP_421', retryable: true });
    // The pool recovers: the next message goes through.
    expect(await m.send(message())).toMatchObject({ ok: true });
  });

  it('a refused connection and a server that never greets are transient', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await open(smtp(fake, { port })).send(message());
    expect(refused).toMatchObject({ ok: false, retryable: true });
    expect(!refused.ok && refused.code).toMatch(/^(ESOCKET|ECONNECTION)$/);

    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const hung = await open(smtp(fake, { port: (silent.address() as { port: number }).port, timeoutMs: 300 })).send(message());
      expect(hung).toMatchObject({ ok: false, retryable: true });
      expect(!hung.ok && hung.code).toMatch(/^(ETIMEDOUT|ECONNECTION)$/);
    } finally {
      silent.close();
    }
  });

  it('attachments arrive byte for byte with their names and content types', async () => {
    const before = fake.received.length;
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256))]);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const out = await open(smtp(fake)).send(
      message({
        attachments: [
          { filename: 'маршрут.pdf', content: pdf, contentType: 'application/pdf' },
          { filename: 'photo.png', content: png, contentType: 'image/png' },
        ],
      }),
    );
    expect(out.ok).toBe(true);
    const [got] = (await fake.waitFor(before + 1)).slice(before);
    const atts = got?.parsed.attachments ?? [];
    expect(atts.map((a) => [a.filename, a.contentType, a.size])).toEqual([
      ['маршрут.pdf', 'application/pdf', pdf.length],
      ['photo.png', 'image/png', png.length],
    ]);
    expect(Buffer.compare(atts[0]?.content as Buffer, pdf)).toBe(0);
    expect(Buffer.compare(atts[1]?.content as Buffer, png)).toBe(0);
  });

  it('a message over the server SIZE limit is refused permanently (552)', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024 + 1, 7);
    const out = await open(smtp(fake)).send(
      message({ attachments: [{ filename: 'big.bin', content: big, contentType: 'application/octet-stream' }] }),
    );
    expect(out).toMatchObject({ ok: false, retryable: false });
    expect(!out.ok && out.code).toMatch(/^SMTP_55[24]$/);
  });

  it('MAIL_ENCRYPTION=tls upgrades with STARTTLS and refuses a server without it; ssl speaks TLS at once', async () => {
    const starttls = await startFakeSmtp({ user: USER, password: PASSWORD, tls: 'starttls' });
    const implicit = await startFakeSmtp({ user: USER, password: PASSWORD, tls: 'implicit' });
    try {
      // smtp-server's built-in test certificate is self-signed.
      const insecure = { rejectUnauthorized: false };
      expect(await open(smtp(starttls, { encryption: 'tls' }), insecure).send(message())).toMatchObject({ ok: true });
      expect(starttls.received).toHaveLength(1);
      expect(await open(smtp(implicit, { encryption: 'ssl' }), insecure).send(message())).toMatchObject({ ok: true });
      expect(implicit.received).toHaveLength(1);
      // The plain fake offers no STARTTLS: with tls required nothing is sent in clear text.
      const before = fake.received.length;
      const refused = await open(smtp(fake, { encryption: 'tls' })).send(message());
      expect(refused).toMatchObject({ ok: false, code: 'ETLS', retryable: false });
      expect(fake.received.length).toBe(before);
    } finally {
      for (const m of mailers.splice(0)) await m.close();
      await starttls.close();
      await implicit.close();
    }
  });
});

describe('test-mode mailer', () => {
  it('composes the message, sends nothing, and answers like a server', async () => {
    const before = fake.transactions;
    const m = outcomes(testModeMailer());
    const msg = message({ attachments: [{ filename: 'a.txt', content: Buffer.from('x'), contentType: 'text/plain' }] });
    const out = await m.send(msg);
    expect(out).toMatchObject({ ok: true, messageId: msg.messageId, accepted: ['driver@example.com'], rejected: [] });
    expect(out.ok && out.response).toMatch(/^250 2\.0\.0 Ok: queued as TEST[0-9A-F]{10} \(test mode, \d+ bytes not sent\)$/);
    expect(fake.transactions).toBe(before);
  });
});

describe('error classification', () => {
  it.each([
    [{ code: 'EAUTH', responseCode: 454 }, 'EAUTH_454', true],
    [{ code: 'EAUTH', responseCode: 535 }, 'EAUTH_535', false],
    [{ code: 'EAUTH' }, 'EAUTH', false],
    [{ code: 'EENVELOPE', responseCode: 550 }, 'SMTP_550', false],
    [{ code: 'EENVELOPE', responseCode: 450 }, 'SMTP_450', true],
    [{ code: 'EMESSAGE', responseCode: 554 }, 'SMTP_554', false],
    [{ code: 'ETIMEDOUT' }, 'ETIMEDOUT', true],
    [{ code: 'ESOCKET' }, 'ESOCKET', true],
    [{ code: 'EDNS' }, 'EDNS', true],
    [{ code: 'ETLS' }, 'ETLS', false],
    [{ code: 'ETLS', responseCode: 454 }, 'ETLS', true],
    [{ code: 'ETLS', responseCode: 500 }, 'ETLS', false],
    [new Error('something odd'), 'SMTP_ERROR', true],
  ])('%j → %s (retryable %s)', (err, code, retryable) => {
    expect(classifySmtpError(err)).toMatchObject({ code, retryable });
  });
});
