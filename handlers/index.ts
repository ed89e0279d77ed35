import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../core/config.js';
import type { EventLog } from '../core/eventlog/port.js';
import type { Integrations } from '../core/integrations/index.js';
import type { Logger } from '../core/logger.js';
import type { AnyHandler } from '../core/runners/handlerRunner.js';
import type { Sql } from '../core/stores/postgres.js';
import { buildEmailHandler } from './email/index.js';
import { buildErpHandlers } from './erp/index.js';
import { buildExportHandler } from './export/index.js';
import { buildPaymentHandlers } from './payment/index.js';
import { buildPushHandler } from './push/index.js';
import { buildSmsHandlers } from './sms/index.js';
import { buildTelegramBotHandlers } from './telegram/bot/index.js';
import { buildTelegramHandler } from './telegram/index.js';

/** What a channel's handlers may use: providers come from config, guards and opt-outs read Postgres. */
export interface HandlerDeps {
  config: Config;
  logger: Logger;
  log: EventLog;
  sql: Sql;
  /** Run-time integration settings; without them the channels use the environment only. */
  integrations?: Integrations;
  /** GPS history for exports; absent where the process opened no ClickHouse. */
  clickhouse?: ClickHouseClient;
}

/** Every handler the `handlers` role runs, built from config (providers, test mode). */
export const buildHandlers = (deps: HandlerDeps): readonly AnyHandler[] => [
  ...buildSmsHandlers(deps),
  buildEmailHandler(deps),
  buildPushHandler(deps),
  buildTelegramHandler(deps),
  ...Object.values(buildTelegramBotHandlers(deps)),
  ...buildPaymentHandlers(deps),
  buildExportHandler(deps),
  ...buildErpHandlers(deps),
];
