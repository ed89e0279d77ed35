/**
 * Child process for the payment crash test (test/handlers/payment.crash.test.ts): the `payment`
 * handler under the real handler runner, on the embedded log in the Postgres at PAYMENT_CRASH_DB,
 * configured from its environment like the gateway (PAYMENT_*, YANDEX_KASSA_*, YOOKASSA_API_URL).
 * Prints `ready` once consuming.
 *
 * With PAYMENT_CRASH_ON_CREATED=1 it kills itself (SIGKILL) at the moment the runner appends
 * `payment.created`: after the provider made the payment, before the log holds it.
 *
 * Usage: node --import tsx test/support/paymentHandlerProcess.ts
 */
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { createLogger } from '../../core/logger.js';
import { handlerRunner } from '../../core/runners/handlerRunner.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { buildPaymentHandlers } from '../../handlers/payment/index.js';

const main = async () => {
  const url = process.env.PAYMENT_CRASH_DB;
  if (!url) throw new Error('PAYMENT_CRASH_DB is required');
  const config = loadConfig({ ...process.env, DATA_DIR: '/nonexistent' });
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'payment-crash-child');
  const store = await openPostgres({ databaseUrl: url, pgliteDir: '', poolMax: 4 });
  const inner = embeddedEventLog(store.sql, { pollMs: 20 });
  const crash = process.env.PAYMENT_CRASH_ON_CREATED === '1';
  const log: EventLog = {
    ...inner,
    append(subject, events, opts) {
      const list: readonly EventEnvelope[] = Array.isArray(events) ? events : [events as EventEnvelope];
      if (crash && list.some((e) => e.type === 'payment.created')) process.kill(process.pid, 'SIGKILL');
      return inner.append(subject, events, opts);
    },
  };
  const [payment] = buildPaymentHandlers({ config, logger, log, sql: store.sql });
  const runner = handlerRunner({
    log,
    handler: payment as NonNullable<typeof payment>,
    logger,
    concurrency: 2,
    maxAttempts: config.handlers.maxAttempts,
    ackWaitMs: config.handlers.ackWaitMs,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
  });
  await runner.start();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void runner
      .stop(2_000)
      .then(() => inner.close())
      .then(() => store.close())
      .finally(() => process.exit(0));
  });
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`paymentHandlerProcess failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
