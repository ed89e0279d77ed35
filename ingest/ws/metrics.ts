import { Counter, Gauge } from 'prom-client';
import { registry } from '../../core/metrics.js';

export const wsMetrics = {
  connections: new Gauge({
    name: 'fleetgate_ws_driver_connections',
    help: 'Driver WebSocket connections open',
    registers: [registry],
  }),
  refused: new Counter({
    name: 'fleetgate_ws_driver_refusals_total',
    help: 'Driver WebSocket upgrades, messages and points refused, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
};
