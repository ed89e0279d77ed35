import { RateLimiterMemory, RateLimiterQueue } from 'rate-limiter-flexible';
import type { Config } from '../../core/config.js';
import type { IntegrationSettings } from '../../core/integrations/settings.js';
import { GatewayError } from '../../schemas/errors.js';
import type { SmsBalance } from '../../schemas/http/sms.js';
import type { HandlerDeps } from '../index.js';
import { smsCalls } from './calls.js';
import { smsDeliveryHandler } from './delivery.js';
import { disabledProviders, SMS_PROVIDER_NAMES } from './failover.js';
import { smsGuards } from './guards.js';
import { smsHandler } from './handler.js';
import { statusPoller } from './poller.js';
import type { SmsProvider, SmsProviderName } from './port.js';
import { smsRuProvider } from './smsru.js';
import { testModeProvider } from './testMode.js';
import { twilioProvider } from './twilio.js';

/**
 * The providers this process can send through: in test mode both, simulated; otherwise those with
 * credentials (SMS.ru: `SMS_API_KEY`; Twilio: account SID, auth token and sender number).
 */
export const smsProvidersFromConfig = (sms: Config['sms']): ReadonlyMap<SmsProviderName, SmsProvider> => {
  const providers = new Map<SmsProviderName, SmsProvider>();
  if (sms.testMode) {
    for (const name of SMS_PROVIDER_NAMES) providers.set(name, testModeProvider(name));
    return providers;
  }
  if (sms.smsru.apiKey) {
    providers.set(
      'smsru',
      smsRuProvider({ baseUrl: sms.smsru.baseUrl, apiKey: sms.smsru.apiKey, from: sms.from, timeoutMs: sms.timeoutMs }),
    );
  }
  const t = sms.twilio;
  if (t.accountSid && t.authToken && t.from) {
    providers.set(
      'twilio',
      twilioProvider({
        accountSid: t.accountSid,
        authToken: t.authToken,
        from: t.from,
        baseUrl: t.baseUrl,
        statusCallback: sms.twilioStatusCallback,
        timeoutMs: sms.timeoutMs,
      }),
    );
  }
  return providers;
};

/**
 * The providers from the run-time settings (`integration_settings` over the environment): each in
 * its own test mode, or live with its credentials; a provider without them is left out.
 */
export const smsProvidersFromSettings = (
  settings: IntegrationSettings,
  sms: Config['sms'],
): Map<SmsProviderName, SmsProvider> => {
  const providers = new Map<SmsProviderName, SmsProvider>();
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const ru = settings.get('sms.smsru');
  const apiKey = str(ru.fields.apiKey?.value);
  if (ru.testMode.value) providers.set('smsru', testModeProvider('smsru'));
  else if (apiKey) {
    providers.set(
      'smsru',
      smsRuProvider({
        baseUrl: String(ru.fields.baseUrl?.value ?? sms.smsru.baseUrl),
        apiKey,
        from: str(ru.fields.from?.value),
        timeoutMs: sms.timeoutMs,
      }),
    );
  }
  const tw = settings.get('sms.twilio');
  const [sid, token, from] = [tw.fields.accountSid?.value, tw.fields.authToken?.value, tw.fields.from?.value].map(str);
  if (tw.testMode.value) providers.set('twilio', testModeProvider('twilio'));
  else if (sid && token && from) {
    providers.set(
      'twilio',
      twilioProvider({
        accountSid: sid,
        authToken: token,
        from,
        // The default is the client's own base: passing it through would change nothing but the path it takes.
        baseUrl: tw.fields.baseUrl?.source === 'default' ? undefined : str(tw.fields.baseUrl?.value),
        statusCallback: sms.twilioStatusCallback,
        timeoutMs: sms.timeoutMs,
      }),
    );
  }
  return providers;
};

/**
 * A provider map that follows the settings: refilled in place on a change, so the next message
 * (and the poller's next status call) uses the new credentials, while a call in flight finishes
 * on the provider it started with.
 */
const liveProviders = (deps: HandlerDeps, settings: IntegrationSettings) => {
  const providers = smsProvidersFromSettings(settings, deps.config.sms);
  settings.onChange((changed) => {
    if (!changed.has('sms.smsru') && !changed.has('sms.twilio')) return;
    const next = smsProvidersFromSettings(settings, deps.config.sms);
    providers.clear();
    for (const [k, v] of next) providers.set(k, v);
    deps.logger.info({ providers: [...next.keys()] }, 'sms providers rebuilt from integration settings');
  });
  const disabled = async (): Promise<ReadonlySet<string>> =>
    new Set(SMS_PROVIDER_NAMES.filter((n) => !settings.get(`sms.${n}`).enabled.value));
  return { providers, disabled };
};

/**
 * Per-provider send rate of this process (SMS_RATE_LIMIT_PER_SECOND): a call over the rate waits
 * in a FIFO per provider, it is never refused.
 */
export const sendThrottle = (perSecond: number) => {
  if (perSecond <= 0) return async (_provider: SmsProviderName) => {};
  const queue = new RateLimiterQueue(new RateLimiterMemory({ points: perSecond, duration: 1 }));
  return async (provider: SmsProviderName) => {
    await queue.removeTokens(1, provider);
  };
};

export interface SmsHandlersOptions {
  /** Replaces the providers built from config (tests). */
  providers?: ReadonlyMap<SmsProviderName, SmsProvider>;
  /** How often the status poller looks for due messages (default 5 s). */
  pollTickMs?: number;
}

/** The SMS channel's handlers: sending (`sms`) and delivery reports with status polling (`sms-delivery`). */
export const buildSmsHandlers = (deps: HandlerDeps, opts: SmsHandlersOptions = {}) => {
  const sms = deps.config.sms;
  const live = deps.integrations ? liveProviders(deps, deps.integrations.settings) : undefined;
  const providers = opts.providers ?? live?.providers ?? smsProvidersFromConfig(sms);
  const guards = smsGuards(deps.sql, {
    perRecipientPerHour: sms.maxPerRecipientPerHour,
    perSourcePerHour: sms.maxPerSourcePerHour,
    duplicateWindowSeconds: sms.duplicateWindowSeconds,
  });
  const calls = smsCalls(deps.sql, { pollAfterMs: sms.pollAfterMs, pollMax: sms.pollMax });
  if (providers.size === 0) {
    deps.logger.warn('no SMS provider configured (SMS_API_KEY or TWILIO_*) and SMS_TEST_MODE is off: every SMS will fail');
  }
  const delivery = { providers, calls, log: deps.log, sql: deps.sql, logger: deps.logger };
  const poller = statusPoller(delivery, {
    pollAfterMs: sms.pollAfterMs,
    pollMax: sms.pollMax,
    tickMs: opts.pollTickMs ?? Math.min(5_000, sms.pollAfterMs),
    batch: 50,
    guards,
    calls,
  });
  return [
    smsHandler({
      providers,
      defaultProvider: sms.provider,
      guards,
      calls,
      disabled: live?.disabled ?? disabledProviders(deps.sql),
      throttle: sendThrottle(sms.ratePerSecond),
      logger: deps.logger,
    }),
    smsDeliveryHandler(delivery, sms.pollMax > 0 ? poller : undefined),
  ];
};

/**
 * `GET /api/v1/sms/balance` for the API role: the balance of SMS_PROVIDER (simulated in test
 * mode). Not configured is a GatewayError the API answers as problem+json.
 */
export const smsBalanceReader = (sms: Config['sms'], providers = smsProvidersFromConfig(sms)) => {
  return async (): Promise<SmsBalance> => {
    const provider = providers.get(sms.provider);
    if (!provider) {
      throw new GatewayError(
        'GW_ERR_PROVIDER_NOT_CONFIGURED',
        sms.provider === 'smsru'
          ? 'SMS.ru is not configured: set SMS_API_KEY (or SMS_TEST_MODE=true)'
          : 'Twilio is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER (or SMS_TEST_MODE=true)',
      );
    }
    const m = await provider.balance();
    return { provider: provider.name, amountMinor: m.amountMinor, currency: m.currency, testMode: provider.testMode };
  };
};
