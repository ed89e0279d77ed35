import { type Static, Type } from '@sinclair/typebox';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

/** Where settings changes are appended (stream EVENTS): one subject, so their order is the log's. */
export const INTEGRATION_SETTINGS_SUBJECT = 'evt.integration.settings';

/** Who changed it: an API key (its prefix) or the CLI (the OS user). */
export const SettingsActor = Type.Object(
  { kind: Type.Union([Type.Literal('api_key'), Type.Literal('cli')]), id: Type.String({ maxLength: 128 }) },
  { additionalProperties: false },
);
export type SettingsActor = Static<typeof SettingsActor>;

const OptionValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);

/**
 * `integration.settings_changed`: an operator changed an integration. Plain values travel in the
 * event; a credential only as `ref`, the id of its ciphertext in `integration_secrets`, so the
 * permanent log holds neither plaintext nor ciphertext. `null` clears a value (back to the
 * environment or the default). `replace`: a PUT, every field not named here is cleared.
 */
export const IntegrationSettingsChanged = Type.Object(
  {
    name: Type.String(),
    /** The fields named by the change (`enabled`, `testMode`, option and credential names). */
    changed: Type.Array(Type.String()),
    replace: Type.Boolean(),
    enabled: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    testMode: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    options: Type.Optional(Type.Record(Type.String(), OptionValue)),
    secrets: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.Object({ ref: Type.String({ format: 'uuid' }) }), Type.Null()])),
    ),
    actor: SettingsActor,
  },
  { additionalProperties: false },
);
export type IntegrationSettingsChanged = Static<typeof IntegrationSettingsChanged>;

/** `integration.secrets_rotated`: every stored credential now uses `keyId` (audit only). */
export const IntegrationSecretsRotated = Type.Object(
  { keyId: Type.String(), reencrypted: Type.Integer({ minimum: 0 }), actor: SettingsActor },
  { additionalProperties: false },
);
export type IntegrationSecretsRotated = Static<typeof IntegrationSecretsRotated>;

export const integrationEvents = eventDomain({
  settingsChanged: defineEvent('integration.settings_changed', IntegrationSettingsChanged),
  secretsRotated: defineEvent('integration.secrets_rotated', IntegrationSecretsRotated),
});
export type IntegrationEvent = EventUnion<typeof integrationEvents.defs>;
