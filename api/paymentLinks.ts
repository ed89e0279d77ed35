import type { EventLog } from '../core/eventlog/port.js';
import { type LoadedPayment, loadPayment } from '../core/payments/ledger.js';

/** The outcomes a `Prefer: wait` request waits for. */
const DONE = new Set(['payment.created', 'payment.failed']);

/**
 * Waits for payments' links without polling the log per request: one follower of
 * `evt.payment.tx.>` per process wakes the waiters of the payments it sees created or failed
 * (it stops when nobody waits). A waiter registers, then reads the payment once, so an outcome
 * appended before the follower reached it is not missed.
 */
export const paymentLinkWaiter = (log: EventLog) => {
  const waiters = new Map<string, Set<() => void>>();
  let follower: AbortController | undefined;

  const follow = async (fromSeq: number) => {
    const ctl = new AbortController();
    follower = ctl;
    try {
      for await (const m of log.follow('EVENTS', { fromSeq, filterSubject: 'evt.payment.tx.>', signal: ctl.signal })) {
        for (const e of m.events) {
          if (!DONE.has(e.type)) continue;
          const id = (e.data as { paymentId?: string }).paymentId;
          for (const wake of (id && waiters.get(id)) || []) wake();
        }
        if (waiters.size === 0) break;
      }
    } catch {
      // The log went away (shutdown) or failed: waiters fall back to their deadline.
    } finally {
      if (follower === ctl) follower = undefined;
      ctl.abort();
    }
  };

  return async (id: string, seconds: number): Promise<LoadedPayment> => {
    const from = (await log.lastSeq('EVENTS')) + 1;
    let wake!: () => void;
    const woken = new Promise<void>((r) => {
      wake = r;
    });
    const set = waiters.get(id) ?? new Set();
    set.add(wake);
    waiters.set(id, set);
    if (!follower || follower.signal.aborted) void follow(from);
    const timer = setTimeout(wake, seconds * 1000);
    try {
      const first = await loadPayment(log, id);
      if (first.state?.confirmationUrl || first.state?.phase === 'failed') return first;
      await woken;
      return await loadPayment(log, id);
    } finally {
      clearTimeout(timer);
      set.delete(wake);
      if (set.size === 0) waiters.delete(id);
      if (waiters.size === 0) follower?.abort();
    }
  };
};

const waiters = new WeakMap<EventLog, ReturnType<typeof paymentLinkWaiter>>();

/** The process's waiter for this log. */
export const waitForPaymentLink = (log: EventLog, id: string, seconds: number) => {
  let w = waiters.get(log);
  if (!w) {
    w = paymentLinkWaiter(log);
    waiters.set(log, w);
  }
  return w(id, seconds);
};
