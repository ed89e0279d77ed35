import type { Money } from '../../schemas/events/sms.js';
import { type FormAnswer, FormPostError, formPoster } from './formPost.js';
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
import { smsSegments } from './segments.js';

export interface SmsRuOptions {
  /** `https://sms.ru`, or a fake's URL in tests (`SMSRU_BASE_URL`). */
  baseUrl: string;
  /** `api_id` (`SMS_API_KEY`). */
  apiKey: string;
  /** An approved sender name; the account's default when absent. */
  from?: string | undefined;
  timeoutMs: number;
}

/** SMS.ru answers in roubles. */
const CURRENCY = 'RUB';

/*
 * Request error codes (PROVIDERS.md §1, sms.ru API). Anything not listed is `account`: an answer
 * we do not understand means the integration needs a look, and another provider may still send.
 */
const RETRYABLE = new Set([220, 500]);
/** 231: too many identical messages to this number per minute; a minute later it may pass. */
const RETRY_AFTER_MS: Readonly<Record<number, number>> = { 231: 60_000 };
const PERMANENT = new Set([150, 202, 203, 205, 207, 208, 209, 212, 214, 215, 216, 217, 230, 232, 233]);
/** 209: in our own stop-list in the SMS.ru cabinet; 215: in SMS.ru's global stop-list. */
const STOP_LIST = new Set([209, 215]);

const kindOf = (code: number): SmsErrorKind =>
  RETRYABLE.has(code) || code in RETRY_AFTER_MS ? 'retryable' : PERMANENT.has(code) ? 'permanent' : 'account';

/** Delivery status codes: 103 delivered, 110 read (Viber); 104–108 and 150 final failures; 100–102 in progress. */
const stateOf = (code: number): DeliveryState => {
  if (code === 103 || code === 110) return 'delivered';
  if ((code >= 104 && code <= 108) || code === 150) return 'undelivered';
  if (code >= 100 && code <= 102) return 'pending';
  return 'unknown';
};

interface SmsRuEntry {
  status?: string;
  status_code?: number | string;
  status_text?: string;
  sms_id?: string;
  cost?: number | string;
}

interface SmsRuAnswer extends SmsRuEntry {
  /** Per number (send, cost) or per id (status). */
  sms?: Record<string, SmsRuEntry>;
  balance?: number | string;
}

/**
 * SMS.ru over its HTTP API (`json=1`, POST form). SMS.ru reports errors in the body with HTTP 200
 * (`"status":"ERROR"` and a `status_code`), so the body decides; HTTP 429 and 5xx (a proxy or an
 * outage in front of it) are retryable. The `api_id` travels only in the form body, never in a URL
 * that could be logged.
 */
export const smsRuProvider = (opts: SmsRuOptions): SmsProvider => {
  const post = formPoster(opts.timeoutMs);

  const call = async (method: string, params: Record<string, string>, sending: boolean): Promise<SmsRuAnswer> => {
    const body = new URLSearchParams({ ...params, api_id: opts.apiKey, json: '1' }).toString();
    let res: FormAnswer;
    try {
      res = await post(`${opts.baseUrl}/${method}`, body, {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        accept: 'application/json',
      });
    } catch (e) {
      // Refused before anything was written is safe to resend; a timeout or reset mid-request may have sent it.
      const code = e instanceof FormPostError ? e.code : undefined;
      const refused = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
      throw new SmsProviderError('smsru', 'retryable', 'network', `SMS.ru ${method}: ${(e as Error).message}`, {
        outcomeUnknown: sending && !refused,
        cause: e,
      });
    }
    const text = res.text;
    if (res.status === 429 || res.status >= 500) {
      const retryAfterMs = parseRetryAfter(res.header('retry-after'));
      throw new SmsProviderError('smsru', 'retryable', `http_${res.status}`, `SMS.ru ${method} answered HTTP ${res.status}`, {
        outcomeUnknown: sending && res.status !== 429,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (res.status !== 200) {
      throw new SmsProviderError('smsru', 'account', `http_${res.status}`, `SMS.ru ${method} answered HTTP ${res.status}`);
    }
    let answer: SmsRuAnswer;
    try {
      answer = JSON.parse(text) as SmsRuAnswer;
    } catch {
      throw new SmsProviderError('smsru', 'retryable', 'bad_answer', `SMS.ru ${method} answered something that is not JSON`, {
        outcomeUnknown: sending,
      });
    }
    if (answer.status !== 'OK') throw entryError(method, answer);
    return answer;
  };

  const entryError = (what: string, e: SmsRuEntry) => {
    const code = Number(e.status_code);
    const kind = Number.isFinite(code) ? kindOf(code) : 'account';
    const retryAfterMs = RETRY_AFTER_MS[code];
    return new SmsProviderError(
      'smsru',
      kind,
      String(e.status_code ?? 'unknown'),
      `SMS.ru ${what}: ${e.status_text ?? 'error'}`,
      {
        optOut: STOP_LIST.has(code),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      },
    );
  };

  const money = (v: number | string | undefined): Money | null => (v === undefined ? null : toMinor(v, CURRENCY));

  return {
    name: 'smsru',
    testMode: false,
    async send({ to, text }): Promise<SendResult> {
      const phone = to.replace(/^\+/, '');
      const answer = await call('sms/send', { to: phone, msg: text, ...(opts.from ? { from: opts.from } : {}) }, true);
      const entries = typeof answer.sms === 'object' && answer.sms !== null ? answer.sms : {};
      const entry = entries[phone] ?? Object.values(entries)[0];
      if (!entry) {
        throw new SmsProviderError('smsru', 'retryable', 'bad_answer', 'SMS.ru sms/send: no entry for the number', {
          outcomeUnknown: true,
        });
      }
      if (entry.status !== 'OK' || !entry.sms_id) throw entryError('sms/send', entry);
      // SMS.ru prices a message only once it is sent (sms/status); the segments are known now.
      return { providerMessageId: entry.sms_id, segments: smsSegments(text), cost: null };
    },
    async status(id): Promise<StatusResult> {
      const answer = await call('sms/status', { sms_id: id }, false);
      const entries = typeof answer.sms === 'object' && answer.sms !== null ? answer.sms : {};
      const entry = entries[id];
      const code = Number(entry?.status_code);
      if (!entry || !Number.isFinite(code)) return { state: 'unknown', providerStatus: 'missing', cost: null };
      const state = entry.status === 'OK' ? stateOf(code) : 'unknown';
      const result: StatusResult = { state, providerStatus: String(code), cost: money(entry.cost) };
      if (state === 'undelivered') {
        result.errorCode = String(code);
        if (entry.status_text) result.errorMessage = entry.status_text;
      }
      return result;
    },
    async balance() {
      const answer = await call('my/balance', {}, false);
      const m = money(answer.balance);
      if (!m) throw new SmsProviderError('smsru', 'retryable', 'bad_answer', 'SMS.ru my/balance: no balance in the answer');
      return m;
    },
  };
};

/** The state of an SMS.ru delivery status code, for callbacks (`data[N]` records). */
export const smsRuState = stateOf;
