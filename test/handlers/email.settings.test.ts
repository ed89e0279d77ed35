import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { changeIntegration } from '../../core/integrations/change.js';
import { type Integrations, openIntegrations } from '../../core/integrations/index.js';
import { silentLogger } from '../../core/logger.js';
import { type ProjectionRunner, projectionRunner } from '../../core/runners/projectionRunner.js';
import { liveMailer } from '../../handlers/email/liveMailer.js';
import { integrationProbe } from '../../handlers/probes/index.js';
import { integrationSettingsProjection } from '../../projections/integrationSettings.js';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

const ENV = {
  DATA_DIR: '/nonexistent',
  SECRETS_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  MAIL_HOST: 'unused.invalid',
  MAIL_FROM_ADDRESS: 'gw@example.com',
};
const actor = { kind: 'cli' as const, id: 'test' };

let store: Awaited<ReturnType<typeof freshPglite>>;
let log: EventLog;
let runner: ProjectionRunner;
let integrations: Integrations;
let a: FakeSmtp;
let b: FakeSmtp;

const change = async (input: Record<string, unknown>) => {
  const { seq } = await changeIntegration(
    { log, vault: integrations.vault },
    { name: 'email.smtp', input, replace: false, actor },
  );
  await until(
    async () => {
      await integrations.settings.refresh();
      return integrations.settings.seq >= seq;
    },
    {
      what: 'settings read back',
    },
  );
};

const message = (n: number) => ({
  from: { address: 'gw@example.com' },
  to: 'driver@example.com',
  subject: `hello ${n}`,
  text: 'hi',
  attachments: [],
  messageId: `<m${n}@example.com>`,
});

beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
  const logger = silentLogger();
  runner = projectionRunner({
    log,
    sql: store.sql,
    projection: integrationSettingsProjection,
    logger,
    batchSize: 100,
    batchDelayMs: 0,
  });
  await runner.start();
  integrations = await openIntegrations(loadConfig(ENV), store.sql, logger, { pollMs: 50 });
  a = await startFakeSmtp({ user: 'user-a', password: 'password-a-0000', tls: 'none' });
  b = await startFakeSmtp({ user: 'user-b', password: 'password-b-1111', tls: 'none' });
}, 60_000);
afterAll(async () => {
  integrations?.settings.close();
  await runner?.stop();
  await log?.close();
  await a?.close();
  await b?.close();
  await store?.close();
});

describe('email.smtp at run time (issue 19.3)', () => {
  it('new SMTP credentials rebuild the pooled transport for the next e-mail', async () => {
    await change({
      host: '127.0.0.1',
      port: a.port,
      encryption: 'none',
      username: 'user-a',
      password: 'password-a-0000',
      testMode: false,
    });
    const live = liveMailer(integrations.settings, loadConfig(ENV).mail, silentLogger());
    try {
      expect(live.mailer.testMode).toBe(false);
      await live.mailer.send(message(1));
      expect(a.received.map((m) => m.user)).toEqual(['user-a']);

      await change({ port: b.port, username: 'user-b', password: 'password-b-1111', fromAddress: 'ops@example.com' });
      await live.mailer.send(message(2));
      expect(b.received.map((m) => m.user)).toEqual(['user-b']);
      expect(a.received).toHaveLength(1);
      expect(live.config.from.address).toBe('ops@example.com');

      await change({ testMode: true });
      expect(live.mailer.testMode).toBe(true);
      await live.mailer.send(message(3));
      expect(a.received.length + b.received.length).toBe(2);
    } finally {
      await live.mailer.close();
    }
  });

  it('/test verifies the SMTP login and reports the server’s refusal', async () => {
    const probe = integrationProbe(integrations.settings, { timeoutMs: 5_000 });
    await change({ testMode: false, host: '127.0.0.1', port: a.port, username: 'user-a', password: 'password-a-0000' });
    expect(await probe('email.smtp')).toMatchObject({ ok: true, testMode: false });
    await change({ password: 'wrong-password-99' });
    const bad = await probe('email.smtp');
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/535/);
    expect(bad.error).not.toContain('wrong-password-99');
  });
});
