import { type MqttRefusal, mqttMetrics } from './metrics.js';

/** An error that tells Aedes to drop the connection, already counted under `reason`. */
export class MqttRefused extends Error {
  constructor(
    readonly reason: MqttRefusal,
    message: string,
  ) {
    super(message);
  }
}

export const refused = (reason: MqttRefusal, message: string) => {
  mqttMetrics.refusals.inc({ reason });
  return new MqttRefused(reason, message);
};

/** Aedes reports its own protocol errors by message only. */
export const errorKind = (e: Error & { code?: string }): string => {
  if (e instanceof MqttRefused) return 'refused';
  const m = e.message;
  if (m.includes('keep alive timeout')) return 'keepalive_timeout';
  if (m.includes('connect did not arrive')) return 'connect_timeout';
  if (m.includes('drain timeout')) return 'drain_timeout';
  if (m.includes('too many levels')) return 'topic_too_deep';
  if (/not allowed in PUBLISH|empty topic|only allowed in/.test(m)) return 'invalid_topic';
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return 'reset';
  return 'other';
};
