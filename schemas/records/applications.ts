import { type Static, Type } from '@sinclair/typebox';
import { Instant, Opt, Ref, recordBase, Text } from './common.js';

export const APPLICATION_STATUSES = ['new', 'assigned', 'in_progress', 'completed', 'cancelled'] as const;
export const ApplicationStatus = Type.Union(APPLICATION_STATUSES.map((s) => Type.Literal(s)));

/** Money as integer minor units (kopecks, cents) and an ISO 4217 code: never a float. */
export const Money = Type.Object(
  {
    amount: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'integer minor units' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', maxLength: 3, description: 'ISO 4217, e.g. RUB' }),
  },
  { additionalProperties: false },
);

export const Place = Type.Object(
  {
    address: Text(1000),
    lat: Opt(Type.Number({ minimum: -90, maximum: 90 })),
    lon: Opt(Type.Number({ minimum: -180, maximum: 180 })),
  },
  { additionalProperties: false },
);

/** An application: the CRM's order for a ride or a delivery. Payments join it by `orderId` = its id. */
export const Application = Type.Object(
  {
    ...recordBase,
    kind: Type.Union([Type.Literal('ride'), Type.Literal('delivery')]),
    status: ApplicationStatus,
    price: Opt(Money),
    companyId: Opt(Ref),
    driverId: Opt(Ref),
    vehicleId: Opt(Ref),
    pickup: Opt(Place),
    dropoff: Opt(Place),
    createdAt: Instant,
    assignedAt: Opt(Instant),
    completedAt: Opt(Instant),
  },
  { additionalProperties: false, $id: 'ApplicationRecord' },
);
export type Application = Static<typeof Application>;
