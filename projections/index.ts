import type { Projection } from '../core/runners/projectionRunner.js';

/**
 * Every read model the `projections` role runs, by name (`fleetgate replay NAME`). Each channel
 * issue adds its own here.
 */
export const projections: readonly Projection[] = [];
