import { type Static, Type } from '@sinclair/typebox';

export const SendDeviceCommandRequest = Type.Object(
  {
    command: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_.:-]+$',
      description: 'e.g. reboot, set_interval',
    }),
    payload: Type.Optional(Type.Unknown({ description: 'any JSON the device understands (max 16 KiB)' })),
    ttlSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 7 * 86_400, description: 'how long to wait for an offline device (default 1 day)' }),
    ),
  },
  { additionalProperties: false, $id: 'SendDeviceCommandRequest' },
);
export type SendDeviceCommandRequest = Static<typeof SendDeviceCommandRequest>;

export const DeviceCommandStatus = Type.Object(
  {
    id: Type.String(),
    deviceId: Type.String(),
    command: Type.String(),
    payload: Type.Unknown(),
    status: Type.String({ description: 'queued, delivered, acked, expired' }),
    requestedAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    deliveredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    ackedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'DeviceCommandStatus' },
);
export type DeviceCommandStatus = Static<typeof DeviceCommandStatus>;
