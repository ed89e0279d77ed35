import { type Static, Type } from '@sinclair/typebox';
import { ERP_ENTITIES, ErpEntity } from '../events/erp.js';

/**
 * How a fleetgate field is written into an ERP attribute and read back:
 * - `text`, `number`, `bool`: as is;
 * - `money`: fleetgate's `{ amount (minor units), currency }` ↔ the ERP's decimal number;
 * - `date`: an ISO instant ↔ 1C's zone-less `2024-01-15T10:00:00` in the ERP time zone
 *   (ERP_TIME_ZONE, default NOTIFICATIONS_TIME_ZONE); the custom ERP takes ISO with offset;
 * - `ref`: a fleetgate id ↔ the ERP key of the linked object (`ref` names the entity);
 * - `enum`: fleetgate value → ERP value by `values` (and back by the inverse).
 */
export const ErpFieldKind = Type.Union(['text', 'number', 'bool', 'money', 'date', 'ref', 'enum'].map((k) => Type.Literal(k)));
export type ErpFieldKind = Static<typeof ErpFieldKind>;

export const ErpField = Type.Object(
  {
    /** The fleetgate field: a record field, or a dotted path into one (`pickup.address`). */
    crm: Type.String({ minLength: 1 }),
    /** The ERP attribute (1C: `Description`, `ИНН`, `Контрагент_Key`). */
    erp: Type.String({ minLength: 1 }),
    kind: ErpFieldKind,
    ref: Type.Optional(ErpEntity),
    values: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** Written to the ERP, never read back (e.g. a copy of the name in a second attribute). */
    pushOnly: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ErpField = Static<typeof ErpField>;

export const ErpEntityMapping = Type.Object(
  {
    /** 1C: the entity set (`Catalog_Контрагенты`, `Document_ЗаказКлиента`); custom: the path (`companies`). */
    set: Type.String({ minLength: 1 }),
    /** 1C documents are created unposted, then posted (`…/Post`). */
    document: Type.Boolean(),
    /**
     * The attribute holding the gateway's key (`gw:<entity>:<id>`): the ERP has no idempotency key,
     * so a create whose answer was lost is found by it before creating again.
     */
    keyAttribute: Type.String({ minLength: 1 }),
    fields: Type.Array(ErpField),
    /** Both sides changed since the last sync: whose version stays. The other is kept in the log. */
    conflict: Type.Union([Type.Literal('erp'), Type.Literal('crm')]),
    /** Values for required record fields that an object created in the ERP lacks. */
    defaults: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** The currency of the ERP's money attributes (ISO 4217). */
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  },
  { additionalProperties: false },
);
export type ErpEntityMapping = Static<typeof ErpEntityMapping>;

export type ErpMapping = Record<ErpEntity, ErpEntityMapping>;

/** What ERP_MAPPING_FILE may hold: per adapter, per entity, the keys to replace. */
export const ErpMappingOverride = Type.Record(
  Type.Union([Type.Literal('1c'), Type.Literal('custom')]),
  Type.Partial(Type.Record(ErpEntity, Type.Partial(ErpEntityMapping))),
);
export type ErpMappingOverride = Static<typeof ErpMappingOverride>;

const f = (crm: string, erp: string, kind: ErpFieldKind, more: Partial<ErpField> = {}): ErpField => ({ crm, erp, kind, ...more });

/**
 * Defaults for a typical 1C configuration (Управление торговлей / Бухгалтерия предприятия 3.0):
 * companies → counterparties, drivers → individuals, vehicles → the vehicles catalog, applications
 * → customer orders, payments → incoming non-cash payments. Override any of it with
 * ERP_MAPPING_FILE (INTEGRATIONS.md, "ERP / 1C").
 */
export const ONEC_MAPPING: ErpMapping = {
  companies: {
    set: 'Catalog_Контрагенты',
    document: false,
    keyAttribute: 'Комментарий',
    conflict: 'erp',
    currency: 'RUB',
    fields: [
      f('name', 'Description', 'text'),
      f('name', 'НаименованиеПолное', 'text', { pushOnly: true }),
      f('inn', 'ИНН', 'text'),
    ],
  },
  drivers: {
    set: 'Catalog_ФизическиеЛица',
    document: false,
    keyAttribute: 'Комментарий',
    conflict: 'crm',
    currency: 'RUB',
    fields: [f('name', 'Description', 'text')],
  },
  vehicles: {
    set: 'Catalog_ТранспортныеСредства',
    document: false,
    keyAttribute: 'Комментарий',
    conflict: 'crm',
    currency: 'RUB',
    fields: [
      f('plate', 'Description', 'text'),
      f('plate', 'ГосударственныйНомер', 'text', { pushOnly: true }),
      f('model', 'Марка', 'text'),
      f('companyId', 'Владелец_Key', 'ref', { ref: 'companies' }),
    ],
  },
  applications: {
    set: 'Document_ЗаказКлиента',
    document: true,
    keyAttribute: 'Комментарий',
    conflict: 'crm',
    currency: 'RUB',
    defaults: { kind: 'ride' },
    fields: [
      f('createdAt', 'Date', 'date'),
      f('companyId', 'Контрагент_Key', 'ref', { ref: 'companies' }),
      f('price', 'СуммаДокумента', 'money'),
      f('status', 'Статус', 'enum', {
        values: {
          new: 'НеСогласован',
          assigned: 'Согласован',
          in_progress: 'КВыполнению',
          completed: 'Закрыт',
          cancelled: 'Отменен',
        },
      }),
    ],
  },
  payments: {
    set: 'Document_ПоступлениеБезналичныхДенежныхСредств',
    document: true,
    keyAttribute: 'Комментарий',
    conflict: 'erp',
    currency: 'RUB',
    fields: [
      f('paidAt', 'Date', 'date'),
      f('amount', 'СуммаДокумента', 'money'),
      f('orderId', 'ЗаказКлиента_Key', 'ref', { ref: 'applications' }),
      f('description', 'НазначениеПлатежа', 'text'),
    ],
  },
};

/** Defaults for a custom REST ERP: snake_case fields, ISO dates with offset, decimal amounts. */
export const CUSTOM_MAPPING: ErpMapping = {
  companies: {
    set: 'companies',
    document: false,
    keyAttribute: 'external_id',
    conflict: 'erp',
    currency: 'RUB',
    fields: [f('name', 'name', 'text'), f('inn', 'inn', 'text'), f('phone', 'phone', 'text'), f('email', 'email', 'text')],
  },
  drivers: {
    set: 'drivers',
    document: false,
    keyAttribute: 'external_id',
    conflict: 'crm',
    currency: 'RUB',
    fields: [
      f('name', 'full_name', 'text'),
      f('phone', 'phone', 'text'),
      f('companyId', 'company_id', 'ref', { ref: 'companies' }),
    ],
  },
  vehicles: {
    set: 'vehicles',
    document: false,
    keyAttribute: 'external_id',
    conflict: 'crm',
    currency: 'RUB',
    fields: [f('plate', 'plate', 'text'), f('model', 'model', 'text'), f('companyId', 'company_id', 'ref', { ref: 'companies' })],
  },
  applications: {
    set: 'orders',
    document: false,
    keyAttribute: 'external_id',
    conflict: 'crm',
    currency: 'RUB',
    defaults: { kind: 'ride' },
    fields: [
      f('createdAt', 'created_at', 'date'),
      f('status', 'status', 'text'),
      f('price', 'amount', 'money'),
      f('companyId', 'company_id', 'ref', { ref: 'companies' }),
    ],
  },
  payments: {
    set: 'payments',
    document: false,
    keyAttribute: 'external_id',
    conflict: 'erp',
    currency: 'RUB',
    fields: [
      f('paidAt', 'paid_at', 'date'),
      f('amount', 'amount', 'money'),
      f('orderId', 'order_id', 'ref', { ref: 'applications' }),
    ],
  },
};

export const DEFAULT_ERP_MAPPINGS: Readonly<Record<'1c' | 'custom', ErpMapping>> = { '1c': ONEC_MAPPING, custom: CUSTOM_MAPPING };

/** The defaults with an override's keys replaced, entity by entity. */
export const mergeErpMapping = (type: '1c' | 'custom', override: ErpMappingOverride | undefined): ErpMapping => {
  const base = DEFAULT_ERP_MAPPINGS[type];
  const over: Partial<Record<ErpEntity, Partial<ErpEntityMapping>>> = override?.[type] ?? {};
  return Object.fromEntries(ERP_ENTITIES.map((e) => [e, { ...base[e], ...(over[e] ?? {}) }])) as ErpMapping;
};
