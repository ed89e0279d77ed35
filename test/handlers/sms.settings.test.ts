import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCommand } from '../../api/commands.js';
import { loadConfig } from '../../core/config.js';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import { type Integrations, openIntegrations } from '../../core/integrations/index.js';
import { silentLogger } from '../../core/logger.js';
import { packageRoot } from '../../core/paths.js';
import type { SmsRequested, SmsSent } from '../../schemas/events/sms.js';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { type FakeTwilio, startFakeTwilio } from '../fakes/twilio.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPostgresDb } from '../support/stores.js';
import { until } from '../support/until.js';

const SCRIPT = join(packageRoot, 'test/support/smsHandlerProcess.ts');
const SID = `AC${'7'.repeat(32)}`;
const TOKEN = 'twilio-token-settings';
const SMSRU_KEY = 'smsru-key-settings';
const KEYS = `k1:${randomBytes(32).toString('base64')}`;

let db: Awaited<ReturnType<typeof freshPostgresDb>>;
let api: ApiHarness;
let integrations: Integrations;
let smsru: FakeSmsRu;
let tw: FakeTwilio;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  db = await freshPostgresDb();
  smsru = await startFakeSmsRu({ apiKey: SMSRU_KEY });
  tw = await startFakeTwilio({ accountSid: SID, authToken: TOKEN });
  const env = { DATA_DIR: '/nonexistent', SECRETS_KEYS: KEYS };
  integrations = await openIntegrations(loadConfig(env), db.sql, silentLogger(), { pollMs: 50 });
  api = await startApi(db, env, {}, { integrations });
}, 60_000);
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  integrations?.settings.close();
  await api?.close();
  await smsru?.close();
  await tw?.close();
  await db?.close();
});

/** A handlers-role process reading the run-time settings; resolves once it consumes. */
const startHandlerProcess = async (extra: Record<string, string> = {}) => {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    cwd: packageRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      SMS_CRASH_DB: db.url,
      SMS_SETTINGS: '1',
      SECRETS_KEYS: KEYS,
      SMS_TEST_MODE: 'false',
      SMS_API_KEY: SMSRU_KEY,
      SMSRU_BASE_URL: smsru.url,
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_FROM_NUMBER: '+15550007777',
      TWILIO_API_BASE_URL: tw.url,
      SMS_RATE_LIMIT_PER_SECOND: '0',
      SMS_MAX_PER_RECIPIENT_PER_HOUR: '0',
      SMS_MAX_PER_SOURCE_PER_HOUR: '0',
      SMS_DUPLICATE_WINDOW_SECONDS: '0',
      HANDLER_ACK_WAIT_SECONDS: '5',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await until(() => out.includes('ready') || child.exitCode !== null, { timeoutMs: 30_000, what: 'handler process ready' });
  if (!out.includes('ready')) throw new Error(`handler process did not start: ${err}`);
  return child;
};

const results = async () => (await api.log.read('EVENTS', 100_000, { filterSubject: 'evt.sms.result' })).flatMap((m) => m.events);

describe('a run-time settings change across processes (issue 19.3)', () => {
  it('disabling SMS.ru while SMS flow: none lost, every call a second after the change goes through Twilio', async () => {
    const [a, b] = await Promise.all([startHandlerProcess(), startHandlerProcess()]);
    const calls: { provider: 'smsru' | 'twilio'; at: number }[] = [];
    smsru.onAccept = () => void calls.push({ provider: 'smsru', at: Date.now() });
    tw.onCreate = () => void calls.push({ provider: 'twilio', at: Date.now() });

    const ids: string[] = [];
    let changedAt = 0;
    for (let i = 0; i < 120; i++) {
      const id = uuidv7();
      const data: SmsRequested = {
        to: `+7999${String(1_000_000 + i)}`,
        text: `flow ${i}`,
        priority: 'normal',
        requestedBy: 'fg_settings',
        via: 'v1',
      };
      await appendCommand(api.log, { id, domain: 'sms', type: 'sms.requested', priority: 'normal', data });
      ids.push(id);
      if (i === 40) {
        const admin = await api.key(['admin']);
        const res = await fetch(`${api.url}/api/v1/integrations/sms.smsru`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ enabled: false }),
        });
        expect(res.status).toBe(200);
        changedAt = Date.now();
      }
      await new Promise((r) => setTimeout(r, 20));
    }

    await until(async () => (await results()).filter((e) => e.type === 'sms.sent').length >= ids.length, {
      timeoutMs: 30_000,
      what: 'every SMS sent',
    });
    const events = await results();
    const sent = events.filter((e) => e.type === 'sms.sent').map((e) => e.data as SmsSent);
    expect(new Set(sent.map((s) => s.smsId))).toEqual(new Set(ids));
    expect(events.filter((e) => e.type === 'sms.failed')).toEqual([]);
    expect(calls.filter((c) => c.provider === 'smsru').length).toBeGreaterThan(0);
    const late = calls.filter((c) => c.at > changedAt + 1_000);
    expect(late.length).toBeGreaterThan(20);
    expect(late.every((c) => c.provider === 'twilio')).toBe(true);
    for (const c of [a, b]) c.kill('SIGTERM');
  }, 60_000);

  it('with every provider switched off a message waits in retries, and goes once one is switched back on', async () => {
    const child = await startHandlerProcess({ HANDLER_MAX_ATTEMPTS: '100' });
    const admin = await api.key(['admin']);
    const patch = (name: string, body: object) =>
      fetch(`${api.url}/api/v1/integrations/${name}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.status);
    expect(await patch('sms.smsru', { enabled: false })).toBe(200);
    expect(await patch('sms.twilio', { enabled: false })).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    const id = uuidv7();
    const data: SmsRequested = { to: '+79990009999', text: 'held', priority: 'normal', requestedBy: 'fg_settings', via: 'v1' };
    await appendCommand(api.log, { id, domain: 'sms', type: 'sms.requested', priority: 'normal', data });
    const about = async (type: string) =>
      (await api.log.read('EVENTS', 100_000))
        .flatMap((m) => m.events)
        .filter((e) => e.type === type && (e.causationId === id || (e.data as { smsId?: string }).smsId === id));
    await until(async () => (await about('sms.attempt_failed')).length >= 2, { timeoutMs: 20_000, what: 'retries while off' });
    expect(await about('sms.failed')).toEqual([]);
    expect(await patch('sms.twilio', { enabled: true })).toBe(200);
    await until(async () => (await about('sms.sent')).length === 1, { timeoutMs: 20_000, what: 'sent once back on' });
    expect((await about('sms.sent'))[0]?.data).toMatchObject({ provider: 'twilio' });
    child.kill('SIGTERM');
  }, 60_000);
});
