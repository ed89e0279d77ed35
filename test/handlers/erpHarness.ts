import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { appendRecordEvents, upsertedEvent } from '../../core/records/events.js';
import type { Sql } from '../../core/stores/postgres.js';
import { oneCErp } from '../../handlers/erp/onec.js';
import type { ErpPort } from '../../handlers/erp/port.js';
import { type ErpSyncDeps, erpSync } from '../../handlers/erp/sync.js';
import { ONEC_MAPPING } from '../../schemas/erp/mapping.js';
import type { RecordType } from '../../schemas/records/common.js';
import type { FakeOneC } from '../fakes/onec.js';

export const ONEC_USER = 'Администратор';
export const ONEC_PASSWORD = 'пароль-123';
export const ONEC_SETS = Object.values(ONEC_MAPPING).map((m) => m.set);

export const onecPort = (fake: FakeOneC, timeoutMs = 5_000) =>
  oneCErp({ baseUrl: fake.url, user: ONEC_USER, password: ONEC_PASSWORD, timeoutMs });

export const engineFor = (sql: Sql, log: EventLog, port: ErpPort, over: Partial<ErpSyncDeps> = {}) =>
  erpSync({
    port,
    sql,
    log,
    logger: silentLogger(),
    mapping: ONEC_MAPPING,
    timeZone: 'Europe/Moscow',
    pageSize: 5,
    ...over,
  });

/** What the CRM would send: record.upserted (source crm) through the records' own event builders. */
export const crmWrites = async (
  log: EventLog,
  type: RecordType,
  records: { id: string; version: number; [f: string]: unknown }[],
) => {
  for (const r of records) await appendRecordEvents(log, type, [upsertedEvent(type, r, 'crm')]);
};

export const events = async (log: EventLog, filterSubject: string) =>
  (await log.read('EVENTS', 100_000, { filterSubject })).flatMap((m) => m.events);
