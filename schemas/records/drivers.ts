import { type Static, Type } from '@sinclair/typebox';
import { Instant, Opt, Phone, Ref, recordBase, Text } from './common.js';

export const DriverStatus = Type.Union(['active', 'inactive', 'blocked'].map((s) => Type.Literal(s)));

/** A driver in the CRM. */
export const Driver = Type.Object(
  {
    ...recordBase,
    name: Text(),
    phone: Opt(Phone),
    companyId: Opt(Ref),
    status: Opt(DriverStatus),
    licence: Opt(
      Type.Object({ number: Text(32), categories: Opt(Text(32)), expiresAt: Opt(Instant) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false, $id: 'DriverRecord' },
);
export type Driver = Static<typeof Driver>;
