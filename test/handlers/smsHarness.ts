import { Writable } from 'node:stream';
import { pino } from 'pino';
import { appendCommand } from '../../api/commands.js';
import { type Config, loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import { silentLogger } from '../../core/logger.js';
import { findSmsLog, type SmsLogRow } from '../../core/readModels/smsLog.js';
import { type HandlerRunner, handlerRunner } from '../../core/runners/handlerRunner.js';
import { type Projection, type ProjectionRunner, projectionRunner } from '../../core/runners/projectionRunner.js';
import type { PostgresStore, Sql } from '../../core/stores/postgres.js';
import { buildSmsHandlers, type SmsHandlersOptions } from '../../handlers/sms/index.js';
import { smsLogProjection } from '../../projections/smsLog.js';
import { smsOptOutsProjection } from '../../projections/smsOptOuts.js';
import { webhookEventsProjection } from '../../projections/webhookEvents.js';
import type { Priority } from '../../schemas/events/envelope.js';
import type { SmsRequested } from '../../schemas/events/sms.js';
import { until } from '../support/until.js';

/** Log lines as objects, for tests that compare what live and test mode log. */
export const capturingLogger = () => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
};

export type { SmsLogRow };

export interface SmsRig {
  config: Config;
  log: EventLog;
  sql: Sql;
  runners: HandlerRunner[];
  /** Appends an `sms.requested` as the API does (its own id; coalesced into a burst when concurrent). */
  request(
    to: string,
    text: string,
    opts?: { priority?: Priority; provider?: 'smsru' | 'twilio'; source?: string },
  ): Promise<string>;
  row(id: string): Promise<SmsLogRow | undefined>;
  /** Waits until the projections folded everything and the row satisfies `cond`. */
  rowWhen(id: string, cond: (r: SmsLogRow) => boolean, ms?: number): Promise<SmsLogRow>;
  events(filter: string): Promise<EventEnvelope[]>;
  caughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The SMS handlers under the real handler runner on the embedded log, with the projections they
 * feed (sms_log, sms_opt_outs, webhook_events), over `store`. `env` is the process environment
 * the config is read from (provider URLs point at the fakes).
 */
export const startSmsRig = async (
  store: PostgresStore,
  env: Record<string, string>,
  opts: {
    logger?: ReturnType<typeof silentLogger>;
    maxAttempts?: number;
    concurrency?: number;
    handlers?: SmsHandlersOptions;
    /** Start the handler runners (default true); false: the caller starts them. */
    start?: boolean;
    projections?: Projection[];
  } = {},
): Promise<SmsRig> => {
  const config = loadConfig({ DATA_DIR: '/nonexistent', SMS_RATE_LIMIT_PER_SECOND: '0', ...env });
  const logger = opts.logger ?? silentLogger();
  const log = embeddedEventLog(store.sql, { pollMs: 10 });
  const handlers = buildSmsHandlers({ config, logger, log, sql: store.sql }, { pollTickMs: 100, ...opts.handlers });
  const runners = handlers.map((handler) =>
    handlerRunner({
      log,
      handler,
      logger,
      concurrency: opts.concurrency ?? 4,
      maxAttempts: opts.maxAttempts ?? 3,
      ackWaitMs: 5_000,
      backoffBaseMs: 20,
      backoffMaxMs: 100,
    }),
  );
  const projections: ProjectionRunner[] = (
    opts.projections ?? [smsLogProjection, smsOptOutsProjection, webhookEventsProjection]
  ).map((projection) => projectionRunner({ log, sql: store.sql, projection, logger, batchSize: 1000, batchDelayMs: 0 }));
  for (const p of projections) await p.start();
  if (opts.start !== false) for (const r of runners) await r.start();
  const caughtUp = async () => {
    for (const p of projections) await p.caughtUp(15_000);
  };
  const row = (id: string) => findSmsLog(store.sql, id);
  return {
    config,
    log,
    sql: store.sql,
    runners,
    async request(to, text, o = {}) {
      const id = uuidv7();
      const data: SmsRequested = {
        to,
        text,
        priority: o.priority ?? 'normal',
        requestedBy: o.source ?? 'fg_test',
        via: 'v1',
        ...(o.provider ? { provider: o.provider } : {}),
      };
      await appendCommand(log, { id, domain: 'sms', type: 'sms.requested', priority: data.priority, data });
      return id;
    },
    row,
    async rowWhen(id, cond, ms = 15_000) {
      let last: SmsLogRow | undefined;
      return until(
        async () => {
          await caughtUp();
          last = await row(id);
          return last !== undefined && cond(last) && last;
        },
        { timeoutMs: ms, what: () => `sms_log ${id} (last status: ${last?.status})` },
      );
    },
    async events(filter) {
      return (await log.read('EVENTS', 100_000, { filterSubject: filter })).flatMap((m) => m.events);
    },
    caughtUp,
    async stop() {
      await Promise.all(runners.map((r) => r.stop(5_000)));
      await Promise.all(projections.map((p) => p.stop()));
      await log.close();
    },
  };
};
