import { type Static, type TObject, type TSchema, Type } from '@sinclair/typebox';

/**
 * The e-mail templates fleetgate ships and the variables each needs (`data` of `email.requested`).
 * The API refuses an unknown template or missing variables with 400; the handler checks again,
 * because a command may come from elsewhere than the API (a replay, another producer).
 */

export const EMAIL_LOCALES = ['ru', 'en'] as const;
export type EmailLocale = (typeof EMAIL_LOCALES)[number];
export const EmailLocale = Type.Union(
  EMAIL_LOCALES.map((l) => Type.Literal(l)),
  { description: `the language of the e-mail: ${EMAIL_LOCALES.join(' or ')} (default MAIL_DEFAULT_LOCALE)` },
);

const Name = Type.String({ minLength: 1, maxLength: 200 });
/** Only http(s): a `javascript:` link survives HTML escaping, a scheme check does not let it in. */
const Link = Type.String({ maxLength: 2048, pattern: '^https?://[^\\s]+$', description: 'an http(s) URL' });
/** A pattern, not `format: 'date-time'`: TypeBox refuses every value of a format nobody registered. */
const Instant = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'ISO-8601 date and time with a zone, e.g. 2026-05-01T09:30:00Z',
});

/** Variables every template takes. */
const common = {
  locale: Type.Optional(EmailLocale),
  timeZone: Type.Optional(
    Type.String({ maxLength: 64, description: 'IANA time zone for dates, e.g. Europe/Moscow (default MAIL_TIME_ZONE)' }),
  ),
};

const vars = <P extends Record<string, TSchema>>(props: P, description: string) =>
  Type.Object({ ...common, ...props }, { description, additionalProperties: true });

export const UserRegistrationData = vars(
  {
    name: Name,
    login: Type.String({ minLength: 1, maxLength: 254, description: 'the login (usually the e-mail address)' }),
    loginUrl: Link,
    activationUrl: Type.Optional(Link),
  },
  'A new CRM account: greeting, login and the sign-in link (and an activation link if the account needs one).',
);

export const PasswordResetData = vars(
  {
    name: Name,
    resetUrl: Link,
    expiresInMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080, default: 60 })),
  },
  'A password reset link and how long it stays valid.',
);

export const ApplicationAssignedData = vars(
  {
    driver: Type.Object({ name: Name }),
    application: Type.Object({
      number: Type.String({ minLength: 1, maxLength: 64 }),
      pickup: Type.Optional(Type.String({ maxLength: 500 })),
      dropoff: Type.Optional(Type.String({ maxLength: 500 })),
      pickupAt: Type.Optional(Instant),
      customer: Type.Optional(Type.String({ maxLength: 200 })),
      customerPhone: Type.Optional(Type.String({ maxLength: 32 })),
      comment: Type.Optional(Type.String({ maxLength: 2000 })),
    }),
    url: Type.Optional(Link),
  },
  'An application (order) assigned to a driver.',
);

export const PaymentReceiptData = vars(
  {
    name: Name,
    orderId: Type.String({ minLength: 1, maxLength: 64 }),
    amount: Type.Integer({ minimum: 0, description: 'in minor units (kopecks, cents)' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217, e.g. RUB' }),
    paidAt: Instant,
    description: Type.Optional(Type.String({ maxLength: 500 })),
    paymentMethod: Type.Optional(Type.String({ maxLength: 100 })),
    receiptUrl: Type.Optional(Link),
  },
  'A payment receipt.',
);

export const DriverAlertData = vars(
  {
    driver: Type.Object({ name: Name }),
    alert: Type.Object({
      title: Type.String({ minLength: 1, maxLength: 200 }),
      message: Type.String({ minLength: 1, maxLength: 5000 }),
      severity: Type.Optional(Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')])),
      occurredAt: Type.Optional(Instant),
    }),
    vehicle: Type.Optional(Type.Object({ plate: Type.String({ minLength: 1, maxLength: 32 }) })),
    url: Type.Optional(Link),
  },
  'An alert for a driver (speeding, document expiry, dispatcher message), with its severity.',
);

/** Template name → the schema of its `data`. */
export const EMAIL_TEMPLATES = {
  user_registration: UserRegistrationData,
  password_reset: PasswordResetData,
  application_assigned: ApplicationAssignedData,
  payment_receipt: PaymentReceiptData,
  driver_alert: DriverAlertData,
} as const satisfies Record<string, TObject>;
export type EmailTemplateId = keyof typeof EMAIL_TEMPLATES;
export const EMAIL_TEMPLATE_NAMES = Object.keys(EMAIL_TEMPLATES) as EmailTemplateId[];
export const isEmailTemplate = (name: string): name is EmailTemplateId => Object.hasOwn(EMAIL_TEMPLATES, name);

export type EmailTemplateData = {
  [K in EmailTemplateId]: Static<(typeof EMAIL_TEMPLATES)[K]>;
};
