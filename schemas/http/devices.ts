import { type Static, Type } from '@sinclair/typebox';

export const DeviceId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$',
  description: 'letters, digits and _ . : - (it is an MQTT username and a topic level), up to 64',
});
export const DeviceKind = Type.Union([Type.Literal('unit'), Type.Literal('phone')], {
  description: 'unit: a GPS unit over MQTT; phone: a driver phone (WebSocket, OsmAnd)',
});

export const CreateDeviceRequest = Type.Object(
  {
    id: DeviceId,
    kind: Type.Optional(DeviceKind),
    driverId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false, $id: 'CreateDeviceRequest' },
);
export type CreateDeviceRequest = Static<typeof CreateDeviceRequest>;

export const DeviceToken = Type.Object(
  {
    id: Type.String(),
    token: Type.String({ description: 'shown only in this answer; store it on the device' }),
    kind: DeviceKind,
  },
  { $id: 'DeviceToken' },
);

export const DeviceInfo = Type.Object(
  {
    id: Type.String(),
    kind: DeviceKind,
    driverId: Type.Union([Type.String(), Type.Null()]),
    name: Type.Union([Type.String(), Type.Null()]),
    disabled: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    rotatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'DeviceInfo' },
);
export type DeviceInfo = Static<typeof DeviceInfo>;
