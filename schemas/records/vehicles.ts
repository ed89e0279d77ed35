import { type Static, Type } from '@sinclair/typebox';
import { Opt, Ref, recordBase, Text } from './common.js';

/** A vehicle in the CRM, with the GPS units that report its position (device ids as registered). */
export const Vehicle = Type.Object(
  {
    ...recordBase,
    plate: Text(32),
    model: Opt(Text(128)),
    companyId: Opt(Ref),
    driverId: Opt(Ref),
    status: Opt(Text(32)),
    gpsDeviceIds: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', maxLength: 64 }), { maxItems: 16, uniqueItems: true }),
    ),
  },
  { additionalProperties: false, $id: 'VehicleRecord' },
);
export type Vehicle = Static<typeof Vehicle>;
