import type { Aedes, Client, PublishPacket } from 'aedes';
import type { Config } from '../../core/config.js';
import type { AuthenticatedDevice } from '../../core/devices/registry.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { GpsIntakeOverloadedError, gpsBatcher, gpsEvent } from '../gps/batcher.js';
import { gpsMetrics } from '../gps/metrics.js';
import { parsePoints } from '../gps/parsePoints.js';
import type { errorReporter } from './errorReports.js';
import { mqttMetrics } from './metrics.js';
import { refused } from './refusals.js';
import type { readGate } from './socketGuard.js';
import { locationTopic } from './topics.js';

export interface LocationIntakeOptions {
  config: Pick<Config, 'mqtt' | 'gps'>;
  log: EventLog;
  logger: Logger;
  now: () => number;
  /** Sockets stop being read while the batcher is saturated. */
  gate: ReturnType<typeof readGate>;
  isClosing(): boolean;
  deviceOf(client: Client): AuthenticatedDevice | undefined;
  reporter: ReturnType<typeof errorReporter>;
  maxPendingPoints: number | undefined;
}

/**
 * The publish path: a device's PUBLISH to its location topic is parsed, refused points are
 * reported, accepted ones are appended (batched) before Aedes sends the PUBACK.
 */
export const locationIntake = (opts: LocationIntakeOptions) => {
  const { config, logger, gate } = opts;
  const batcher = gpsBatcher({
    log: opts.log,
    source: 'mqtt',
    maxPoints: config.gps.batchMaxPoints,
    maxMs: config.gps.batchMaxMs,
    maxInFlight: config.gps.appendsInFlight,
    maxPending: opts.maxPendingPoints ?? 4 * Math.max(config.gps.batchMaxPoints, config.gps.maxPointsPerMessage),
    onPressure: (saturated) => {
      logger.warn(
        { saturated, pending: batcher.pending },
        saturated ? 'GPS intake saturated: sockets paused' : 'GPS intake drained',
      );
      if (saturated) gate.close();
      else if (!opts.isClosing()) setImmediate(() => !opts.isClosing() && gate.reopen()); // not inside the batcher's own call
    },
    onAppendError: (err, points) => logger.error({ err, points }, 'GPS append failed'),
  });
  /** Location packets already appended: Aedes' publish pipeline must skip them. */
  const consumed = new WeakSet<object>();

  /** Aedes' `authorizePublish`: resolves once the points are in the log (QoS 1 and 2). */
  const onPublish = async (client: Client | null, packet: PublishPacket) => {
    const device = client ? opts.deviceOf(client) : undefined;
    if (!client || !device || packet.topic !== locationTopic(device.id)) {
      throw refused('publish_forbidden', `publish to "${packet.topic.slice(0, 120)}" is not allowed`);
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length > config.mqtt.maxPacketBytes) {
      throw refused('packet_too_large', `payload of ${payload.length} bytes exceeds ${config.mqtt.maxPacketBytes}`);
    }
    consumed.add(packet);
    const parsed = parsePoints(payload, {
      deviceId: device.id,
      source: 'mqtt',
      now: opts.now(),
      maxFutureMs: config.gps.maxFutureMs,
      maxPoints: config.gps.maxPointsPerMessage,
    });
    for (const r of parsed.refused) gpsMetrics.pointsRefused.inc({ source: 'mqtt', reason: r.reason });
    if (parsed.refused.length > 0) opts.reporter.report(client, device, parsed.refused);
    if (parsed.accepted.length === 0) return;
    gpsMetrics.pointsAccepted.inc({ source: 'mqtt' }, parsed.accepted.length);
    const appended = batcher.add(parsed.accepted.map(gpsEvent));
    if (packet.qos === 0) {
      appended.catch(() => mqttMetrics.qos0Lost.inc(parsed.accepted.length));
      return;
    }
    try {
      await appended;
    } catch (e) {
      throw refused(
        e instanceof GpsIntakeOverloadedError ? 'overloaded' : 'log_unavailable',
        `points not appended: ${(e as Error).message}`,
      );
    }
  };

  /**
   * Positions never take Aedes' route (retained store, offline queue, mqemitter): they are in the
   * log already, and its fan-out does not keep up at volume (issue #4).
   */
  const bypassFanOut = (broker: Aedes) => {
    // The typings know only publish(packet, cb); the JS also takes the publishing client in between.
    type PublishFn = (p: PublishPacket, c: Client | null, done?: (e?: Error) => void) => void;
    const publish = broker.publish.bind(broker) as unknown as PublishFn;
    (broker as unknown as { publish: PublishFn }).publish = (packet, client, done) => {
      if (consumed.has(packet)) return done?.();
      publish(packet, client, done);
    };
  };

  return { onPublish, bypassFanOut, close: () => batcher.close() };
};
