import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseDotenv } from 'dotenv';
import { type Env, EnvSchema, envVarSchema, ROLES, type Role } from '../schemas/config.js';
import type { EmailLocale } from '../schemas/emailTemplates.js';
import { GatewayError } from '../schemas/errors.js';
import { configProblems, mailTestModeReason } from './configProblems.js';
import type { JetStreamConfig } from './eventlog/jetstream.js';
import { parseTrustProxy, type TrustedProxies } from './http/clientAddress.js';
import { type FieldValue, INTEGRATION_ENV_NAMES } from './integrations/catalog.js';
import type { ClickHouseConfig } from './stores/clickhouse.js';
import type { PostgresConfig } from './stores/postgres.js';
import { withoutTrailingSlashes } from './text/trailingSlashes.js';

/** The e-mail channel's slice (MAIL_* variables). */
export interface MailConfig {
  /** MAIL_TEST_MODE, or no MAIL_HOST configured: nothing leaves. */
  testMode: boolean;
  /** Why test mode is on, for the start-up log. */
  testModeReason?: string;
  /** MAIL_QUEUE_ENABLED=false: one attempt per e-mail, no retry queue (the CRM sent at once). */
  queueEnabled: boolean;
  smtp: {
    host: string;
    port: number;
    encryption: 'tls' | 'ssl' | 'none';
    auth?: { user: string; pass: string };
    /** MAIL_TIMEOUT_SECONDS: also how long `POST /api/v1/email` waits for the outcome without the queue. */
    timeoutMs: number;
    /** Pooled connections: one per handler worker slot. */
    maxConnections: number;
  };
  from: { name?: string; address: string };
  defaultLocale: EmailLocale;
  timeZone: string;
}

/**
 * FCM (FCM_* variables): live sending needs the service-account file; in test mode the file,
 * when given, only names the project in simulated message ids.
 */
export type PushConfig =
  | { testMode: true; serviceAccountPath: string | undefined }
  | { testMode: false; serviceAccountPath: string };

/** The Telegram Bot API (TELEGRAM_* variables): live sending needs the bot token. */
export type TelegramConfig = {
  apiUrl: string;
  ratePerSecond: number;
  /** TELEGRAM_WEBHOOK_ENABLED: updates arrive at /webhooks/telegram; otherwise one process long-polls. */
  webhookEnabled: boolean;
  botUsername: string | undefined;
  updateMaxAgeSeconds: number;
} & ({ testMode: true } | { testMode: false; botToken: string });

export interface Config {
  dataDir: string;
  /**
   * Stored credentials' key ring (SECRETS_KEYS, SECRETS_ACTIVE_KEY). Neither set: the embedded mode
   * generates a key into `keyFile`; the distributed mode stores no credential.
   */
  secrets: { keys: string | undefined; activeKeyId: string | undefined; keyFile: string | undefined };
  /** The integrations' variables that are set (coerced), the `env` source of their effective settings. */
  integrationEnv: Readonly<Record<string, FieldValue>>;
  roles: readonly Role[];
  http: { host: string; port: number };
  /**
   * The internal listener for `/metrics` and the probes, apart from the public API port.
   * `port === http.port`: no listener, `/metrics` on the API port (an operator's explicit choice).
   */
  metrics: { host: string; port: number; portExplicit: boolean };
  logLevel: Env['LOG_LEVEL'];
  shutdownTimeoutMs: number;
  /** Decided here, once: embedded parts unless the distributed variable is set. */
  mode: { eventLog: 'jetstream' | 'embedded'; postgres: 'postgres' | 'pglite'; clickhouse: 'server' | 'chdb' };
  postgres: PostgresConfig;
  clickhouse: ClickHouseConfig;
  nats: JetStreamConfig | undefined;
  /** EVENTS_MAX_BYTES: the EVENTS stream's bound (JetStream enforces it; the embedded log only alerts). */
  eventsMaxBytes: number;
  /** Exports (issue 18): where files go, how many rows, how long they are kept, jobs at once. */
  exports: { dir: string; maxRows: number; ttlSeconds: number; maxConcurrent: number; maxPerKey: number };
  handlers: {
    concurrency: number;
    maxAttempts: number;
    ackWaitMs: number;
    maxAckPending: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
  };
  /** leasePollMs: how soon a process takes over a projection whose runner died (several processes on one Postgres). */
  projections: { batchSize: number; batchDelayMs: number; leasePollMs: number };
  gps: {
    retentionDays: number;
    enabled: boolean;
    offlineAfterMs: number;
    /** GPS_SPEED_LIMIT_KMH, GPS_SPEEDING_MIN_SECONDS: the speeding alert (0 km/h: none). */
    speedLimitKmh: number;
    speedingMinMs: number;
    maxFutureMs: number;
    maxPointsPerMessage: number;
    batchMaxPoints: number;
    batchMaxMs: number;
    appendsInFlight: number;
    clickhouseBatchRows: number;
    clickhouseBatchMs: number;
  };
  mqtt: {
    port: number;
    /** MQTT_PORT was set: a port in use stops start-up instead of turning MQTT off. */
    portExplicit: boolean;
    /** MQTT over WebSocket (path `/mqtt`), only when MQTT_WS_PORT is set. */
    wsPort: number | undefined;
    maxPacketBytes: number;
    keepaliveMaxSeconds: number;
    connectsPerIpPerMinute: number;
  };
  analytics: {
    maxRows: number;
    maxSeconds: number;
    maxMemoryBytes: number;
    maxReadBytes: number;
    maxResultBytes: number;
    /** Server mode: the read-only user (deploy/clickhouse/analytics_user.sql); chdb has no users. */
    user: string | undefined;
    password: string | undefined;
  };
  sms: {
    provider: Env['SMS_PROVIDER'];
    testMode: boolean;
    from: string | undefined;
    smsru: { baseUrl: string; apiKey: string | undefined };
    twilio: {
      accountSid: string | undefined;
      authToken: string | undefined;
      from: string | undefined;
      baseUrl: string | undefined;
    };
    /** Where Twilio posts status callbacks (`PUBLIC_URL/webhooks/twilio`), when the gateway has a public URL. */
    twilioStatusCallback: string | undefined;
    maxPerRecipientPerHour: number;
    maxPerSourcePerHour: number;
    duplicateWindowSeconds: number;
    ratePerSecond: number;
    pollAfterMs: number;
    pollMax: number;
    timeoutMs: number;
  };
  ws: { maxMessageBytes: number; idleTimeoutSeconds: number; maxMessagesPerSecond: number; maxBufferedBytes: number };
  live: { tileUrl: string | undefined };
  notifications: { timeZone: string };
  /** OSMAND_PORT was set: a port in use stops start-up instead of turning OsmAnd off. */
  osmand: { port: number; portExplicit: boolean };
  mail: MailConfig;
  push: PushConfig;
  telegram: TelegramConfig;
  /** Where the device-facing ingest (MQTT, OsmAnd) runs: this thread, or a worker thread of its own. */
  ingest: { thread: 'main' | 'worker' };
  api: {
    publicUrl: string | undefined;
    /**
     * TRUST_PROXY: the proxies whose X-Forwarded-For entries name the client (rate limits, audit,
     * allowlists); the rightmost address no trusted proxy stands for is the client.
     */
    trustProxy: TrustedProxies;
    maxBodyBytes: number;
    bodyTimeoutMs: number;
    rateLimit: { windowSeconds: number; perKey: number; perIp: number };
    idempotencyTtlMs: number;
    adminApiKey: string | undefined;
  };
  payments: PaymentsConfig;
  erp: ErpConfig;
  webhooks: {
    stripeSecret: string | undefined;
    stripeToleranceSeconds: number;
    twilioAuthToken: string | undefined;
    telegramSecret: string | undefined;
    yookassa: { apiUrl: string; shopId: string | undefined; secretKey: string | undefined; allowlist: readonly string[] };
    smsru: { baseUrl: string; apiKey: string | undefined; token: string | undefined };
    maxBodyBytes: number;
    /** Deliveries per rate-limit window per client address, apart from the API's limit (0 = none). */
    perIp: number;
  };
}

/** Payments (issue 15). Provider credentials are read per call through `PaymentSettingsSource` (handlers/payment/settings.ts). */
export interface PaymentsConfig {
  /** PAYMENT_PROVIDER (`yandex` is YooKassa's old name). */
  provider: 'yookassa' | 'stripe';
  testMode: boolean;
  yookassa: { apiUrl: string; shopId: string | undefined; secretKey: string | undefined };
  stripe: { apiUrl: string; secretKey: string | undefined };
  timeoutMs: number;
  receiptChannels: readonly ('sms' | 'email')[];
  waitMaxSeconds: number;
  /** PUBLIC_URL: the test-mode confirmation page's origin. */
  publicUrl: string | undefined;
}

/** ERP / 1C sync (issue 17); see handlers/erp/README.md. */
export interface ErpConfig {
  type: '1c' | 'custom';
  apiUrl: string | undefined;
  apiKey: string | undefined;
  user: string | undefined;
  password: string | undefined;
  testMode: boolean;
  autoSync: boolean;
  syncIntervalSeconds: number;
  /** ERP_CUSTOM_PAGING: how the custom ERP pages its lists (handlers/erp/custom.ts). */
  customPaging: 'offset' | 'page' | 'cursor';
  mappingFile: string | undefined;
  timeZone: string;
  pageSize: number;
  timeoutMs: number;
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** Env strings into the schema's types; empty strings count as unset (the CRM's `.env` has many). */
const coerce = (raw: Record<string, string | undefined>): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(EnvSchema.properties)) {
    const value = raw[name]?.trim();
    if (value === undefined || value === '') continue;
    const schema = envVarSchema(name) as TSchema;
    if (schema[Kind] === 'Boolean') {
      const v = value.toLowerCase();
      out[name] = TRUE.has(v) ? true : FALSE.has(v) ? false : value;
    } else if (schema[Kind] === 'Integer') {
      out[name] = /^-?\d+$/.test(value) ? Number(value) : value;
    } else {
      out[name] = value;
    }
  }
  return out;
};

/** Reads `.env` (if present) under the process environment, which wins. */
export const readEnv = (processEnv: NodeJS.ProcessEnv, envFile = resolve('.env')): Record<string, string | undefined> =>
  existsSync(envFile) ? { ...parseDotenv(readFileSync(envFile)), ...processEnv } : { ...processEnv };

/** `auto`: a worker thread when the log and Postgres are servers it can reach itself and a second core exists. */
const ingestThread = (env: Env): 'main' | 'worker' => {
  if (env.INGEST_THREAD !== 'auto') return env.INGEST_THREAD;
  return env.NATS_URL && env.DATABASE_URL && availableParallelism() > 1 ? 'worker' : 'main';
};

/** Called once the checks passed: a live setup has its sender address. */
const mailSlice = (env: Env): MailConfig => {
  const testModeReason = mailTestModeReason(env);
  return {
    testMode: testModeReason !== undefined,
    ...(testModeReason ? { testModeReason } : {}),
    queueEnabled: env.MAIL_QUEUE_ENABLED,
    smtp: {
      host: env.MAIL_HOST ?? 'localhost',
      port: env.MAIL_PORT,
      encryption: env.MAIL_ENCRYPTION,
      ...(env.MAIL_USERNAME ? { auth: { user: env.MAIL_USERNAME, pass: env.MAIL_PASSWORD ?? '' } } : {}),
      timeoutMs: env.MAIL_TIMEOUT_SECONDS * 1000,
      maxConnections: env.HANDLER_CONCURRENCY,
    },
    from: {
      address: env.MAIL_FROM_ADDRESS ?? 'noreply@fleetgate.invalid',
      ...(env.MAIL_FROM_NAME ? { name: env.MAIL_FROM_NAME } : {}),
    },
    defaultLocale: env.MAIL_DEFAULT_LOCALE,
    timeZone: env.MAIL_TIME_ZONE,
  };
};

/**
 * One typed, validated, frozen config, read once at start-up. Every problem (a wrong variable,
 * variables that do not fit together) is listed in one error, secrets never quoted; nothing else
 * in fleetgate reads `process.env`, and parts take their slice, never the raw variables.
 */
export const loadConfig = (raw: Record<string, string | undefined>): Config => {
  const candidate = Value.Default(EnvSchema, coerce(raw)) as Record<string, unknown>;
  const problems = configProblems(raw, candidate);
  if (problems.length > 0) {
    throw new GatewayError('GW_ERR_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const env = candidate as Env;
  const dataDir = resolve(env.DATA_DIR);
  const config: Config = {
    dataDir,
    secrets: {
      keys: env.SECRETS_KEYS,
      activeKeyId: env.SECRETS_ACTIVE_KEY,
      keyFile: env.SECRETS_KEYS || env.DATABASE_URL ? undefined : resolve(dataDir, 'secrets.key'),
    },
    integrationEnv: Object.fromEntries(
      INTEGRATION_ENV_NAMES.filter((n) => raw[n]?.trim()).map((n) => [n, (env as Record<string, unknown>)[n] as FieldValue]),
    ),
    roles: [...new Set(env.ROLES.split(',') as Role[])].sort((a, b) => ROLES.indexOf(a) - ROLES.indexOf(b)),
    http: { host: env.HTTP_HOST, port: env.HTTP_PORT },
    metrics: { host: env.METRICS_HOST, port: env.METRICS_PORT, portExplicit: Boolean(raw.METRICS_PORT?.trim()) },
    logLevel: env.LOG_LEVEL,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    mode: {
      eventLog: env.NATS_URL ? 'jetstream' : 'embedded',
      postgres: env.DATABASE_URL ? 'postgres' : 'pglite',
      clickhouse: env.CLICKHOUSE_URL ? 'server' : 'chdb',
    },
    postgres: {
      databaseUrl: env.DATABASE_URL,
      pgliteDir: resolve(dataDir, 'pg'),
      poolMax: env.PG_POOL_MAX,
      ...(env.PGLITE_INIT_CACHE_DIR === undefined
        ? {}
        : { initCacheDir: env.PGLITE_INIT_CACHE_DIR && resolve(env.PGLITE_INIT_CACHE_DIR) }),
      pgliteSharedBuffersMb: env.PGLITE_SHARED_BUFFERS_MB,
    },
    clickhouse: { url: env.CLICKHOUSE_URL, chdbDir: resolve(dataDir, 'ch') },
    eventsMaxBytes: env.EVENTS_MAX_BYTES,
    nats: env.NATS_URL
      ? {
          servers: env.NATS_URL.split(','),
          name: 'fleetgate',
          replicas: env.NATS_STREAM_REPLICAS,
          eventsMaxAgeMs: env.NATS_EVENTS_MAX_AGE_SECONDS * 1000,
          eventsMaxBytes: env.EVENTS_MAX_BYTES,
          gpsMaxAgeMs: env.NATS_GPS_MAX_AGE_SECONDS * 1000,
          dlqMaxAgeMs: env.NATS_DLQ_MAX_AGE_SECONDS * 1000,
          duplicateWindowMs: env.NATS_DUPLICATE_WINDOW_SECONDS * 1000,
          gpsDuplicateWindowMs: env.NATS_GPS_DUPLICATE_WINDOW_SECONDS * 1000,
          ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? '' } : {}),
          minServerVersion: env.NATS_MIN_VERSION,
          allowOldServer: env.NATS_ALLOW_OLD_SERVER,
        }
      : undefined,
    exports: {
      dir: env.EXPORT_PATH ? resolve(env.EXPORT_PATH) : resolve(dataDir, 'exports'),
      maxRows: env.EXPORT_MAX_ROWS,
      ttlSeconds: env.EXPORT_TTL,
      // Two files written at once, one per key: a month's export by one accountant cannot starve the others.
      maxConcurrent: 2,
      maxPerKey: 1,
    },
    handlers: {
      concurrency: env.HANDLER_CONCURRENCY,
      maxAttempts: env.HANDLER_MAX_ATTEMPTS,
      ackWaitMs: env.HANDLER_ACK_WAIT_SECONDS * 1000,
      maxAckPending: env.HANDLER_MAX_ACK_PENDING,
      backoffBaseMs: env.HANDLER_BACKOFF_BASE_MS,
      backoffMaxMs: env.HANDLER_BACKOFF_MAX_MS,
    },
    projections: {
      batchSize: env.PROJECTION_BATCH_SIZE,
      batchDelayMs: env.PROJECTION_BATCH_DELAY_MS,
      leasePollMs: env.PROJECTION_LEASE_POLL_MS,
    },
    gps: {
      retentionDays: env.GPS_STORE_HISTORY_DAYS,
      enabled: env.GPS_TRACKING_ENABLED,
      offlineAfterMs: env.GPS_OFFLINE_AFTER * 1000,
      speedLimitKmh: env.GPS_SPEED_LIMIT_KMH,
      speedingMinMs: env.GPS_SPEEDING_MIN_SECONDS * 1000,
      maxFutureMs: env.GPS_MAX_FUTURE_SECONDS * 1000,
      maxPointsPerMessage: env.GPS_MAX_POINTS_PER_MESSAGE,
      batchMaxPoints: env.GPS_BATCH_MAX_POINTS,
      batchMaxMs: env.GPS_BATCH_MAX_MS,
      appendsInFlight: env.GPS_APPENDS_IN_FLIGHT,
      clickhouseBatchRows: env.GPS_CLICKHOUSE_BATCH_ROWS,
      clickhouseBatchMs: env.GPS_CLICKHOUSE_BATCH_MS,
    },
    mqtt: {
      port: env.MQTT_PORT,
      portExplicit: Boolean(raw.MQTT_PORT?.trim()),
      wsPort: env.MQTT_WS_PORT,
      maxPacketBytes: env.MQTT_MAX_PACKET_BYTES,
      keepaliveMaxSeconds: env.MQTT_KEEPALIVE_MAX_SECONDS,
      connectsPerIpPerMinute: env.MQTT_CONNECTS_PER_IP_PER_MINUTE,
    },
    analytics: {
      maxRows: env.ANALYTICS_MAX_ROWS,
      maxSeconds: env.ANALYTICS_MAX_SECONDS,
      maxMemoryBytes: env.ANALYTICS_MAX_MEMORY_BYTES,
      maxReadBytes: env.ANALYTICS_MAX_READ_BYTES,
      maxResultBytes: env.ANALYTICS_MAX_RESULT_BYTES,
      user: env.CLICKHOUSE_ANALYTICS_USER,
      password: env.CLICKHOUSE_ANALYTICS_PASSWORD,
    },
    sms: {
      provider: env.SMS_PROVIDER,
      testMode: env.SMS_TEST_MODE,
      from: env.SMS_FROM_NUMBER,
      smsru: { baseUrl: env.SMSRU_BASE_URL.replace(/\/+$/, ''), apiKey: env.SMS_API_KEY },
      twilio: {
        accountSid: env.TWILIO_ACCOUNT_SID,
        authToken: env.TWILIO_AUTH_TOKEN,
        from: env.TWILIO_FROM_NUMBER,
        baseUrl: env.TWILIO_API_BASE_URL?.replace(/\/+$/, ''),
      },
      twilioStatusCallback: env.PUBLIC_URL ? `${env.PUBLIC_URL.replace(/\/+$/, '')}/webhooks/twilio` : undefined,
      maxPerRecipientPerHour: env.SMS_MAX_PER_RECIPIENT_PER_HOUR,
      maxPerSourcePerHour: env.SMS_MAX_PER_SOURCE_PER_HOUR,
      duplicateWindowSeconds: env.SMS_DUPLICATE_WINDOW_SECONDS,
      ratePerSecond: env.SMS_RATE_LIMIT_PER_SECOND,
      pollAfterMs: env.SMS_STATUS_POLL_AFTER_SECONDS * 1000,
      pollMax: env.SMS_STATUS_POLL_MAX,
      timeoutMs: env.SMS_HTTP_TIMEOUT_SECONDS * 1000,
    },
    live: { tileUrl: env.LIVE_TILE_URL },
    notifications: { timeZone: env.NOTIFICATIONS_TIME_ZONE ?? env.MAIL_TIME_ZONE },
    osmand: { port: env.OSMAND_PORT, portExplicit: Boolean(raw.OSMAND_PORT?.trim()) },
    ingest: { thread: ingestThread(env) },
    mail: mailSlice(env),
    // The checks refused live FCM and Telegram without their credentials; these narrow the types.
    push:
      !env.FCM_TEST_MODE && env.FCM_SERVICE_ACCOUNT
        ? { testMode: false, serviceAccountPath: env.FCM_SERVICE_ACCOUNT }
        : { testMode: true, serviceAccountPath: env.FCM_SERVICE_ACCOUNT },
    telegram: {
      apiUrl: env.TELEGRAM_API_URL,
      ratePerSecond: env.TELEGRAM_RATE_LIMIT_PER_SECOND,
      webhookEnabled: env.TELEGRAM_WEBHOOK_ENABLED,
      botUsername: env.TELEGRAM_BOT_USERNAME?.replace(/^@/, ''),
      updateMaxAgeSeconds: env.TELEGRAM_UPDATE_MAX_AGE_SECONDS,
      ...(!env.TELEGRAM_TEST_MODE && env.TELEGRAM_BOT_TOKEN
        ? { testMode: false as const, botToken: env.TELEGRAM_BOT_TOKEN }
        : { testMode: true as const }),
    },
    ws: {
      maxMessageBytes: env.WS_MAX_MESSAGE_BYTES,
      idleTimeoutSeconds: env.WS_IDLE_TIMEOUT_SECONDS,
      maxMessagesPerSecond: env.WS_MAX_MESSAGES_PER_SECOND,
      maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
    },
    api: {
      publicUrl: env.PUBLIC_URL?.replace(/\/+$/, ''),
      trustProxy: parseTrustProxy(env.TRUST_PROXY ?? 'false') as TrustedProxies,
      maxBodyBytes: env.API_MAX_BODY_BYTES,
      bodyTimeoutMs: env.API_BODY_TIMEOUT_SECONDS * 1000,
      rateLimit: { windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS, perKey: env.RATE_LIMIT_PER_KEY, perIp: env.RATE_LIMIT_PER_IP },
      idempotencyTtlMs: env.IDEMPOTENCY_TTL_HOURS * 3_600_000,
      adminApiKey: env.ADMIN_API_KEY,
    },
    payments: {
      provider: env.PAYMENT_PROVIDER === 'stripe' ? 'stripe' : 'yookassa',
      testMode: env.PAYMENT_TEST_MODE,
      yookassa: {
        apiUrl: env.YOOKASSA_API_URL.replace(/\/+$/, ''),
        shopId: env.YANDEX_KASSA_SHOP_ID,
        secretKey: env.YANDEX_KASSA_SECRET_KEY ?? env.YANDEX_KASSA_API_KEY,
      },
      stripe: { apiUrl: env.STRIPE_API_URL.replace(/\/+$/, ''), secretKey: env.STRIPE_SECRET_KEY },
      timeoutMs: env.PAYMENT_HTTP_TIMEOUT_SECONDS * 1000,
      receiptChannels: (env.PAYMENT_RECEIPT_CHANNELS ?? '')
        .split(',')
        .map((c) => c.trim())
        .filter((c): c is 'sms' | 'email' => c === 'sms' || c === 'email'),
      waitMaxSeconds: env.PAYMENT_WAIT_MAX_SECONDS,
      publicUrl: env.PUBLIC_URL?.replace(/\/+$/, ''),
    },
    erp: {
      type: env.ERP_TYPE,
      apiUrl: env.ERP_API_URL === undefined ? undefined : withoutTrailingSlashes(env.ERP_API_URL),
      apiKey: env.ERP_API_KEY,
      user: env.ERP_API_USER,
      password: env.ERP_API_PASSWORD,
      testMode: env.ERP_TEST_MODE,
      autoSync: env.ERP_AUTO_SYNC,
      syncIntervalSeconds: env.ERP_SYNC_INTERVAL,
      customPaging: env.ERP_CUSTOM_PAGING,
      mappingFile: env.ERP_MAPPING_FILE,
      timeZone: env.ERP_TIME_ZONE ?? env.NOTIFICATIONS_TIME_ZONE ?? env.MAIL_TIME_ZONE,
      pageSize: env.ERP_PAGE_SIZE,
      timeoutMs: env.ERP_HTTP_TIMEOUT_SECONDS * 1000,
    },
    webhooks: {
      stripeSecret: env.STRIPE_WEBHOOK_SECRET,
      stripeToleranceSeconds: env.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
      twilioAuthToken: env.TWILIO_AUTH_TOKEN,
      telegramSecret: env.TELEGRAM_WEBHOOK_SECRET,
      yookassa: {
        apiUrl: env.YOOKASSA_API_URL.replace(/\/+$/, ''),
        shopId: env.YANDEX_KASSA_SHOP_ID,
        secretKey: env.YANDEX_KASSA_SECRET_KEY ?? env.YANDEX_KASSA_API_KEY,
        allowlist: env.YOOKASSA_WEBHOOK_ALLOWLIST.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      },
      smsru: { baseUrl: env.SMSRU_BASE_URL.replace(/\/+$/, ''), apiKey: env.SMS_API_KEY, token: env.SMSRU_WEBHOOK_TOKEN },
      maxBodyBytes: env.WEBHOOK_MAX_BODY_BYTES,
      perIp: env.WEBHOOK_RATE_LIMIT_PER_IP,
    },
  };
  return deepFreeze(config);
};

const deepFreeze = <T>(o: T): T => {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
};
