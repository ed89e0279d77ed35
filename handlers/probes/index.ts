import nodemailer from 'nodemailer';
import type { IntegrationName } from '../../core/integrations/catalog.js';
import type { IntegrationSettings } from '../../core/integrations/settings.js';
import { withoutTrailingSlashes } from '../../core/text/trailingSlashes.js';
import type { IntegrationTestResult } from '../../schemas/http/integrations.js';
import { smsRuProvider } from '../sms/smsru.js';
import { twilioProvider } from '../sms/twilio.js';

type Check = { check: string; run: (signal: AbortSignal) => Promise<Record<string, unknown> | undefined> };

class ProbeFailure extends Error {}
const need = (value: unknown, what: string): string => {
  if (typeof value !== 'string' || value === '') throw new ProbeFailure(`${what} is not set`);
  return value;
};

/** A provider's JSON answer; a non-2xx status is its error, as it put it. */
const getJson = async (
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  errorOf: (b: Record<string, unknown>) => unknown,
) => {
  const res = await fetch(url, { headers: { accept: 'application/json', ...headers }, signal });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (an HTML error page, XML metadata): the status says enough.
  }
  if (!res.ok) throw new ProbeFailure(`HTTP ${res.status}: ${String(errorOf(body) ?? text.slice(0, 200))}`);
  return { body, text };
};

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** The check for each integration, from its effective settings (read when the check runs). */
const checks = (s: IntegrationSettings, timeoutMs: number): Record<IntegrationName, Check> => ({
  'sms.smsru': {
    check: 'SMS.ru my/balance',
    run: async () => {
      const f = s.get('sms.smsru').fields;
      const p = smsRuProvider({
        baseUrl: String(f.baseUrl?.value),
        apiKey: need(f.apiKey?.value, 'apiKey'),
        from: undefined,
        timeoutMs,
      });
      return { balance: await p.balance() };
    },
  },
  'sms.twilio': {
    check: 'Twilio account balance fetch',
    run: async () => {
      const f = s.get('sms.twilio').fields;
      const p = twilioProvider({
        accountSid: need(f.accountSid?.value, 'accountSid'),
        authToken: need(f.authToken?.value, 'authToken'),
        from: String(f.from?.value ?? ''),
        baseUrl: f.baseUrl?.value === undefined ? undefined : String(f.baseUrl.value),
        statusCallback: undefined,
        timeoutMs,
      });
      return { balance: await p.balance() };
    },
  },
  'email.smtp': {
    check: 'SMTP verify (connect, TLS, login)',
    run: async () => {
      const f = s.get('email.smtp').fields;
      const user = f.username?.value;
      const t = nodemailer.createTransport({
        host: need(f.host?.value, 'host'),
        port: Number(f.port?.value),
        secure: f.encryption?.value === 'ssl',
        requireTLS: f.encryption?.value === 'tls',
        ignoreTLS: f.encryption?.value === 'none',
        ...(typeof user === 'string' && user ? { auth: { user, pass: String(f.password?.value ?? '') } } : {}),
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
        logger: false,
      });
      try {
        await t.verify();
      } finally {
        t.close();
      }
      return undefined;
    },
  },
  'push.fcm': {
    check: 'FCM dry-run send',
    run: async () => {
      const f = s.get('push.fcm').fields;
      const json = need(f.serviceAccountJson?.value ?? '', 'serviceAccountJson');
      const { cert, deleteApp, initializeApp } = await import('firebase-admin/app');
      const { getMessaging } = await import('firebase-admin/messaging');
      const app = initializeApp({ credential: cert(JSON.parse(json)) }, `probe-${Date.now()}`);
      try {
        const id = await getMessaging(app).send({ topic: 'fleetgate-probe', notification: { title: 'probe' } }, true);
        return { messageId: id };
      } finally {
        await deleteApp(app);
      }
    },
  },
  telegram: {
    check: 'Telegram getMe',
    run: async (signal) => {
      const f = s.get('telegram').fields;
      const token = need(f.botToken?.value, 'botToken');
      const { body } = await getJson(`${f.apiUrl?.value}/bot${token}/getMe`, {}, signal, (b) => b.description);
      const me = (body.result ?? {}) as Record<string, unknown>;
      return { username: me.username, id: me.id };
    },
  },
  'payment.yookassa': {
    check: 'YooKassa payments list',
    run: async (signal) => {
      const f = s.get('payment.yookassa').fields;
      const auth = basic(need(f.shopId?.value, 'shopId'), need(f.secretKey?.value, 'secretKey'));
      await getJson(`${f.apiUrl?.value}/payments?limit=1`, { authorization: auth }, signal, (b) => b.description ?? b.code);
      return undefined;
    },
  },
  'payment.stripe': {
    check: 'Stripe balance',
    run: async (signal) => {
      const f = s.get('payment.stripe').fields;
      const auth = `Bearer ${need(f.secretKey?.value, 'secretKey')}`;
      const { body } = await getJson(
        `${f.apiUrl?.value}/v1/balance`,
        { authorization: auth },
        signal,
        (b) => (b.error as { message?: unknown } | undefined)?.message,
      );
      return { livemode: body.livemode };
    },
  },
  erp: {
    check: '1C OData $metadata',
    run: async (signal) => {
      const f = s.get('erp').fields;
      const key = f.apiKey?.value;
      // 1C publishes OData behind HTTP basic auth: the key is `user:password`; anything else a bearer token.
      const headers: Record<string, string> =
        typeof key !== 'string' || key === ''
          ? {}
          : { authorization: key.includes(':') ? `Basic ${Buffer.from(key).toString('base64')}` : `Bearer ${key}` };
      await getJson(`${withoutTrailingSlashes(need(f.apiUrl?.value, 'apiUrl'))}/$metadata`, headers, signal, () => undefined);
      return undefined;
    },
  },
  export: {
    check: 'export directory',
    run: async () => {
      const { access, constants } = await import('node:fs/promises');
      const dir = need(s.get('export').fields.path?.value, 'path');
      await access(dir, constants.W_OK);
      return undefined;
    },
  },
});

/** A provider's error as the operator should read it; credentials never appear in these messages. */
const messageOf = (e: unknown): string => {
  if (e instanceof Error && e.name === 'TimeoutError') return 'timed out';
  return e instanceof Error ? e.message.slice(0, 500) : String(e).slice(0, 500);
};

/**
 * `POST /api/v1/integrations/{name}/test`: calls the provider with the effective credentials and
 * reports the outcome and the provider's error, bounded by `timeoutMs`. In test mode nothing is
 * called (as for sending).
 */
export const integrationProbe = (settings: IntegrationSettings, opts: { timeoutMs?: number } = {}) => {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const all = checks(settings, timeoutMs);
  return async (name: IntegrationName): Promise<IntegrationTestResult> => {
    const { check, run } = all[name];
    const testMode = settings.get(name).testMode.value;
    const t0 = Date.now();
    if (testMode && name !== 'export') return { name, ok: true, check: `${check} (skipped: test mode)`, ms: 0, testMode };
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const detail = await Promise.race([
        run(signal),
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(Object.assign(new Error('timed out'), { name: 'TimeoutError' }))),
        ),
      ]);
      return { name, ok: true, check, ms: Date.now() - t0, testMode, ...(detail ? { detail } : {}) };
    } catch (e) {
      return { name, ok: false, check, ms: Date.now() - t0, testMode, error: messageOf(e) };
    }
  };
};
