import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/logger.js';
import { type HandlerRunner, handlerRunner } from '../../core/runners/handlerRunner.js';
import { buildEmailHandler } from '../../handlers/email/index.js';
import type { EmailStatus } from '../../schemas/http/email.js';
import type { Problem } from '../../schemas/http/problem.js';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

/**
 * The e-mail channel end to end in one process: the API appends, the handler sends through the
 * SMTP fake, the projection folds `email_log`, and `GET /api/v1/email/{id}` reads it.
 */
const USER = 'crm@fleet.example';
const PASSWORD = 'api-test-password';

let store: Awaited<ReturnType<typeof freshPglite>>;
let fake: FakeSmtp;
let api: ApiHarness;
let handler: HandlerRunner;
let key: string;

const env = (over: Record<string, string> = {}) => ({
  MAIL_HOST: fake.host,
  MAIL_PORT: String(fake.port),
  MAIL_ENCRYPTION: 'none',
  MAIL_USERNAME: USER,
  MAIL_PASSWORD: PASSWORD,
  MAIL_FROM_ADDRESS: 'noreply@fleet.example',
  MAIL_FROM_NAME: 'Fleet CRM',
  ...over,
});

const startAll = async (over: Record<string, string> = {}) => {
  api = await startApi(store, env(over));
  const config = loadConfig({ DATA_DIR: '/nonexistent', ...env(over) });
  handler = handlerRunner({
    log: api.log,
    handler: buildEmailHandler({ config, logger: silentLogger(), log: api.log, sql: store.sql }),
    logger: silentLogger(),
    concurrency: 2,
    maxAttempts: 3,
    ackWaitMs: 5_000,
    backoffBaseMs: 30,
    backoffMaxMs: 200,
  });
  await handler.start();
  key = await api.key(['email']);
};
const stopAll = async () => {
  await handler.stop();
  await api.close();
};

beforeAll(async () => {
  store = await freshPglite();
  fake = await startFakeSmtp({ user: USER, password: PASSWORD });
});
afterAll(async () => {
  await fake.close();
  await store.close();
});

const call = (method: string, path: string, body?: unknown, auth = key) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

const settled = (id: string): Promise<EmailStatus> =>
  until(
    async () => {
      await api.caughtUp();
      const res = await call('GET', `/api/v1/email/${id}`);
      if (res.status !== 200) return undefined;
      const body = (await res.json()) as EmailStatus;
      return body.status !== 'queued' && body;
    },
    { intervalMs: 30, what: `e-mail ${id} settled` },
  );

describe('e-mail through the HTTP API', () => {
  beforeAll(() => startAll());
  afterAll(() => stopAll());

  it('POST a template e-mail, then GET it with its status, fields and history', async () => {
    const before = fake.received.length;
    const res = await call('POST', '/api/v1/email', {
      to: 'driver@example.com',
      template: 'application_assigned',
      data: { driver: { name: '<script>alert(1)</script>' }, application: { number: 'A-17' }, locale: 'ru' },
      attachments: [
        { filename: 'route.pdf', contentBase64: Buffer.from('%PDF-1.4 x').toString('base64'), contentType: 'application/pdf' },
      ],
      priority: 'high',
    });
    expect(res.status).toBe(202);
    const { id, status } = (await res.json()) as { id: string; status: string };
    expect(status).toBe('queued');
    const email = await settled(id);
    expect(email).toMatchObject({
      id,
      status: 'sent',
      to: 'driver@example.com',
      subject: 'Вам назначена заявка № A-17',
      template: 'application_assigned',
      locale: 'ru',
      priority: 'high',
      messageId: `<${id}@fleet.example>`,
      accepted: ['driver@example.com'],
      rejected: [],
      attachments: [{ filename: 'route.pdf', contentType: 'application/pdf', size: 10 }],
      error: null,
      attempts: 1,
      nextAttemptAt: null,
      testMode: false,
    });
    expect(email.response).toMatch(/^250 /);
    expect(email.history.map((h) => h.type)).toEqual(['email.requested', 'email.sent']);
    const [got] = (await fake.waitFor(before + 1)).slice(before);
    expect(got?.parsed.html).toContain('Здравствуйте, &lt;script&gt;alert(1)&lt;/script&gt;!');
    expect(got?.parsed.attachments[0]?.content.toString()).toBe('%PDF-1.4 x');
  });

  it('refuses an unknown template, missing variables and a template with html, naming the field', async () => {
    const cases: [unknown, string[]][] = [
      [{ to: 'a@example.com', template: 'invoice' }, ['template']],
      [
        { to: 'a@example.com', template: 'application_assigned', data: { driver: {}, application: { number: 'A-1' } } },
        ['data.driver.name'],
      ],
      [
        { to: 'a@example.com', template: 'password_reset', data: { name: 'A', resetUrl: 'javascript:alert(1)' } },
        ['data.resetUrl'],
      ],
      [{ to: 'a@example.com', template: 'payment_receipt', data: { locale: 'de' } }, ['data.name', 'data.orderId']],
      [
        {
          to: 'a@example.com',
          template: 'password_reset',
          data: { name: 'A', resetUrl: 'https://x.example/r' },
          html: '<p>x</p>',
        },
        ['html'],
      ],
    ];
    const before = await api.log.lastSeq('EVENTS');
    for (const [body, fields] of cases) {
      const res = await call('POST', '/api/v1/email', body);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const p = (await res.json()) as Problem;
      expect(p.code).toBe('GW_ERR_VALIDATION');
      for (const f of fields) expect(p.errors?.map((e) => e.field)).toContain(f);
    }
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });

  it('answers 404 for an unknown id and 403 without the email scope', async () => {
    const missing = await call('GET', '/api/v1/email/0190a4b2-1c3d-7e4f-8a5b-6c7d8e9f0a1b');
    expect([missing.status, ((await missing.json()) as Problem).code]).toEqual([404, 'GW_ERR_NOT_FOUND']);
    expect((await call('GET', '/api/v1/email/not-an-id')).status).toBe(404);
    const smsOnly = await api.key(['sms']);
    const res = await call('GET', '/api/v1/email/0190a4b2-1c3d-7e4f-8a5b-6c7d8e9f0a1b', undefined, smsOnly);
    expect([res.status, ((await res.json()) as Problem).code]).toEqual([403, 'GW_ERR_FORBIDDEN']);
  });
});

describe('MAIL_QUEUE_ENABLED=false', () => {
  beforeAll(() => startAll({ MAIL_QUEUE_ENABLED: 'false' }));
  afterAll(() => stopAll());

  it('answers with the outcome: sent, or failed after one attempt (legacy route: success false)', async () => {
    const sent = await call('POST', '/api/v1/email', { to: 'driver@example.com', subject: 'Now', text: 'at once' });
    expect(sent.status).toBe(202);
    expect(((await sent.json()) as { status: string }).status).toBe('sent');

    fake.failNext({ stage: 'rcpt', code: 451, message: '4.7.1 Try again later' });
    const failed = await call('POST', '/api/v1/email', { to: 'driver@example.com', subject: 'Now', text: 'fails' });
    const body = (await failed.json()) as { id: string; status: string };
    expect(body.status).toBe('failed');
    expect(await settled(body.id)).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'SMTP_451' } });

    const legacy = await call('POST', '/api/email.php?action=send', { to: 'nobody@bounce.test', subject: 'x', body: '<p>x</p>' });
    expect(legacy.status).toBe(502);
    expect(await legacy.json()).toMatchObject({ success: false, message: 'Email could not be sent', status: 'failed' });
  });
});
