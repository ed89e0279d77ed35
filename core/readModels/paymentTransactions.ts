import type { PaymentState, PaymentStatus } from '../payments/state.js';
import type { Sql, TransactionSql } from '../stores/postgres.js';

/** One event in a row's `history`, as `projections/paymentTransactions.ts` appends it. */
export interface PaymentHistoryEntry {
  type: string;
  time: string;
  seq: number;
  data?: Record<string, unknown>;
}

/**
 * A row of `payment_transactions` (`schemas/postgres/003_crm_read_models.sql`, 013) as the
 * `postgres` client reads it: timestamps as `Date`, `bigint` as text. Written only by
 * `projections/paymentTransactions.ts`.
 */
export interface PaymentTransactionRow {
  id: string;
  order_id: string;
  provider: string;
  provider_payment_id: string | null;
  provider_intent_id: string | null;
  amount_minor: string;
  captured_minor: string;
  refunded_minor: string;
  reserved_minor: string;
  fee_minor: string | null;
  currency: string;
  status: PaymentStatus;
  capture: boolean;
  description: string | null;
  customer: Record<string, string> | null;
  customer_email: string | null;
  customer_phone: string | null;
  confirmation_url: string | null;
  return_url: string | null;
  error_code: string | null;
  error_message: string | null;
  test_mode: boolean;
  last_source: string | null;
  created_at: Date;
  paid_at: Date | null;
  updated_at: Date;
  last_seq: string;
  state: PaymentState;
  history: PaymentHistoryEntry[];
}

/** A row of `payment_refunds`. */
export interface PaymentRefundRow {
  id: string;
  payment_id: string;
  provider: string | null;
  provider_refund_id: string | null;
  amount_minor: string;
  currency: string;
  status: 'pending' | 'succeeded' | 'failed';
  reason: string | null;
  created_at: Date;
  updated_at: Date;
  last_seq: string;
}

export const findPaymentTransaction = async (sql: Sql | TransactionSql, id: string) =>
  (await sql<PaymentTransactionRow[]>`SELECT * FROM payment_transactions WHERE id = ${id}`)[0];

export const findPaymentByProviderId = async (sql: Sql | TransactionSql, providerPaymentId: string) =>
  (
    await sql<PaymentTransactionRow[]>`
      SELECT * FROM payment_transactions WHERE provider_payment_id = ${providerPaymentId} ORDER BY created_at DESC LIMIT 1`
  )[0];

export const paymentRefunds = async (sql: Sql | TransactionSql, paymentId: string) =>
  sql<PaymentRefundRow[]>`SELECT * FROM payment_refunds WHERE payment_id = ${paymentId} ORDER BY created_at, id`;

export interface PaymentListFilter {
  orderId?: string;
  status?: string;
  from?: Date;
  to?: Date;
  /** The last row of the previous page: (created_at, id). */
  after?: { createdAt: Date; id: string };
  limit: number;
}

/** Newest first, keyset-paginated on (created_at, id) so a page never repeats or skips a row. */
export const listPaymentTransactions = async (sql: Sql, f: PaymentListFilter) =>
  sql<PaymentTransactionRow[]>`
    SELECT * FROM payment_transactions
    WHERE true
      ${f.orderId === undefined ? sql`` : sql`AND order_id = ${f.orderId}`}
      ${f.status === undefined ? sql`` : sql`AND status = ${f.status}`}
      ${f.from === undefined ? sql`` : sql`AND created_at >= ${f.from}`}
      ${f.to === undefined ? sql`` : sql`AND created_at < ${f.to}`}
      ${f.after === undefined ? sql`` : sql`AND (created_at, id) < (${f.after.createdAt}, ${f.after.id}::uuid)`}
    ORDER BY created_at DESC, id DESC
    LIMIT ${f.limit}`;

/** The ledger's payments created in a period (reconciliation). */
export const paymentsCreatedBetween = async (sql: Sql, from: Date, to: Date) =>
  sql<PaymentTransactionRow[]>`
    SELECT * FROM payment_transactions WHERE created_at >= ${from} AND created_at < ${to} ORDER BY created_at`;

/** Our payment id for a provider's payment id or Stripe PaymentIntent id (webhooks without our metadata). */
export const paymentIdByProviderRef = async (sql: Sql, ref: string): Promise<string | undefined> =>
  (
    await sql<{ id: string }[]>`
      SELECT id FROM payment_transactions WHERE provider_payment_id = ${ref} OR provider_intent_id = ${ref} LIMIT 1`
  )[0]?.id;
