import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { type FakeTwilio, startFakeTwilio } from '../fakes/twilio.js';
import { freePort, runCli } from '../support/gatewayProcess.js';
import { tempDir } from '../support/stores.js';

const ADMIN = 'e2e-admin-key-0123456789abcdefghijklmnopqrstuvwxyz';
const SID = `AC${'6'.repeat(32)}`;
const TOKEN = 'twilio-token-e2e-secret';
const SMSRU_KEY = 'smsru-key-e2e-secret';
let smsru: FakeSmsRu;
let tw: FakeTwilio;
let dataDir: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ dir: dataDir, remove } = await tempDir('fg-e2e-sms-'));
  smsru = await startFakeSmsRu({ apiKey: SMSRU_KEY, balance: 321.5 });
  tw = await startFakeTwilio({ accountSid: SID, authToken: TOKEN });
});
afterAll(async () => {
  await smsru?.close();
  await tw?.close();
  await remove?.();
});

interface SmsStatusBody {
  status: string;
  provider: string | null;
  providerMessageId: string | null;
  error: { code: string | null } | null;
  testMode: boolean;
  history: { type: string }[];
}

describe('SMS in the real process (built CLI), providers at their fakes', () => {
  it('sends through SMS.ru and Twilio, takes a signed Twilio callback to delivered, answers the balance, refuses an opted-out number', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const gw = runCli(['start'], {
      DATA_DIR: dataDir,
      HTTP_PORT: String(port),
      MQTT_PORT: String(await freePort()),
      OSMAND_PORT: String(await freePort()),
      ADMIN_API_KEY: ADMIN,
      PUBLIC_URL: base,
      SMS_TEST_MODE: 'false',
      SMS_API_KEY: SMSRU_KEY,
      SMSRU_BASE_URL: smsru.url,
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_FROM_NUMBER: '+15550006666',
      TWILIO_API_BASE_URL: tw.url,
      SMS_STATUS_POLL_AFTER_SECONDS: '3600',
      LOG_LEVEL: 'info',
    });
    try {
      await gw.waitHealthy(`${base}/readyz`, 90_000);
      const auth = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
      const send = async (body: object) => {
        const res = await fetch(`${base}/api/v1/sms`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
        expect(res.status).toBe(202);
        return ((await res.json()) as { id: string }).id;
      };
      const statusWhen = async (id: string, cond: (b: SmsStatusBody) => boolean) => {
        for (let i = 0; i < 300; i++) {
          const res = await fetch(`${base}/api/v1/sms/${id}`, { headers: auth });
          if (res.status === 200) {
            const b = (await res.json()) as SmsStatusBody;
            if (cond(b)) return b;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`SMS ${id} never matched`);
      };

      const viaSmsRu = await statusWhen(await send({ to: '+79990000701', text: 'Заказ принят' }), (b) => b.status === 'sent');
      expect(viaSmsRu).toMatchObject({ provider: 'smsru', providerMessageId: smsru.sent.at(-1)?.id, testMode: false });

      const twilioId = await send({ to: '+447700900701', text: 'Order accepted', provider: 'twilio' });
      const viaTwilio = await statusWhen(twilioId, (b) => b.status === 'sent');
      const message = tw.messages.at(-1);
      expect(message).toMatchObject({ sid: viaTwilio.providerMessageId, statusCallback: `${base}/webhooks/twilio` });
      expect(await tw.callback(message?.statusCallback as string, message?.sid as string, 'delivered')).toBe(200);
      const delivered = await statusWhen(twilioId, (b) => b.status === 'delivered');
      expect(delivered.history.map((h) => h.type)).toEqual(['sms.requested', 'sms.sent', 'sms.delivered']);

      const balance = await fetch(`${base}/api/v1/sms/balance`, { headers: auth });
      expect(await balance.json()).toEqual({
        provider: 'smsru',
        amountMinor: Math.round(smsru.balance * 100),
        currency: 'RUB',
        testMode: false,
      });

      const optOut = await fetch(`${base}/api/v1/sms/opt-outs`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ phone: '+79990000702', reason: 'STOP by phone' }),
      });
      expect(optOut.status).toBe(202);
      await new Promise((r) => setTimeout(r, 1_000)); // folded by the projection
      const refused = await statusWhen(await send({ to: '+79990000702', text: 'promo' }), (b) => b.status !== 'queued');
      expect(refused).toMatchObject({ status: 'refused', error: { code: 'opted_out' } });

      // Credentials never reach the logs.
      expect(gw.output()).not.toContain(SMSRU_KEY);
      expect(gw.output()).not.toContain(TOKEN);
      expect(gw.output()).toContain('"msg":"sms sent"');
    } finally {
      gw.child.kill('SIGTERM');
      expect(await gw.exited).toBe(0);
    }
  }, 180_000);
});
