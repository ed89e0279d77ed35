import { type IntegrationName, specOf } from './catalog.js';
import type { Effective, Source } from './settings.js';
import { hintOf } from './validate.js';

/** What a credential read shows: whether it is set, where from, and never more than its last four characters. */
export interface CredentialView {
  set: boolean;
  source: Source | null;
  last4: string | null;
  keyId: string | null;
  setAt: string | null;
  setBy: string | null;
}

export interface IntegrationView {
  name: IntegrationName;
  enabled: { value: boolean; source: Source };
  testMode: { value: boolean; source: Source };
  settings: Record<string, { value: string | number | boolean | null; source: Source | null }>;
  credentials: Record<string, CredentialView>;
  updatedAt: string | null;
  updatedBy: string | null;
}

/** The write-only view of an integration for the API and the CLI: credentials reduced to facts about them. */
export const viewOf = (e: Effective): IntegrationView => {
  const spec = specOf(e.name);
  const settings: IntegrationView['settings'] = {};
  const credentials: IntegrationView['credentials'] = {};
  for (const [field, f] of Object.entries(spec.fields)) {
    const eff = e.fields[field];
    if (f.kind === 'secret') {
      const plaintext = typeof eff?.value === 'string' ? eff.value : undefined;
      credentials[field] = {
        set: plaintext !== undefined,
        source: eff?.source ?? null,
        last4: eff?.secret ? (eff.secret.hint ?? null) : plaintext ? hintOf(plaintext) : null,
        keyId: eff?.secret?.keyId ?? null,
        setAt: eff?.secret?.setAt ?? null,
        setBy: eff?.secret?.setBy ?? null,
      };
    } else {
      settings[field] = { value: eff?.value ?? null, source: eff?.source ?? null };
    }
  }
  return {
    name: e.name,
    enabled: e.enabled,
    testMode: e.testMode,
    settings,
    credentials,
    updatedAt: e.updatedAt,
    updatedBy: e.updatedBy,
  };
};
