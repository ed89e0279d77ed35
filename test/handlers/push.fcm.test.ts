import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushRoutes } from '../../api/routes/push.js';
import { silentLogger } from '../../core/logger.js';
import { findPushNotificationLog } from '../../core/readModels/pushNotificationLog.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { fcmPushSender } from '../../handlers/push/fcm.js';
import { pushHandler } from '../../handlers/push/handler.js';
import type { PushSender } from '../../handlers/push/port.js';
import type { PushFailed, PushSent, PushTokenRevoked } from '../../schemas/events/push.js';
import { type FakeFcm, type FakeServiceAccount, startFakeFcm, writeServiceAccount } from '../fakes/fcm.js';
import type { ApiHarness } from '../support/apiServer.js';
import { deadLetters, eventsCausedBy, startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite, tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
let dir: Awaited<ReturnType<typeof tempDir>>;
let account: FakeServiceAccount;
let fcm: FakeFcm;
let sender: PushSender;
let runner: HandlerRunner;

/** A token shaped like FCM's (base64url, ~160 characters), unique per call. */
let n = 0;
const fcmToken = (tag: string) => `${tag}${++n}:APA91b${Buffer.alloc(110, `${tag}${n}`).toString('base64url')}`;

beforeAll(async () => {
  store = await freshPglite();
  api = await startRoutes(store, pushRoutes);
  key = await api.key(['push']);
  dir = await tempDir('fg-fcm-');
  account = await writeServiceAccount(dir.dir, 'fleetgate-demo');
  fcm = await startFakeFcm(account);
  sender = fcmPushSender({ serviceAccountPath: account.path, httpAgent: fcm.agent() });
  runner = await startHandler(
    api.log,
    pushHandler({ sender, sql: store.sql, log: api.log, logger: silentLogger(), quotaRetryAfterMs: 600 }),
  );
}, 60_000);
afterAll(async () => {
  await runner?.stop();
  await sender?.close();
  await fcm?.close();
  await api?.close();
  await store?.close();
  await dir?.remove();
});

const call = async (method: string, path: string, body: unknown) => {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
};
const register = async (userId: string, token: string, platform: 'ios' | 'android' | 'web') => {
  await call('POST', '/api/v1/push/tokens', { userId, token, platform });
};
/** After the registrations are folded: the handler reads `device_tokens`, a read model. */
const push = async (body: Record<string, unknown>) => {
  await api.caughtUp();
  return call('POST', '/api/v1/push', { title: 'Order 42', body: 'A driver is on the way', ...body });
};

/** The log row once the command ended (sent or failed) and every projection caught up. */
const finished = async (id: string) =>
  until(
    async () => {
      await api.caughtUp();
      const row = await findPushNotificationLog(store.sql, id);
      return row && ['sent', 'failed'].includes(row.status) ? row : undefined;
    },
    { what: `push ${id} sent or failed` },
  );
const tokenRow = async (token: string) =>
  (
    await store.sql<{ active: boolean; revoked_reason: string | null; user_id: string }[]>`
    SELECT active, revoked_reason, user_id FROM device_tokens WHERE token = ${token}`
  )[0];
const requestsFor = (token: string) => fcm.requests.filter((r) => r.token === token);

describe('push through firebase-admin (FCM HTTP v1 fake)', () => {
  it("signs in with the service account's JWT and reaches every device of the user", async () => {
    const tokens = [fcmToken('a'), fcmToken('i'), fcmToken('w')];
    await register('u-all', tokens[0] as string, 'android');
    await register('u-all', tokens[1] as string, 'ios');
    await register('u-all', tokens[2] as string, 'web');
    await register('u-other', fcmToken('x'), 'android');
    const id = await push({ userId: 'u-all', data: { orderId: 42, paid: true }, priority: 'high' });
    const row = await finished(id);

    expect(fcm.tokenRequests.length).toBeGreaterThanOrEqual(1);
    expect(fcm.tokenRequests.every((t) => t.ok)).toBe(true);
    const mine = fcm.sent.filter((s) => tokens.includes(s.token));
    expect(mine.map((s) => s.token).sort()).toEqual([...tokens].sort());
    expect(mine[0]?.projectId).toBe('fleetgate-demo');
    expect(mine[0]?.message).toMatchObject({
      notification: { title: 'Order 42', body: 'A driver is on the way' },
      data: { orderId: '42', paid: 'true' },
      android: { priority: 'high', notification: { tag: id } },
      apns: { headers: { 'apns-collapse-id': id, 'apns-priority': '10' } },
      webpush: { notification: { tag: id } },
    });
    expect(row).toMatchObject({ status: 'sent', attempts: 1, success_count: 3, failure_count: 0, test_mode: false });
    expect([...(row.provider_message_ids ?? [])].sort()).toEqual(mine.map((s) => s.messageId).sort());
    expect(row.history.map((h) => h.type)).toEqual(['push.requested', 'push.sent']);
    const [sent] = (await eventsCausedBy(api.log, id)).filter((e) => e.type === 'push.sent');
    expect(sent?.data as PushSent).toMatchObject({ successCount: 3, failureCount: 0, attempt: 1, testMode: false });
  });

  it('the fake refuses a bearer token its token endpoint did not issue, as FCM does', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: fcm.port,
          method: 'POST',
          path: '/v1/projects/fleetgate-demo/messages:send',
          headers: { host: 'fcm.googleapis.com', authorization: 'Bearer ya29.made-up', 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ message: { token: fcmToken('z'), notification: { title: 't' } } }));
    });
    expect(status).toBe(401);
  });

  it('revokes unregistered and invalid tokens and leaves them out of the next push', async () => {
    const good = fcmToken('g');
    const dead = fcmToken('d');
    const malformed = 'not-a-token';
    await register('u-revoke', good, 'android');
    await register('u-revoke', dead, 'ios');
    await register('u-revoke', malformed, 'web');
    fcm.unregister(dead);
    const first = await finished(await push({ userId: 'u-revoke' }));
    expect(first).toMatchObject({ status: 'sent', success_count: 1, failure_count: 2, attempts: 1 });
    const outcomes = Object.fromEntries((first.results ?? []).map((r) => [r.token, [r.outcome, r.error?.code]]));
    expect(outcomes).toEqual({
      [good]: ['sent', undefined],
      [dead]: ['invalid_token', 'messaging/registration-token-not-registered'],
      [malformed]: ['invalid_token', 'messaging/invalid-argument'],
    });
    expect(await tokenRow(dead)).toMatchObject({ active: false, user_id: 'u-revoke' });
    expect((await tokenRow(dead))?.revoked_reason).toMatch(/registration-token-not-registered/);
    expect(await tokenRow(malformed)).toMatchObject({ active: false });
    expect(await tokenRow(good)).toMatchObject({ active: true, revoked_reason: null });
    const revoked = (await api.log.read('EVENTS', 10_000, { filterSubject: 'evt.push.tokens' }))
      .flatMap((m) => m.events)
      .filter((e) => e.type === 'push.token_revoked')
      .map((e) => e.data as PushTokenRevoked);
    expect(revoked.filter((r) => r.userId === 'u-revoke').map((r) => [r.token, r.requestedBy])).toEqual([
      [dead, 'handler/push'],
      [malformed, 'handler/push'],
    ]);

    const second = await finished(await push({ userId: 'u-revoke' }));
    expect(second).toMatchObject({ status: 'sent', success_count: 1, failure_count: 0 });
    expect(requestsFor(dead)).toHaveLength(1);
    expect(requestsFor(malformed)).toHaveLength(1);
    expect(requestsFor(good)).toHaveLength(2);
  });

  it('retries only the devices that failed retryably, then succeeds', async () => {
    const ok = fcmToken('o');
    const flaky = fcmToken('f');
    await register('u-retry', ok, 'android');
    await register('u-retry', flaky, 'android');
    fcm.failToken(flaky, { status: 500, errorCode: 'INTERNAL', message: 'Internal error encountered.' });
    const id = await push({ userId: 'u-retry' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', attempts: 2, success_count: 2, failure_count: 0 });
    expect(requestsFor(ok).map((r) => r.status)).toEqual([200]);
    expect(requestsFor(flaky).map((r) => r.status)).toEqual([500, 200]);
    expect(row.history.map((h) => h.type)).toEqual(['push.requested', 'push.partially_sent', 'push.attempt_failed', 'push.sent']);
    expect(await deadLetters(api.log, 'push-normal', id)).toEqual([]);
  });

  it('a permanent error fails at once: push.failed and a dead letter, the token kept', async () => {
    const token = fcmToken('p');
    await register('u-perm', token, 'android');
    fcm.failToken(token, {
      status: 403,
      errorCode: 'SENDER_ID_MISMATCH',
      message: 'SenderId mismatch',
    });
    const id = await push({ userId: 'u-perm' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, error_code: 'messaging/mismatched-credential', success_count: 0 });
    expect(row.error_message).toMatch(/^permanent: /);
    expect(requestsFor(token)).toHaveLength(1);
    expect(await deadLetters(api.log, 'push-normal', id)).toEqual([row.error_message]);
    // A wrong project would answer this for every token: it says nothing about the device.
    expect(await tokenRow(token)).toMatchObject({ active: true });
  });

  it('a user without active devices is a permanent push.failed (no_tokens)', async () => {
    const id = await push({ userId: 'u-nobody' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'failed', error_code: 'no_tokens', attempts: 1 });
    const [failed] = (await eventsCausedBy(api.log, id)).filter((e) => e.type === 'push.failed');
    expect((failed?.data as PushFailed | undefined)?.reason).toBe('permanent: user u-nobody has no active device tokens');
  });

  it('gives up after the last attempt: push.failed and a dead letter', async () => {
    const token = fcmToken('m');
    fcm.failToken(token, { status: 500, errorCode: 'INTERNAL' }, 99);
    const id = await push({ token, priority: 'low' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'failed', attempts: 3, error_code: 'messaging/internal-error' });
    expect(row.error_message).toMatch(/^gave up after 3 attempts: /);
    expect(requestsFor(token)).toHaveLength(3);
    expect(row.history.filter((h) => h.type === 'push.attempt_failed').map((h) => h.attempt)).toEqual([1, 2]);
    expect(await deadLetters(api.log, 'push-low', id)).toHaveLength(1);
  });

  it('a push whose only device is unregistered fails, and the token is still revoked', async () => {
    const token = fcmToken('r');
    await register('u-gone', token, 'ios');
    fcm.unregister(token);
    const id = await push({ userId: 'u-gone' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'failed', error_code: 'messaging/registration-token-not-registered', attempts: 1 });
    expect(await tokenRow(token)).toMatchObject({ active: false });
    expect(await deadLetters(api.log, 'push-normal', id)).toHaveLength(1);
  });

  it('once the attempts run out, a push that reached some devices is sent, the others listed as retryable', async () => {
    const ok = fcmToken('s');
    const down = fcmToken('t');
    await register('u-some', ok, 'android');
    await register('u-some', down, 'web');
    fcm.failToken(down, { status: 500, errorCode: 'INTERNAL' }, 99);
    const id = await push({ userId: 'u-some' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', attempts: 3, success_count: 1, failure_count: 1 });
    expect(Object.fromEntries((row.results ?? []).map((r) => [r.token, r.outcome]))).toEqual({
      [ok]: 'sent',
      [down]: 'retryable',
    });
    expect(requestsFor(ok)).toHaveLength(1);
    expect(requestsFor(down)).toHaveLength(3);
    expect(await deadLetters(api.log, 'push-normal', id)).toEqual([]);
  });

  it("honours a 503's Retry-After (firebase-admin retries it within the attempt)", async () => {
    const token = fcmToken('u');
    fcm.failToken(token, { status: 503, errorCode: 'UNAVAILABLE', retryAfter: '1' });
    const row = await finished(await push({ token }));
    expect(row).toMatchObject({ status: 'sent', attempts: 1 });
    const [a, b] = requestsFor(token);
    expect([a?.status, b?.status]).toEqual([503, 200]);
    expect((b?.at as number) - (a?.at as number)).toBeGreaterThanOrEqual(950);
  });

  it('waits the quota delay after QUOTA_EXCEEDED (429) before the next attempt', async () => {
    const token = fcmToken('q');
    fcm.failToken(token, { status: 429, errorCode: 'QUOTA_EXCEEDED', message: 'Quota exceeded for quota metric' });
    const id = await push({ token });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', attempts: 2 });
    const [a, b] = requestsFor(token);
    expect([a?.status, b?.status]).toEqual([429, 200]);
    // The handler is built with quotaRetryAfterMs 600; plain back-off would be ~30 ms.
    expect((b?.at as number) - (a?.at as number)).toBeGreaterThanOrEqual(590);
  });
});
