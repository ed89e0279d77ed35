import { type Static, Type } from '@sinclair/typebox';
import { GpsSource } from '../events/gps.js';

const TIME = 'epoch milliseconds (UTC) or an ISO-8601 instant';
const Nullable = (t: ReturnType<typeof Type.Number>) => Type.Union([t, Type.Null()]);

export const PositionsQuery = Type.Object(
  {
    ids: Type.Optional(Type.String({ maxLength: 65_000, description: 'comma-separated device ids (default: all)' })),
    since: Type.Optional(
      Type.String({ maxLength: 40, description: `only vehicles whose last fix is at or after this; ${TIME}` }),
    ),
  },
  { additionalProperties: false },
);
export type PositionsQuery = Static<typeof PositionsQuery>;

export const VehiclePosition = Type.Object(
  {
    deviceId: Type.String(),
    ts: Type.Integer({ description: 'fix time, ms since the epoch (UTC)' }),
    lat: Type.Number(),
    lon: Type.Number(),
    speed: Nullable(Type.Number({ description: 'km/h' })),
    heading: Nullable(Type.Number({ description: 'degrees from north' })),
    alt: Nullable(Type.Number({ description: 'metres' })),
    accuracy: Nullable(Type.Number({ description: 'metres' })),
    battery: Nullable(Type.Number({ description: 'percent' })),
    source: GpsSource,
    receivedAt: Type.Integer({ description: 'when the gateway received the fix, ms since the epoch' }),
    online: Type.Boolean({ description: 'the last fix is at most GPS_OFFLINE_AFTER seconds old' }),
    plate: Type.Union([Type.String(), Type.Null()], {
      description: 'the plate of the CRM vehicle whose gpsDeviceIds list this device (null: none known)',
    }),
    driverName: Type.Union([Type.String(), Type.Null()], { description: "that vehicle's current driver (null: none known)" }),
  },
  { $id: 'VehiclePosition' },
);
export type VehiclePosition = Static<typeof VehiclePosition>;

export const VehiclePositions = Type.Object({ positions: Type.Array(VehiclePosition) }, { $id: 'VehiclePositions' });

export const TrackQuery = Type.Object(
  {
    from: Type.String({ maxLength: 40, description: `start (inclusive); ${TIME}` }),
    to: Type.String({ maxLength: 40, description: `end (inclusive), after from, at most 31 days later; ${TIME}` }),
    maxPoints: Type.Optional(
      Type.Integer({ minimum: 2, maximum: 100_000, description: 'downsample to at most this many points (first and last kept)' }),
    ),
    format: Type.Optional(
      Type.Union([Type.Literal('json'), Type.Literal('geojson'), Type.Literal('gpx')], {
        description: 'geojson: a Feature; gpx: GPX 1.1',
      }),
    ),
  },
  { additionalProperties: false },
);
export type TrackQuery = Static<typeof TrackQuery>;

export const TrackPoint = Type.Object(
  {
    ts: Type.Integer({ description: 'fix time, ms since the epoch (UTC)' }),
    lat: Type.Number(),
    lon: Type.Number(),
    speed: Nullable(Type.Number()),
    heading: Nullable(Type.Number()),
    alt: Nullable(Type.Number()),
    accuracy: Nullable(Type.Number()),
    battery: Nullable(Type.Number()),
    source: Type.String(),
  },
  { $id: 'TrackPoint' },
);
export type TrackPoint = Static<typeof TrackPoint>;

export const Track = Type.Object({ deviceId: Type.String(), points: Type.Array(TrackPoint) }, { $id: 'Track' });
export type Track = Static<typeof Track>;

export const TrackFeature = Type.Object(
  {
    type: Type.Literal('Feature'),
    geometry: Type.Object({
      type: Type.Literal('LineString'),
      coordinates: Type.Array(Type.Array(Type.Number(), { description: '[lon, lat]' })),
    }),
    properties: Type.Object({
      deviceId: Type.String(),
      times: Type.Array(Type.Integer(), { description: 'fix time of each coordinate, ms since the epoch' }),
    }),
  },
  { $id: 'TrackFeature', description: 'GeoJSON Feature (RFC 7946) with a LineString' },
);
export type TrackFeature = Static<typeof TrackFeature>;
