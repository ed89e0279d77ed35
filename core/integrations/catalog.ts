/**
 * The integrations an operator can configure at run time and each one's fields: kind, the
 * environment variable that sets it when the database does not, the default, and the check a new
 * value must pass. Secrets are write-only and stored encrypted; everything else is plain.
 */

export type FieldValue = string | number | boolean;

export interface FieldSpec {
  kind: 'string' | 'secret' | 'port' | 'int' | 'bool' | 'url' | 'enum';
  /** The variable of the CRM's `.env` that sets it (first set one wins). */
  env?: readonly string[];
  default?: FieldValue;
  values?: readonly string[];
  min?: number;
  max?: number;
  /** A further check on a value of the right kind; returns why it is wrong. Never quotes a secret. */
  check?: (value: string) => string | undefined;
  description: string;
}

export interface IntegrationSpec {
  /** The variable that sets `test_mode` when the database does not, and its default. */
  testModeEnv?: string;
  testModeDefault: boolean;
  fields: Readonly<Record<string, FieldSpec>>;
}

const prefix = (prefixes: readonly string[], what: string) => (v: string) =>
  prefixes.some((p) => v.startsWith(p)) ? undefined : `${what}, starting with ${prefixes.join(' or ')}`;

/** FCM signs its OAuth token request with the account's key: the three fields it cannot do without. */
export const checkServiceAccount = (v: string): string | undefined => {
  let json: unknown;
  try {
    json = JSON.parse(v);
  } catch {
    // Never the parser's message: it quotes part of the text, which holds the private key.
    return 'a service-account JSON document (it does not parse)';
  }
  const o = (json ?? {}) as Record<string, unknown>;
  const missing = ['project_id', 'client_email', 'private_key'].filter((k) => typeof o[k] !== 'string' || o[k] === '');
  return missing.length ? `a service-account JSON with ${missing.join(', ')}` : undefined;
};

export const INTEGRATIONS = {
  'sms.smsru': {
    testModeEnv: 'SMS_TEST_MODE',
    testModeDefault: true,
    fields: {
      apiKey: { kind: 'secret', env: ['SMS_API_KEY'], description: 'the SMS.ru api_id' },
      from: { kind: 'string', env: ['SMS_FROM_NUMBER'], description: 'the sender name' },
      baseUrl: { kind: 'url', env: ['SMSRU_BASE_URL'], default: 'https://sms.ru', description: 'the API base URL' },
    },
  },
  'sms.twilio': {
    testModeEnv: 'SMS_TEST_MODE',
    testModeDefault: true,
    fields: {
      accountSid: {
        kind: 'string',
        env: ['TWILIO_ACCOUNT_SID'],
        check: prefix(['AC'], 'an account SID'),
        description: 'the account SID (AC…)',
      },
      authToken: { kind: 'secret', env: ['TWILIO_AUTH_TOKEN'], description: 'the auth token' },
      from: { kind: 'string', env: ['TWILIO_FROM_NUMBER'], description: 'the sender number' },
      baseUrl: {
        kind: 'url',
        env: ['TWILIO_API_BASE_URL'],
        default: 'https://api.twilio.com',
        description: 'the API base URL',
      },
    },
  },
  'email.smtp': {
    testModeEnv: 'MAIL_TEST_MODE',
    testModeDefault: false,
    fields: {
      host: { kind: 'string', env: ['MAIL_HOST'], description: 'the SMTP host' },
      port: { kind: 'port', env: ['MAIL_PORT'], default: 587, description: 'the SMTP port' },
      encryption: {
        kind: 'enum',
        env: ['MAIL_ENCRYPTION'],
        values: ['tls', 'ssl', 'none'],
        default: 'tls',
        description: 'tls (STARTTLS), ssl or none',
      },
      username: { kind: 'string', env: ['MAIL_USERNAME'], description: 'the SMTP user' },
      password: { kind: 'secret', env: ['MAIL_PASSWORD'], description: 'the SMTP password' },
      fromAddress: { kind: 'string', env: ['MAIL_FROM_ADDRESS'], description: 'the sender address' },
      fromName: { kind: 'string', env: ['MAIL_FROM_NAME'], description: 'the sender name' },
    },
  },
  'push.fcm': {
    testModeEnv: 'FCM_TEST_MODE',
    testModeDefault: true,
    fields: {
      serviceAccountJson: {
        kind: 'secret',
        check: checkServiceAccount,
        description: 'the service-account JSON itself (wins over the file)',
      },
      serviceAccountPath: { kind: 'string', env: ['FCM_SERVICE_ACCOUNT'], description: 'a service-account JSON file path' },
    },
  },
  telegram: {
    testModeEnv: 'TELEGRAM_TEST_MODE',
    testModeDefault: true,
    fields: {
      botToken: {
        kind: 'secret',
        env: ['TELEGRAM_BOT_TOKEN'],
        check: (v) => (/^\d+:[A-Za-z0-9_-]+$/.test(v) ? undefined : 'a bot token (digits:letters, from @BotFather)'),
        description: 'the bot token',
      },
      webhookEnabled: { kind: 'bool', env: ['TELEGRAM_WEBHOOK_ENABLED'], default: false, description: 'webhook mode' },
      webhookSecret: { kind: 'secret', env: ['TELEGRAM_WEBHOOK_SECRET'], description: 'the webhook secret token' },
      chatId: { kind: 'string', env: ['TELEGRAM_CHAT_ID'], description: 'the default chat id' },
      apiUrl: {
        kind: 'url',
        env: ['TELEGRAM_API_URL'],
        default: 'https://api.telegram.org',
        description: 'the Bot API server root',
      },
    },
  },
  'payment.yookassa': {
    testModeEnv: 'PAYMENT_TEST_MODE',
    testModeDefault: true,
    fields: {
      shopId: {
        kind: 'string',
        env: ['YANDEX_KASSA_SHOP_ID'],
        check: (v) => (/^\d+$/.test(v) ? undefined : 'a shop id (digits)'),
        description: 'the shop id',
      },
      secretKey: {
        kind: 'secret',
        env: ['YANDEX_KASSA_SECRET_KEY', 'YANDEX_KASSA_API_KEY'],
        check: prefix(['live_', 'test_'], 'a YooKassa secret key'),
        description: 'the secret key',
      },
      apiUrl: {
        kind: 'url',
        env: ['YOOKASSA_API_URL'],
        default: 'https://api.yookassa.ru/v3',
        description: 'the API base URL',
      },
    },
  },
  'payment.stripe': {
    testModeEnv: 'PAYMENT_TEST_MODE',
    testModeDefault: true,
    fields: {
      secretKey: {
        kind: 'secret',
        env: ['STRIPE_SECRET_KEY'],
        check: prefix(['sk_', 'rk_'], 'a Stripe secret or restricted key'),
        description: 'the secret key (sk_…) or a restricted key (rk_…)',
      },
      webhookSecret: {
        kind: 'secret',
        env: ['STRIPE_WEBHOOK_SECRET'],
        check: prefix(['whsec_'], 'a webhook signing secret'),
        description: 'the webhook signing secret (whsec_…)',
      },
      apiUrl: { kind: 'url', env: ['STRIPE_API_URL'], default: 'https://api.stripe.com', description: 'the API base URL' },
    },
  },
  erp: {
    testModeEnv: 'ERP_TEST_MODE',
    testModeDefault: true,
    fields: {
      apiUrl: { kind: 'url', env: ['ERP_API_URL'], description: 'the 1C OData endpoint' },
      apiKey: { kind: 'secret', env: ['ERP_API_KEY'], description: 'the ERP credentials' },
      autoSync: { kind: 'bool', env: ['ERP_AUTO_SYNC'], default: false, description: 'sync on a timer' },
      syncInterval: {
        kind: 'int',
        env: ['ERP_SYNC_INTERVAL'],
        min: 60,
        max: 7 * 86_400,
        default: 3_600,
        description: 'seconds between automatic syncs',
      },
    },
  },
  export: {
    testModeDefault: false,
    fields: {
      path: { kind: 'string', env: ['EXPORT_PATH'], description: 'the directory for export files' },
      maxRows: {
        kind: 'int',
        env: ['EXPORT_MAX_ROWS'],
        min: 1,
        max: 10_000_000,
        default: 10_000,
        description: 'rows per export',
      },
      ttl: {
        kind: 'int',
        env: ['EXPORT_TTL'],
        min: 60,
        max: 365 * 86_400,
        default: 86_400,
        description: 'seconds an export file is kept',
      },
    },
  },
} as const satisfies Record<string, IntegrationSpec>;

export type IntegrationName = keyof typeof INTEGRATIONS;
export const INTEGRATION_NAMES = Object.keys(INTEGRATIONS) as IntegrationName[];
export const isIntegrationName = (n: string): n is IntegrationName => Object.hasOwn(INTEGRATIONS, n);
export const specOf = (name: IntegrationName): IntegrationSpec => INTEGRATIONS[name];

/** Every variable an integration reads, for the config to hand over (nothing else reads the environment). */
export const INTEGRATION_ENV_NAMES: readonly string[] = [
  ...new Set(
    Object.values(INTEGRATIONS as Record<string, IntegrationSpec>).flatMap((i) => [
      ...(i.testModeEnv ? [i.testModeEnv] : []),
      ...Object.values(i.fields).flatMap((f) => f.env ?? []),
    ]),
  ),
];
