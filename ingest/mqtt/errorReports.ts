import type { Client } from 'aedes';
import type { AuthenticatedDevice } from '../../core/devices/registry.js';
import type { Refusal } from '../gps/parsePoints.js';
import { mqttMetrics } from './metrics.js';
import { errorsTopic } from './topics.js';

/** Error reports per PUBLISH; the counter still counts every refused point. */
const MAX_ERROR_REPORTS = 16;
/**
 * Error-report bytes handed to a client's socket and not yet flushed to the kernel. A device that
 * stops reading while it keeps sending bad points would otherwise make this process buffer ~45×
 * what it sends (16 reports for a 40-byte message) until `drainTimeout` drops it: 18 MB in under
 * 2 s from one client in test T16. Reports are QoS 0, so beyond this they are dropped (counted).
 */
const MAX_ERROR_BACKLOG_BYTES = 1_048_576;

/**
 * Refused points reported on `v1/devices/{id}/errors`, only to a client that subscribed there:
 * firmware that never asked may choke on an unexpected PUBLISH.
 */
export const errorReporter = (brokerId: () => string) => {
  const subscribers = new WeakSet<Client>();
  /** Bytes of error reports per client written to its socket and not yet flushed (MAX_ERROR_BACKLOG_BYTES). */
  const backlogOf = new WeakMap<Client, number>();
  let reportCounter = 0;

  const report = (client: Client, device: AuthenticatedDevice, refusals: readonly Refusal[]) => {
    if (!subscribers.has(client)) return;
    const reports = refusals.slice(0, MAX_ERROR_REPORTS);
    let backlog = backlogOf.get(client) ?? 0;
    if (backlog > MAX_ERROR_BACKLOG_BYTES) {
      mqttMetrics.errorReportsDropped.inc(reports.length);
      return;
    }
    for (const r of reports) {
      const payload = Buffer.from(JSON.stringify({ reason: r.reason, index: r.index, id: r.pointId ?? null, detail: r.detail }));
      // Aedes calls back once the bytes are with the kernel, or after the socket drained (or was dropped).
      const size = payload.length + errorsTopic(device.id).length + 4;
      backlog += size;
      // Aedes drops a packet for a client that already got one with a higher (brokerId, brokerCounter)
      // (its dedupe). A QoS 1 command to a persistent session waits for the session store before
      // that check, so a report created after it but written first made Aedes drop the command and
      // call back as if it was sent (downlink recorded it delivered). Reports count on their own.
      const packet = { cmd: 'publish', topic: errorsTopic(device.id), payload, qos: 0, retain: false, dup: false } as const;
      client.publish(Object.assign(packet, { brokerId: `${brokerId()}/errors`, brokerCounter: ++reportCounter }), () =>
        backlogOf.set(client, (backlogOf.get(client) ?? size) - size),
      );
    }
    backlogOf.set(client, backlog);
  };

  return {
    report,
    subscribed: (client: Client) => void subscribers.add(client),
    unsubscribed: (client: Client) => void subscribers.delete(client),
  };
};
