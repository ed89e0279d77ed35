import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../index.js';
import { exportHandler } from './handler.js';
import { clickhouseSource, postgresSource } from './source.js';

/**
 * The export handler over the read models, and ClickHouse for GPS when the process opened it.
 * Path, row limit and TTL come from the environment (`config.exports`), not the integration
 * settings: a changed path at run time would strand the files already written.
 */
export const buildExportHandler = (deps: HandlerDeps): AnyHandler =>
  exportHandler({
    settings: deps.config.exports,
    log: deps.log,
    sql: deps.sql,
    logger: deps.logger,
    sources: {
      postgres: postgresSource(deps.sql),
      ...(deps.clickhouse ? { clickhouse: clickhouseSource(deps.clickhouse) } : {}),
    },
  }) as unknown as AnyHandler;
