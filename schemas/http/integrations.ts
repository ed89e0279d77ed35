import { type Static, Type } from '@sinclair/typebox';

export const IntegrationNameParam = Type.String({ description: 'sms.smsru, sms.twilio, email.smtp, push.fcm, telegram, …' });

const Sourced = (value: ReturnType<typeof Type.Union> | ReturnType<typeof Type.Boolean>) =>
  Type.Object({
    value,
    source: Type.Union([Type.Literal('db'), Type.Literal('env'), Type.Literal('default'), Type.Null()]),
  });

/** A read of one integration: effective values with their source; credentials only described. */
export const IntegrationView = Type.Object({
  name: Type.String(),
  enabled: Sourced(Type.Boolean()),
  testMode: Sourced(Type.Boolean()),
  settings: Type.Record(Type.String(), Sourced(Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]))),
  credentials: Type.Record(
    Type.String(),
    Type.Object({
      set: Type.Boolean(),
      source: Type.Union([Type.Literal('db'), Type.Literal('env'), Type.Literal('default'), Type.Null()]),
      last4: Type.Union([Type.String({ maxLength: 4 }), Type.Null()]),
      keyId: Type.Union([Type.String(), Type.Null()]),
      setAt: Type.Union([Type.String(), Type.Null()]),
      setBy: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
});

export const IntegrationList = Type.Object({ items: Type.Array(IntegrationView) });

/**
 * PUT (replace) or PATCH (merge): `enabled`, `testMode` and the integration's fields; `null`
 * clears a value (back to the environment or the default). Checked per integration by the service.
 */
export const IntegrationChange = Type.Record(
  Type.String({ pattern: '^[A-Za-z][A-Za-z0-9]{0,63}$' }),
  Type.Union([Type.String({ maxLength: 16_384 }), Type.Number(), Type.Boolean(), Type.Null()]),
  { maxProperties: 32, description: 'enabled, testMode and the integration’s settings and credentials' },
);
export type IntegrationChange = Static<typeof IntegrationChange>;

/** The outcome of checking the credentials against the provider. */
export const IntegrationTestResult = Type.Object({
  name: Type.String(),
  ok: Type.Boolean(),
  /** What was called (e.g. `SMS.ru balance`). */
  check: Type.String(),
  ms: Type.Integer(),
  testMode: Type.Boolean(),
  /** The provider's error, as it reported it (never a credential). */
  error: Type.Optional(Type.String()),
  detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type IntegrationTestResult = Static<typeof IntegrationTestResult>;

/** `POST /api/v1/secrets/rotate`: the stored credentials are now all under `keyId`. */
export const SecretsRotated = Type.Object(
  { keyId: Type.String(), reencrypted: Type.Integer({ minimum: 0, description: 'values that were under another key' }) },
  { additionalProperties: false },
);
