import type { AedesOptions, Client } from 'aedes';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Config } from '../../core/config.js';
import type { AuthenticatedDevice, DeviceRegistry } from '../../core/devices/registry.js';
import type { Logger } from '../../core/logger.js';
import type { IntakeReadiness } from '../../core/readiness.js';
import type { errorReporter } from './errorReports.js';
import { mqttMetrics } from './metrics.js';
import { refused } from './refusals.js';
import { commandsTopic, errorsTopic } from './topics.js';

export interface DeviceAccessOptions {
  config: Pick<Config, 'mqtt'>;
  devices: Pick<DeviceRegistry, 'authenticate'>;
  logger: Logger;
  reporter: ReturnType<typeof errorReporter>;
  readiness?: IntakeReadiness;
}

/**
 * Who may connect, and to which topics: the connect limits (rate per address, keep-alive cap),
 * device authentication by the registry, and the ACL (a device subscribes only to its own
 * commands and errors topics). As Aedes hooks, plus the device each client authenticated as.
 */
export const deviceAccess = ({ config, devices, logger, reporter, readiness }: DeviceAccessOptions) => {
  const deviceOf = new WeakMap<Client, AuthenticatedDevice>();
  const limiter =
    config.mqtt.connectsPerIpPerMinute > 0
      ? new RateLimiterMemory({ points: config.mqtt.connectsPerIpPerMinute, duration: 60 })
      : undefined;

  const hooks: Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizeSubscribe' | 'authorizeForward'> = {
    preConnect(client, packet, callback) {
      if (packet.protocolVersion === 5) mqttMetrics.refusals.inc({ reason: 'protocol_unsupported' }); // Aedes sends CONNACK rc 1
      // 3.1.1 has no server keep-alive: lower the client's (the packet may be modified here), so a
      // silent half-open socket is dropped after 1.5 × the cap instead of never (keep-alive 0).
      const max = config.mqtt.keepaliveMaxSeconds;
      if (!packet.keepalive || packet.keepalive > max) {
        packet.keepalive = max;
        mqttMetrics.keepaliveCapped.inc();
      }
      if (!limiter) return callback(null, true);
      // A TCP socket, or the byte stream of a WebSocket (wsListener.ts gives it the peer's address).
      const address = (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown';
      limiter.consume(address).then(
        () => callback(null, true),
        // An error (not just `false`) makes Aedes close the socket; false alone leaves it open.
        () => callback(refused('rate_limited', `too many connects from ${address}`), false),
      );
    },

    authenticate(client, username, password, callback) {
      // Not ready (the log or Postgres is away): a device must not send points this process could
      // not keep. CONNACK 3 "server unavailable" (MQTT 3.1.1 §3.2.2.3), and it retries later,
      // through the balancer, maybe to a process that is ready.
      if (readiness && !readiness.ready()) {
        return callback(
          Object.assign(refused('not_ready', 'not ready: the event log or Postgres is unreachable'), { returnCode: 3 as const }),
          false,
        );
      }
      const id = username ?? '';
      devices.authenticate(id, password?.toString() ?? '').then(
        (device) => {
          if (!device) {
            const err = Object.assign(refused('bad_credentials', `device "${id.slice(0, 64)}" refused`), {
              returnCode: 4 as const,
            });
            return callback(err, false);
          }
          deviceOf.set(client, device);
          // A client id is a session key and Aedes closes the older holder of an id: scope a foreign
          // id under the device's own ('/' never occurs in a device id), so no device can take over
          // another's session without its token.
          if (client.id !== device.id) (client as { id: string }).id = `${device.id}/${client.id}`;
          callback(null, true);
        },
        (e: unknown) => {
          logger.error({ err: e }, 'device registry unavailable');
          callback(Object.assign(new Error('registry unavailable'), { returnCode: 3 as const }), false);
        },
      );
    },

    authorizeSubscribe(client, sub, callback) {
      const device = deviceOf.get(client);
      if (device && sub.topic === errorsTopic(device.id)) reporter.subscribed(client);
      if (device && (sub.topic === commandsTopic(device.id) || sub.topic === errorsTopic(device.id))) {
        return callback(null, sub);
      }
      mqttMetrics.refusals.inc({ reason: 'subscribe_forbidden' });
      callback(null, null); // SUBACK 0x80 for this filter; the connection stays
    },

    authorizeForward(client, packet) {
      const device = deviceOf.get(client);
      return device && (packet.topic === commandsTopic(device.id) || packet.topic === errorsTopic(device.id)) ? packet : null;
    },
  };

  return { hooks, deviceOf: (client: Client) => deviceOf.get(client) };
};
