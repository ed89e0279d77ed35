import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { smsLogProjection } from '../../projections/smsLog.js';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { type FakeTwilio, startFakeTwilio } from '../fakes/twilio.js';
import { freshPglite } from '../support/stores.js';
import { startSmsRig } from './smsHarness.js';

const SID = `AC${'4'.repeat(32)}`;
const TOKEN = 'twilio-token-polling';
let smsru: FakeSmsRu;
let tw: FakeTwilio;
let store: PostgresStore;

beforeAll(async () => {
  smsru = await startFakeSmsRu({ apiKey: 'smsru-key-polling' });
  tw = await startFakeTwilio({ accountSid: SID, authToken: TOKEN });
  store = await freshPglite();
}, 60_000);
afterAll(async () => {
  await smsru?.close();
  await tw?.close();
  await store?.close();
});

const env = {
  SMS_TEST_MODE: 'false',
  SMS_API_KEY: 'smsru-key-polling',
  TWILIO_ACCOUNT_SID: SID,
  TWILIO_AUTH_TOKEN: TOKEN,
  TWILIO_FROM_NUMBER: '+15550004444',
  SMS_HTTP_TIMEOUT_SECONDS: '2',
  SMS_STATUS_POLL_AFTER_SECONDS: '1',
  SMS_STATUS_POLL_MAX: '3',
};

describe('status polling for messages no callback finished', () => {
  it('polls each due message once across two handler processes and records the final state with its cost', async () => {
    const pollEnv = { ...env, SMSRU_BASE_URL: smsru.url, TWILIO_API_BASE_URL: tw.url };
    // Two handler sets on one store and log: like two processes, they share the work queue and the poll list.
    const one = await startSmsRig(store, pollEnv, { projections: [smsLogProjection] });
    const two = await startSmsRig(store, pollEnv, { projections: [] });
    // Delivered as soon as accepted: each message needs exactly one poll.
    smsru.onAccept = (m) => {
      m.statusCode = 103;
    };
    tw.onCreate = (m) => {
      m.status = 'delivered';
      m.price = '-0.0158';
    };
    try {
      const ids = await Promise.all(
        [0, 1, 2, 3, 4, 5].map((i) =>
          one.request(`+7999000040${i}`, `poll ${i}`, { provider: i % 2 ? 'twilio' : 'smsru', source: `fg_poll${i}` }),
        ),
      );
      const done = await Promise.all(ids.map((id) => one.rowWhen(id, (r) => r.status === 'delivered', 20_000)));
      expect(done.every((r) => r.cost_minor !== null && r.delivered_at !== null)).toBe(true);
      expect(done.find((r) => r.provider === 'twilio')).toMatchObject({ cost_minor: '2', currency: 'USD' });
      expect(done.find((r) => r.provider === 'smsru')).toMatchObject({ cost_minor: '395', currency: 'RUB' });
      for (const r of done) {
        const reports = r.history.filter((h) => h.type === 'sms.delivered');
        expect(reports).toHaveLength(1);
        expect(reports[0]?.data).toMatchObject({ via: 'poll' });
        const polled =
          r.provider === 'smsru'
            ? smsru.requests.filter((q) => q.path === '/sms/status' && q.params.sms_id === r.provider_message_id).length
            : tw.requests.filter((q) => q.method === 'GET' && q.path.endsWith(`/${r.provider_message_id}.json`)).length;
        expect(polled).toBe(1);
      }
      expect((await store.sql`SELECT 1 FROM sms_status_polls`).length).toBe(0);
    } finally {
      smsru.onAccept = undefined;
      tw.onCreate = undefined;
      await two.stop();
      await one.stop();
    }
  });
});
