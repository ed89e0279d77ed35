import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCommand } from '../../api/commands.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import { packageRoot } from '../../core/paths.js';
import type { SmsRequested, SmsSent } from '../../schemas/events/sms.js';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { type FakeTwilio, startFakeTwilio } from '../fakes/twilio.js';
import { freshPostgresDb } from '../support/stores.js';
import { until } from '../support/until.js';

/*
 * Neither SMS.ru nor Twilio takes an idempotency key for sending. The handler's bound: a call is
 * recorded (`sms_provider_calls`) as `calling` before it starts and as `accepted` with the
 * provider's id before the outcome is appended. So a crash after the provider answered costs no
 * second send (the redelivery finds the accepted call), and a crash during the call — the only
 * window where the outcome is unknown — costs at most one extra send per crash.
 */

const SCRIPT = join(packageRoot, 'test/support/smsHandlerProcess.ts');
const SID = `AC${'5'.repeat(32)}`;
const TOKEN = 'twilio-token-crash';
let db: Awaited<ReturnType<typeof freshPostgresDb>>;
let log: EventLog;
let smsru: FakeSmsRu;
let tw: FakeTwilio;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  db = await freshPostgresDb();
  log = embeddedEventLog(db.sql, { pollMs: 20 });
  smsru = await startFakeSmsRu({ apiKey: 'smsru-key-crash' });
  tw = await startFakeTwilio({ accountSid: SID, authToken: TOKEN });
}, 60_000);
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await log?.close();
  await smsru?.close();
  await tw?.close();
  await db?.close();
});

/** One handler process; resolves once it consumes. */
const startChild = async (extra: Record<string, string> = {}) => {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    cwd: packageRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      SMS_CRASH_DB: db.url,
      SMS_TEST_MODE: 'false',
      SMS_API_KEY: 'smsru-key-crash',
      SMSRU_BASE_URL: smsru.url,
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_FROM_NUMBER: '+15550005555',
      TWILIO_API_BASE_URL: tw.url,
      SMS_HTTP_TIMEOUT_SECONDS: '30',
      SMS_RATE_LIMIT_PER_SECOND: '0',
      HANDLER_ACK_WAIT_SECONDS: '1',
      HANDLER_MAX_ATTEMPTS: '5',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((r) => child.once('exit', (code, signal) => r(signal ?? code)));
  await until(() => out.includes('ready') || child.exitCode !== null || child.signalCode !== null, {
    timeoutMs: 30_000,
    what: 'child ready',
  });
  if (!out.includes('ready')) throw new Error(`child did not start: ${err}`);
  return { child, exited, stderr: () => err };
};

const request = async (to: string, text: string, provider: 'smsru' | 'twilio') => {
  const id = uuidv7();
  const data: SmsRequested = { to, text, priority: 'normal', requestedBy: 'fg_crash', via: 'v1', provider };
  await appendCommand(log, { id, domain: 'sms', type: 'sms.requested', priority: 'normal', data });
  return id;
};

const sentEvents = async (smsId: string) =>
  (await log.read('EVENTS', 10_000, { filterSubject: 'evt.sms.result' }))
    .flatMap((m) => m.events)
    .filter((e) => e.type === 'sms.sent' && (e.data as SmsSent).smsId === smsId)
    .map((e) => e.data as SmsSent);

const sendsOf = (provider: 'smsru' | 'twilio', text: string) =>
  provider === 'smsru' ? smsru.sent.filter((m) => m.msg === text).length : tw.messages.filter((m) => m.body === text).length;

describe.each(['smsru', 'twilio'] as const)('crash between the provider call and the result append (%s)', (provider) => {
  it('after the provider answered: the redelivery reports the recorded send and does not send again', async () => {
    const text = `crash after answer ${provider}`;
    const id = await request(provider === 'smsru' ? '+79990000501' : '+447700900501', text, provider);
    const doomed = await startChild({ SMS_CRASH_ON_RESULT: '1' });
    expect(await doomed.exited).toBe('SIGKILL');
    expect(sendsOf(provider, text)).toBe(1);
    expect(await sentEvents(id)).toEqual([]);

    const next = await startChild();
    try {
      await until(async () => (await sentEvents(id)).length === 1, { timeoutMs: 20_000, what: 'sms.sent after the restart' });
      const [sent] = await sentEvents(id);
      expect(sent).toMatchObject({ provider, recovered: true, attempt: 2 });
      expect(sent?.unconfirmedCalls).toBeUndefined();
      expect(sent?.providerMessageId).toBe(provider === 'smsru' ? smsru.sent.at(-1)?.id : tw.messages.at(-1)?.sid);
      expect(sendsOf(provider, text)).toBe(1);
    } finally {
      next.child.kill('SIGTERM');
      await next.exited;
    }
  });

  it('during the call (outcome unknown): the redelivery sends once more, so at most one extra copy per crash, and says so', async () => {
    const text = `crash during call ${provider}`;
    if (provider === 'smsru') smsru.failNext('sms/send', { hang: true });
    else tw.failNext('create', { hang: true });
    const id = await request(provider === 'smsru' ? '+79990000502' : '+447700900502', text, provider);
    const doomed = await startChild();
    // The provider has it, the process has no answer yet: now it dies.
    await until(() => sendsOf(provider, text) === 1, { timeoutMs: 20_000, what: 'the provider received the first copy' });
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    const next = await startChild();
    try {
      await until(async () => (await sentEvents(id)).length === 1, { timeoutMs: 20_000, what: 'sms.sent after the restart' });
      const [sent] = await sentEvents(id);
      expect(sent).toMatchObject({ provider, unconfirmedCalls: 1, attempt: 2 });
      expect(sent?.recovered).toBeUndefined();
      // Give a wrong implementation the time to send a third copy.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(sendsOf(provider, text)).toBe(2);
      const calls = await db.sql<
        { state: string }[]
      >`SELECT state FROM sms_provider_calls WHERE command_id = ${id} ORDER BY call_no`;
      expect(calls.map((c) => c.state)).toEqual(['calling', 'accepted']);
    } finally {
      next.child.kill('SIGTERM');
      await next.exited;
    }
  });
});
