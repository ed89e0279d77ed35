import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefixOf } from '../../api/auth.js';
import { pushRoutes } from '../../api/routes/push.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/logger.js';
import { findPushNotificationLog } from '../../core/readModels/pushNotificationLog.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { classifyFcmError } from '../../handlers/push/fcmErrors.js';
import { buildPushHandler } from '../../handlers/push/index.js';
import { isGatewayError } from '../../schemas/errors.js';
import type { PushFailed, PushSent } from '../../schemas/events/push.js';
import { type FakeFcm, type FakeServiceAccount, startFakeFcm, writeServiceAccount } from '../fakes/fcm.js';
import type { ApiHarness } from '../support/apiServer.js';
import { eventsCausedBy, startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite, tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
let dir: Awaited<ReturnType<typeof tempDir>>;
let account: FakeServiceAccount;
let fcm: FakeFcm;
let runner: HandlerRunner;

const env = (over: Record<string, string> = {}) => loadConfig({ DATA_DIR: '/nonexistent', ...over });

beforeAll(async () => {
  store = await freshPglite();
  api = await startRoutes(store, pushRoutes);
  key = await api.key(['push']);
  dir = await tempDir('fg-fcm-tm-');
  account = await writeServiceAccount(dir.dir, 'fleetgate-demo');
  // Started only to show that nothing reaches it.
  fcm = await startFakeFcm(account);
  // FCM_TEST_MODE defaults to true: the handler the `handlers` role would build.
  const handler = buildPushHandler({
    config: env({ FCM_SERVICE_ACCOUNT: account.path }),
    logger: silentLogger(),
    log: api.log,
    sql: store.sql,
  });
  runner = await startHandler(api.log, handler);
}, 60_000);
afterAll(async () => {
  await runner?.stop();
  await fcm?.close();
  await api?.close();
  await store?.close();
  await dir?.remove();
});

const call = async (path: string, body: unknown) => {
  const res = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
};
const finished = (id: string) =>
  until(
    async () => {
      await api.caughtUp();
      const row = await findPushNotificationLog(store.sql, id);
      return row && ['sent', 'failed'].includes(row.status) ? row : undefined;
    },
    { what: `push ${id} sent or failed` },
  );

describe('push in FCM_TEST_MODE', () => {
  it('simulates FCM for every device: nothing reaches FCM, rows and events marked test_mode', async () => {
    await call('/api/v1/push/tokens', { userId: 'u1', token: 'token-one-aaaaaaaaaaaaaaaaaaaa', platform: 'android' });
    await call('/api/v1/push/tokens', { userId: 'u1', token: 'token-two-bbbbbbbbbbbbbbbbbbbb', platform: 'ios' });
    await api.caughtUp();
    const id = await call('/api/v1/push', { userId: 'u1', title: 'Hi', body: 'Test' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', test_mode: true, success_count: 2 });
    expect(row.provider_message_ids).toHaveLength(2);
    for (const m of row.provider_message_ids ?? []) expect(m).toMatch(/^projects\/fleetgate-demo\/messages\/0:\d+%[0-9a-f]{16}$/);
    const [sent] = (await eventsCausedBy(api.log, id)).filter((e) => e.type === 'push.sent');
    expect(sent?.data as PushSent).toMatchObject({
      successCount: 2,
      failureCount: 0,
      testMode: true,
      results: [
        { token: 'token-one-aaaaaaaaaaaaaaaaaaaa', outcome: 'sent' },
        { token: 'token-two-bbbbbbbbbbbbbbbbbbbb', outcome: 'sent' },
      ],
    });
    expect(fcm.requests).toHaveLength(0);
    expect(fcm.tokenRequests).toHaveLength(0);
  });

  it('still refuses a user without devices, marked test_mode', async () => {
    const id = await call('/api/v1/push', { userId: 'nobody', title: 'Hi', body: 'Test' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'failed', test_mode: true, error_code: 'no_tokens' });
    const [failed] = (await eventsCausedBy(api.log, id)).filter((e) => e.type === 'push.failed');
    expect((failed?.data as PushFailed | undefined)?.testMode).toBe(true);
  });
});

describe('device_tokens from POST|DELETE /api/v1/push/tokens', () => {
  const tokenRow = async (token: string) =>
    (
      await store.sql<{ user_id: string; platform: string; active: boolean; revoked_reason: string | null }[]>`
      SELECT user_id, platform, active, revoked_reason FROM device_tokens WHERE token = ${token}`
    )[0];
  const revoke = async (body: unknown) => {
    const res = await fetch(`${api.url}/api/v1/push/tokens`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    await api.caughtUp();
  };

  it('registers, moves a device to its new user, and revokes only for the owner', async () => {
    const token = 'shared-device-cccccccccccccccccccc';
    await call('/api/v1/push/tokens', { userId: 'alice', token, platform: 'android' });
    await api.caughtUp();
    expect(await tokenRow(token)).toEqual({ user_id: 'alice', platform: 'android', active: true, revoked_reason: null });
    // Bob logs in on the same phone; Alice's late logout must not cut Bob off.
    await call('/api/v1/push/tokens', { userId: 'bob', token, platform: 'android' });
    await revoke({ token, userId: 'alice' });
    expect(await tokenRow(token)).toMatchObject({ user_id: 'bob', active: true });
    await revoke({ token, userId: 'bob' });
    expect(await tokenRow(token)).toMatchObject({ user_id: 'bob', active: false, revoked_reason: `revoked by ${prefixOf(key)}` });
  });
});

describe('push configuration', () => {
  const build = (over: Record<string, string>) =>
    buildPushHandler({ config: env(over), logger: silentLogger(), log: api.log, sql: store.sql });
  const configError = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (isGatewayError(e, 'GW_ERR_CONFIG')) return e.message;
      throw e;
    }
    throw new Error('no configuration error');
  };

  it('live FCM needs a service account', () => {
    expect(configError(() => build({ FCM_TEST_MODE: 'false' }))).toMatch(/FCM_TEST_MODE=false needs FCM_SERVICE_ACCOUNT/);
    expect(configError(() => build({ FCM_TEST_MODE: 'false', FCM_SERVICE_ACCOUNT: join(dir.dir, 'missing.json') }))).toMatch(
      /cannot read .*missing\.json \(ENOENT\)/,
    );
    expect(build({ FCM_TEST_MODE: 'false', FCM_SERVICE_ACCOUNT: account.path }).name).toBe('push');
  });

  it('never quotes a broken service-account file (it holds the private key)', async () => {
    const broken = join(dir.dir, 'broken.json');
    await writeFile(broken, '{"private_key": "-----BEGIN PRIVATE KEY-----\\nSECRETSECRET", ');
    const message = configError(() => build({ FCM_TEST_MODE: 'false', FCM_SERVICE_ACCOUNT: broken }));
    expect(message).toMatch(/is not JSON/);
    expect(message).not.toMatch(/SECRET/);
    const partial = join(dir.dir, 'partial.json');
    await writeFile(partial, JSON.stringify({ project_id: 'p', private_key: 'SECRETSECRET' }));
    const lacks = configError(() => build({ FCM_TEST_MODE: 'false', FCM_SERVICE_ACCOUNT: partial }));
    expect(lacks).toMatch(/lacks client_email/);
    expect(lacks).not.toMatch(/SECRET/);
  });
});

describe('FCM error classification', () => {
  it.each([
    ['messaging/registration-token-not-registered', 'Requested entity was not found.', 'invalid_token'],
    ['messaging/invalid-registration-token', 'bad', 'invalid_token'],
    ['messaging/invalid-argument', 'The registration token is not a valid FCM registration token', 'invalid_token'],
    ['messaging/invalid-argument', "Invalid value at 'message.data[0].value'", 'rejected'],
    ['messaging/mismatched-credential', 'SenderId mismatch', 'rejected'],
    ['messaging/third-party-auth-error', 'APNs auth', 'rejected'],
    ['messaging/server-unavailable', 'unavailable', 'retryable'],
    ['messaging/internal-error', 'internal', 'retryable'],
    ['messaging/unknown-error', 'Status code: 502.', 'retryable'],
    ['app/network-error', 'ECONNRESET', 'retryable'],
    ['app/invalid-credential', 'Error fetching access token', 'retryable'],
  ])('%s (%s) → %s', (code, message, outcome) => {
    expect(classifyFcmError({ code, message }).outcome).toBe(outcome);
  });

  it('QUOTA_EXCEEDED waits at least the quota delay (FCM: one minute)', () => {
    expect(classifyFcmError({ code: 'messaging/message-rate-exceeded', message: 'quota' })).toEqual({
      outcome: 'retryable',
      retryAfterMs: 60_000,
    });
    expect(classifyFcmError({ code: 'messaging/device-message-rate-exceeded', message: 'x' }, 5_000).retryAfterMs).toBe(5_000);
  });
});
