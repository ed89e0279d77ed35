/**
 * The version the mirror compares: the CRM's counter as is, or its updated_at as epoch
 * milliseconds. A date-time string was checked by the schema (`format: date-time`) before this.
 */
export const versionNumber = (v: number | string): number => (typeof v === 'number' ? v : Date.parse(v));
