import { Type } from '@sinclair/typebox';
import { GpsSource } from '../events/gps.js';

/** `/v1/ws/live` (CRM dashboards, an API key with scope `vehicles`), client → gateway. */
export const LiveSubscribe = Type.Object(
  {
    type: Type.Literal('subscribe'),
    vehicles: Type.Optional(
      Type.Union([Type.Literal('*'), Type.Array(Type.String(), { minItems: 1, maxItems: 10_000 })], {
        description: '`*` (the default) for every vehicle the key may see, or device ids',
      }),
    ),
  },
  { additionalProperties: false },
);

/** Gateway → client: the subscription is in place; every later position arrives. */
export const LiveSubscribed = Type.Object(
  { type: Type.Literal('subscribed'), vehicles: Type.Union([Type.Literal('*'), Type.Array(Type.String())]) },
  { additionalProperties: false },
);

const nullable = <T extends ReturnType<typeof Type.Number>>(t: T) => Type.Union([t, Type.Null()]);

/** Gateway → client: one accepted position. */
export const LivePosition = Type.Object(
  {
    type: Type.Literal('position'),
    deviceId: Type.String(),
    ts: Type.Integer({ description: 'fix time, ms since the epoch (UTC)' }),
    lat: Type.Number(),
    lon: Type.Number(),
    speed: nullable(Type.Number({ description: 'km/h' })),
    heading: nullable(Type.Number({ description: 'degrees from north' })),
    battery: nullable(Type.Number({ description: 'percent' })),
    source: GpsSource,
    receivedAt: Type.Integer({ description: 'ms since the epoch' }),
    plate: Type.Optional(
      Type.Union([Type.String(), Type.Null()], { description: 'the CRM vehicle carrying this unit (`vehicles` records)' }),
    ),
    driverName: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "that vehicle's current driver" })),
  },
  { additionalProperties: true },
);

/**
 * Gateway → client, right after `subscribed`: the subscribed vehicles' last known positions from
 * `vehicle_positions`, in messages of bounded size; `done` on the last one. Live positions follow.
 */
export const LiveSnapshot = Type.Object(
  {
    type: Type.Literal('snapshot'),
    positions: Type.Array(
      Type.Composite([
        Type.Omit(LivePosition, ['type']),
        Type.Object({
          online: Type.Boolean({ description: 'reported within GPS_OFFLINE_AFTER' }),
          ageMs: Type.Integer({ description: 'how long ago it last reported' }),
        }),
      ]),
    ),
    done: Type.Boolean(),
  },
  { additionalProperties: false },
);

/** Gateway → client: a vehicle went online (it reported) or offline (silent for GPS_OFFLINE_AFTER). */
export const LiveStatus = Type.Object(
  {
    type: Type.Literal('status'),
    deviceId: Type.String(),
    online: Type.Boolean(),
    lastSeen: Type.Integer({ description: 'when it last reported, ms since the epoch' }),
  },
  { additionalProperties: true },
);

/** Gateway → client: a refused message (`malformed_json`, `unknown_type`, `invalid_field`, `unavailable`). */
export const LiveError = Type.Object(
  { type: Type.Literal('error'), code: Type.String(), reason: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
