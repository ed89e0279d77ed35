import { GatewayError } from '../../schemas/errors.js';
import {
  INTEGRATION_SETTINGS_SUBJECT,
  type IntegrationSettingsChanged,
  integrationEvents,
  type SettingsActor,
} from '../../schemas/events/integration.js';
import { newEvent } from '../eventlog/newEvent.js';
import type { EventLog } from '../eventlog/port.js';
import { type FieldValue, type IntegrationName, specOf } from './catalog.js';
import { checkField } from './validate.js';
import type { SecretVault } from './vault.js';

/** A change as an operator sends it: `enabled`, `testMode` and field names; `null` clears a value. */
export type SettingsInput = Readonly<Record<string, unknown>>;

export class SettingsValidationError extends GatewayError {
  constructor(readonly fields: { path: string; message: string }[]) {
    super('GW_ERR_VALIDATION', `invalid settings: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`);
  }
}

/** Checks every field of `input` (all problems at once) and splits it into the event's parts. */
const parse = (name: IntegrationName, input: SettingsInput) => {
  const spec = specOf(name);
  const problems: { path: string; message: string }[] = [];
  const options: Record<string, FieldValue | null> = {};
  const secrets: Record<string, string | null> = {};
  let enabled: boolean | null | undefined;
  let testMode: boolean | null | undefined;
  for (const [key, raw] of Object.entries(input)) {
    if (key === 'enabled' || key === 'testMode') {
      if (raw !== null && typeof raw !== 'boolean') problems.push({ path: `/${key}`, message: 'expected true, false or null' });
      else if (key === 'enabled') enabled = raw;
      else testMode = raw;
      continue;
    }
    const field = spec.fields[key];
    if (!field) {
      problems.push({ path: `/${key}`, message: `is not a setting of ${name} (known: ${Object.keys(spec.fields).join(', ')})` });
      continue;
    }
    if (raw === null) {
      (field.kind === 'secret' ? secrets : options)[key] = null;
      continue;
    }
    const checked = checkField(field, raw);
    if (!checked.ok) problems.push({ path: `/${key}`, message: checked.problem });
    else if (field.kind === 'secret') secrets[key] = checked.value as string;
    else options[key] = checked.value;
  }
  if (problems.length) throw new SettingsValidationError(problems);
  return { enabled, testMode, options, secrets };
};

/**
 * Validates a change, stores its credentials encrypted (refused without a key), and appends
 * `integration.settings_changed` naming the fields and the actor. Every process picks it up once
 * the `integration_settings` projection folded it.
 */
export const changeIntegration = async (
  deps: { log: EventLog; vault: SecretVault },
  change: {
    name: IntegrationName;
    input: SettingsInput;
    replace: boolean;
    actor: SettingsActor;
  },
): Promise<{ seq: number; eventId: string }> => {
  const { enabled, testMode, options, secrets } = parse(change.name, change.input);
  const refs: Record<string, { ref: string } | null> = {};
  for (const [field, plaintext] of Object.entries(secrets)) {
    refs[field] = plaintext === null ? null : { ref: await deps.vault.put(change.name, field, plaintext) };
  }
  const data: IntegrationSettingsChanged = {
    name: change.name,
    changed: Object.keys(change.input),
    replace: change.replace,
    ...(enabled !== undefined ? { enabled } : {}),
    ...(testMode !== undefined ? { testMode } : {}),
    ...(Object.keys(options).length ? { options } : {}),
    ...(Object.keys(refs).length ? { secrets: refs } : {}),
    actor: change.actor,
  };
  const event = newEvent({
    type: integrationEvents.defs.settingsChanged.type,
    subject: INTEGRATION_SETTINGS_SUBJECT,
    source: change.actor.kind === 'cli' ? 'cli' : 'api',
    data,
  });
  const ack = await deps.log.append(INTEGRATION_SETTINGS_SUBJECT, event);
  return { seq: ack.seq, eventId: event.id };
};

/** Appends the rotation's audit event. */
export const recordRotation = async (log: EventLog, data: { keyId: string; reencrypted: number; actor: SettingsActor }) => {
  const event = newEvent({
    type: integrationEvents.defs.secretsRotated.type,
    subject: INTEGRATION_SETTINGS_SUBJECT,
    source: data.actor.kind === 'cli' ? 'cli' : 'api',
    data,
  });
  await log.append(INTEGRATION_SETTINGS_SUBJECT, event);
};
