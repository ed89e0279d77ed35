import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import type { ErpConfig } from '../../core/config.js';
import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import { type ErpMapping, ErpMappingOverride, mergeErpMapping } from '../../schemas/erp/mapping.js';
import type { HandlerDeps } from '../index.js';
import { erpChangePusher } from './changes.js';
import { customErp } from './custom.js';
import { erpHandler } from './handler.js';
import { oneCErp } from './onec.js';
import { ErpError, type ErpPort } from './port.js';
import { erpScheduler } from './scheduler.js';
import { erpSync } from './sync.js';
import { testModeErp } from './testMode.js';

/** ERP_MAPPING_FILE over the defaults; a file that does not match the schema stops start-up with the reason. */
export const loadErpMapping = (config: ErpConfig): ErpMapping => {
  if (!config.mappingFile) return mergeErpMapping(config.type, undefined);
  const raw = JSON.parse(readFileSync(config.mappingFile, 'utf8')) as unknown;
  if (!Value.Check(ErpMappingOverride, raw)) {
    const first = [...Value.Errors(ErpMappingOverride, raw)][0];
    throw new Error(`ERP_MAPPING_FILE ${config.mappingFile}: ${first?.path ?? ''} ${first?.message ?? 'invalid'}`);
  }
  return mergeErpMapping(config.type, raw);
};

const notConfigured = (why: string): ErpPort => {
  const fail = async (): Promise<never> => {
    throw ErpError.of('not_configured', why, false);
  };
  return {
    kind: '1c',
    list: fail,
    getMany: fail,
    findByAttribute: fail,
    create: fail,
    update: fail,
    markDeleted: fail,
    post: fail,
    health: fail,
  };
};

/** The ERP the config names: the in-process one (ERP_TEST_MODE), 1C, or the custom REST ERP. */
export const erpPortFromConfig = (config: ErpConfig): ErpPort => {
  if (config.testMode) return testModeErp();
  if (!config.apiUrl) return notConfigured('ERP_API_URL is not set');
  if (config.type === 'custom') {
    if (!config.apiKey) return notConfigured('ERP_API_KEY is not set');
    return customErp({ baseUrl: config.apiUrl, apiKey: config.apiKey, paging: config.customPaging, timeoutMs: config.timeoutMs });
  }
  // ERP_API_USER + ERP_API_PASSWORD, or ERP_API_KEY as `login:password` (the CRM's single variable).
  const [user, password] =
    config.user !== undefined
      ? [config.user, config.password ?? '']
      : [config.apiKey?.split(':')[0], config.apiKey?.split(':').slice(1).join(':') ?? ''];
  if (!user) return notConfigured('ERP_API_USER (or ERP_API_KEY as login:password) is not set');
  return oneCErp({ baseUrl: config.apiUrl, user, password, timeoutMs: config.timeoutMs });
};

export interface ErpHandlersOptions {
  port?: ErpPort;
  /** Scheduler timings (tests). */
  schedule?: { leaseMs?: number; tickMs?: number; backoffMs?: number; holder?: string };
  /** Push on change, on or off (default: below); timings for tests. */
  pushOnChange?: boolean;
  changes?: { maxDelayMs?: number; maxIds?: number; projectionWaitMs?: number };
}

/**
 * Push on change runs when an ERP is configured (ERP_API_URL, not test mode) or the sync is
 * switched on (ERP_AUTO_SYNC, test mode included). Test mode alone is the default of every
 * install: pushing every record into its in-process store would only grow memory.
 */
export const pushesOnChange = (config: ErpConfig) => (!config.testMode && !!config.apiUrl) || config.autoSync;

/** The ERP channel: `erp.requested` runs; ERP_AUTO_SYNC's scheduler and push on change as the handler's background work. */
export const buildErpHandlers = (deps: HandlerDeps, opts: ErpHandlersOptions = {}): AnyHandler[] => {
  const config = deps.config.erp;
  const logger = deps.logger.child({ channel: 'erp' });
  if (config.testMode) logger.warn('ERP sync runs in test mode (ERP_TEST_MODE): objects stay in this process');
  const port = opts.port ?? erpPortFromConfig(config);
  const mapping = loadErpMapping(config);
  const engine = (onPage?: () => Promise<void>) =>
    erpSync({
      port,
      sql: deps.sql,
      log: deps.log,
      logger,
      mapping,
      timeZone: config.timeZone,
      pageSize: config.pageSize,
      ...(onPage ? { onPage } : {}),
    });
  const scheduler = config.autoSync
    ? () =>
        erpScheduler({
          sql: deps.sql,
          logger,
          engine,
          intervalMs: config.syncIntervalSeconds * 1000,
          ...opts.schedule,
        })
    : undefined;
  const changes =
    (opts.pushOnChange ?? pushesOnChange(config))
      ? () => erpChangePusher({ log: deps.log, sql: deps.sql, logger, engine: engine(), ...opts.changes })
      : undefined;
  const parts = [scheduler, changes].filter((p) => p !== undefined);
  const background =
    parts.length > 0
      ? () => {
          const running = parts.map((start) => start());
          return { stop: async () => void (await Promise.all(running.map((r) => r.stop()))) };
        }
      : undefined;
  return [erpHandler({ engine: engine(), ...(background ? { background } : {}) })];
};
