import { type Static, Type } from '@sinclair/typebox';
import { ErpDirection, ErpEntity } from '../events/erp.js';

/** CRM ids are integers in the CRM; both forms are accepted and carried as text. */
export const ErpSyncRequest = Type.Object(
  {
    entity: ErpEntity,
    direction: ErpDirection,
    ids: Type.Optional(
      Type.Array(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer({ minimum: 0 })]), {
        minItems: 1,
        maxItems: 1000,
        description: 'only these records (default: all)',
      }),
    ),
  },
  { additionalProperties: false, $id: 'ErpSyncRequest' },
);
export type ErpSyncRequest = Static<typeof ErpSyncRequest>;
