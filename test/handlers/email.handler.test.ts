import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCommand } from '../../api/commands.js';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import { silentLogger } from '../../core/logger.js';
import { type EmailLogRow, findEmailLog } from '../../core/readModels/emailLog.js';
import { handlerRunner } from '../../core/runners/handlerRunner.js';
import { type ProjectionRunner, projectionRunner, rebuildProjection } from '../../core/runners/projectionRunner.js';
import { buildEmailHandler } from '../../handlers/email/index.js';
import { emailLogProjection } from '../../projections/emailLog.js';
import { EMAIL_ATTACHMENTS_MAX_BYTES, EMAIL_REQUESTED, type EmailRequested } from '../../schemas/events/email.js';
import type { Priority } from '../../schemas/events/envelope.js';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

const USER = 'crm@fleet.example';
const PASSWORD = 's3cret-smtp-password';

let store: Awaited<ReturnType<typeof freshPglite>>;
let log: EventLog;
let fake: FakeSmtp;
let projection: ProjectionRunner;

beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
  fake = await startFakeSmtp({ user: USER, password: PASSWORD });
  projection = projectionRunner({
    log,
    sql: store.sql,
    projection: emailLogProjection,
    logger: silentLogger(),
    batchSize: 500,
    batchDelayMs: 0,
  });
  await projection.start();
});
afterAll(async () => {
  await projection.stop();
  await log.close();
  await fake.close();
  await store.close();
});

const env = (over: Record<string, string> = {}) => ({
  DATA_DIR: '/nonexistent',
  MAIL_HOST: fake.host,
  MAIL_PORT: String(fake.port),
  MAIL_ENCRYPTION: 'none',
  MAIL_USERNAME: USER,
  MAIL_PASSWORD: PASSWORD,
  MAIL_FROM_ADDRESS: 'noreply@fleet.example',
  MAIL_FROM_NAME: 'Fleet CRM',
  MAIL_TIMEOUT_SECONDS: '5',
  ...over,
});

/** The `handlers` role's e-mail handler as `buildHandlers` makes it, under the real runner. */
const startHandler = async (over: Record<string, string> = {}) => {
  const config = loadConfig(env(over));
  const handler = buildEmailHandler({ config, logger: silentLogger(), log, sql: store.sql });
  const runner = handlerRunner({
    log,
    handler,
    logger: silentLogger(),
    concurrency: 2,
    maxAttempts: 3,
    ackWaitMs: 5_000,
    backoffBaseMs: 30,
    backoffMaxMs: 200,
  });
  await runner.start();
  return runner;
};

/** One runner at a time: they share the consumers (`email-<priority>`), as processes of one deployment do. */
const withHandler = async (over: Record<string, string>, work: () => Promise<void>) => {
  const runner = await startHandler(over);
  try {
    await work();
  } finally {
    await runner.stop();
  }
};

const request = async (data: Partial<EmailRequested>, priority: Priority = 'normal') => {
  const id = uuidv7();
  const full = { to: 'driver@example.com', priority, requestedBy: 'test', via: 'v1', ...data } as EmailRequested;
  await appendCommand(log, { id, domain: 'email', type: EMAIL_REQUESTED, priority, data: full });
  return id;
};

/** The email_log row once the command is settled (sent or failed). */
const settled = (id: string, ms = 15_000): Promise<EmailLogRow> => {
  let row: EmailLogRow | undefined;
  return until(
    async () => {
      await projection.caughtUp(ms);
      row = await findEmailLog(store.sql, id);
      return (row?.status === 'sent' || row?.status === 'failed') && row;
    },
    { timeoutMs: ms, what: () => `e-mail ${id} settled (still ${row?.status ?? 'missing'})` },
  );
};

const deadLetters = async () => (await log.read('DLQ', 1_000, { filterSubject: 'dlq.email-normal' })).length;

const ASSIGNED = {
  template: 'application_assigned',
  data: { driver: { name: '<script>alert(1)</script>' }, application: { number: 'A-17' }, locale: 'en' },
};

describe('email handler, live SMTP', () => {
  let runner: Awaited<ReturnType<typeof startHandler>>;
  beforeAll(async () => {
    runner = await startHandler();
  });
  afterAll(async () => {
    await runner.stop();
  });

  it('renders the template, sends it through the SMTP server with auth, and email_log says sent', async () => {
    const before = fake.received.length;
    {
      const id = await request(ASSIGNED);
      const row = await settled(id);
      expect(row).toMatchObject({
        status: 'sent',
        recipient: 'driver@example.com',
        subject: 'Application A-17 assigned to you',
        template: 'application_assigned',
        locale: 'en',
        attempts: 1,
        provider_message_id: `<${id}@fleet.example>`,
        accepted: ['driver@example.com'],
        rejected: [],
        error_code: null,
        test_mode: false,
      });
      expect(row.smtp_response).toMatch(/^250 2\.0\.0 Ok: queued as FAKE\d+$/);
      expect(row.sent_at).toBeInstanceOf(Date);
      expect(row.history.map((h) => h.type)).toEqual(['email.requested', 'email.sent']);
      const [got] = (await fake.waitFor(before + 1)).slice(before);
      expect(got?.user).toBe(USER);
      expect(got?.parsed.messageId).toBe(`<${id}@fleet.example>`);
      expect(got?.parsed.subject).toBe('Application A-17 assigned to you');
      expect(got?.parsed.html).toContain('Hello &lt;script&gt;alert(1)&lt;/script&gt;,');
      expect(got?.parsed.html).not.toContain('<script>');
      expect(got?.parsed.text).toContain('Hello <script>alert(1)</script>,');
    }
  });

  it('takes all four priorities', async () => {
    {
      const ids = await Promise.all(
        (['urgent', 'high', 'normal', 'low'] as const).map((p) => request({ subject: p, text: `priority ${p}` }, p)),
      );
      for (const id of ids) expect((await settled(id)).status).toBe('sent');
    }
  });

  it('sends raw html/text as given, and attachments byte for byte; email_log keeps names, types and sizes only', async () => {
    const before = fake.received.length;
    const pdf = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7 + 3) % 256));
    const csv = Buffer.from('id;name\n1;Иван\n', 'utf8');
    {
      const id = await request({
        subject: 'Отчёт',
        html: '<h1>Отчёт</h1>',
        text: 'Отчёт',
        attachments: [
          { filename: 'report.pdf', contentBase64: pdf.toString('base64'), contentType: 'application/pdf' },
          { filename: 'drivers.csv', contentBase64: csv.toString('base64'), contentType: 'text/csv' },
        ],
      });
      const row = await settled(id);
      expect(row).toMatchObject({ status: 'sent', subject: 'Отчёт', template: null, attachments: 2 });
      expect(row.attachment_files).toEqual([
        { filename: 'report.pdf', contentType: 'application/pdf', size: pdf.length },
        { filename: 'drivers.csv', contentType: 'text/csv', size: csv.length },
      ]);
      const [stored] = await store.sql<{ row: string }[]>`SELECT row_to_json(e)::text AS row FROM email_log e WHERE id = ${id}`;
      expect(stored?.row).not.toContain(pdf.toString('base64').slice(0, 64));
      const [got] = (await fake.waitFor(before + 1)).slice(before);
      expect(String(got?.parsed.html).trim()).toBe('<h1>Отчёт</h1>');
      expect(got?.parsed.text?.trim()).toBe('Отчёт');
      const atts = got?.parsed.attachments ?? [];
      expect(atts.map((a) => [a.filename, a.contentType])).toEqual([
        ['report.pdf', 'application/pdf'],
        ['drivers.csv', 'text/csv'],
      ]);
      expect(Buffer.compare(atts[0]?.content as Buffer, pdf)).toBe(0);
      expect(Buffer.compare(atts[1]?.content as Buffer, csv)).toBe(0);
    }
  });

  it('retries after a 4xx and then sends once; the history shows the failed attempt', async () => {
    const before = fake.received.length;
    {
      fake.failNext({ stage: 'rcpt', code: 451, message: '4.7.1 Greylisted, try again later' });
      const id = await request({ subject: 'Retry me', text: 'hello' });
      const row = await settled(id);
      expect(row).toMatchObject({ status: 'sent', attempts: 2, error_code: null, error_message: null, next_attempt_at: null });
      expect(row.history.map((h) => h.type)).toEqual(['email.requested', 'email.attempt_failed', 'email.sent']);
      expect(row.history[1]?.data).toMatchObject({ attempt: 1 });
      expect(String(row.history[1]?.data?.error)).toContain('451');
      await new Promise((r) => setTimeout(r, 100));
      expect(fake.received.slice(before).filter((m) => m.parsed.subject === 'Retry me')).toHaveLength(1);
    }
  });

  it('fails a 550 at once: failed, one attempt, dead letter', async () => {
    const dlq = await deadLetters();
    const tried = fake.transactions;
    {
      const id = await request({ to: 'nobody@bounce.test', subject: 'x', text: 'y' });
      const row = await settled(id);
      expect(row).toMatchObject({ status: 'failed', attempts: 1, error_code: 'SMTP_550', test_mode: false });
      expect(row.error_message).toMatch(/^permanent: .*550.*Mailbox unavailable/);
      expect(row.history.map((h) => h.type)).toEqual(['email.requested', 'email.failed']);
      expect(fake.transactions - tried).toBe(1);
      expect(await deadLetters()).toBe(dlq + 1);
    }
  });

  it('gives up after the last attempt: failed with the last error, dead letter, full history', async () => {
    const dlq = await deadLetters();
    {
      fake.failNext({ stage: 'data', code: 452, message: '4.3.1 Insufficient system storage', times: 3 });
      const id = await request({ subject: 'Never', text: 'lands' });
      const row = await settled(id);
      expect(row).toMatchObject({ status: 'failed', attempts: 3, error_code: 'SMTP_452', next_attempt_at: null });
      expect(row.error_message).toMatch(/^gave up after 3 attempts: .*452/);
      expect(row.history.map((h) => h.type)).toEqual([
        'email.requested',
        'email.attempt_failed',
        'email.attempt_failed',
        'email.failed',
      ]);
      expect(await deadLetters()).toBe(dlq + 1);
    }
  });
});

describe('email handler, other settings', () => {
  it('a wrong SMTP password fails at once (EAUTH_535) and is not retried', async () => {
    const logins = fake.logins.length;
    await withHandler({ MAIL_PASSWORD: 'wrong' }, async () => {
      const id = await request({ subject: 'x', text: 'y' });
      const row = await settled(id);
      expect(row).toMatchObject({ status: 'failed', attempts: 1, error_code: 'EAUTH_535' });
      expect(fake.logins.slice(logins)).toEqual([{ user: USER, ok: false }]);
    });
  });

  it('refuses what cannot be sent before calling the server: unknown template, missing variable, oversized attachments', async () => {
    const tried = fake.transactions;
    await withHandler({}, async () => {
      const unknown = await request({ template: 'invoice', data: {} });
      const missing = await request({ template: 'password_reset', data: { name: 'Anna' } });
      const big = Buffer.alloc(EMAIL_ATTACHMENTS_MAX_BYTES + 1).toString('base64');
      const oversized = await request({
        subject: 'big',
        text: 'big',
        attachments: [{ filename: 'big.bin', contentBase64: big, contentType: 'application/octet-stream' }],
      });
      expect(await settled(unknown)).toMatchObject({ status: 'failed', attempts: 1, error_code: 'TEMPLATE_UNKNOWN' });
      const m = await settled(missing);
      expect(m).toMatchObject({ status: 'failed', error_code: 'TEMPLATE_DATA' });
      expect(m.error_message).toContain('data.resetUrl: Expected required property');
      expect(await settled(oversized)).toMatchObject({ status: 'failed', error_code: 'ATTACHMENT_TOO_LARGE' });
      // A malformed command from another producer: failed, and the read model keeps going.
      const malformed = uuidv7();
      await appendCommand(log, { id: malformed, domain: 'email', type: EMAIL_REQUESTED, priority: 'normal', data: { to: 42 } });
      const bad = await settled(malformed);
      expect(bad).toMatchObject({ status: 'failed', error_code: 'INVALID_COMMAND', recipient: '' });
      expect(bad.error_message).toContain('not an email.requested command');
      expect(fake.transactions).toBe(tried);
    });
  });

  it('MAIL_QUEUE_ENABLED=false: one attempt only, a transient error is final', async () => {
    await withHandler({ MAIL_QUEUE_ENABLED: 'false' }, async () => {
      fake.failNext({ stage: 'rcpt', code: 451, message: '4.7.1 Try again later' });
      const id = await request({ subject: 'once', text: 'only' });
      const row = await settled(id);
      expect(row).toMatchObject({ status: 'failed', attempts: 1, error_code: 'SMTP_451' });
      expect(row.error_message).toContain('not retried: MAIL_QUEUE_ENABLED=false');
    });
  });
});

describe('email handler, MAIL_TEST_MODE', () => {
  it('sends nothing, and email_log holds the same fields as live, marked test_mode', async () => {
    const tried = fake.transactions;
    const logins = fake.logins.length;
    let live: EmailLogRow | undefined;
    await withHandler({}, async () => {
      live = await settled(await request(ASSIGNED));
    });
    await withHandler({ MAIL_TEST_MODE: 'true' }, async () => {
      const id = await request(ASSIGNED);
      const row = await settled(id);
      expect(row).toMatchObject({
        status: 'sent',
        subject: 'Application A-17 assigned to you',
        template: 'application_assigned',
        locale: 'en',
        attempts: 1,
        provider_message_id: `<${id}@fleet.example>`,
        accepted: ['driver@example.com'],
        rejected: [],
        test_mode: true,
      });
      expect(row.smtp_response).toMatch(/^250 2\.0\.0 Ok: queued as TEST[0-9A-F]{10} \(test mode, \d+ bytes not sent\)$/);
      // Same columns filled as for a live e-mail, differing only in ids, times and the flag.
      const filled = (r: EmailLogRow) =>
        Object.entries(r)
          .filter(([, v]) => v !== null)
          .map(([k]) => k)
          .sort();
      expect(filled(row)).toEqual(filled(live as EmailLogRow));
      expect(row.history.map((h) => h.type)).toEqual(live?.history.map((h) => h.type));
      expect(row.history[1]?.data).toMatchObject({ testMode: true });
    });
    // Only the live e-mail reached the server.
    expect(fake.transactions - tried).toBe(1);
    expect(fake.logins.length - logins).toBe(1);
  });

  it('runs in test mode when no MAIL_HOST is configured', async () => {
    const tried = fake.transactions;
    await withHandler({ MAIL_HOST: '' }, async () => {
      const row = await settled(await request({ subject: 'x', text: 'y' }));
      expect(row).toMatchObject({ status: 'sent', test_mode: true });
    });
    expect(fake.transactions).toBe(tried);
  });

  it('fails a bad template in test mode as live does, marked test_mode', async () => {
    await withHandler({ MAIL_TEST_MODE: 'true' }, async () => {
      const row = await settled(await request({ template: 'invoice', data: {} }));
      expect(row).toMatchObject({ status: 'failed', error_code: 'TEMPLATE_UNKNOWN', test_mode: true });
    });
  });
});

describe('email_log rebuild', () => {
  it('a replay of the log in other batch sizes equals the live read model', async () => {
    await projection.caughtUp(10_000);
    await projection.stop();
    const snapshot = () => store.sql`SELECT * FROM email_log ORDER BY id`;
    const live = await snapshot();
    expect(live.length).toBeGreaterThan(10);
    await rebuildProjection({
      log,
      sql: store.sql,
      projection: emailLogProjection,
      logger: silentLogger(),
      batchSize: 7,
      batchDelayMs: 0,
    });
    expect(await snapshot()).toEqual(live);
  });
});
