import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { changeIntegration } from '../../core/integrations/change.js';
import { type Integrations, loadKeyRing, openIntegrations } from '../../core/integrations/index.js';
import { secretVault } from '../../core/integrations/vault.js';
import { createLogger } from '../../core/logger.js';
import { rebuildProjection } from '../../core/runners/projectionRunner.js';
import { integrationProbe } from '../../handlers/probes/index.js';
import { integrationSettingsProjection } from '../../projections/integrationSettings.js';
import { startFakeSmsRu } from '../fakes/smsru.js';
import { startFakeTelegram } from '../fakes/telegram.js';
import { startFakeYooKassa } from '../fakes/yookassa.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPostgresDb } from '../support/stores.js';

// biome-ignore lint/suspicious/noExplicitAny: bodies and event data are asserted field by field
type Json = Record<string, any>;

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const ENV = { DATA_DIR: '/nonexistent', SECRETS_KEYS: `k1:${k1}`, SMS_FROM_NUMBER: 'FleetGate' };

/** Known credentials, long and distinctive, so a leak anywhere is found by a plain search. */
const SECRETS = {
  smsru: `SMSRU-${randomBytes(12).toString('hex')}`,
  stripe: `sk_test_${randomBytes(16).toString('hex')}`,
  smtp: `smtp-pass-${randomBytes(12).toString('hex')}`,
  telegram: `123456:${randomBytes(16).toString('hex')}`,
  erp: `erp-user:${randomBytes(12).toString('hex')}`,
};

describe('integration settings (issue 19)', () => {
  let store: Awaited<ReturnType<typeof freshPostgresDb>>;
  let api: ApiHarness;
  let integrations: Integrations;
  let admin: string;
  let apiClosed = false;
  const logLines: string[] = [];
  const responses: string[] = [];
  let smsru: Awaited<ReturnType<typeof startFakeSmsRu>>;
  let telegram: Awaited<ReturnType<typeof startFakeTelegram>>;

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    responses.push(text);
    return { status: res.status, body: JSON.parse(text) as Json };
  };

  beforeAll(async () => {
    store = await freshPostgresDb();
    smsru = await startFakeSmsRu({ apiKey: SECRETS.smsru });
    telegram = await startFakeTelegram({ token: SECRETS.telegram });
    const logger = createLogger('trace', 'test', { write: (s: string) => void logLines.push(s) });
    integrations = await openIntegrations(loadConfig(ENV), store.sql, logger, { pollMs: 50 });
    api = await startApi(
      store,
      ENV,
      {},
      {
        integrations,
        probeIntegration: integrationProbe(integrations.settings, { timeoutMs: 3_000 }) as never,
        logger,
      },
    );
    admin = await api.key(['admin']);
  });
  afterAll(async () => {
    integrations?.settings.close();
    // Closed once only: the rotation test stops it for the replay, and uWS must not close twice.
    if (!apiClosed) await api?.close();
    await smsru?.close();
    await telegram?.close();
    await store?.close();
  });

  it('shows each effective value with its source, and credentials only as facts', async () => {
    const r = await call('PATCH', '/api/v1/integrations/sms.smsru', {
      apiKey: SECRETS.smsru,
      baseUrl: smsru.url,
      testMode: false,
    });
    expect(r.status).toBe(200);
    expect(r.body.settings.baseUrl).toEqual({ value: smsru.url, source: 'db' });
    expect(r.body.settings.from).toEqual({ value: 'FleetGate', source: 'env' });
    expect(r.body.testMode).toEqual({ value: false, source: 'db' });
    expect(r.body.enabled).toEqual({ value: true, source: 'default' });
    expect(r.body.credentials.apiKey).toMatchObject({ set: true, source: 'db', keyId: 'k1', last4: SECRETS.smsru.slice(-4) });
    expect(r.body.credentials.apiKey.setBy).toMatch(/^api_key:/);
    const tg = await call('GET', '/api/v1/integrations/telegram');
    expect(tg.body.settings.apiUrl).toEqual({ value: 'https://api.telegram.org', source: 'default' });
    expect(tg.body.credentials.botToken).toMatchObject({ set: false, source: null });
    const list = await call('GET', '/api/v1/integrations');
    expect(list.body.items.map((i: { name: string }) => i.name)).toEqual([
      'sms.smsru',
      'sms.twilio',
      'email.smtp',
      'push.fcm',
      'telegram',
      'payment.yookassa',
      'payment.stripe',
      'erp',
      'export',
    ]);
  });

  it('validates per provider and answers problem+json with the field', async () => {
    const stripe = await call('PUT', '/api/v1/integrations/payment.stripe', { secretKey: 'pk_live_wrong' });
    expect(stripe.status).toBe(400);
    expect(stripe.body.code).toBe('GW_ERR_VALIDATION');
    expect(stripe.body.errors[0]).toMatchObject({ pointer: '/secretKey' });
    expect(JSON.stringify(stripe.body)).not.toContain('pk_live_wrong');
    const port = await call('PATCH', '/api/v1/integrations/email.smtp', { port: 70_000, nope: 1 });
    expect(port.status).toBe(400);
    expect(port.body.errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(['/nope', '/port']);
    const fcm = await call('PATCH', '/api/v1/integrations/push.fcm', { serviceAccountJson: '{"project_id":"p"}' });
    expect(fcm.status).toBe(400);
    expect(fcm.body.errors[0].detail).toContain('client_email');
    expect((await call('GET', '/api/v1/integrations/nope')).status).toBe(404);
  });

  it('/test passes with good credentials and reports the provider error with bad ones', async () => {
    const good = await call('POST', '/api/v1/integrations/sms.smsru/test');
    expect(good.body).toMatchObject({ ok: true, testMode: false });
    await call('PATCH', '/api/v1/integrations/telegram', { botToken: SECRETS.telegram, apiUrl: telegram.url, testMode: false });
    expect((await call('POST', '/api/v1/integrations/telegram/test')).body).toMatchObject({ ok: true, check: 'Telegram getMe' });

    await call('PATCH', '/api/v1/integrations/telegram', { botToken: '999:wrong-token-000' });
    const badTg = await call('POST', '/api/v1/integrations/telegram/test');
    expect(badTg.body.ok).toBe(false);
    expect(badTg.body.error).toContain('Unauthorized');
    await call('PATCH', '/api/v1/integrations/sms.smsru', { apiKey: 'WRONG-KEY-000000' });
    const badRu = await call('POST', '/api/v1/integrations/sms.smsru/test');
    expect(badRu.body.ok).toBe(false);
    expect(badRu.body.error).toMatch(/SMS\.ru/);
    // A provider that never answers is reported once the probe's timeout passed.
    await call('PATCH', '/api/v1/integrations/sms.smsru', { apiKey: SECRETS.smsru });
    smsru.failNext('my/balance', { hang: true });
    const hung = await call('POST', '/api/v1/integrations/sms.smsru/test');
    expect(hung.body.ok).toBe(false);
    expect(hung.body.error).toMatch(/time|abort/i);
    // Back to the good ones for the leak search below.
    await call('PATCH', '/api/v1/integrations/sms.smsru', { apiKey: SECRETS.smsru });
    await call('PATCH', '/api/v1/integrations/telegram', { botToken: SECRETS.telegram });
  });

  it('keeps every plaintext credential out of the database dump, the log, the logs and the responses', async () => {
    await call('PUT', '/api/v1/integrations/payment.stripe', { secretKey: SECRETS.stripe, testMode: true });
    await call('PATCH', '/api/v1/integrations/email.smtp', { host: 'smtp.example.com', password: SECRETS.smtp, username: 'u' });
    await call('PATCH', '/api/v1/integrations/erp', { apiKey: SECRETS.erp, apiUrl: 'https://erp.example.com/odata' });
    expect(integrations.settings.value('payment.stripe', 'secretKey')).toBe(SECRETS.stripe);

    const { stdout: dump } = await promisify(execFile)('pg_dump', ['--data-only', store.url], { maxBuffer: 64 * 1024 * 1024 });
    expect(dump).toContain('integration_secrets');
    const messages = JSON.stringify(await api.log.read('EVENTS', 100_000));
    const changes = (await api.log.read('EVENTS', 100_000))
      .flatMap((m) => m.events)
      .filter((e) => e.type === 'integration.settings_changed');
    expect(changes.length).toBeGreaterThanOrEqual(8);
    const logs = logLines.join('');
    const bodies = responses.join('\n');
    for (const secret of Object.values(SECRETS)) {
      expect(dump).not.toContain(secret);
      expect(messages).not.toContain(secret);
      expect(logs).not.toContain(secret);
      expect(bodies).not.toContain(secret);
    }
    // The audit names what changed and who, and holds a reference instead of the value.
    const stripe = changes.find((e) => (e.data as { name: string }).name === 'payment.stripe')?.data as Json;
    expect(stripe.changed).toEqual(['secretKey', 'testMode']);
    expect(stripe.actor).toMatchObject({ kind: 'api_key' });
    expect(stripe.secrets.secretKey.ref).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('/test lists YooKassa payments and reads the Stripe balance; wrong keys report the provider’s error', async () => {
    const yk = await startFakeYooKassa({ shopId: '123456', secretKey: 'test_yookassa_secret_0001' });
    const stripe = createServer((req, res) => {
      const ok = req.url === '/v1/balance' && req.headers.authorization === `Bearer ${SECRETS.stripe}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          ok ? { object: 'balance', livemode: false } : { error: { message: 'Invalid API Key provided: sk_test_****' } },
        ),
      );
    });
    await new Promise<void>((r) => stripe.listen(0, '127.0.0.1', r));
    try {
      const stripeUrl = `http://127.0.0.1:${(stripe.address() as AddressInfo).port}`;
      await call('PATCH', '/api/v1/integrations/payment.yookassa', {
        shopId: '123456',
        secretKey: 'test_yookassa_secret_0001',
        apiUrl: yk.url,
        testMode: false,
      });
      expect((await call('POST', '/api/v1/integrations/payment.yookassa/test')).body).toMatchObject({ ok: true });
      await call('PATCH', '/api/v1/integrations/payment.yookassa', { secretKey: 'test_wrong_secret_000' });
      const badYk = await call('POST', '/api/v1/integrations/payment.yookassa/test');
      expect(badYk.body).toMatchObject({
        ok: false,
        error: expect.stringContaining('Authentication by given credentials failed'),
      });

      await call('PATCH', '/api/v1/integrations/payment.stripe', {
        secretKey: SECRETS.stripe,
        apiUrl: stripeUrl,
        testMode: false,
      });
      expect((await call('POST', '/api/v1/integrations/payment.stripe/test')).body).toMatchObject({
        ok: true,
        detail: { livemode: false },
      });
      await call('PATCH', '/api/v1/integrations/payment.stripe', { secretKey: 'sk_test_wrong_0000000000' });
      const badStripe = await call('POST', '/api/v1/integrations/payment.stripe/test');
      expect(badStripe.body).toMatchObject({ ok: false, error: expect.stringContaining('Invalid API Key') });
      await call('PATCH', '/api/v1/integrations/payment.stripe', { secretKey: SECRETS.stripe });
    } finally {
      await yk.close();
      await new Promise((r) => stripe.close(r));
    }
  });

  it('a webhook secret set at run time verifies the next delivery', async () => {
    const deliver = (token: string) =>
      fetch(`${api.url}/webhooks/telegram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': token },
        body: '{"update_id":77,"message":{"text":"hi"}}',
      }).then((r) => r.status);
    expect(await deliver('anything')).toBe(404);
    await call('PATCH', '/api/v1/integrations/telegram', { webhookSecret: 'tg-webhook-secret-0001' });
    expect(await deliver('tg-webhook-secret-0001')).toBe(200);
    expect(await deliver('tg-webhook-secret-9999')).toBe(401);
  });

  it('distributed mode without a key refuses to store a credential, with a clear error, and stores plain settings', async () => {
    const ring = await loadKeyRing(loadConfig({ DATA_DIR: '/nonexistent', DATABASE_URL: store.url }), createLogger('silent'));
    expect(ring.ids).toEqual([]);
    const deps = { log: api.log, vault: secretVault(store.sql, ring) };
    const actor = { kind: 'cli' as const, id: 'test' };
    await expect(
      changeIntegration(deps, { name: 'erp', input: { apiKey: 'erp-secret-value-1234' }, replace: false, actor }),
    ).rejects.toMatchObject({ code: 'GW_ERR_SECRETS_NO_KEY', message: expect.stringContaining('SECRETS_KEYS') });
    await expect(
      changeIntegration(deps, { name: 'erp', input: { autoSync: true }, replace: false, actor }),
    ).resolves.toMatchObject({
      seq: expect.any(Number),
    });
  });

  it('rotates to key 2, reads with key 1 gone, fails start-up naming a missing key, refuses tampering, and replays', async () => {
    const logger = createLogger('silent');
    const both = loadConfig({ ...ENV, SECRETS_KEYS: `k1:${k1},k2:${k2}`, SECRETS_ACTIVE_KEY: 'k2' });
    const rotating = await openIntegrations(both, store.sql, logger);
    rotating.settings.close();
    const { reencrypted } = await rotating.vault.rotate();
    expect(reencrypted).toBeGreaterThanOrEqual(5);
    const keyIds = await store.sql<{ key_id: string }[]>`SELECT DISTINCT key_id FROM integration_secrets`;
    expect(keyIds.map((r) => r.key_id)).toEqual(['k2']);

    const only2 = await openIntegrations(loadConfig({ ...ENV, SECRETS_KEYS: `k2:${k2}` }), store.sql, logger);
    only2.settings.close();
    expect(only2.settings.value('payment.stripe', 'secretKey')).toBe(SECRETS.stripe);
    expect(only2.settings.get('sms.smsru').fields.apiKey?.secret?.keyId).toBe('k2');

    await expect(openIntegrations(loadConfig({ ...ENV, SECRETS_KEYS: `k1:${k1}` }), store.sql, logger)).rejects.toMatchObject({
      code: 'GW_ERR_SECRET_KEY_MISSING',
      message: expect.stringContaining('"k2"'),
    });

    // The log holds references only: a rebuild after key 1 was retired gives the same settings.
    const before = await store.sql`SELECT name, enabled, test_mode, settings, secrets FROM integration_settings ORDER BY name`;
    await api.close();
    apiClosed = true;
    const log = embeddedEventLog(store.sql, { pollMs: 20 });
    await rebuildProjection({
      log,
      sql: store.sql,
      projection: integrationSettingsProjection,
      logger,
      batchSize: 100,
      batchDelayMs: 0,
    });
    await log.close();
    const after = await store.sql`SELECT name, enabled, test_mode, settings, secrets FROM integration_settings ORDER BY name`;
    expect(after).toEqual(before);

    await store.sql`
      UPDATE integration_secrets SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)
      WHERE ref = (SELECT (secrets->'secretKey'->>'ref')::uuid FROM integration_settings WHERE name = 'payment.stripe')`;
    await expect(openIntegrations(loadConfig({ ...ENV, SECRETS_KEYS: `k2:${k2}` }), store.sql, logger)).rejects.toMatchObject({
      code: 'GW_ERR_SECRET_UNREADABLE',
    });
  });
});
