import type { Projection } from '../core/runners/projectionRunner.js';
import { smsLogProjection } from './smsLog.js';
import { webhookEventsProjection } from './webhookEvents.js';

/**
 * Every read model the `projections` role runs, by name (`fleetgate replay NAME`). Each channel
 * issue adds its own here.
 */
export const projections: readonly Projection[] = [smsLogProjection, webhookEventsProjection];
