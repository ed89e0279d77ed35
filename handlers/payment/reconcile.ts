import type { EventLog } from '../../core/eventlog/port.js';
import { loadPayment } from '../../core/payments/ledger.js';
import { paymentIdByProviderRef, paymentsCreatedBetween } from '../../core/readModels/paymentTransactions.js';
import type { Sql } from '../../core/stores/postgres.js';
import { GatewayError } from '../../schemas/errors.js';
import { appendFacts, paymentFacts, refundFacts } from './ledger.js';
import { PaymentError, type PaymentProvider, type PaymentProviderName } from './port.js';

export type DifferenceKind =
  | 'missing_locally'
  | 'state_differs'
  | 'amount_differs'
  | 'unknown_to_provider'
  | 'refund_missing_locally'
  | 'refund_state_differs';

export interface Difference {
  kind: DifferenceKind;
  provider: PaymentProviderName;
  providerId: string;
  paymentId?: string;
  local?: string;
  remote?: string;
  /** The corrective events `--fix` appended (source `reconciliation`). */
  fixed?: string[];
}

export interface ReconcileOptions {
  from: Date;
  to: Date;
  fix: boolean;
  providers: readonly PaymentProviderName[];
}

/**
 * `fleetgate payments reconcile`: pages through each provider's payments and refunds created in
 * [from, to), compares them with the ledger (the payment's own events) and reports every
 * difference; with `fix`, appends the events that bring the ledger to the provider's state,
 * marked `source: reconciliation`, under the same message ids a webhook would have used (so a
 * late webhook afterwards changes nothing). Amount differences and payments the provider does
 * not know are reported only: money is not moved by a report.
 */
export const reconcilePayments = (
  deps: { log: EventLog; sql: Sql; provider(name: PaymentProviderName): PaymentProvider },
  opts: ReconcileOptions,
): Promise<Difference[]> =>
  compare(deps, opts).catch((e: unknown) => {
    // A provider that cannot be listed is a one-line answer, not a crash: nothing was fixed past it.
    if (e instanceof PaymentError) {
      throw new GatewayError(
        e.code === 'not_configured' ? 'GW_ERR_PROVIDER_NOT_CONFIGURED' : 'GW_ERR_PROVIDER_UNAVAILABLE',
        `reconcile stopped: ${e.message}`,
        { cause: e },
      );
    }
    throw e;
  });

const compare = async (
  deps: { log: EventLog; sql: Sql; provider(name: PaymentProviderName): PaymentProvider },
  opts: ReconcileOptions,
): Promise<Difference[]> => {
  const out: Difference[] = [];
  const fix = async (d: Difference, facts: Parameters<typeof appendFacts>[1]) => {
    if (opts.fix && facts.length > 0) {
      await appendFacts(deps.log, facts, 'cli/payments-reconcile', d.paymentId);
      d.fixed = facts.map((f) => f.type);
    }
    out.push(d);
  };
  for (const name of opts.providers) {
    const provider = deps.provider(name);
    const seen = new Set<string>();
    for await (const p of provider.listPayments(opts.from, opts.to)) {
      seen.add(p.providerPaymentId);
      const paymentId = p.paymentId ?? (await paymentIdByProviderRef(deps.sql, p.providerPaymentId));
      const base = { provider: name, providerId: p.providerPaymentId, remote: p.status } as const;
      const state = paymentId ? (await loadPayment(deps.log, paymentId)).state : undefined;
      if (!paymentId || !state?.providerPaymentId) {
        out.push({ ...base, kind: 'missing_locally', ...(paymentId ? { paymentId } : {}) });
        continue;
      }
      const facts = paymentFacts(state, p, 'reconciliation');
      if (facts.length > 0) {
        await fix({ ...base, kind: 'state_differs', paymentId, local: state.phase }, facts);
      } else if (
        p.status === 'succeeded' &&
        state.phase === 'succeeded' &&
        (p.capturedMinor ?? p.amountMinor) !== state.capturedMinor
      ) {
        out.push({
          ...base,
          kind: 'amount_differs',
          paymentId,
          local: String(state.capturedMinor),
          remote: String(p.capturedMinor ?? p.amountMinor),
        });
      } else if (p.status !== state.phase && !(p.status === 'succeeded' && state.phase === 'succeeded')) {
        out.push({ ...base, kind: 'state_differs', paymentId, local: state.phase });
      }
    }
    for (const row of await paymentsCreatedBetween(deps.sql, opts.from, opts.to)) {
      if (row.provider !== name || !row.provider_payment_id || row.test_mode || seen.has(row.provider_payment_id)) continue;
      out.push({
        kind: 'unknown_to_provider',
        provider: name,
        providerId: row.provider_payment_id,
        paymentId: row.id,
        local: row.status,
      });
    }
    for await (const r of provider.listRefunds(opts.from, opts.to)) {
      const paymentId = r.paymentId ?? (await paymentIdByProviderRef(deps.sql, r.providerPaymentRef));
      const state = paymentId ? (await loadPayment(deps.log, paymentId)).state : undefined;
      const base = { provider: name, providerId: r.providerRefundId, remote: r.status } as const;
      if (!paymentId || !state) {
        out.push({ ...base, kind: 'refund_missing_locally', ...(paymentId ? { paymentId } : {}) });
        continue;
      }
      const facts = refundFacts(state, r, 'reconciliation');
      if (facts.length > 0) {
        const known = Object.values(state.refunds).find(
          (x) => x.providerRefundId === r.providerRefundId || x.refundId === r.refundId,
        );
        await fix(
          {
            ...base,
            kind: known ? 'refund_state_differs' : 'refund_missing_locally',
            paymentId,
            ...(known ? { local: known.status } : {}),
          },
          facts,
        );
      }
    }
  }
  return out;
};

/** One line per difference, for the terminal; the summary last. */
export const reconcileReport = (diffs: readonly Difference[], fix: boolean): string => {
  const lines = diffs.map((d) =>
    [
      d.kind.padEnd(22),
      d.provider.padEnd(8),
      d.providerId,
      d.paymentId ? `payment=${d.paymentId}` : 'payment=?',
      d.local === undefined ? '' : `local=${d.local}`,
      d.remote === undefined ? '' : `provider=${d.remote}`,
      d.fixed ? `fixed: ${d.fixed.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('  '),
  );
  const fixed = diffs.filter((d) => d.fixed).length;
  lines.push(
    `${diffs.length} difference(s)${fix ? `, ${fixed} fixed` : diffs.length ? '; run with --fix to append the corrective events' : ''}`,
  );
  return `${lines.join('\n')}\n`;
};

/** `--since` / `--until`: a date or date-time; `until` defaults to now. */
export const reconcilePeriod = (since: string | undefined, until: string | undefined): { from: Date; to: Date } | string => {
  if (!since) return 'payments reconcile needs --since=DATE (e.g. --since=2026-12-01)';
  const from = new Date(since);
  const to = until ? new Date(until) : new Date();
  if (Number.isNaN(from.getTime())) return `--since=${since} is not a date`;
  if (Number.isNaN(to.getTime())) return `--until=${until} is not a date`;
  if (from >= to) return '--since must be before --until';
  return { from, to };
};
