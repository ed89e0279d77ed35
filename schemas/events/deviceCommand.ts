import { type Static, Type } from '@sinclair/typebox';

export const DEVICE_COMMAND_REQUESTED = 'device.command_requested';
export const DEVICE_COMMAND_DELIVERED = 'device.command_delivered';
export const DEVICE_COMMAND_ACKED = 'device.command_acked';

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
