import { HandlerError } from '../../core/runners/handlerRunner.js';
import type { Money, SmsOptOut } from '../../schemas/events/sms.js';

export type SmsProviderName = 'smsru' | 'twilio';

export interface SendRequest {
  /** E.164, with the `+`. */
  to: string;
  text: string;
}

/** A provider took the message. */
export interface SendResult {
  providerMessageId: string;
  segments: number;
  /** Null when the provider does not price the message at send time (SMS.ru, usually Twilio). */
  cost: Money | null;
}

/** Where a sent message is, in our words; `providerStatus` keeps the provider's. */
export type DeliveryState = 'pending' | 'delivered' | 'undelivered' | 'unknown';

export interface StatusResult {
  state: DeliveryState;
  providerStatus: string;
  cost: Money | null;
  errorCode?: string;
  errorMessage?: string;
}

/**
 * The SMS provider port. Outcomes the provider states are data (`SendResult`, `StatusResult`); a
 * refusal or an outage is an `SmsProviderError` that says whether it is worth retrying.
 */
export interface SmsProvider {
  readonly name: SmsProviderName;
  /** True for the simulated client of SMS_TEST_MODE: nothing leaves the process. */
  readonly testMode: boolean;
  send(req: SendRequest): Promise<SendResult>;
  status(providerMessageId: string): Promise<StatusResult>;
  balance(): Promise<Money>;
}

/**
 * How an error bears on the command:
 * - `retryable`: an outage or a rate limit (network, 5xx, 429); later, or another provider, may work.
 * - `account`: this provider cannot send anything now (bad credentials, no money, sender not
 *   approved, not configured); another provider may, this one will not until someone acts.
 * - `permanent`: this message can never be sent (bad number, stop-list); no provider will help.
 */
export type SmsErrorKind = 'retryable' | 'account' | 'permanent';

/** What `sms.failed` names besides the reason, and an opt-out the provider reported. */
export interface SmsFailure {
  /** The provider's error code (`21211`, `207`) or ours (`not_configured`, `invalid_command`). */
  code?: string;
  provider?: SmsProviderName;
  optOut?: SmsOptOut;
}

/** The SMS channel's handler error: the give-up details travel with it to `onGiveUp`. */
export class SmsSendError extends HandlerError<SmsFailure> {}

/** One provider's failure, from an adapter; the handler fails over or gives up on it. */
export class SmsProviderError extends SmsSendError {
  constructor(
    readonly provider: SmsProviderName,
    readonly kind: SmsErrorKind,
    /** The provider's code (`207`, `21211`, `http_503`) or ours (`network`, `not_configured`). */
    readonly code: string,
    message: string,
    readonly opts: {
      /** The request may have reached the provider and been sent (timeout, 5xx, reset): a resend may duplicate. */
      outcomeUnknown?: boolean;
      retryAfterMs?: number;
      /** The recipient asked the provider to stop (STOP reply, stop-list): record an opt-out. */
      optOut?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(message, kind === 'retryable', {
      details: { code, provider },
      ...(opts.retryAfterMs === undefined ? {} : { retryAfterMs: opts.retryAfterMs }),
      ...(opts.cause === undefined ? {} : { cause: opts.cause }),
    });
  }
}

/** `Retry-After` as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export const parseRetryAfter = (value: string | null | undefined, now = Date.now()): number | undefined => {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
};

/** ISO 4217 minor-unit exponents that are not 2. */
const EXPONENT: Readonly<Record<string, number>> = { JPY: 0, KRW: 0, BHD: 3, KWD: 3, OMR: 3, TND: 3 };

/**
 * A decimal amount (number or string, as providers send it) in minor units, from its decimal
 * digits rather than float arithmetic. Fractions of a minor unit are rounded away from zero, so a
 * cost is never under-reported.
 */
export const toMinor = (amount: number | string, currency: string): Money | null => {
  const text = typeof amount === 'number' ? amount.toFixed(8) : amount.trim();
  const m = /^-?(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[1] === '' && !m[2])) return null;
  const exp = EXPONENT[currency.toUpperCase()] ?? 2;
  const whole = m[1] || '0';
  const frac = (m[2] ?? '').padEnd(exp, '0');
  let minor = Number(whole) * 10 ** exp + Number(frac.slice(0, exp) || '0');
  if (/[1-9]/.test(frac.slice(exp))) minor += 1;
  return { amountMinor: text.startsWith('-') && minor !== 0 ? -minor : minor, currency: currency.toUpperCase() };
};

/** `+79991234567` → `+7999***4567`: enough to tell numbers apart in logs, not to dial them. */
export const maskPhone = (phone: string) => (phone.length <= 8 ? '***' : `${phone.slice(0, 5)}***${phone.slice(-4)}`);
