import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GatewayError } from '../../schemas/errors.js';
import type { KeyRing } from './keyRing.js';

/** One stored credential: AES-256-GCM under the key `keyId`, `nonce` fresh per value, `tag` the GCM tag. */
export interface SealedValue {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** Where a value belongs: bound as associated data, so a value copied to another field does not open. */
export interface SecretSlot {
  integration: string;
  field: string;
}

const NONCE_BYTES = 12;
const aad = (slot: SecretSlot) => Buffer.from(`fleetgate:${slot.integration}\0${slot.field}`, 'utf8');

/** Encrypts `plaintext` under the ring's active key. */
export const seal = (ring: KeyRing, slot: SecretSlot, plaintext: string): SealedValue => {
  const { id, key } = ring.active();
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad(slot));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyId: id, nonce, ciphertext, tag: cipher.getAuthTag() };
};

/**
 * Decrypts a value; a wrong key, a tampered byte or a value moved to another slot fails the GCM
 * tag check and throws `GW_ERR_SECRET_UNREADABLE`: never garbage.
 */
export const open = (ring: KeyRing, slot: SecretSlot, sealed: SealedValue): string => {
  const key = ring.get(sealed.keyId);
  if (!key) {
    throw new GatewayError(
      'GW_ERR_SECRET_KEY_MISSING',
      `${slot.integration}.${slot.field} is encrypted under key "${sealed.keyId}", which SECRETS_KEYS does not hold`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce);
    decipher.setAAD(aad(slot));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch (e) {
    throw new GatewayError(
      'GW_ERR_SECRET_UNREADABLE',
      `${slot.integration}.${slot.field} does not decrypt under key "${sealed.keyId}": tampered or not this key's`,
      { cause: e },
    );
  }
};
