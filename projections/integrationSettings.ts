import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { unhandledEvent } from '../schemas/events/define.js';
import {
  INTEGRATION_SETTINGS_SUBJECT,
  type IntegrationEvent,
  type IntegrationSettingsChanged,
  integrationEvents,
} from '../schemas/events/integration.js';

/** A credential as the row holds it: where its ciphertext is, and when and by whom it was set. */
export interface SecretRef {
  ref: string;
  setAt: string;
  setBy: string;
}

interface Row {
  enabled: boolean | null;
  test_mode: boolean | null;
  settings: Record<string, string | number | boolean>;
  secrets: Record<string, SecretRef>;
}

const EMPTY: Row = { enabled: null, test_mode: null, settings: {}, secrets: {} };

/** One change over the row before it: a PATCH merges, a PUT starts from nothing; `null` clears. */
export const applyChange = (before: Row, d: IntegrationSettingsChanged, time: string): Row => {
  const base = d.replace ? EMPTY : before;
  const settings = { ...base.settings };
  for (const [k, v] of Object.entries(d.options ?? {})) {
    if (v === null) delete settings[k];
    else settings[k] = v;
  }
  const secrets = { ...base.secrets };
  for (const [k, v] of Object.entries(d.secrets ?? {})) {
    if (v === null) delete secrets[k];
    else secrets[k] = { ref: v.ref, setAt: time, setBy: `${d.actor.kind}:${d.actor.id}` };
  }
  return {
    enabled: d.enabled !== undefined ? d.enabled : base.enabled,
    test_mode: d.testMode !== undefined ? d.testMode : base.test_mode,
    settings,
    secrets,
  };
};

const readRow = async (tx: TransactionSql, name: string): Promise<Row> => {
  const [row] = await tx<Row[]>`
    SELECT enabled, test_mode, settings, secrets FROM integration_settings WHERE name = ${name}`;
  return row ?? EMPTY;
};

/**
 * `integration_settings`: each integration's overrides as operators set them (API or CLI). Every
 * process reads it (core/integrations); credentials are references into `integration_secrets`.
 */
export const integrationSettingsProjection: FoldProjection<IntegrationEvent> = {
  kind: 'fold',
  name: 'integration_settings',
  stream: 'EVENTS',
  filterSubject: INTEGRATION_SETTINGS_SUBJECT,
  reads: readsDomains(integrationEvents),
  // Operators wait on a change taking effect; there are never many.
  batch: { maxEvents: 100, maxDelayMs: 0 },
  async apply(tx, events) {
    for (const e of events as readonly Stored<IntegrationEvent>[]) {
      switch (e.type) {
        case 'integration.settings_changed': {
          const row = applyChange(await readRow(tx, e.data.name), e.data, e.time);
          const values = {
            name: e.data.name,
            enabled: row.enabled,
            test_mode: row.test_mode,
            settings: tx.json(row.settings),
            secrets: tx.json(row.secrets as unknown as Record<string, never>),
            updated_at: e.time,
            updated_by: `${e.data.actor.kind}:${e.data.actor.id}`,
            last_seq: e.seq,
          };
          await tx`
            INSERT INTO integration_settings ${tx(values)}
            ON CONFLICT (name) DO UPDATE SET enabled = EXCLUDED.enabled, test_mode = EXCLUDED.test_mode,
              settings = EXCLUDED.settings, secrets = EXCLUDED.secrets, updated_at = EXCLUDED.updated_at,
              updated_by = EXCLUDED.updated_by, last_seq = EXCLUDED.last_seq`;
          break;
        }
        case 'integration.secrets_rotated':
          break;
        default:
          unhandledEvent(e);
      }
    }
  },
  async reset(tx) {
    await tx`TRUNCATE integration_settings`;
  },
};
