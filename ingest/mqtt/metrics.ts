import { Counter, Gauge } from 'prom-client';
import { registry } from '../../core/metrics.js';

/**
 * Why the broker refused something. Connection-level: rate_limited, protocol_unsupported,
 * bad_credentials, not_ready (CONNACK 3 while the log or Postgres is away), packet_too_large, malformed_packet. Per packet: publish_forbidden,
 * subscribe_forbidden, log_unavailable (no PUBACK), overloaded.
 */
export type MqttRefusal =
  | 'rate_limited'
  | 'protocol_unsupported'
  | 'bad_credentials'
  | 'not_ready'
  | 'packet_too_large'
  | 'malformed_packet'
  | 'publish_forbidden'
  | 'subscribe_forbidden'
  | 'log_unavailable'
  | 'overloaded';

export const mqttMetrics = {
  refusals: new Counter({
    name: 'fleetgate_mqtt_refusals_total',
    help: 'MQTT connections, publishes and subscribes refused, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  keepaliveCapped: new Counter({
    name: 'fleetgate_mqtt_keepalive_capped_total',
    help: 'CONNECTs whose keep-alive (0 or above MQTT_KEEPALIVE_MAX_SECONDS) was lowered to the maximum',
    registers: [registry],
  }),
  clientErrors: new Counter({
    name: 'fleetgate_mqtt_client_errors_total',
    help: 'MQTT connections closed on an error, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  }),
  connections: new Gauge({
    name: 'fleetgate_mqtt_connections',
    help: 'Authenticated MQTT connections',
    registers: [registry],
  }),
  errorReportsDropped: new Counter({
    name: 'fleetgate_mqtt_error_reports_dropped_total',
    help: 'Reports on v1/devices/{id}/errors not sent because the device is not reading what it was sent already',
    registers: [registry],
  }),
  qos0Lost: new Counter({
    name: 'fleetgate_mqtt_qos0_points_lost_total',
    help: 'QoS 0 points whose append failed (the device is never told)',
    registers: [registry],
  }),
  intakePauses: new Counter({
    name: 'fleetgate_mqtt_intake_pauses_total',
    help: 'Times the GPS intake saturated and the broker stopped reading from sockets',
    registers: [registry],
  }),
  pausedSockets: new Gauge({
    name: 'fleetgate_mqtt_paused_sockets',
    help: 'Sockets not read because the GPS intake is saturated',
    registers: [registry],
  }),
};
