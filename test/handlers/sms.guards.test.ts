import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smsRoutes } from '../../api/routes/sms.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { smsCalls } from '../../handlers/sms/calls.js';
import { smsGuards } from '../../handlers/sms/guards.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite, freshPostgresDb } from '../support/stores.js';
import { type SmsRig, startSmsRig } from './smsHarness.js';

let store: PostgresStore;
let api: ApiHarness;
let rig: SmsRig;
let key: string;

beforeAll(async () => {
  store = await freshPglite();
  // The API harness runs every projection (sms_log, sms_opt_outs …); the rig only the handlers.
  api = await startRoutes(store, (d) => smsRoutes(d));
  key = await api.key(['sms']);
  rig = await startSmsRig(
    store,
    {
      SMS_TEST_MODE: 'true',
      SMS_MAX_PER_RECIPIENT_PER_HOUR: '2',
      SMS_MAX_PER_SOURCE_PER_HOUR: '3',
      SMS_DUPLICATE_WINDOW_SECONDS: '300',
      SMS_RATE_LIMIT_PER_SECOND: '3',
    },
    { projections: [] },
  );
}, 60_000);
afterAll(async () => {
  await rig?.stop();
  await api?.close();
  await store?.close();
});

const optOut = (method: 'POST' | 'DELETE', body: unknown) =>
  fetch(`${api.url}/api/v1/sms/opt-outs`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** Sends one and waits for its outcome, so the order of the guards' decisions is the order of the calls. */
const sendAndSettle = async (to: string, text: string, source = 'fg_guard') => {
  const id = await rig.request(to, text, { source });
  return rig.rowWhen(id, (r) => r.status !== 'queued');
};

describe('SMS cost guards', () => {
  it('refuses the third SMS to one number within the hour, with the reason in sms_log', async () => {
    const to = '+79990000101';
    expect((await sendAndSettle(to, 'one', 'fg_a')).status).toBe('sent');
    expect((await sendAndSettle(to, 'two', 'fg_b')).status).toBe('sent');
    const third = await sendAndSettle(to, 'three', 'fg_c');
    expect(third).toMatchObject({ status: 'refused', error_code: 'recipient_limit', provider_message_id: null });
    expect(third.error_message).toMatch(/already got 2 SMS in the last hour \(limit 2\)/);
    expect(third.history.at(-1)).toMatchObject({ type: 'sms.refused', data: { reason: 'recipient_limit' } });
  });

  it('refuses the same text to the same number within the window as a duplicate', async () => {
    const to = '+79990000102';
    expect((await sendAndSettle(to, 'Your code is 1234', 'fg_d')).status).toBe('sent');
    const dup = await sendAndSettle(to, 'Your code is 1234', 'fg_e');
    expect(dup).toMatchObject({ status: 'refused', error_code: 'duplicate' });
    expect((await sendAndSettle(to, 'Your code is 5678', 'fg_f')).status).toBe('sent');
  });

  it('refuses an API key over its hourly limit', async () => {
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await sendAndSettle(`+7999000020${i}`, `bulk ${i}`, 'fg_bulk'));
    expect(results.map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'refused']);
    expect(results[3]).toMatchObject({ error_code: 'source_limit' });
    expect(results[3]?.error_message).toContain('fg_bulk');
  });

  it('honours an opt-out posted through the API (an audited event) until it is withdrawn', async () => {
    const to = '+79990000103';
    const res = await optOut('POST', { phone: to, reason: 'asked by phone' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; optedOut: boolean };
    expect(body.optedOut).toBe(true);
    const [event] = (await rig.events('evt.sms.optout')).filter((e) => e.id === body.id);
    expect(event).toMatchObject({
      type: 'sms.opted_out',
      data: { phone: to, reason: 'asked by phone', source: expect.stringMatching(/^api:/) },
    });
    await api.caughtUp();
    const refused = await sendAndSettle(to, 'promo', 'fg_g');
    expect(refused).toMatchObject({ status: 'refused', error_code: 'opted_out' });
    expect(refused.error_message).toContain('asked by phone');

    expect((await optOut('DELETE', { phone: to })).status).toBe(202);
    await api.caughtUp();
    expect((await sendAndSettle(to, 'welcome back', 'fg_h')).status).toBe('sent');
    const bad = await optOut('POST', { phone: '12345' });
    expect([bad.status, bad.headers.get('content-type')]).toEqual([400, 'application/problem+json']);
  });

  it('makes an SMS over the send rate wait rather than fail', async () => {
    const ids = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6].map((i) => rig.request(`+7999000030${i}`, `rate ${i}`, { source: `fg_rate${i}` })),
    );
    const rows = await Promise.all(ids.map((id) => rig.rowWhen(id, (r) => r.status !== 'queued')));
    expect(rows.map((r) => r.status)).toEqual(Array(7).fill('sent'));
    const times = rows.map((r) => (r.sent_at as Date).getTime()).sort((a, b) => a - b);
    // 3 a second: the seventh waited for the third one-second window.
    expect((times[6] as number) - (times[0] as number)).toBeGreaterThanOrEqual(1_000);
  });
});

describe('guards across processes (real Postgres)', () => {
  it('admits exactly the limit when two processes race for the same number', async () => {
    const db = await freshPostgresDb();
    const second = await openPostgres({ databaseUrl: db.url, pgliteDir: '', poolMax: 8 });
    try {
      const limits = { perRecipientPerHour: 5, perSourcePerHour: 0, duplicateWindowSeconds: 0 };
      const processes = [smsGuards(db.sql, limits), smsGuards(second.sql, limits)];
      const verdicts = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (processes[i % 2] as ReturnType<typeof smsGuards>).admit({
            id: crypto.randomUUID(),
            to: '+79990000999',
            source: `fg_p${i % 2}`,
            text: `race ${i}`,
          }),
        ),
      );
      expect(verdicts.filter((v) => v.ok)).toHaveLength(5);
      expect(verdicts.filter((v) => !v.ok && v.reason === 'recipient_limit')).toHaveLength(35);
      // A command already admitted passes again (a retry) without taking another slot.
      const [row] = await db.sql<{ id: string }[]>`SELECT id FROM sms_send_ledger LIMIT 1`;
      expect(await processes[1]?.admit({ id: row?.id as string, to: '+79990000999', source: 'fg_p0', text: 'x' })).toEqual({
        ok: true,
      });
      expect((await db.sql`SELECT 1 FROM sms_send_ledger`).length).toBe(5);
    } finally {
      await second.close();
      await db.close();
    }
  });
});

describe('checkIn: earlier calls and the verdict in one statement', () => {
  it('admits a new command, and neither asks nor counts one whose earlier call was accepted', async () => {
    const limits = { perRecipientPerHour: 1, perSourcePerHour: 0, duplicateWindowSeconds: 0 };
    const guards = smsGuards(store.sql, limits);
    const calls = smsCalls(store.sql, { pollAfterMs: 60_000, pollMax: 0 });
    const to = '+79990000777';
    const first = crypto.randomUUID();
    expect(await guards.checkIn({ id: first, to, source: 'fg_ci', text: 'one' })).toEqual({ prior: [], verdict: { ok: true } });
    // The recipient's one slot is taken: a second command is refused …
    const second = crypto.randomUUID();
    const refused = await guards.checkIn({ id: second, to, source: 'fg_ci', text: 'two' });
    expect(refused.verdict).toMatchObject({ ok: false, reason: 'recipient_limit' });
    // … but the first, sent before a crash, is recovered: its accepted call comes back, no verdict is asked.
    const callNo = await calls.begin(first, 'smsru', false);
    await calls.accepted(first, callNo, 'smsru', false, {
      providerMessageId: 'ru-1',
      segments: 2,
      cost: { amountMinor: 350, currency: 'RUB' },
    });
    const ledger = async () => (await store.sql`SELECT 1 FROM sms_send_ledger WHERE recipient = ${to}`).length;
    // The ledger forgets it (pruned after the hour): were sms_admit() run, it would take the free slot again.
    await store.sql`DELETE FROM sms_send_ledger WHERE recipient = ${to}`;
    const recovered = await guards.checkIn({ id: first, to, source: 'fg_ci', text: 'one' });
    expect(recovered.verdict).toBeUndefined();
    expect(recovered.prior).toHaveLength(1);
    expect(recovered.prior[0]).toMatchObject({
      call_no: 1,
      provider: 'smsru',
      state: 'accepted',
      provider_message_id: 'ru-1',
      segments: 2,
      cost_minor: '350',
      currency: 'RUB',
      test_mode: false,
    });
    expect(await ledger()).toBe(0);
    // A command whose only call is unconfirmed gets its prior calls and a fresh verdict.
    const third = crypto.randomUUID();
    await calls.begin(third, 'twilio', false);
    const retried = await guards.checkIn({ id: third, to, source: 'fg_ci', text: 'three' });
    expect(retried.prior.map((c) => c.state)).toEqual(['calling']);
    expect(retried.verdict).toEqual({ ok: true });
    expect(await ledger()).toBe(1);
  });
});
