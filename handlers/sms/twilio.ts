import twilio from 'twilio';
import {
  type DeliveryState,
  parseRetryAfter,
  type SendResult,
  type SmsErrorKind,
  type SmsProvider,
  SmsProviderError,
  type StatusResult,
  toMinor,
} from './port.js';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  from: string;
  /** Replaces `https://api.twilio.com` (`TWILIO_API_BASE_URL`): a proxy, or a fake in tests. */
  baseUrl?: string | undefined;
  /** Twilio posts status changes here (`PUBLIC_URL/webhooks/twilio`); polled instead when absent. */
  statusCallback?: string | undefined;
  timeoutMs: number;
}

/*
 * Error codes of the Messages API (PROVIDERS.md §2). Any other 4xx is `permanent` for the message:
 * Twilio validated the request and refused it.
 */
const ACCOUNT = new Set([
  20003, // authentication failed
  20005, // account not active
  21212, // invalid From
  21408, // no permission to send to this region
  21606, // From is not SMS-capable
  21659, // From is not a Twilio number
]);
/** The recipient replied STOP. */
const STOP = 21610;

/**
 * twilio-node's request client, pointed at `base` when given (PROVIDERS.md §2, option A: every
 * Twilio domain is rewritten, so `client.api` needs no patching). It also turns a 429 into an
 * error that keeps `Retry-After`, which the SDK's RestException drops.
 */
class GatewayRequestClient extends twilio.RequestClient {
  constructor(
    private readonly base: string | undefined,
    timeoutMs: number,
  ) {
    super({ timeout: timeoutMs, keepAlive: true });
  }
  override async request<T>(opts: Parameters<twilio.RequestClient['request']>[0] & { data?: T }) {
    let uri = opts.uri;
    if (this.base) {
      const u = new URL(opts.uri);
      uri = this.base + u.pathname + u.search;
    }
    const res = await super.request<T>({ ...opts, uri });
    if (res.statusCode === 429) {
      const headers = res.headers as Record<string, string | undefined>;
      const retryAfterMs = parseRetryAfter(headers['retry-after']);
      throw new SmsProviderError('twilio', 'retryable', 'http_429', 'Twilio answered 429 Too Many Requests', {
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    return res;
  }
}

/** `delivered` and `read` reached the handset; `undelivered`, `failed` and `canceled` never will. */
const stateOf = (status: string): DeliveryState => {
  if (status === 'delivered' || status === 'read') return 'delivered';
  if (status === 'undelivered' || status === 'failed' || status === 'canceled') return 'undelivered';
  if (['accepted', 'scheduled', 'queued', 'sending', 'sent', 'partially_delivered'].includes(status)) return 'pending';
  return 'unknown';
};

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** Any failure of the SDK as ours: RestException (HTTP answer) or an axios/network error. */
const classify = (e: unknown, what: string, sending: boolean): SmsProviderError => {
  if (e instanceof SmsProviderError) return e;
  if (e instanceof twilio.RestException) {
    const status = e.status;
    const code = e.code;
    if (status >= 500 || status === 429 || code === 20429) {
      return new SmsProviderError('twilio', 'retryable', code ? String(code) : `http_${status}`, `Twilio ${what}: ${e.message}`, {
        outcomeUnknown: sending && status >= 500,
        cause: e,
      });
    }
    const kind: SmsErrorKind =
      status === 401 || status === 403 || (code !== undefined && ACCOUNT.has(code)) ? 'account' : 'permanent';
    return new SmsProviderError('twilio', kind, code ? String(code) : `http_${status}`, `Twilio ${what}: ${e.message}`, {
      optOut: code === STOP,
      cause: e,
    });
  }
  const netCode = (e as { code?: string }).code ?? 'network';
  return new SmsProviderError('twilio', 'retryable', 'network', `Twilio ${what}: ${(e as Error)?.message ?? String(e)}`, {
    outcomeUnknown: sending && !NOT_SENT.has(netCode),
    cause: e,
  });
};

/**
 * Twilio Programmable Messaging through the `twilio` package. Twilio has no idempotency key for
 * Messages, so a 5xx or a broken connection after the request went out leaves the outcome
 * unknown (`outcomeUnknown`); the handler's call record bounds what that can cost.
 */
export const twilioProvider = (opts: TwilioOptions): SmsProvider => {
  const client = twilio(opts.accountSid, opts.authToken, {
    httpClient: new GatewayRequestClient(opts.baseUrl, opts.timeoutMs),
    autoRetry: false,
  });
  return {
    name: 'twilio',
    testMode: false,
    async send({ to, text }): Promise<SendResult> {
      try {
        const m = await client.messages.create({
          to,
          from: opts.from,
          body: text,
          ...(opts.statusCallback ? { statusCallback: opts.statusCallback } : {}),
        });
        const cost = m.price ? toMinor(m.price, m.priceUnit ?? 'USD') : null;
        return {
          providerMessageId: m.sid,
          segments: Math.max(1, Number(m.numSegments) || 1),
          cost: cost && { ...cost, amountMinor: Math.abs(cost.amountMinor) },
        };
      } catch (e) {
        throw classify(e, 'messages.create', true);
      }
    },
    async status(sid): Promise<StatusResult> {
      let m: Awaited<ReturnType<ReturnType<typeof client.messages>['fetch']>>;
      try {
        m = await client.messages(sid).fetch();
      } catch (e) {
        if (e instanceof twilio.RestException && e.status === 404)
          return { state: 'unknown', providerStatus: 'not_found', cost: null };
        throw classify(e, 'messages.fetch', false);
      }
      const cost = m.price ? toMinor(m.price, m.priceUnit ?? 'USD') : null;
      const result: StatusResult = {
        state: stateOf(m.status),
        providerStatus: m.status,
        // Twilio reports a charge as a negative price.
        cost: cost && { ...cost, amountMinor: Math.abs(cost.amountMinor) },
      };
      if (m.errorCode) result.errorCode = String(m.errorCode);
      if (m.errorMessage) result.errorMessage = m.errorMessage;
      return result;
    },
    async balance() {
      try {
        const b = await client.api.v2010.accounts(opts.accountSid).balance.fetch();
        const m = toMinor(b.balance, b.currency);
        if (!m) throw new SmsProviderError('twilio', 'retryable', 'bad_answer', 'Twilio balance: no balance in the answer');
        return m;
      } catch (e) {
        throw classify(e, 'balance.fetch', false);
      }
    },
  };
};

/** The state of a Twilio `MessageStatus`, for status callbacks. */
export const twilioState = stateOf;
