import { type FoldProjection, readsDomains } from '../core/runners/projectionRunner.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type DeviceCommandEvent, deviceCommandEvents } from '../schemas/events/deviceCommand.js';

/**
 * `device_commands`: downlink commands and how far they got. Expiry is not an event: a queued
 * command past `expires_at` reads as expired and is never delivered.
 */
export const deviceCommandsProjection: FoldProjection<DeviceCommandEvent> = {
  kind: 'fold',
  name: 'device_commands',
  stream: 'EVENTS',
  filterSubject: 'evt.devcmd.>',
  reads: readsDomains(deviceCommandEvents),
  async apply(tx, events) {
    const requested = events
      .filter((e) => e.type === 'device.command_requested')
      .map((e) => {
        const d = e.data;
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
      switch (e.type) {
        case 'device.command_delivered':
          await tx`UPDATE device_commands SET status = CASE WHEN status = 'acked' THEN status ELSE 'delivered' END,
                     delivered_at = coalesce(delivered_at, ${e.time}), last_seq = ${e.seq}
                   WHERE id = ${e.data.commandId}`;
          break;
        case 'device.command_acked':
          await tx`UPDATE device_commands SET status = 'acked', acked_at = coalesce(acked_at, ${e.time}),
                     delivered_at = coalesce(delivered_at, ${e.time}), last_seq = ${e.seq}
                   WHERE id = ${e.data.commandId}`;
          break;
        // Inserted above, all of a batch's commands before their outcomes.
        case 'device.command_requested':
          break;
        default:
          unhandledEvent(e);
      }
    }
  },
  async reset(tx) {
    await tx`TRUNCATE device_commands`;
  },
};
