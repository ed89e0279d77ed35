import { type Static, Type } from '@sinclair/typebox';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

/** Who changed the registry: the API key prefix, or nobody for the CLI. Never the token or its hash. */
const change = {
  deviceId: Type.String(),
  by: Type.Optional(Type.String()),
};

export const DeviceRegistered = Type.Object(
  {
    ...change,
    kind: Type.Union([Type.Literal('unit'), Type.Literal('phone')]),
    driverId: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type DeviceRegistered = Static<typeof DeviceRegistered>;

export const DeviceChanged = Type.Object(change, { additionalProperties: false });
export type DeviceChanged = Static<typeof DeviceChanged>;

/**
 * The device registry's audit events, on `deviceAuditSubject(id)`: every ingest thread and
 * process follows them to drop what it cached, and closes the sessions of a revoked device.
 */
export const deviceEvents = eventDomain({
  registered: defineEvent('device.registered', DeviceRegistered),
  tokenRotated: defineEvent('device.token_rotated', DeviceChanged),
  disabled: defineEvent('device.disabled', DeviceChanged),
  enabled: defineEvent('device.enabled', DeviceChanged),
});
export type DeviceEvent = EventUnion<typeof deviceEvents.defs>;

/** One subject per device: its registry changes stay in order. */
export const deviceAuditSubject = (deviceId: string) => `evt.device.${deviceId.replace(/[.*>\s]/g, '_')}`;
