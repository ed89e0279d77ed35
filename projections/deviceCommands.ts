import type { Projection, StoredEvent } from '../core/runners/projectionRunner.js';
import {
  DEVICE_COMMAND_ACKED,
  DEVICE_COMMAND_DELIVERED,
  DEVICE_COMMAND_REQUESTED,
  type DeviceCommandOutcome,
  type DeviceCommandRequested,
} from '../schemas/events/deviceCommand.js';

/**
 * `device_commands`: downlink commands and how far they got. Expiry is not an event: a queued
 * command past `expires_at` reads as expired and is never delivered.
 */
export const deviceCommandsProjection: Projection = {
  name: 'device_commands',
  stream: 'EVENTS',
  filterSubject: 'evt.devcmd.>',
  async apply(tx, events: readonly StoredEvent[]) {
    const requested = events
      .filter((e) => e.type === DEVICE_COMMAND_REQUESTED)
      .map((e) => {
        const d = e.data as DeviceCommandRequested;
        return {
          id: e.id,
          device_id: d.deviceId,
          command: d.command,
          payload: tx.json((d.payload ?? null) as never),
          status: 'queued',
          requested_at: e.time,
          expires_at: new Date(d.expiresAt).toISOString(),
          last_seq: e.seq,
        };
      });
    if (requested.length) await tx`INSERT INTO device_commands ${tx(requested)} ON CONFLICT (id) DO NOTHING`;
    for (const e of events) {
      const d = e.data as DeviceCommandOutcome;
      if (e.type === DEVICE_COMMAND_DELIVERED) {
        await tx`UPDATE device_commands SET status = CASE WHEN status = 'acked' THEN status ELSE 'delivered' END,
                   delivered_at = coalesce(delivered_at, ${e.time}), last_seq = ${e.seq}
                 WHERE id = ${d.commandId}`;
      } else if (e.type === DEVICE_COMMAND_ACKED) {
        await tx`UPDATE device_commands SET status = 'acked', acked_at = coalesce(acked_at, ${e.time}),
                   delivered_at = coalesce(delivered_at, ${e.time}), last_seq = ${e.seq}
                 WHERE id = ${d.commandId}`;
      }
    }
  },
  async reset(tx) {
    await tx`TRUNCATE device_commands`;
  },
};
