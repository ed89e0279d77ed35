/**
 * Child process for the SMS crash test (test/handlers/sms.crash.test.ts): the `sms` handler under
 * the real handler runner, on the embedded log in the Postgres at SMS_CRASH_DB, configured from
 * its environment like the gateway (SMS_*, TWILIO_*). Prints `ready` once consuming.
 *
 * With SMS_CRASH_ON_RESULT=1 it kills itself (SIGKILL) at the moment the runner appends
 * `sms.sent`: after the provider took the message, before the log holds the outcome.
 *
 * With SMS_SETTINGS=1 it reads the run-time integration settings (SECRETS_KEYS from its
 * environment) like a gateway's handlers role, so an operator's change reaches it through the log.
 *
 * Usage: node --import tsx test/support/smsHandlerProcess.ts
 */
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { openIntegrations } from '../../core/integrations/index.js';
import { createLogger } from '../../core/logger.js';
import { handlerRunner } from '../../core/runners/handlerRunner.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { buildSmsHandlers } from '../../handlers/sms/index.js';

const main = async () => {
  const url = process.env.SMS_CRASH_DB;
  if (!url) throw new Error('SMS_CRASH_DB is required');
  const config = loadConfig({ ...process.env, DATA_DIR: '/nonexistent' });
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'sms-crash-child');
  const store = await openPostgres({ databaseUrl: url, pgliteDir: '', poolMax: 4 });
  const inner = embeddedEventLog(store.sql, { pollMs: 20 });
  const crashOnResult = process.env.SMS_CRASH_ON_RESULT === '1';
  const log: EventLog = {
    ...inner,
    append(subject, events, opts) {
      const list: readonly EventEnvelope[] = Array.isArray(events) ? events : [events as EventEnvelope];
      if (crashOnResult && list.some((e) => e.type === 'sms.sent')) process.kill(process.pid, 'SIGKILL');
      return inner.append(subject, events, opts);
    },
  };
  const integrations =
    process.env.SMS_SETTINGS === '1' ? await openIntegrations(config, store.sql, logger, { pollMs: 100 }) : undefined;
  const [sms] = buildSmsHandlers({ config, logger, log, sql: store.sql, ...(integrations ? { integrations } : {}) });
  const runner = handlerRunner({
    log,
    handler: sms as NonNullable<typeof sms>,
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
    process.stderr.write(`smsHandlerProcess failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
