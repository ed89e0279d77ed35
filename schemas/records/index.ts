import type { TSchema } from '@sinclair/typebox';
import { Application } from './applications.js';
import type { RecordType } from './common.js';
import { Company } from './companies.js';
import { Driver } from './drivers.js';
import { Vehicle } from './vehicles.js';

export * from './common.js';

/** The body schema of each record type (without `id`: the path or the batch item carries it). */
export const recordSchemas: Readonly<Record<RecordType, TSchema>> = {
  companies: Company,
  drivers: Driver,
  vehicles: Vehicle,
  applications: Application,
};
