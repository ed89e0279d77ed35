import { type Static, type TSchema, Type } from '@sinclair/typebox';

/*
 * The environment fleetgate reads, by variable name. The CRM's names (CRM_INTEGRATIONS_SPEC.md)
 * are kept so an existing `.env` works unchanged. Every entry says what it expects in
 * `description`; start-up quotes it when a value is wrong.
 */

const int = (min: number, max: number, def: number, what: string) =>
  Type.Integer({ minimum: min, maximum: max, default: def, description: `${what}: an integer from ${min} to ${max}` });
const port = (def: number) => int(0, 65_535, def, 'a TCP port');
const bool = (def: boolean) => Type.Boolean({ default: def, description: 'true or false (also 1/0, yes/no, on/off)' });
const text = (what: string) => Type.Optional(Type.String({ description: what }));
const url = (schemes: string[], what: string) =>
  Type.Optional(
    Type.String({
      pattern: `^(${schemes.join('|')})://\\S+$`,
      description: `${what}: a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`,
    }),
  );
const oneOf = <T extends string>(values: readonly T[], def: T) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { default: def, description: `one of ${values.join(', ')}` },
  );

export const ROLES = ['ingest', 'api', 'projections', 'handlers'] as const;
export type Role = (typeof ROLES)[number];

export const EnvSchema = Type.Object({
  // Gateway
  DATA_DIR: Type.String({ default: './data', minLength: 1, description: 'a directory path' }),
  HTTP_HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'an address to listen on' }),
  HTTP_PORT: port(8080),
  METRICS_HOST: Type.String({
    default: '127.0.0.1',
    minLength: 1,
    description: 'the address the internal listener (/metrics, /healthz, /readyz) binds to',
  }),
  METRICS_PORT: int(
    0,
    65_535,
    9_464,
    'a TCP port for the internal listener: /metrics, /healthz, /readyz (HTTP_PORT: /metrics on the public API port instead)',
  ),
  MQTT_PORT: port(1883),
  MQTT_WS_PORT: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 65_535, description: 'a TCP port for MQTT over WebSocket (unset: off)' }),
  ),
  OSMAND_PORT: port(5055),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
  ROLES: Type.String({
    default: ROLES.join(','),
    pattern: `^(${ROLES.join('|')})(,(${ROLES.join('|')}))*$`,
    description: `a comma-separated list of ${ROLES.join(', ')}`,
  }),
  SHUTDOWN_TIMEOUT_SECONDS: int(1, 600, 20, 'seconds to drain on SIGTERM'),
  ADMIN_API_KEY: Type.Optional(Type.String({ minLength: 32, description: 'an API key of at least 32 characters' })),

  // HTTP API
  PUBLIC_URL: url(['http', 'https'], "the gateway's public base URL as providers call it (Twilio signs the full URL)"),
  TRUST_PROXY: Type.String({
    default: 'false',
    minLength: 1,
    description:
      'which proxies in front may name the client in X-Forwarded-For: false, true (one hop: a single reverse proxy), a hop count, or a comma-separated list of proxy addresses and CIDR ranges',
  }),
  API_MAX_BODY_BYTES: int(1_024, 64 * 1_048_576, 1_048_576, 'largest request body in bytes'),
  API_BODY_TIMEOUT_SECONDS: int(1, 600, 10, 'seconds a client has to send its whole body'),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400, 60, 'rate-limit window in seconds'),
  RATE_LIMIT_PER_KEY: int(0, 10_000_000, 6_000, 'requests per window per API key (0 = no limit)'),
  RATE_LIMIT_PER_IP: int(0, 10_000_000, 12_000, 'requests per window per client address (0 = no limit)'),
  IDEMPOTENCY_TTL_HOURS: int(1, 24 * 30, 24, 'hours an Idempotency-Key is remembered'),

  // Webhooks
  WEBHOOK_MAX_BODY_BYTES: int(1_024, 16 * 1_048_576, 65_536, 'largest webhook body in bytes (providers send a few KB)'),
  WEBHOOK_RATE_LIMIT_PER_IP: int(
    0,
    10_000_000,
    1_200,
    'webhook deliveries per rate-limit window per client address (0 = no limit)',
  ),
  STRIPE_WEBHOOK_TOLERANCE_SECONDS: int(0, 86_400, 300, 'largest age of a Stripe signature timestamp (0 = no check)'),
  YOOKASSA_API_URL: Type.String({
    default: 'https://api.yookassa.ru/v3',
    pattern: '^https?://\\S+$',
    description: 'the YooKassa API base URL (webhooks re-fetch the object from it)',
  }),
  YOOKASSA_WEBHOOK_ALLOWLIST: Type.String({
    default: '185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11,77.75.156.35,77.75.154.128/25,2a02:5180::/32',
    description: 'comma-separated addresses or CIDR ranges YooKassa notifications may come from',
  }),
  SMSRU_BASE_URL: Type.String({ default: 'https://sms.ru', pattern: '^https?://\\S+$', description: 'the SMS.ru API base URL' }),
  SMSRU_WEBHOOK_TOKEN: text('a secret that SMS.ru callbacks must carry as ?token= (the callback URL you register)'),

  // Integration credentials at rest (integration_settings)
  SECRETS_KEYS: text(
    'the key ring for stored credentials: id:base64 of 32 random bytes, comma-separated (embedded mode without it: a key generated into DATA_DIR/secrets.key)',
  ),
  SECRETS_ACTIVE_KEY: Type.Optional(
    Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'the id in SECRETS_KEYS new values are encrypted under' }),
  ),

  // Stores and event log (distributed mode when set)
  DATABASE_URL: url(['postgres', 'postgresql'], 'the Postgres server'),
  PG_POOL_MAX: int(1, 100, 8, 'Postgres connections per process'),
  PGLITE_INIT_CACHE_DIR: Type.Optional(
    Type.String({
      description:
        'where an empty PGlite cluster is kept so a fresh DATA_DIR skips initdb (default node_modules/.cache/fleetgate; empty: off)',
    }),
  ),
  PGLITE_SHARED_BUFFERS_MB: int(
    4,
    1024,
    16,
    "embedded mode: PGlite's shared_buffers in MiB (WASM memory that stays resident once touched)",
  ),
  CLICKHOUSE_URL: url(['http', 'https'], 'the ClickHouse server'),
  NATS_URL: Type.Optional(
    Type.String({
      pattern: '^(nats|tls)://[^,\\s]+(,(nats|tls)://[^,\\s]+)*$',
      description: 'NATS servers: nats://host:port, comma-separated',
    }),
  ),
  NATS_STREAM_REPLICAS: int(1, 5, 1, 'JetStream stream replicas (3 in a cluster)'),
  NATS_EVENTS_MAX_AGE_SECONDS: int(0, 100 * 365 * 86_400, 0, 'age limit of the EVENTS stream (0 = keep)'),
  EVENTS_MAX_BYTES: int(
    0,
    Number.MAX_SAFE_INTEGER,
    0,
    'size bound of the EVENTS stream in bytes (0 = none): JetStream then refuses appends (503), the embedded log only alerts; a warning at 80 %',
  ),
  NATS_GPS_MAX_AGE_SECONDS: int(60, 365 * 86_400, 7 * 86_400, 'age limit of the GPS stream'),
  NATS_DLQ_MAX_AGE_SECONDS: int(0, 10 * 365 * 86_400, 30 * 86_400, 'age limit of the DLQ stream (0 = keep)'),
  NATS_DUPLICATE_WINDOW_SECONDS: int(1, 7 * 86_400, 20 * 60, 'EVENTS dedupe window'),
  NATS_GPS_DUPLICATE_WINDOW_SECONDS: int(1, 86_400, 120, 'GPS dedupe window'),

  // NATS as operated (issue 20): the role's server user and the oldest server accepted
  NATS_USER: text('the NATS user this process connects as (deploy/nats: one per role, e.g. fleetgate_ingest)'),
  NATS_PASSWORD: text("that user's password"),
  NATS_MIN_VERSION: Type.String({
    default: '2.9.0',
    pattern: '^\\d+\\.\\d+\\.\\d+$',
    description:
      'the oldest nats-server release the gateway starts against, as MAJOR.MINOR.PATCH (default 2.9.0, the oldest it is tested on; deploy/ sets 2.14.0)',
  }),
  NATS_ALLOW_OLD_SERVER: bool(false),

  // Runners
  HANDLER_CONCURRENCY: int(1, 256, 4, 'handler calls in flight per handler'),
  HANDLER_MAX_ATTEMPTS: int(1, 100, 5, 'attempts before a command is dead-lettered'),
  HANDLER_ACK_WAIT_SECONDS: int(1, 3_600, 30, 'seconds before an unanswered command is redelivered'),
  HANDLER_MAX_ACK_PENDING: int(
    1,
    100_000,
    1_000,
    'unsettled commands per handler consumer across all gateways (JetStream MaxAckPending); at this many delivery pauses',
  ),
  HANDLER_BACKOFF_BASE_MS: int(10, 3_600_000, 1_000, 'first retry delay in ms'),
  HANDLER_BACKOFF_MAX_MS: int(10, 86_400_000, 300_000, 'longest retry delay in ms'),
  PROJECTION_BATCH_SIZE: int(1, 100_000, 5_000, 'events per projection transaction'),
  PROJECTION_BATCH_DELAY_MS: int(0, 60_000, 20, 'ms a projection waits to fill a batch'),
  PROJECTION_LEASE_POLL_MS: int(50, 60_000, 1_000, 'ms between tries for a projection another process runs'),

  // SMS
  SMS_PROVIDER: oneOf(['smsru', 'twilio'] as const, 'smsru'),
  SMS_API_KEY: text('the SMS.ru api_id'),
  SMS_FROM_NUMBER: text('the sender name or number'),
  SMS_TEST_MODE: bool(true),
  TWILIO_ACCOUNT_SID: text('the Twilio account SID'),
  TWILIO_AUTH_TOKEN: text('the Twilio auth token'),
  TWILIO_FROM_NUMBER: text('the Twilio sender number'),
  TWILIO_API_BASE_URL: url(
    ['http', 'https'],
    'where the Twilio client sends its requests instead of https://api.twilio.com (a proxy or a local fake)',
  ),
  SMS_MAX_PER_RECIPIENT_PER_HOUR: int(0, 1_000_000, 10, 'SMS one phone number may receive per rolling hour (0 = no limit)'),
  SMS_MAX_PER_SOURCE_PER_HOUR: int(0, 100_000_000, 1_000, 'SMS one API key may send per rolling hour (0 = no limit)'),
  SMS_DUPLICATE_WINDOW_SECONDS: int(
    0,
    7 * 86_400,
    300,
    'seconds in which the same text to the same number is refused as a duplicate (0 = off)',
  ),
  SMS_RATE_LIMIT_PER_SECOND: int(
    0,
    100_000,
    30,
    'provider calls per second per provider and process; excess waits (0 = no limit)',
  ),
  SMS_STATUS_POLL_AFTER_SECONDS: int(
    1,
    7 * 86_400,
    300,
    'seconds after sending before the provider is asked for a status no callback reported',
  ),
  SMS_STATUS_POLL_MAX: int(0, 100, 6, 'status polls per message, at doubling intervals (0 = never poll)'),
  SMS_HTTP_TIMEOUT_SECONDS: int(1, 300, 15, 'seconds a call to the SMS provider may take'),

  // Email
  MAIL_TEST_MODE: bool(false),
  MAIL_QUEUE_ENABLED: bool(true),
  MAIL_HOST: text('the SMTP host'),
  MAIL_PORT: port(587),
  MAIL_USERNAME: text('the SMTP user'),
  MAIL_PASSWORD: text('the SMTP password'),
  MAIL_ENCRYPTION: oneOf(['tls', 'ssl', 'none'] as const, 'tls'),
  MAIL_FROM_ADDRESS: text('the sender address'),
  MAIL_FROM_NAME: text('the sender name'),
  MAIL_DEFAULT_LOCALE: oneOf(['ru', 'en'] as const, 'ru'),
  MAIL_TIME_ZONE: Type.String({ default: 'Europe/Moscow', minLength: 1, description: 'an IANA time zone for dates in e-mails' }),
  MAIL_TIMEOUT_SECONDS: int(1, 600, 30, 'seconds an SMTP connection, greeting or reply may take'),

  // Payments
  PAYMENT_PROVIDER: oneOf(['yandex', 'yookassa', 'stripe'] as const, 'yandex'),
  PAYMENT_TEST_MODE: bool(true),
  YANDEX_KASSA_SHOP_ID: text('the YooKassa shop id'),
  YANDEX_KASSA_API_KEY: text('the YooKassa secret key'),
  YANDEX_KASSA_SECRET_KEY: text('the YooKassa secret key (older name)'),
  STRIPE_API_KEY: text('the Stripe publishable key'),
  STRIPE_SECRET_KEY: text('the Stripe secret key'),
  STRIPE_WEBHOOK_SECRET: text('the Stripe webhook signing secret'),
  STRIPE_API_URL: Type.String({
    default: 'https://api.stripe.com',
    pattern: '^https?://[^/\\s]+/?$',
    description: 'the Stripe API origin (scheme, host, optional port): a fake in tests, a proxy in production',
  }),
  PAYMENT_HTTP_TIMEOUT_SECONDS: int(1, 120, 30, 'seconds a call to YooKassa or Stripe may take'),
  PAYMENT_RECEIPT_CHANNELS: text(
    'comma-separated channels (sms, email) that tell the customer a payment succeeded (unset: none)',
  ),
  PAYMENT_WAIT_MAX_SECONDS: int(0, 10, 10, 'the largest Prefer: wait=N a payment request may ask for'),

  // Push
  FCM_API_KEY: text('the FCM key'),
  FCM_SENDER_ID: text('the FCM sender id'),
  FCM_SERVICE_ACCOUNT: text('a service-account JSON file path'),
  FCM_TEST_MODE: bool(true),

  // Telegram
  TELEGRAM_BOT_TOKEN: text('the bot token'),
  TELEGRAM_CHAT_ID: text('the default chat id'),
  TELEGRAM_TEST_MODE: bool(true),
  TELEGRAM_WEBHOOK_ENABLED: bool(false),
  TELEGRAM_WEBHOOK_SECRET: text('the webhook secret token'),
  TELEGRAM_API_URL: Type.String({
    default: 'https://api.telegram.org',
    pattern: '^https?://\\S+$',
    description: 'the Bot API server root (a self-hosted telegram-bot-api server, or a fake in tests)',
  }),
  TELEGRAM_BOT_USERNAME: text('the bot username (without @) for link-code deep links; unset: asked of the Bot API (getMe)'),
  TELEGRAM_UPDATE_MAX_AGE_SECONDS: int(
    10,
    7 * 86_400,
    300,
    'an update older than this when the bot gets to it (after downtime) is answered "bot was offline" instead of acted on',
  ),
  TELEGRAM_RATE_LIMIT_PER_SECOND: int(
    0,
    100_000,
    30,
    'bot messages per second, per process; excess waits (0 = no limit). Telegram allows about 30, paid broadcasts up to 1000',
  ),

  // ERP / 1C
  ERP_TYPE: oneOf(['1c', 'custom'] as const, '1c'),
  ERP_API_URL: url(['http', 'https'], 'the 1C OData root (…/odata/standard.odata) or the custom ERP base URL'),
  ERP_API_KEY: text('the custom ERP bearer key; for 1C `login:password` when ERP_API_USER is unset'),
  ERP_API_USER: text('the 1C infobase user (UTF-8, Cyrillic allowed)'),
  ERP_API_PASSWORD: text("the 1C infobase user's password"),
  ERP_CUSTOM_PAGING: oneOf(['offset', 'page', 'cursor'] as const, 'offset'),
  ERP_MAPPING_FILE: text('a JSON file overriding the default entity mapping (schemas/erp/mapping.ts)'),
  ERP_TIME_ZONE: text("the zone of 1C's zone-less dates (default NOTIFICATIONS_TIME_ZONE)"),
  ERP_PAGE_SIZE: int(10, 5_000, 500, 'objects per ERP page (pull) and per push batch'),
  ERP_HTTP_TIMEOUT_SECONDS: int(1, 600, 30, 'timeout of one ERP request'),
  ERP_TEST_MODE: bool(true),
  ERP_AUTO_SYNC: bool(false),
  ERP_SYNC_INTERVAL: int(60, 7 * 86_400, 3_600, 'seconds between automatic syncs'),

  // GPS
  GPS_TRACKING_ENABLED: bool(true),
  GPS_UPDATE_INTERVAL: int(1, 86_400, 30, 'seconds between device reports'),
  GPS_STORE_HISTORY_DAYS: int(1, 36_500, 90, 'days of location history kept'),
  GPS_OFFLINE_AFTER: int(5, 86_400, 300, 'seconds without a report before a vehicle is offline'),
  GPS_SPEED_LIMIT_KMH: int(
    0,
    1_000,
    110,
    "speed over which a vehicle is speeding (the Telegram bot's speeding alert; 0 = no speeding alerts)",
  ),
  GPS_SPEEDING_MIN_SECONDS: int(
    0,
    3_600,
    30,
    'seconds a vehicle must stay over GPS_SPEED_LIMIT_KMH before it is a speeding episode',
  ),
  GPS_MAX_FUTURE_SECONDS: int(0, 86_400, 300, 'how far in the future a fix time may be (device clock skew)'),
  GPS_MAX_POINTS_PER_MESSAGE: int(1, 10_000, 1_000, 'points in one MQTT/WS message (offline buffers)'),
  GPS_BATCH_MAX_POINTS: int(1, 100_000, 2_000, 'points the ingest coalesces into one log append'),
  GPS_BATCH_MAX_MS: int(0, 1_000, 5, 'ms the ingest waits to fill a batch'),
  INGEST_THREAD: Type.Union([Type.Literal('auto'), Type.Literal('main'), Type.Literal('worker')], {
    default: 'auto',
    description:
      'one of auto, main, worker: where the MQTT and OsmAnd ingest runs; worker (a thread of its own) needs NATS_URL and DATABASE_URL, auto picks it when they are set and the machine has more than one core',
  }),
  GPS_APPENDS_IN_FLIGHT: int(1, 64, 4, 'GPS appends each ingest source keeps in flight (pipelining the log round trip)'),
  GPS_CLICKHOUSE_BATCH_ROWS: int(1, 1_000_000, 20_000, 'rows per ClickHouse insert'),
  GPS_CLICKHOUSE_BATCH_MS: int(0, 60_000, 200, 'ms the ClickHouse projection waits to fill an insert'),
  MQTT_MAX_PACKET_BYTES: int(256, 16 * 1_048_576, 262_144, 'largest MQTT packet accepted'),
  MQTT_KEEPALIVE_MAX_SECONDS: int(10, 65_535, 1_200, 'largest keep-alive a device may ask for'),
  MQTT_CONNECTS_PER_IP_PER_MINUTE: int(0, 1_000_000, 600, 'MQTT connection attempts per address per minute (0 = no limit)'),
  WS_MAX_MESSAGE_BYTES: int(1_024, 16 * 1_048_576, 65_536, 'largest driver WebSocket message (larger: closed with 1009)'),
  WS_IDLE_TIMEOUT_SECONDS: int(8, 3_600, 120, 'seconds a driver WebSocket may stay silent'),
  WS_MAX_MESSAGES_PER_SECOND: int(1, 10_000, 20, 'messages per second per driver WebSocket'),
  WS_MAX_BUFFERED_BYTES: int(4_096, 64 * 1_048_576, 262_144, 'unsent bytes to a driver before it is dropped'),
  LIVE_TILE_URL: Type.Optional(
    Type.String({
      // Placeholders before the first `{z}` are matched one by one: `\S*\{z\}` backtracks quadratically.
      pattern: '^https?://[^\\s{]*(?:\\{(?:[^\\s{}z][^\\s{}]*|z[^\\s{}]+)\\}[^\\s{]*)*\\{z\\}\\S*$',
      description:
        'a map tile URL template with {z}/{x}/{y} for the /live page, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png',
    }),
  ),
  NOTIFICATIONS_TIME_ZONE: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z][A-Za-z0-9_+/-]*$',
      description: 'the IANA time zone of times in SMS, push and Telegram notification texts (default: MAIL_TIME_ZONE)',
    }),
  ),
  ANALYTICS_MAX_ROWS: int(1, 10_000_000, 100_000, 'rows an analytics query may return'),
  ANALYTICS_MAX_SECONDS: int(1, 3_600, 30, 'seconds an analytics query may run'),
  ANALYTICS_MAX_MEMORY_BYTES: int(1_048_576, 2 ** 40, 1_073_741_824, 'memory an analytics query may use, in bytes'),
  ANALYTICS_MAX_READ_BYTES: int(1_048_576, 2 ** 50, 10_737_418_240, 'bytes an analytics query may read, uncompressed'),
  ANALYTICS_MAX_RESULT_BYTES: int(1_024, 2 ** 32, 16_777_216, 'bytes of result an analytics query may return'),
  CLICKHOUSE_ANALYTICS_USER: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
      description: 'the read-only ClickHouse user analytics queries run as (deploy/clickhouse/analytics_user.sql)',
    }),
  ),
  CLICKHOUSE_ANALYTICS_PASSWORD: text("CLICKHOUSE_ANALYTICS_USER's password"),

  // Export
  EXPORT_PATH: text('the directory for export files (default DATA_DIR/exports)'),
  EXPORT_MAX_ROWS: int(1, 10_000_000, 10_000, 'rows per export'),
  EXPORT_TTL: int(60, 365 * 86_400, 86_400, 'seconds an export file is kept'),
});
export type Env = Static<typeof EnvSchema>;

/** The schema of one variable, for error messages. */
export const envVarSchema = (name: string): TSchema | undefined => (EnvSchema.properties as Record<string, TSchema>)[name];
