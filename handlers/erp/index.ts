import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import type { ErpConfig } from '../../core/config.js';
import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import { type ErpMapping, ErpMappingOverride, mergeErpMapping } from '../../schemas/erp/mapping.js';
import type { HandlerDeps } from '../index.js';
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
  return { kind: '1c', list: fail, getMany: fail, findByAttribute: fail, create: fail, update: fail, post: fail, health: fail };
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
}

/** The ERP channel: `erp.requested` runs, and ERP_AUTO_SYNC's scheduler as the handler's background work. */
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
  const background = config.autoSync
    ? () =>
        erpScheduler({
          sql: deps.sql,
          logger,
          engine,
          intervalMs: config.syncIntervalSeconds * 1000,
          ...opts.schedule,
        })
    : undefined;
  return [erpHandler({ engine: engine(), ...(background ? { background } : {}) })];
};
