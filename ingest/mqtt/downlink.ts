import type { Aedes, Client } from 'aedes';
import { derivedMsgId, newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { resumingFollow } from '../../core/eventlog/resumingFollow.js';
import type { Logger } from '../../core/logger.js';
import type { Sql } from '../../core/stores/postgres.js';
import { unhandledEvent } from '../../schemas/events/define.js';
import {
  DEVICE_COMMAND_ACKED,
  DEVICE_COMMAND_DELIVERED,
  type DeviceCommandOutcome,
  deviceCommandEvents,
  deviceCommandSubject,
} from '../../schemas/events/deviceCommand.js';

export interface DownlinkOptions {
  log: EventLog;
  sql: Sql;
  broker: Aedes;
  logger: Logger;
  /** This process, named in delivery events. */
  node: string;
  /** The device a connected client authenticated as. */
  deviceIdOf(client: Client): string | undefined;
}

interface Pending {
  id: string;
  deviceId: string;
  command: string;
  payload: unknown;
  expiresAt: number;
}

const RECENT_MS = 120_000;

/**
 * Delivers `device.command_requested` to the device, from whichever ingest process holds its
 * connection: every process follows the commands (through the event log – JetStream in the
 * distributed mode) and publishes only to devices connected to it, QoS 1, straight to that
 * client (never through Aedes' fan-out). A device that connects later gets what is still queued
 * (read model `device_commands`, plus commands seen here but not projected yet). `delivered`
 * means written to the device at QoS 1; `acked` is recorded when the device's PUBACK names the
 * message, which Aedes reports only for persistent sessions (clean=false; it also re-sends
 * unacknowledged messages to those on reconnect). A clean-session device's status stops at
 * delivered. Delivery is at least once; the message carries the command id for the device to
 * drop a repeat.
 */
export const startDownlink = async (opts: DownlinkOptions) => {
  const { log, sql, broker, logger, node } = opts;
  const dlog = logger.child({ part: 'downlink' });
  const listening = new Map<string, Client>();
  const recent = new Map<string, Pending & { seenAt: number }>();
  const sent = new Set<string>();
  const abort = new AbortController();
  const commandsTopic = (deviceId: string) => `v1/devices/${deviceId}/commands`;

  const record = async (type: string, c: { id: string; deviceId: string }) => {
    const subject = deviceCommandSubject(c.deviceId);
    const data: DeviceCommandOutcome = { commandId: c.id, deviceId: c.deviceId, node };
    await log.append(subject, newEvent({ type, subject, source: `ingest/${node}`, data, causationId: c.id }), {
      msgId: derivedMsgId(c.id, type),
    });
  };

  /** `again`: a reconnecting device gets what is still queued even if this process wrote it before. */
  const deliver = (client: Client, c: Pending, again = false) => {
    if ((sent.has(c.id) && !again) || c.expiresAt < Date.now()) return;
    sent.add(c.id);
    if (sent.size > 100_000) sent.clear();
    const payload = JSON.stringify({ id: c.id, command: c.command, payload: c.payload ?? null });
    client.publish(
      { cmd: 'publish', topic: commandsTopic(c.deviceId), payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
      (err?: Error) => {
        if (err) {
          sent.delete(c.id);
          dlog.warn({ err, commandId: c.id }, 'command not written to the device');
          return;
        }
        record(DEVICE_COMMAND_DELIVERED, c).catch((e) => dlog.error({ err: e, commandId: c.id }, 'recording delivery failed'));
      },
    );
  };

  const deliverQueued = async (deviceId: string, client: Client) => {
    const rows = await sql<{ id: string; command: string; payload: unknown; expires_at: Date }[]>`
      SELECT id, command, payload, expires_at FROM device_commands
      WHERE device_id = ${deviceId} AND status = 'queued' AND expires_at > now()
      ORDER BY requested_at`;
    const seen = new Set(rows.map((r) => r.id));
    const queued: Pending[] = rows.map((r) => ({
      id: r.id,
      deviceId,
      command: r.command,
      payload: r.payload,
      expiresAt: r.expires_at.getTime(),
    }));
    for (const p of recent.values()) if (p.deviceId === deviceId && !seen.has(p.id)) queued.push(p);
    for (const c of queued) deliver(client, c, true);
  };

  broker.on('subscribe', (subscriptions, client) => {
    const deviceId = client && opts.deviceIdOf(client);
    if (!deviceId || !subscriptions.some((s) => s.topic === commandsTopic(deviceId))) return;
    listening.set(deviceId, client);
    deliverQueued(deviceId, client).catch((err) => dlog.error({ err, deviceId }, 'reading queued commands failed'));
  });
  broker.on('clientDisconnect', (client) => {
    const deviceId = opts.deviceIdOf(client);
    if (deviceId && listening.get(deviceId) === client) listening.delete(deviceId);
  });
  broker.on('ack', (packet, client) => {
    const deviceId = client && opts.deviceIdOf(client);
    if (!deviceId || !packet || !('topic' in packet) || packet.topic !== commandsTopic(deviceId)) return;
    try {
      const { id } = JSON.parse(String(packet.payload)) as { id: string };
      record(DEVICE_COMMAND_ACKED, { id, deviceId }).catch((err) => dlog.error({ err, commandId: id }, 'recording ack failed'));
    } catch {
      // not one of ours
    }
  });

  const from = (await log.lastSeq('EVENTS')) + 1;
  // Resumes after a log failure from where it was: a command requested meanwhile still reaches
  // its connected device now, not only at the device's next reconnect.
  const follow = resumingFollow(
    log,
    'EVENTS',
    { fromSeq: from, filterSubject: 'evt.devcmd.>', signal: abort.signal, logger: dlog, what: 'downlink' },
    (m) => {
      const now = Date.now();
      for (const [id, p] of recent) if (now - p.seenAt > RECENT_MS) recent.delete(id);
      for (const e of m.events) {
        if (!deviceCommandEvents.is(e)) continue;
        switch (e.type) {
          case 'device.command_requested': {
            const d = e.data;
            const c: Pending = { id: e.id, deviceId: d.deviceId, command: d.command, payload: d.payload, expiresAt: d.expiresAt };
            recent.set(c.id, { ...c, seenAt: now });
            const client = listening.get(d.deviceId);
            if (client) deliver(client, c);
            break;
          }
          case 'device.command_delivered':
          case 'device.command_acked':
            recent.delete(e.data.commandId);
            break;
          default:
            unhandledEvent(e);
        }
      }
    },
  ).catch((err) => {
    if (!abort.signal.aborted) dlog.error({ err }, 'downlink follower stopped');
  });

  return {
    async close() {
      abort.abort();
      await follow;
    },
  };
};
