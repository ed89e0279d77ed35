import type { Logger } from '../logger.js';
import type { Sql } from '../stores/postgres.js';
import { type FieldValue, INTEGRATION_NAMES, type IntegrationName, isIntegrationName, specOf } from './catalog.js';
import type { SecretMeta, SecretVault } from './vault.js';

export type Source = 'db' | 'env' | 'default';

export interface EffectiveField {
  value: FieldValue | undefined;
  source: Source | undefined;
  /** Credentials only: the stored value's key id and hint, or when and by whom it was set. */
  secret?: Partial<SecretMeta> & { setAt?: string; setBy?: string };
}

/** An integration as it is in force in this process now. */
export interface Effective {
  name: IntegrationName;
  enabled: { value: boolean; source: Source };
  testMode: { value: boolean; source: Source };
  fields: Readonly<Record<string, EffectiveField>>;
  updatedAt: string | null;
  updatedBy: string | null;
}

/** A credential as the projected row holds it (projections/integrationSettings.ts). */
interface SecretRef {
  ref: string;
  setAt: string;
  setBy: string;
}

interface Row {
  name: string;
  enabled: boolean | null;
  test_mode: boolean | null;
  settings: Record<string, FieldValue>;
  secrets: Record<string, SecretRef>;
  updated_at: Date | null;
  updated_by: string | null;
}

export interface IntegrationSettings {
  /** The effective settings (plaintext credentials included: never log or return them). */
  get(name: IntegrationName): Effective;
  /** A field's effective value as a string, or undefined. */
  value(name: IntegrationName, field: string): FieldValue | undefined;
  /** Called after a reload that changed these integrations. */
  onChange(listener: (changed: ReadonlySet<IntegrationName>) => void): () => void;
  /** Re-reads now (tests, and the API right after its own change). */
  refresh(): Promise<void>;
  /** The highest log sequence folded into the table as last read. */
  readonly seq: number;
  close(): void;
}

/** Database over environment over default, per field (issue 19.4). */
export const effectiveOf = (
  name: IntegrationName,
  row: Row | undefined,
  env: Readonly<Record<string, FieldValue>>,
  plaintexts: ReadonlyMap<string, { plaintext: string } & SecretMeta>,
): Effective => {
  const spec = specOf(name);
  const fields: Record<string, EffectiveField> = {};
  for (const [field, f] of Object.entries(spec.fields)) {
    const stored = row?.secrets[field];
    const opened = stored ? plaintexts.get(stored.ref) : undefined;
    const dbValue = f.kind === 'secret' ? opened?.plaintext : row?.settings[field];
    const envName = f.env?.find((n) => env[n] !== undefined);
    if (dbValue !== undefined) {
      fields[field] = {
        value: dbValue,
        source: 'db',
        ...(stored
          ? { secret: { keyId: opened?.keyId, hint: opened?.hint ?? null, setAt: stored.setAt, setBy: stored.setBy } }
          : {}),
      };
    } else if (envName !== undefined) {
      fields[field] = { value: env[envName], source: 'env' };
    } else {
      fields[field] = { value: f.default, source: f.default === undefined ? undefined : 'default' };
    }
  }
  const envTest = spec.testModeEnv ? env[spec.testModeEnv] : undefined;
  return {
    name,
    enabled: row?.enabled != null ? { value: row.enabled, source: 'db' } : { value: true, source: 'default' },
    testMode:
      row?.test_mode != null
        ? { value: row.test_mode, source: 'db' }
        : typeof envTest === 'boolean'
          ? { value: envTest, source: 'env' }
          : { value: spec.testModeDefault, source: 'default' },
    fields,
    updatedAt: row?.updated_at ? new Date(row.updated_at).toISOString() : null,
    updatedBy: row?.updated_by ?? null,
  };
};

/** What clients are built from: values and test mode, not when or under which key a credential was stored. */
const inForce = (e: Effective) =>
  JSON.stringify([e.enabled.value, e.testMode.value, Object.entries(e.fields).map(([k, f]) => [k, f.value])]);
const sameSettings = (a: Effective, b: Effective) => inForce(a) === inForce(b);

/**
 * Every process's view of `integration_settings`. A change reaches each process through the log:
 * the projection folds `integration.settings_changed` into the table, and this reads the table's
 * highest `last_seq` (and the vault's newest rotation) every `pollMs` in one small query,
 * reloading when they moved. Polling works the same on PGlite and Postgres and needs no
 * connection of its own.
 */
export const integrationSettings = async (opts: {
  sql: Sql;
  vault: SecretVault;
  env: Readonly<Record<string, FieldValue>>;
  logger: Logger;
  pollMs?: number;
}): Promise<IntegrationSettings> => {
  const { sql, vault, env, logger } = opts;
  const listeners = new Set<(changed: ReadonlySet<IntegrationName>) => void>();
  let current = new Map<IntegrationName, Effective>();
  let seq = -1;
  let count = -1;
  let rotated: string | null = null;

  const load = async () => {
    const rows = await sql<Row[]>`
      SELECT name, enabled, test_mode, settings, secrets, updated_at, updated_by FROM integration_settings`;
    const refs = rows.flatMap((r) => Object.values(r.secrets ?? {}).map((s) => s.ref));
    const plaintexts = await vault.read(refs);
    const byName = new Map(rows.filter((r) => isIntegrationName(r.name)).map((r) => [r.name as IntegrationName, r]));
    const next = new Map<IntegrationName, Effective>();
    for (const name of INTEGRATION_NAMES) next.set(name, effectiveOf(name, byName.get(name), env, plaintexts));
    const changed = new Set<IntegrationName>();
    for (const [name, e] of next) {
      const before = current.get(name);
      if (!before || !sameSettings(before, e)) changed.add(name);
    }
    current = next;
    return changed;
  };

  const poll = async (force: boolean) => {
    // The vault's newest rotation too: a read then shows the key id values are under now.
    const [head] = await sql<{ seq: string | null; n: number; rotated: string | null }[]>`
      SELECT (SELECT max(last_seq) FROM integration_settings)::text AS seq,
        (SELECT count(*) FROM integration_settings)::int AS n,
        (SELECT max(rotated_at) FROM integration_secrets)::text AS rotated`;
    const s = Number(head?.seq ?? 0);
    const n = head?.n ?? 0;
    const r = head?.rotated ?? null;
    if (!force && s === seq && n === count && r === rotated) return;
    const changed = await load();
    seq = s;
    count = n;
    rotated = r;
    if (changed.size === 0 || force) return;
    logger.info({ integrations: [...changed], seq: s }, 'integration settings changed');
    for (const l of listeners) {
      try {
        l(changed);
      } catch (e) {
        logger.error({ err: e }, 'integration settings listener failed');
      }
    }
  };

  await vault.assertKeysPresent();
  await poll(true);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    poll(false)
      .catch((e: unknown) =>
        logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'integration settings: reload failed; keeping the last'),
      )
      .finally(() => {
        busy = false;
      });
  }, opts.pollMs ?? 250);
  timer.unref();

  return {
    get: (name) => current.get(name) as Effective,
    value: (name, field) => current.get(name)?.fields[field]?.value,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    refresh: () => poll(false),
    get seq() {
      return seq;
    },
    close: () => clearInterval(timer),
  };
};
