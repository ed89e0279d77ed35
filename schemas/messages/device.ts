import { type Static, Type } from '@sinclair/typebox';

/**
 * What devices and driver phones send and receive (ARCHITECTURE.md "External contract"): MQTT
 * topics `v1/devices/{deviceId}/…` and the WebSocket `/v1/ws/driver`. Declared here for the
 * event catalogue (`/asyncapi.json`); the intake parses them by hand for speed
 * (`ingest/gps/parsePoints.ts`, whose refusal reasons `test/api/asyncapi.test.ts` compares).
 */

const TIME = Type.Union([
  Type.Integer({ minimum: 946_684_800_000, description: 'epoch milliseconds (UTC), from 2000-01-01' }),
  Type.String({ maxLength: 40, description: 'ISO-8601 with a zone, e.g. 2026-12-03T09:10:11Z' }),
]);

/** One position fix, in the device's units (the gateway's own: km/h, degrees, metres, percent). */
export const DevicePoint = Type.Object(
  {
    ts: TIME,
    lat: Type.Number({ minimum: -90, maximum: 90, description: 'degrees' }),
    lon: Type.Number({ minimum: -180, maximum: 180, description: 'degrees' }),
    speed: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000, description: 'km/h' })),
    heading: Type.Optional(Type.Number({ minimum: 0, maximum: 360, description: 'degrees from north' })),
    alt: Type.Optional(Type.Number({ minimum: -12_000, maximum: 100_000, description: 'metres' })),
    accuracy: Type.Optional(Type.Number({ minimum: 0, description: 'metres' })),
    battery: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'percent' })),
    satellites: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    id: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Integer()], {
        description: 'the device’s message id: a resend with the same id is stored once',
      }),
    ),
  },
  {
    description: 'Other scalar fields are kept as attributes (up to 32); objects and long strings are dropped.',
    additionalProperties: true,
  },
);
export type DevicePoint = Static<typeof DevicePoint>;

/** `v1/devices/{deviceId}/location`: one fix or a buffer of them (each accepted or refused on its own). */
export const LocationPayload = Type.Union([DevicePoint, Type.Array(DevicePoint, { minItems: 1, maxItems: 1_000 })]);

/** Stable reason codes of a refused point (or message); devices and dashboards match on these. */
export const REFUSAL_REASONS = [
  'malformed_json',
  'not_an_object',
  'too_many_points',
  'missing_field',
  'invalid_field',
  'invalid_time',
  'future_time',
  'lat_out_of_range',
  'lon_out_of_range',
  'speed_out_of_range',
  'heading_out_of_range',
  'alt_out_of_range',
  'accuracy_out_of_range',
  'battery_out_of_range',
  'satellites_out_of_range',
] as const;

/** Why a point (or a whole message) was refused. */
export const RefusalReason = Type.Union(REFUSAL_REASONS.map((r) => Type.Literal(r)));

/** `v1/devices/{deviceId}/errors` (QoS 0, only to a device that subscribed): one refused point. */
export const MqttErrorReport = Type.Object(
  {
    reason: RefusalReason,
    index: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'the point’s position in the message' }),
    id: Type.Union([Type.String(), Type.Null()], { description: 'the point’s own id, when it had one' }),
    detail: Type.String(),
  },
  { additionalProperties: false },
);

/** `v1/devices/{deviceId}/commands` (QoS 1): a downlink command from `POST /api/v1/devices/{id}/commands`. */
export const MqttCommand = Type.Object(
  {
    id: Type.String({ description: 'the command id; PUBACK marks it acked' }),
    command: Type.String({ minLength: 1, maxLength: 64 }),
    payload: Type.Unknown({ description: 'as the CRM sent it, or null' }),
  },
  { additionalProperties: false },
);

/** `/v1/ws/driver`, phone → gateway. */
export const DriverLocation = Type.Intersect([Type.Object({ type: Type.Literal('location') }), DevicePoint]);
export const DriverLocations = Type.Object(
  { type: Type.Literal('locations'), items: Type.Array(DevicePoint, { minItems: 1, maxItems: 1_000 }) },
  { additionalProperties: false },
);

/** `/v1/ws/driver`, gateway → phone: the points the log holds now. */
export const DriverAck = Type.Object(
  { type: Type.Literal('ack'), ids: Type.Array(Type.String(), { description: 'ids of the stored points' }) },
  { additionalProperties: false },
);
/** `/v1/ws/driver`, gateway → phone: a refused message or point, or points not stored (send them again). */
export const DriverError = Type.Object(
  {
    type: Type.Literal('error'),
    code: Type.String({ description: 'a refusal reason, `device_mismatch`, `unknown_type`, or why nothing was stored' }),
    reason: Type.String(),
    ids: Type.Array(Type.String()),
    index: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
  },
  { additionalProperties: false },
);
