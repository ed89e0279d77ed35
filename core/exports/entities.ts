import type { ExportEntity } from '../../schemas/events/export.js';
import type { ColumnDef, EntityDef, FilterDef } from './types.js';

const c = (key: string, type: ColumnDef['type'], en: string, ru: string, expr = key, width?: number): ColumnDef => ({
  key,
  type,
  en,
  ru,
  expr,
  ...(width === undefined ? {} : { width }),
});
const eq = (expr: string): FilterDef => ({ expr, op: '=', kind: 'text' });
const range = (expr: string) => ({
  date_from: { expr, op: '>=', kind: 'time' } as FilterDef,
  date_to: { expr, op: '<', kind: 'time' } as FilterDef,
});

/** The CRM records' read models (migration 012) share one shape. */
const record = (name: string, title: EntityDef['title'], nameLabel: [string, string]): EntityDef => ({
  name,
  store: 'postgres',
  from: name,
  where: 'NOT deleted',
  orderBy: 'id',
  title,
  columns: [
    c('id', 'text', 'ID', 'ID', 'id', 12),
    c('status', 'text', 'Status', 'Статус', 'status', 12),
    c('name', 'text', nameLabel[0], nameLabel[1], 'name', 28),
    c('phone', 'text', 'Phone', 'Телефон', 'phone', 16),
    c('company_id', 'text', 'Company', 'Компания', 'company_id', 12),
    c('driver_id', 'text', 'Driver', 'Водитель', 'driver_id', 12),
    c('vehicle_id', 'text', 'Vehicle', 'Автомобиль', 'vehicle_id', 12),
    c('occurred_at', 'datetime', 'Date', 'Дата', 'occurred_at', 18),
    c('changed_at', 'datetime', 'Changed', 'Изменено', 'changed_at', 18),
  ],
  filters: {
    ...range('occurred_at'),
    status: eq('status'),
    company_id: eq('company_id'),
    driver_id: eq('driver_id'),
    vehicle_id: eq('vehicle_id'),
  },
});

const GPS_TIME = 'ts';

/**
 * Every exportable entity. Postgres entities read the read models; GPS ones read ClickHouse's
 * `fleetgate.gps_tracking` the way the analytics routes do.
 */
export const ENTITIES: Readonly<Record<ExportEntity, EntityDef>> = {
  applications: record('applications', { en: 'Applications', ru: 'Заявки' }, ['Client', 'Клиент']),
  companies: record('companies', { en: 'Companies', ru: 'Компании' }, ['Name', 'Название']),
  drivers: record('drivers', { en: 'Drivers', ru: 'Водители' }, ['Name', 'ФИО']),
  vehicles: record('vehicles', { en: 'Vehicles', ru: 'Автомобили' }, ['Name', 'Название']),
  // Over the ledger's existing columns; refunds arrive with the payments branch.
  payments: {
    name: 'payments',
    store: 'postgres',
    from: 'payment_transactions',
    orderBy: 'created_at, id',
    title: { en: 'Payments', ru: 'Платежи' },
    columns: [
      c('id', 'text', 'ID', 'ID', 'id::text', 36),
      c('order_id', 'text', 'Order', 'Заказ', 'order_id', 14),
      c('provider', 'text', 'Provider', 'Провайдер', 'provider', 12),
      c('status', 'text', 'Status', 'Статус', 'status', 12),
      c('amount', 'money', 'Amount', 'Сумма', 'amount_minor', 14),
      c('refunded', 'money', 'Refunded', 'Возвращено', 'refunded_minor', 14),
      c('currency', 'text', 'Currency', 'Валюта', 'currency', 8),
      c('description', 'text', 'Description', 'Описание', 'description', 30),
      c('created_at', 'datetime', 'Created', 'Создан', 'created_at', 18),
      c('paid_at', 'datetime', 'Paid', 'Оплачен', 'paid_at', 18),
    ],
    filters: { ...range('created_at'), status: eq('status'), provider: eq('provider'), order_id: eq('order_id') },
  },
  sms: {
    name: 'sms',
    store: 'postgres',
    from: 'sms_log',
    orderBy: 'created_at, id',
    title: { en: 'SMS log', ru: 'Журнал SMS' },
    columns: [
      c('id', 'text', 'ID', 'ID', 'id::text', 36),
      c('recipient', 'text', 'Recipient', 'Получатель', 'recipient', 16),
      c('message', 'text', 'Message', 'Текст', 'message', 40),
      c('status', 'text', 'Status', 'Статус', 'status', 12),
      c('provider', 'text', 'Provider', 'Провайдер', 'provider', 10),
      c('segments', 'int', 'Segments', 'Частей', 'segments', 8),
      c('cost', 'money', 'Cost', 'Стоимость', 'cost_minor', 10),
      c('error_message', 'text', 'Error', 'Ошибка', 'error_message', 24),
      c('created_at', 'datetime', 'Created', 'Создано', 'created_at', 18),
      c('delivered_at', 'datetime', 'Delivered', 'Доставлено', 'delivered_at', 18),
    ],
    filters: { ...range('created_at'), status: eq('status'), provider: eq('provider'), recipient: eq('recipient') },
  },
  emails: {
    name: 'emails',
    store: 'postgres',
    from: 'email_log',
    orderBy: 'created_at, id',
    title: { en: 'E-mail log', ru: 'Журнал e-mail' },
    columns: [
      c('id', 'text', 'ID', 'ID', 'id::text', 36),
      c('recipient', 'text', 'Recipient', 'Получатель', 'recipient', 24),
      c('subject', 'text', 'Subject', 'Тема', 'subject', 30),
      c('template', 'text', 'Template', 'Шаблон', 'template', 16),
      c('status', 'text', 'Status', 'Статус', 'status', 10),
      c('attempts', 'int', 'Attempts', 'Попыток', 'attempts', 8),
      c('error_message', 'text', 'Error', 'Ошибка', 'error_message', 24),
      c('created_at', 'datetime', 'Created', 'Создано', 'created_at', 18),
      c('sent_at', 'datetime', 'Sent', 'Отправлено', 'sent_at', 18),
    ],
    filters: { ...range('created_at'), status: eq('status'), recipient: eq('recipient') },
  },
  push: {
    name: 'push',
    store: 'postgres',
    from: 'push_notification_log',
    orderBy: 'created_at, id',
    title: { en: 'Push notifications', ru: 'Push-уведомления' },
    columns: [
      c('id', 'text', 'ID', 'ID', 'id::text', 36),
      c('user_id', 'text', 'User', 'Пользователь', 'user_id', 12),
      c('title', 'text', 'Title', 'Заголовок', 'title', 24),
      c('body', 'text', 'Text', 'Текст', 'body', 36),
      c('status', 'text', 'Status', 'Статус', 'status', 10),
      c('success_count', 'int', 'Delivered', 'Доставлено', 'success_count', 8),
      c('failure_count', 'int', 'Failed', 'Ошибок', 'failure_count', 8),
      c('created_at', 'datetime', 'Created', 'Создано', 'created_at', 18),
    ],
    filters: { ...range('created_at'), status: eq('status'), user_id: eq('user_id') },
  },
  webhooks: {
    name: 'webhooks',
    store: 'postgres',
    from: 'webhook_events',
    orderBy: 'received_at, id',
    title: { en: 'Webhook events', ru: 'Входящие вебхуки' },
    columns: [
      c('id', 'text', 'ID', 'ID', 'id::text', 36),
      c('provider', 'text', 'Provider', 'Провайдер', 'provider', 12),
      c('provider_event_id', 'text', 'Provider event', 'Событие провайдера', 'provider_event_id', 24),
      c('event_type', 'text', 'Type', 'Тип', 'event_type', 20),
      c('signature_valid', 'bool', 'Signature valid', 'Подпись верна', 'signature_valid', 8),
      c('status', 'text', 'Status', 'Статус', 'status', 10),
      c('error', 'text', 'Error', 'Ошибка', 'error', 24),
      c('received_at', 'datetime', 'Received', 'Получено', 'received_at', 18),
    ],
    filters: { ...range('received_at'), status: eq('status'), provider: eq('provider') },
  },
  gps_tracks: {
    name: 'gps_tracks',
    store: 'clickhouse',
    from: 'fleetgate.gps_tracking',
    orderBy: `device_id, ${GPS_TIME}, event_id`,
    keyset: [
      { expr: 'device_id', cast: '{v:String}' },
      { expr: GPS_TIME, cast: "toDateTime64({v:String}, 3, 'UTC')" },
      { expr: 'event_id', cast: '{v:String}' },
    ],
    title: { en: 'GPS tracks', ru: 'GPS-треки' },
    columns: [
      c('device_id', 'text', 'Device', 'Устройство', 'device_id', 14),
      c('time', 'datetime', 'Time', 'Время', GPS_TIME, 18),
      c('lat', 'number', 'Latitude', 'Широта', 'lat', 10),
      c('lon', 'number', 'Longitude', 'Долгота', 'lon', 10),
      c('speed', 'number', 'Speed, km/h', 'Скорость, км/ч', 'speed', 8),
    ],
    filters: { ...range(GPS_TIME), device_id: eq('device_id') },
  },
};
