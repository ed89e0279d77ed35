import { type Static, Type } from '@sinclair/typebox';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

/**
 * `alert.device_offline`: a device sent nothing for `GPS_OFFLINE_AFTER` seconds (the bot's
 * detector over `vehicle_positions` appends it once per silence).
 */
export const AlertDeviceOffline = Type.Object(
  {
    deviceId: Type.String({ minLength: 1 }),
    lastSeenAt: Type.String({ format: 'date-time', description: 'the fix time of its last report' }),
    offlineAfterSeconds: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type AlertDeviceOffline = Static<typeof AlertDeviceOffline>;

/** `alert.device_online`: a device reported as offline sent a position again. */
export const AlertDeviceOnline = Type.Object(
  {
    deviceId: Type.String({ minLength: 1 }),
    offlineSince: Type.String({ format: 'date-time', description: 'the fix time of its last report before the silence' }),
    seenAt: Type.String({ format: 'date-time', description: 'the fix time of the report that ended it' }),
  },
  { additionalProperties: false },
);
export type AlertDeviceOnline = Static<typeof AlertDeviceOnline>;

/**
 * `alert.speeding`: a device's reported speed stayed over `GPS_SPEED_LIMIT_KMH` for
 * `GPS_SPEEDING_MIN_SECONDS` (once per episode; the episode ends at a report at or under the limit).
 */
export const AlertSpeeding = Type.Object(
  {
    deviceId: Type.String({ minLength: 1 }),
    startedAt: Type.String({ format: 'date-time', description: 'the first fix over the limit' }),
    seenAt: Type.String({ format: 'date-time', description: 'the fix that made it an episode' }),
    speedKmh: Type.Number({ minimum: 0 }),
    limitKmh: Type.Number({ minimum: 0 }),
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
  },
  { additionalProperties: false },
);
export type AlertSpeeding = Static<typeof AlertSpeeding>;

/** Every alert fact the gateway raises itself (payments, notifications and ERP runs raise their own). */
export const alertEvents = eventDomain({
  deviceOffline: defineEvent('alert.device_offline', AlertDeviceOffline),
  deviceOnline: defineEvent('alert.device_online', AlertDeviceOnline),
  speeding: defineEvent('alert.speeding', AlertSpeeding),
});
export type AlertEvent = EventUnion<typeof alertEvents.defs>;

export const ALERT_DEVICE_OFFLINE = alertEvents.defs.deviceOffline.type;
export const ALERT_DEVICE_ONLINE = alertEvents.defs.deviceOnline.type;
export const ALERT_SPEEDING = alertEvents.defs.speeding.type;
/** Device alerts, in the order the detector raised them. */
export const ALERT_DEVICES_SUBJECT = 'evt.alert.devices';
