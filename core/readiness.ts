import { Gauge } from 'prom-client';
import { cachedProbe } from './http/cachedProbe.js';
import type { Logger } from './logger.js';
import { registry } from './metrics.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | string>;
}

const readyGauge = new Gauge({
  name: 'fleetgate_ready',
  help: '1 while this process (or thread) reaches its event log and stores, 0 while it does not',
  registers: [registry],
});

/** One probe per second at most, shared by `/readyz` callers and the intake's own watch. */
const MAX_AGE_MS = 1_000;

export interface ReadinessMonitor {
  /** The stores' answer, probed at most once a second (what `/readyz` serves). */
  check(): Promise<Readiness>;
  /**
   * The last answer, without waiting: the intake asks it on every CONNECT and upgrade, so a device
   * is refused at once while the log is away instead of after a probe's timeout.
   */
  ready(): boolean;
  stop(): void;
}

/** What the intake asks before it accepts a device or phone: can this process keep what it sends? */
export type IntakeReadiness = Pick<ReadinessMonitor, 'ready'>;

/**
 * Watches whether this process can keep what it accepts: `probe` asks the log and the stores,
 * every `intervalMs` in the background (unless `watch` is false: no intake here) and on demand. Changes are logged once each way, and
 * `notes` (what runs degraded by configuration, e.g. no CLICKHOUSE_URL) go into every answer.
 */
export const readinessMonitor = (opts: {
  probe(): Promise<Readiness>;
  logger: Logger;
  /** Probe in the background (the intake asks `ready()`); otherwise only when `check` is called. */
  watch?: boolean;
  intervalMs?: number;
  notes?: Record<string, string>;
}): ReadinessMonitor => {
  let last: Readiness | undefined;
  const probe = cachedProbe(async () => {
    const r = await opts.probe().catch((e: unknown) => ({ ready: false, checks: { probe: String((e as Error)?.message ?? e) } }));
    const answer = { ready: r.ready, checks: { ...r.checks, ...opts.notes } };
    if (last && last.ready !== answer.ready) {
      if (answer.ready) opts.logger.info({ checks: answer.checks }, 'ready again: intake open');
      else opts.logger.error({ checks: answer.checks }, 'not ready: intake refused until the log and stores answer');
    }
    last = answer;
    readyGauge.set(answer.ready ? 1 : 0);
    return answer;
  }, MAX_AGE_MS);
  const timer = opts.watch === false ? undefined : setInterval(() => void probe(), opts.intervalMs ?? MAX_AGE_MS);
  timer?.unref();
  return {
    check: probe,
    // Until the first probe returns, the start-up just opened every store: ready.
    ready: () => last?.ready ?? true,
    stop: () => clearInterval(timer),
  };
};
