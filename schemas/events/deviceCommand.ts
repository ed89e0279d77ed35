import { type Static, Type } from '@sinclair/typebox';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

/** Downlink commands live on one subject per device, so any ingest process can follow them all. */
export const deviceCommandSubject = (deviceId: string) => `evt.devcmd.${deviceId.replace(/[.*>\s]/g, '_')}`;

export const DeviceCommandRequested = Type.Object(
  {
    deviceId: Type.String(),
    command: Type.String({ minLength: 1, maxLength: 64 }),
    payload: Type.Optional(Type.Unknown()),
    /** ms since the epoch after which it is not delivered any more. */
    expiresAt: Type.Integer(),
    requestedBy: Type.String(),
  },
  { additionalProperties: false },
);
export type DeviceCommandRequested = Static<typeof DeviceCommandRequested>;

/** Published to the device (`delivered`) or acknowledged by it with PUBACK (`acked`). */
export const DeviceCommandOutcome = Type.Object(
  { commandId: Type.String(), deviceId: Type.String(), node: Type.String() },
  { additionalProperties: false },
);
export type DeviceCommandOutcome = Static<typeof DeviceCommandOutcome>;

/** Every downlink command event, declared once: type literal and data schema. */
export const deviceCommandEvents = eventDomain({
  requested: defineEvent('device.command_requested', DeviceCommandRequested),
  delivered: defineEvent('device.command_delivered', DeviceCommandOutcome),
  acked: defineEvent('device.command_acked', DeviceCommandOutcome),
});
export type DeviceCommandEvent = EventUnion<typeof deviceCommandEvents.defs>;

export const DEVICE_COMMAND_REQUESTED = deviceCommandEvents.defs.requested.type;
export const DEVICE_COMMAND_DELIVERED = deviceCommandEvents.defs.delivered.type;
export const DEVICE_COMMAND_ACKED = deviceCommandEvents.defs.acked.type;
