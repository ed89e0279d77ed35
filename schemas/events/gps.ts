import { type Static, Type } from '@sinclair/typebox';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

export const GpsSource = Type.Union([Type.Literal('mqtt'), Type.Literal('ws'), Type.Literal('osmand')]);
export type GpsSource = Static<typeof GpsSource>;

/** Extra device fields kept as they came (OsmAnd `ignition=true`, …): scalars only. */
export const GpsAttributes = Type.Record(
  Type.String({ maxLength: 64 }),
  Type.Union([Type.String({ maxLength: 256 }), Type.Number(), Type.Boolean()]),
);

/**
 * The gateway's own units, whatever the device sent: time in ms since the epoch (UTC), degrees,
 * km/h, metres, battery in percent.
 */
export const GpsReported = Type.Object(
  {
    deviceId: Type.String(),
    ts: Type.Integer({ description: 'fix time, ms since the epoch (UTC)' }),
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    speed: Type.Optional(Type.Number({ minimum: 0, description: 'km/h' })),
    heading: Type.Optional(Type.Number({ minimum: 0, maximum: 360, description: 'degrees from north' })),
    alt: Type.Optional(Type.Number({ description: 'metres' })),
    accuracy: Type.Optional(Type.Number({ minimum: 0, description: 'metres' })),
    battery: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'percent' })),
    satellites: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    source: GpsSource,
    receivedAt: Type.Integer({ description: 'when the gateway received it, ms since the epoch' }),
    /** The device's own message id, when it sent one (resends carry the same). */
    pointId: Type.Optional(Type.String({ maxLength: 128 })),
    attributes: Type.Optional(GpsAttributes),
  },
  { additionalProperties: false },
);
export type GpsReported = Static<typeof GpsReported>;

export const gpsSubject = (source: GpsSource) => `gps.reported.${source}`;

/** `gps.reported`: one accepted position. Appended to the GPS stream in batches (subject `gps.reported.<source>`). */
export const gpsEvents = eventDomain({
  reported: defineEvent('gps.reported', GpsReported),
});
export type GpsEvent = EventUnion<typeof gpsEvents.defs>;

export const GPS_REPORTED = gpsEvents.defs.reported.type;
