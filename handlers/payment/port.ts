import { HandlerError } from '../../core/runners/handlerError.js';
import type { PaymentCustomer } from '../../schemas/events/payment.js';

export type PaymentProviderName = 'yookassa' | 'stripe';

export interface CreatePaymentInput {
  /** Our payment id (the command id); the provider keeps it in its metadata. */
  paymentId: string;
  orderId: string;
  amountMinor: number;
  currency: string;
  description: string;
  returnUrl: string;
  customer?: PaymentCustomer;
  capture: boolean;
  /** Derived from the command id: a retry after a timeout or a crash finds the first payment. */
  idempotencyKey: string;
}

/** A payment as the provider reports it, in our terms. */
export interface ProviderPayment {
  provider: PaymentProviderName;
  /** YooKassa payment id; Stripe Checkout Session id. */
  providerPaymentId: string;
  /** Stripe's PaymentIntent, once the session has one. */
  providerIntentId?: string;
  status: 'pending' | 'waiting_for_capture' | 'succeeded' | 'canceled';
  amountMinor: number;
  currency: string;
  /** What was captured, once succeeded. */
  capturedMinor?: number;
  feeMinor?: number;
  confirmationUrl?: string;
  /** Our ids from the provider's metadata (absent on a payment someone else created). */
  paymentId?: string;
  orderId?: string;
  cancellationReason?: string;
  cancellationParty?: string;
  createdAt: string;
  paidAt?: string;
}

export interface ProviderRefund {
  provider: PaymentProviderName;
  providerRefundId: string;
  /** YooKassa payment id; Stripe PaymentIntent id (refunds name the intent, not the session). */
  providerPaymentRef: string;
  status: 'pending' | 'succeeded' | 'failed';
  amountMinor: number;
  currency: string;
  /** Our refund command id and payment id, from the provider's metadata. */
  refundId?: string;
  paymentId?: string;
  reason?: string;
  createdAt: string;
}

export interface PaymentRef {
  providerPaymentId: string;
  providerIntentId?: string;
  currency: string;
}

/**
 * A payment provider. Every call that creates something takes an idempotency key: the same
 * key answers the same object, so the handler may repeat a call whose outcome it never saw.
 * Failures of the whole call throw `PaymentError`.
 */
export interface PaymentProvider {
  readonly name: PaymentProviderName;
  readonly testMode: boolean;
  create(input: CreatePaymentInput): Promise<ProviderPayment>;
  get(ref: PaymentRef): Promise<ProviderPayment>;
  capture(ref: PaymentRef & { amountMinor?: number; idempotencyKey: string }): Promise<ProviderPayment>;
  cancel(ref: PaymentRef & { idempotencyKey: string }): Promise<ProviderPayment>;
  refund(
    ref: PaymentRef & { amountMinor: number; paymentId: string; refundId: string; idempotencyKey: string },
  ): Promise<ProviderRefund>;
  /** Payments created in [from, to), every page of the provider's list API. */
  listPayments(from: Date, to: Date): AsyncIterable<ProviderPayment>;
  listRefunds(from: Date, to: Date): AsyncIterable<ProviderRefund>;
}

export interface PaymentErrorDetails {
  /** The provider's error code (`invalid_request`, `card_declined`) or ours (`not_configured`, `timeout`). */
  code: string;
  provider?: PaymentProviderName;
}

/** A provider call that failed as a whole; `retryable` follows the provider's retry rules. */
export class PaymentError extends HandlerError<PaymentErrorDetails> {
  get code(): string {
    return this.details?.code ?? 'provider_error';
  }
  static of(
    f: { code: string; message: string; retryable: boolean; provider?: PaymentProviderName; retryAfterMs?: number },
    cause?: unknown,
  ) {
    return new PaymentError(f.message, f.retryable, {
      details: { code: f.code, ...(f.provider ? { provider: f.provider } : {}) },
      ...(f.retryAfterMs === undefined ? {} : { retryAfterMs: f.retryAfterMs }),
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** Integer minor units as the decimal text YooKassa takes (`150000`, 2 digits → `1500.00`). */
export const minorToDecimal = (minor: number, digits: number): string => {
  if (digits === 0) return String(minor);
  const s = String(minor).padStart(digits + 1, '0');
  return `${s.slice(0, -digits)}.${s.slice(-digits)}`;
};

/** Decimal text into integer minor units, from the digits (never through a float product). */
export const decimalToMinor = (value: string, digits: number): number => {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(value.trim());
  if (!m) throw new RangeError(`not a decimal amount: ${value}`);
  const fraction = (m[2] ?? '').padEnd(digits, '0');
  if (fraction.length > digits && /[^0]/.test(fraction.slice(digits))) throw new RangeError(`too many decimals: ${value}`);
  return Number((m[1] as string) + fraction.slice(0, digits));
};

/** Per currency code: building an Intl.NumberFormat per amount was 1.6% of the gateway's CPU in the payments bench. */
const digitsByCurrency = new Map<string, number>();

/** Digits after the decimal point in `currency` (RUB 2, JPY 0). */
export const currencyDigits = (currency: string): number => {
  let digits = digitsByCurrency.get(currency);
  if (digits === undefined) {
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      digits = 2;
    }
    // Bounded: codes come from providers' answers; an unknown one costs a construction each time past the cap.
    if (digitsByCurrency.size < 1_000) digitsByCurrency.set(currency, digits);
  }
  return digits;
};
