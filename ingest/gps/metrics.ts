import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../../core/metrics.js';

/** GPS intake, shared by the MQTT, WebSocket and OsmAnd ingest. */
export const gpsMetrics = {
  pointsAccepted: new Counter({
    name: 'fleetgate_gps_points_accepted_total',
    help: 'Points that passed validation and were queued for the GPS stream, by source',
    labelNames: ['source'] as const,
    registers: [registry],
  }),
  pointsRefused: new Counter({
    name: 'fleetgate_gps_points_refused_total',
    help: 'Points (or whole messages) refused by validation, by source and reason code',
    labelNames: ['source', 'reason'] as const,
    registers: [registry],
  }),
  pendingPoints: new Gauge({
    name: 'fleetgate_gps_pending_points',
    help: 'Points waiting for a GPS-stream append (not counting the append in flight)',
    labelNames: ['source'] as const,
    registers: [registry],
  }),
  batchPoints: new Histogram({
    name: 'fleetgate_gps_batch_points',
    help: 'Points per acknowledged GPS-stream append',
    labelNames: ['source'] as const,
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000],
    registers: [registry],
  }),
  appendSeconds: new Histogram({
    name: 'fleetgate_gps_append_duration_seconds',
    help: 'Time from sending a GPS batch to the log until it was acknowledged',
    labelNames: ['source'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
  durableSeconds: new Histogram({
    name: 'fleetgate_gps_durable_seconds',
    help: "Time from a message's points being queued for the GPS stream until they are durable (its ack follows at once), by source",
    labelNames: ['source'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
};
