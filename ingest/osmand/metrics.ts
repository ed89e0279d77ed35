import { Counter } from 'prom-client';
import { registry } from '../../core/metrics.js';

/**
 * Why the OsmAnd intake refused a whole request (point refusals are counted by reason code in
 * `fleetgate_gps_points_refused_total{source="osmand"}`).
 */
export type OsmandRefusal =
  | 'missing_device_id'
  | 'unknown_device'
  | 'body_too_large'
  | 'registry_unavailable'
  | 'log_unavailable'
  | 'overloaded'
  | 'shutting_down';

export const osmandMetrics = {
  requests: new Counter({
    name: 'fleetgate_osmand_requests_total',
    help: 'OsmAnd (Traccar Client) requests answered, by variant (query, form, json) and HTTP status',
    labelNames: ['variant', 'status'] as const,
    registers: [registry],
  }),
  refusals: new Counter({
    name: 'fleetgate_osmand_refusals_total',
    help: 'OsmAnd requests refused before or after validation, by reason (unknown_device: a guessed or public id)',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
};
