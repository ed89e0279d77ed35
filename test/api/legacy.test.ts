import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyRoutes } from '../../api/legacy/index.js';
import { phpForm } from '../../api/legacy/phpForm.js';
import { normalisePhone } from '../../api/legacy/sms.js';
import { commandRoutes } from '../../api/routes/commands.js';
import { smsRoutes } from '../../api/routes/sms.js';
import { webhookRoutes } from '../../api/routes/webhooks.js';
import type { EventEnvelope } from '../../core/eventlog/port.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';

const TELEGRAM_SECRET = 'tg-secret-0123456789';
let store: PostgresStore;
let api: ApiHarness;
let key: string;

beforeAll(async () => {
  store = await freshPglite();
  api = await startRoutes(store, (d) => [...smsRoutes(d), ...commandRoutes(d), ...legacyRoutes(d), ...webhookRoutes(d)], {
    TELEGRAM_WEBHOOK_SECRET: TELEGRAM_SECRET,
    // No payment handler runs here: `create` would wait for a link that never comes.
    PAYMENT_WAIT_MAX_SECONDS: '0',
  });
  key = await api.key(['sms', 'email', 'push', 'payments', 'erp', 'exports']);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };
const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = JSON_TYPE) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });

/** The one event a request appends, with its JSON answer. */
const appended = async (request: () => Promise<Response>) => {
  const before = await api.log.lastSeq('EVENTS');
  const r = await request();
  const body = (await r.json()) as Record<string, unknown>;
  const events = (await api.log.read('EVENTS', 100, { fromSeq: before + 1 })).flatMap((m) => m.events);
  expect(events, JSON.stringify(body)).toHaveLength(1);
  return { status: r.status, body, event: events[0] as EventEnvelope<Record<string, unknown>> };
};

/** What must be equal between the v1 and the legacy event: all but the id, time and `via`. */
const comparable = (e: EventEnvelope<Record<string, unknown>>) => {
  const { via: _via, ...data } = e.data;
  return { type: e.type, subject: e.subject, data };
};

/** A legacy call appends what the v1 call appends, `via` aside, and records the legacy route. */
const expectSameEvent = async (v1: () => Promise<Response>, legacy: () => Promise<Response>, path: string) => {
  const a = await appended(v1);
  const b = await appended(legacy);
  expect(a.status).toBe(202);
  expect(b.status).toBe(200);
  expect(b.body.success).toBe(true);
  expect(comparable(b.event)).toEqual(comparable(a.event));
  expect([a.event.data.via, b.event.data.via]).toEqual(['v1', `legacy:${path}`]);
  return b;
};

interface Old {
  success: boolean;
  message?: string;
  error?: string;
  code?: string;
  errors?: { field: string }[];
}

/** A refusal in the old shape that appended nothing. */
const expectRefused = async (request: () => Promise<Response>, status: number, fields?: string[]) => {
  const before = await api.log.lastSeq('EVENTS');
  const r = await request();
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/json');
  const body = (await r.json()) as Old;
  expect(body.success).toBe(false);
  expect(typeof body.message).toBe('string');
  expect(body.error).toBe(body.message);
  if (fields) expect(body.errors?.map((e) => e.field).sort()).toEqual(fields);
  expect(await api.log.lastSeq('EVENTS')).toBe(before);
  return body;
};

describe('/api/sms.php', () => {
  const v1 = () => send('POST', '/api/v1/sms', { to: '+79991234567', text: 'Test SMS' });

  it("action=send with the CRM's curl body appends the event POST /api/v1/sms appends", async () => {
    const b = await expectSameEvent(
      v1,
      () => send('POST', '/api/sms.php?action=send', { phone: '+79991234567', message: 'Test SMS' }),
      '/api/sms.php',
    );
    expect(b.body).toMatchObject({ success: true, message_id: b.event.id, status: 'queued' });
  });

  it('takes the same body form-encoded', async () => {
    await expectSameEvent(
      v1,
      () => send('POST', '/api/sms.php?action=send', 'phone=%2B79991234567&message=Test+SMS', FORM_TYPE),
      '/api/sms.php',
    );
  });

  it('takes a form of max_input_vars parameters; one more is a 413 problem and appends nothing', async () => {
    const form = (n: number) =>
      ['phone=%2B79991234567', 'message=Test+SMS', ...Array.from({ length: n - 2 }, (_, i) => `x${i}=1`)].join('&');
    const accepted = await appended(() => send('POST', '/api/sms.php?action=send', form(1_000), FORM_TYPE));
    expect([accepted.status, accepted.event.type]).toEqual([200, 'sms.requested']);
    const before = await api.log.lastSeq('EVENTS');
    const refused = await send('POST', '/api/sms.php?action=send', form(1_001), FORM_TYPE);
    expect([refused.status, refused.headers.get('content-type')]).toEqual([413, 'application/problem+json']);
    expect(((await refused.json()) as { code: string }).code).toBe('GW_ERR_PAYLOAD_TOO_LARGE');
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });

  it('normalises numbers the PHP layer accepted (8-trunk, bare digits, separators)', async () => {
    for (const phone of ['8 (999) 123-45-67', '89991234567', '79991234567', '+7 999 123 45 67']) {
      await expectSameEvent(v1, () => send('POST', '/api/sms.php?action=send', { phone, message: 'Test SMS' }), '/api/sms.php');
    }
    expect(['0079991234567', '+380 44 123 4567', 'call me', 79991234567].map(normalisePhone)).toEqual([
      '+79991234567',
      '+380441234567',
      'callme',
      79991234567,
    ]);
  });

  it('refuses a bad phone or a missing message in the old shape, naming the old fields', async () => {
    const bad = await expectRefused(() => send('POST', '/api/sms.php?action=send', { phone: '12-34', message: 'x' }), 400, [
      'phone',
    ]);
    expect(bad.code).toBe('GW_ERR_VALIDATION');
    await expectRefused(() => send('POST', '/api/sms.php?action=send', 'phone=89991234567', FORM_TYPE), 400, ['message']);
    await expectRefused(() => send('POST', '/api/sms.php?action=send', '{"phone": "+7999', JSON_TYPE), 400);
  });

  it('action=status reads sms_log by the id send answered (query or body); unknown ids are 404', async () => {
    const sent = await appended(() => send('POST', '/api/sms.php?action=send', { phone: '89990000001', message: 'status?' }));
    await api.caughtUp();
    const id = sent.body.message_id as string;
    for (const res of [
      send('POST', `/api/sms.php?action=status&id=${id}`),
      send('POST', '/api/sms.php?action=status', { message_id: id }),
    ]) {
      const r = await res;
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ success: true, id, message_id: id, status: 'pending', state: 'queued' });
    }
    await expectRefused(() => send('POST', '/api/sms.php?action=status&id=0190a4b2-0000-7000-8000-000000000000'), 404);
    await expectRefused(() => send('POST', '/api/sms.php?action=status'), 400, ['id']);
  });

  it('action=balance without a provider is 503 in the old shape; an unknown action 400; no API key a 401 problem', async () => {
    const b = await expectRefused(() => send('POST', '/api/sms.php?action=balance'), 503);
    expect(b.error).toBe('no SMS provider is available to this process');
    expect((await expectRefused(() => send('POST', '/api/sms.php?action=fly'), 400)).message).toBe('Invalid action');
    const anon = await fetch(`${api.url}/api/sms.php?action=send`, { method: 'POST', body: '{}' });
    expect([anon.status, anon.headers.get('content-type')]).toEqual([401, 'application/problem+json']);
  });

  it('with an Idempotency-Key, replays a success and answers refusals as v1 problems', async () => {
    const headers = { ...JSON_TYPE, 'idempotency-key': 'legacy-sms-1' };
    const first = await appended(() =>
      send('POST', '/api/sms.php?action=send', { phone: '89990000002', message: 'once' }, headers),
    );
    const again = await send('POST', '/api/sms.php?action=send', { phone: '89990000002', message: 'once' }, headers);
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect(await again.json()).toEqual(first.body);
    const bad = await send(
      'POST',
      '/api/sms.php?action=send',
      { phone: 'x' },
      { ...JSON_TYPE, 'idempotency-key': 'legacy-sms-2' },
    );
    expect([bad.status, bad.headers.get('content-type')]).toEqual([400, 'application/problem+json']);
  });
});

describe('the other PHP endpoints append what their v1 command appends', () => {
  const RETURN = 'https://crm.example/payment-success.php';

  it('/api/email.php send (html body, text body) and send_template; cc is refused', async () => {
    const path = '/api/email.php';
    const to = 'driver@example.com';
    await expectSameEvent(
      () => send('POST', '/api/v1/email', { to, subject: 'Order', html: '<h1>Confirmed</h1>' }),
      () => send('POST', `${path}?action=send`, { to, subject: 'Order', body: '<h1>Confirmed</h1>', application_id: 123 }),
      path,
    );
    await expectSameEvent(
      () => send('POST', '/api/v1/email', { to, subject: 'Order', text: 'Confirmed' }),
      () => send('POST', `${path}?action=send`, 'to=driver%40example.com&subject=Order&body=Confirmed&is_html=0', FORM_TYPE),
      path,
    );
    await expectSameEvent(
      () =>
        send('POST', '/api/v1/email', {
          to,
          template: 'application_assigned',
          data: { driver: { name: 'Ivan' }, application: { number: 'A-17' } },
        }),
      () =>
        send(
          'POST',
          `${path}?action=send_template`,
          'to=driver%40example.com&template=application_assigned&data[driver][name]=Ivan&data[application][number]=A-17',
          FORM_TYPE,
        ),
      path,
    );
    await expectRefused(() => send('POST', `${path}?action=send`, { to, subject: 'x', body: 'y', cc: 'boss@example.com' }), 400, [
      'cc',
    ]);
    await expectRefused(() => send('POST', `${path}?action=send`, { to, subject: 'x' }), 400, ['body']);
  });

  it('/api/payment-gateway.php create (major units → minor), refund and status', async () => {
    const path = '/api/payment-gateway.php';
    const created = await expectSameEvent(
      () =>
        send('POST', '/api/v1/payments', {
          orderId: '123',
          amount: 500000,
          currency: 'RUB',
          description: 'Payment for order #APP-001',
          returnUrl: RETURN,
          customer: { email: 'customer@example.com' },
        }),
      () =>
        send('POST', `${path}?action=create`, {
          amount: 5000.0,
          application_id: 123,
          description: 'Payment for order #APP-001',
          customer_email: 'customer@example.com',
          return_url: RETURN,
        }),
      path,
    );
    expect(created.body).toMatchObject({ transaction_id: created.event.id, payment_link: null, status: 'pending' });
    const id = created.event.id;
    await expectSameEvent(
      () => send('POST', `/api/v1/payments/${id}/refunds`, { amount: 100050 }),
      () => send('POST', `${path}?action=refund`, `transaction_id=${id}&amount=1000.50`, FORM_TYPE),
      path,
    );
    await expectRefused(
      () => send('POST', `${path}?action=create`, { amount: '10.555', application_id: 1, return_url: RETURN }),
      400,
      ['amount'],
    );
    await expectRefused(() => send('POST', `${path}?action=create`, { amount: 10 }), 400, ['application_id', 'return_url']);
    await expectRefused(() => send('POST', `${path}?action=refund`, { transaction_id: 'pay_unknown' }), 404);
    // A payment just created is known at once: pending, no link yet (no handler runs here).
    await api.caughtUp();
    const status = await send('GET', `${path}?action=status&transaction_id=${id}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ id, status: 'pending', payment_link: null });
  });

  it('/api/push-notifications.php send, register_token and unregister_token', async () => {
    const path = '/api/push-notifications.php';
    await expectSameEvent(
      () => send('POST', '/api/v1/push', { userId: '123', title: 'New Order', body: 'APP-001', data: { application_id: 123 } }),
      () =>
        send('POST', `${path}?action=send`, { user_id: 123, title: 'New Order', body: 'APP-001', data: { application_id: 123 } }),
      path,
    );
    await expectSameEvent(
      () => send('POST', '/api/v1/push/tokens', { userId: '5', token: 'fcm-1', platform: 'android' }),
      () =>
        send('POST', `${path}?action=register_token`, {
          token: 'fcm-1',
          device_type: 'Android',
          device_name: 'Galaxy',
          user_id: 5,
        }),
      path,
    );
    await expectSameEvent(
      () => send('DELETE', '/api/v1/push/tokens', { token: 'fcm-1' }),
      () => send('POST', `${path}?action=unregister`, 'token=fcm-1', FORM_TYPE),
      path,
    );
    await expectRefused(() => send('POST', `${path}?action=register_token`, { token: 't', device_type: 'android' }), 400, [
      'user_id',
    ]);
  });

  it('/api/erp-sync.php sync (singular entity, one id) and status', async () => {
    const path = '/api/erp-sync.php';
    await expectSameEvent(
      () => send('POST', '/api/v1/erp/sync', { entity: 'applications', direction: 'push', ids: [123] }),
      () => send('POST', path, { entity_type: 'application', entity_id: 123 }),
      path,
    );
    await expectRefused(() => send('POST', `${path}?action=sync`, { entity_type: 'company' }), 400, ['entity_id']);
    await expectRefused(() => send('POST', path, { entity_type: 'spaceship', entity_id: 1 }), 400, ['entity_type']);
    // erp_sync_log holds the run from its command on (projections/erpSyncLog.ts); no handler runs here.
    await api.caughtUp();
    const status = await send('GET', `${path}?action=status&entity_type=application&entity_id=123`);
    expect(await status.json()).toMatchObject({ success: true, status: 'queued', error_message: null, synced_at: null });
    const none = await send('GET', `${path}?action=status&entity_type=application&entity_id=999`);
    expect(await none.json()).toEqual({ success: true, status: null });
  });

  it('/api/export.php create (type and format in the query) and status', async () => {
    const path = '/api/export.php';
    const filters = { status: 'completed', date_from: '2024-01-01', limit: 5000 };
    const created = await expectSameEvent(
      () => send('POST', '/api/v1/exports', { entity: 'applications', format: 'xlsx', filters }),
      () => send('POST', `${path}?type=applications&format=excel`, { filters }),
      path,
    );
    expect(created.body.download_url).toBe(`/api/v1/exports/${created.event.id}/download`);
    await expectRefused(() => send('POST', `${path}?type=planets`), 400, ['type']);
    // The job is a projection of its events: queued until the export handler (not run here) writes it.
    await api.caughtUp();
    const status = await send('GET', `${path}?action=status&id=${created.event.id}`);
    expect(await status.json()).toEqual({
      success: true,
      id: created.event.id,
      status: 'queued',
      rows: null,
      filename: null,
      download_url: null,
    });
    await expectRefused(() => send('GET', `${path}?action=status&id=00000000-0000-4000-8000-000000000000`), 404);
  });

  it('/api/telegram-webhook.php verifies and records like POST /webhooks/telegram', async () => {
    const update = JSON.stringify({ update_id: 9001, message: { text: '/status' } });
    const deliver = (path: string, headers: Record<string, string>) =>
      fetch(`${api.url}${path}`, { method: 'POST', headers: { ...JSON_TYPE, ...headers }, body: update });
    const refused = await appended(() => deliver('/api/telegram-webhook.php', {}));
    expect([refused.status, refused.event.type, refused.event.data.signatureValid]).toEqual([401, 'webhook.received', false]);
    const legacy = await appended(() =>
      deliver('/api/telegram-webhook.php', { 'x-telegram-bot-api-secret-token': TELEGRAM_SECRET }),
    );
    expect(legacy.status).toBe(200);
    expect(legacy.event).toMatchObject({
      subject: 'evt.webhook.telegram',
      data: { providerEventId: '9001', signatureValid: true, duplicate: false },
    });
    // One dedupe for both URLs: the same update through the new URL is a duplicate.
    const v1 = await appended(() => deliver('/webhooks/telegram', { 'x-telegram-bot-api-secret-token': TELEGRAM_SECRET }));
    expect(v1.event.data).toMatchObject({ providerEventId: '9001', duplicate: true });
  });
});

describe('phpForm', () => {
  it('reads bodies as $_POST does: nesting, lists, last plain name wins, no prototype keys', () => {
    const body = phpForm('a=1&a=2&data[driver][name]=Ivan&ids[]=1&ids[]=2&__proto__[x]=1&m[0]=x&m[2]=y');
    expect(body).toEqual({ a: '2', data: { driver: { name: 'Ivan' } }, ids: ['1', '2'], m: { 0: 'x', 2: 'y' } });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
