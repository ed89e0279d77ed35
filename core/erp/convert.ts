import type { ErpEntityMapping, ErpField } from '../../schemas/erp/mapping.js';
import type { ErpEntity } from '../../schemas/events/erp.js';
import { fromWallTime, toWallTime } from './zonedTime.js';

/** 1C's empty reference: an unset `<Attr>_Key`. */
export const EMPTY_REF = '00000000-0000-0000-0000-000000000000';

/** The gateway's own key of a record, kept in the mapping's `keyAttribute` of its ERP object. */
export const gatewayKey = (entity: ErpEntity, crmId: string) => `gw:${entity}:${crmId}`;

/** Finds the other side's key of a referenced object (through `erp_links`). */
export interface RefResolver {
  toErp(entity: ErpEntity, crmId: string): Promise<string | undefined>;
  toCrm(entity: ErpEntity, erpKey: string): Promise<string | undefined>;
}

export interface ConvertOptions {
  /** `1c`: dates as zone-less wall time in `timeZone`; `custom`: ISO-8601 with offset. */
  dates: 'wall' | 'iso';
  timeZone: string;
  refs: RefResolver;
}

const get = (o: Record<string, unknown>, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);

const set = (o: Record<string, unknown>, path: string, value: unknown) => {
  const keys = path.split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1] as string] = value;
};

const digitsOf = (currency: string) => {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
};

/** A mapping error: the record cannot be written as the mapping says (the item fails, the run goes on). */
export class ErpMappingError extends Error {}

const toErpValue = async (field: ErpField, v: unknown, m: ErpEntityMapping, o: ConvertOptions): Promise<unknown> => {
  if (v === undefined || v === null) return field.kind === 'ref' && o.dates === 'wall' ? EMPTY_REF : null;
  switch (field.kind) {
    case 'money': {
      const money = v as { amount?: unknown; currency?: unknown };
      if (typeof money.amount !== 'number') throw new ErpMappingError(`${field.crm}: not an amount`);
      const currency = typeof money.currency === 'string' ? money.currency : m.currency;
      if (currency !== m.currency) throw new ErpMappingError(`${field.crm}: ${currency}, the ERP keeps ${m.currency}`);
      return money.amount / 10 ** digitsOf(currency);
    }
    case 'date':
      return o.dates === 'wall' ? toWallTime(String(v), o.timeZone) : new Date(String(v)).toISOString();
    case 'ref': {
      if (!field.ref) throw new ErpMappingError(`${field.crm}: a ref without its entity`);
      const key = await o.refs.toErp(field.ref, String(v));
      // The referenced object is not in the ERP yet: leave the reference empty rather than fail.
      return key ?? (o.dates === 'wall' ? EMPTY_REF : null);
    }
    case 'enum': {
      const mapped = field.values?.[String(v)];
      if (mapped === undefined) throw new ErpMappingError(`${field.crm}: no ERP value for ${String(v)}`);
      return mapped;
    }
    case 'number':
      return Number(v);
    case 'bool':
      return Boolean(v);
    default:
      return String(v);
  }
};

/** A fleetgate record (or payment view) as the ERP object's attributes, the gateway key included. */
export const toErpFields = async (
  m: ErpEntityMapping,
  record: Record<string, unknown>,
  key: string,
  o: ConvertOptions,
): Promise<Record<string, unknown>> => {
  const out: Record<string, unknown> = { [m.keyAttribute]: key };
  for (const field of m.fields) out[field.erp] = await toErpValue(field, get(record, field.crm), m, o);
  return out;
};

const fromErpValue = async (field: ErpField, v: unknown, m: ErpEntityMapping, o: ConvertOptions): Promise<unknown> => {
  if (v === undefined || v === null || v === '' || v === EMPTY_REF) return null;
  switch (field.kind) {
    case 'money': {
      const n = typeof v === 'number' ? v : Number(v);
      if (!Number.isFinite(n) || n < 0) throw new ErpMappingError(`${field.erp}: not an amount: ${String(v)}`);
      return { amount: Math.round(n * 10 ** digitsOf(m.currency)), currency: m.currency };
    }
    case 'date':
      return o.dates === 'wall' ? fromWallTime(String(v), o.timeZone) : new Date(String(v)).toISOString();
    case 'ref':
      return field.ref ? ((await o.refs.toCrm(field.ref, String(v))) ?? null) : null;
    case 'enum': {
      const found = Object.entries(field.values ?? {}).find(([, erp]) => erp === v);
      if (!found) throw new ErpMappingError(`${field.erp}: no fleetgate value for ${String(v)}`);
      return found[0];
    }
    case 'number':
      return Number(v);
    case 'bool':
      return Boolean(v);
    default:
      return String(v);
  }
};

/** The record fields an ERP object sets (push-only fields skipped); other fields stay as they were. */
export const fromErpFields = async (
  m: ErpEntityMapping,
  erp: Record<string, unknown>,
  o: ConvertOptions,
): Promise<Record<string, unknown>> => {
  const out: Record<string, unknown> = {};
  for (const field of m.fields) {
    if (field.pushOnly || !(field.erp in erp)) continue;
    set(out, field.crm, await fromErpValue(field, erp[field.erp], m, o));
  }
  return out;
};

/** Drops nulls an optional field may not hold as null inside nested objects; top-level nulls are allowed by `Opt`. */
export const withoutNulls = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
