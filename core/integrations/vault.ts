import { randomUUID } from 'node:crypto';
import { GatewayError } from '../../schemas/errors.js';
import { open, type SealedValue, seal } from '../secrets/cipher.js';
import type { KeyRing } from '../secrets/keyRing.js';
import type { Sql } from '../stores/postgres.js';
import { hintOf } from './validate.js';

interface SecretRow {
  ref: string;
  integration: string;
  field: string;
  key_id: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  hint: string | null;
}

export interface SecretMeta {
  keyId: string;
  hint: string | null;
}

const sealedOf = (r: SecretRow): SealedValue => ({ keyId: r.key_id, nonce: r.nonce, ciphertext: r.ciphertext, tag: r.tag });

/**
 * `integration_secrets`: credentials encrypted under the key ring, each row one value named by
 * `ref`. Rows are never updated except by `rotate`, which re-encrypts them under the active key.
 */
export const secretVault = (sql: Sql, ring: KeyRing) => ({
  ring,

  /** Encrypts and stores a value; the ref goes into the settings event. Refused without a key. */
  async put(integration: string, field: string, plaintext: string): Promise<string> {
    const sealed = seal(ring, { integration, field }, plaintext);
    const ref = randomUUID();
    await sql`
      INSERT INTO integration_secrets (ref, integration, field, key_id, nonce, ciphertext, tag, hint)
      VALUES (${ref}, ${integration}, ${field}, ${sealed.keyId}, ${sealed.nonce}, ${sealed.ciphertext}, ${sealed.tag},
        ${hintOf(plaintext)})`;
    return ref;
  },

  /** Decrypts the given refs; a ref whose row is gone is left out. Throws on a missing key or a tampered row. */
  async read(refs: readonly string[]): Promise<Map<string, { plaintext: string } & SecretMeta>> {
    const out = new Map<string, { plaintext: string } & SecretMeta>();
    if (refs.length === 0) return out;
    const rows = await sql<SecretRow[]>`SELECT * FROM integration_secrets WHERE ref IN ${sql(refs as string[])}`;
    for (const r of rows) {
      const plaintext = open(ring, { integration: r.integration, field: r.field }, sealedOf(r));
      out.set(r.ref, { plaintext, keyId: r.key_id, hint: r.hint });
    }
    return out;
  },

  /** Start-up check: every key a stored value uses must be in the ring. */
  async assertKeysPresent(): Promise<void> {
    const rows = await sql<{ key_id: string; n: number }[]>`
      SELECT key_id, count(*)::int AS n FROM integration_secrets GROUP BY key_id ORDER BY key_id`;
    const missing = rows.filter((r) => !ring.get(r.key_id));
    if (missing.length) {
      throw new GatewayError(
        'GW_ERR_SECRET_KEY_MISSING',
        `stored credentials use key id(s) ${missing.map((r) => `"${r.key_id}" (${r.n} value(s))`).join(', ')} that SECRETS_KEYS does not hold: add the key back to the ring (and run fleetgate secrets rotate before removing it)`,
      );
    }
  },

  /**
   * Re-encrypts every value not already under the active key, one row per statement so a running
   * gateway reads either version: both open, and the plaintext is the same.
   */
  async rotate(): Promise<{ keyId: string; reencrypted: number }> {
    const { id } = ring.active();
    const rows = await sql<SecretRow[]>`SELECT * FROM integration_secrets WHERE key_id <> ${id}`;
    for (const r of rows) {
      const slot = { integration: r.integration, field: r.field };
      const sealed = seal(ring, slot, open(ring, slot, sealedOf(r)));
      await sql`
        UPDATE integration_secrets SET key_id = ${sealed.keyId}, nonce = ${sealed.nonce}, ciphertext = ${sealed.ciphertext},
          tag = ${sealed.tag}, rotated_at = now()
        WHERE ref = ${r.ref} AND key_id = ${r.key_id}`;
    }
    return { keyId: id, reencrypted: rows.length };
  },
});
export type SecretVault = ReturnType<typeof secretVault>;
