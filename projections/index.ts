import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../core/config.js';
import type { Projection } from '../core/runners/projectionRunner.js';
import { deviceCommandsProjection } from './deviceCommands.js';
import { deviceTokensProjection } from './deviceTokens.js';
import { emailLogProjection } from './emailLog.js';
import { erpSyncLogProjection } from './erpSyncLog.js';
import { exportJobsProjection } from './exportJobs.js';
import { gpsTrackingProjection } from './gpsTracking.js';
import { integrationSettingsProjection } from './integrationSettings.js';
import { notificationQueueProjection } from './notificationQueue.js';
import { paymentTransactionsProjection } from './paymentTransactions.js';
import { pushNotificationLogProjection } from './pushNotificationLog.js';
import { recordsProjection } from './records.js';
import { smsLogProjection } from './smsLog.js';
import { smsOptOutsProjection } from './smsOptOuts.js';
import { telegramUsersProjection } from './telegramUsers.js';
import { vehiclePositionsProjection } from './vehiclePositions.js';
import { webhookEventsProjection } from './webhookEvents.js';

/** The stores a projection outside Postgres writes to; absent where the process opened none (API-only tests). */
export interface ProjectionStores {
  clickhouse: ClickHouseClient | undefined;
}

/**
 * Every read model the `projections` role runs, by name (`fleetgate replay NAME`), all run by
 * `core/runners/projectionRunner.ts`: Postgres folds, and the ClickHouse sink `gps_tracking`
 * (listed where a ClickHouse client is open, which the entry does for both). Each channel issue
 * adds its own here.
 */
export const projections = (stores: ProjectionStores, config: Pick<Config, 'gps'>): readonly Projection[] => [
  smsLogProjection,
  smsOptOutsProjection,
  webhookEventsProjection,
  vehiclePositionsProjection,
  deviceCommandsProjection,
  notificationQueueProjection,
  emailLogProjection,
  deviceTokensProjection,
  pushNotificationLogProjection,
  recordsProjection,
  integrationSettingsProjection,
  paymentTransactionsProjection,
  exportJobsProjection,
  telegramUsersProjection,
  erpSyncLogProjection,
  ...(stores.clickhouse ? [gpsTrackingProjection({ clickhouse: stores.clickhouse, config })] : []),
];
