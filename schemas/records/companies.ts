import { type Static, Type } from '@sinclair/typebox';
import { Opt, Phone, recordBase, Text } from './common.js';

/** A company (fleet operator or client) in the CRM. */
export const Company = Type.Object(
  {
    ...recordBase,
    name: Text(),
    phone: Opt(Phone),
    email: Opt(Text(254)),
    inn: Opt(Type.String({ pattern: '^[0-9]{10,12}$', maxLength: 12, description: 'Russian tax id' })),
    status: Opt(Text(32)),
  },
  { additionalProperties: false, $id: 'CompanyRecord' },
);
export type Company = Static<typeof Company>;
