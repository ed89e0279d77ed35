import type { Aedes, Client } from 'aedes';
import type { AuthenticatedDevice } from '../../core/devices/registry.js';
import type { Logger } from '../../core/logger.js';
import type { errorReporter } from './errorReports.js';
import { mqttMetrics } from './metrics.js';
import { errorKind } from './refusals.js';
import { errorsTopic } from './topics.js';

/** Counts connections and errors, forgets what a gone client left, and keeps error subscribers current. */
export const watchConnections = (
  broker: Aedes,
  logger: Logger,
  deviceOf: (client: Client) => AuthenticatedDevice | undefined,
  reporter: ReturnType<typeof errorReporter>,
) => {
  // The typings leave the persistence out (default: aedes-persistence, in memory).
  const incomingStore = (broker as unknown as { persistence: { cleanIncoming?(c: Client): Promise<void> } }).persistence;
  broker.on('client', () => mqttMetrics.connections.inc());
  broker.on('clientDisconnect', (client) => {
    mqttMetrics.connections.dec();
    // Aedes keeps a persistent session's inbound QoS 2 packets (up to maxInflightInbound, payloads
    // included) until PUBREL, also after the connection is gone; a device opening persistent
    // sessions under fresh client ids would grow that store without bound (T15). We need none of
    // it: the points were appended before PUBREC, a resend is deduplicated by event id, and Aedes
    // answers PUBREL with PUBCOMP whether the packet is still stored or not.
    if (!client.clean) incomingStore.cleanIncoming?.(client).catch(() => {});
  });
  broker.on('unsubscribe', (topics, client) => {
    const device = deviceOf(client);
    if (device && topics.includes(errorsTopic(device.id))) reporter.unsubscribed(client);
  });
  // Aedes reports an error once per pending write of a dropped client (drain timeout: thousands).
  const errored = new WeakSet<Client>();
  const onError = (client: Client | null, err: Error) => {
    if (client) {
      if (errored.has(client)) return;
      errored.add(client);
    }
    const kind = errorKind(err);
    mqttMetrics.clientErrors.inc({ kind });
    logger.debug({ clientId: client?.id ?? null, kind, err: err.message }, 'mqtt connection closed on error');
  };
  broker.on('clientError', onError);
  broker.on('connectionError', onError);
};
