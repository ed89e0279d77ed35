import type { Projection } from '../core/runners/projectionRunner.js';
import { deviceCommandsProjection } from './deviceCommands.js';
import { deviceTokensProjection } from './deviceTokens.js';
import { emailLogProjection } from './emailLog.js';
import { notificationQueueProjection } from './notificationQueue.js';
import { pushNotificationLogProjection } from './pushNotificationLog.js';
import { smsLogProjection } from './smsLog.js';
import { smsOptOutsProjection } from './smsOptOuts.js';
import { vehiclePositionsProjection } from './vehiclePositions.js';
import { webhookEventsProjection } from './webhookEvents.js';

/**
 * Every read model the `projections` role runs, by name (`fleetgate replay NAME`). Each channel
 * issue adds its own here. `gps_tracking` is not here: it writes ClickHouse, not Postgres
 * (`projections/gpsTracking.ts`).
 */
export const projections: readonly Projection[] = [
  smsLogProjection,
  smsOptOutsProjection,
  webhookEventsProjection,
  vehiclePositionsProjection,
  deviceCommandsProjection,
  notificationQueueProjection,
  emailLogProjection,
  deviceTokensProjection,
  pushNotificationLogProjection,
];
