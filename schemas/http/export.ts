import { type Static, Type } from '@sinclair/typebox';
import { exportFields } from '../events/export.js';

export const CreateExportRequest = Type.Object(exportFields, { additionalProperties: false, $id: 'CreateExportRequest' });
export type CreateExportRequest = Static<typeof CreateExportRequest>;
