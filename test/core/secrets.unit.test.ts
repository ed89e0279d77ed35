import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { open, seal } from '../../core/secrets/cipher.js';
import { embeddedKeyFile, isKeyRing, type KeyRing, parseKeyRing } from '../../core/secrets/keyRing.js';
import { isGatewayError } from '../../schemas/errors.js';
import { tempDir } from '../support/stores.js';

const key = () => randomBytes(32).toString('base64');
const ringOf = (spec: string, active?: string): KeyRing => {
  const r = parseKeyRing(spec, active);
  if (!isKeyRing(r)) throw new Error(r.problems.join('; '));
  return r;
};
const slot = { integration: 'payment.stripe', field: 'secretKey' };

describe('stored credentials: AES-256-GCM under a key ring', () => {
  it('opens what it sealed, with a fresh nonce and the key id beside each value', () => {
    const ring = ringOf(`k1:${key()}`);
    const a = seal(ring, slot, 'sk_test_1234567890abcdef');
    const b = seal(ring, slot, 'sk_test_1234567890abcdef');
    expect(a.keyId).toBe('k1');
    expect(a.nonce).toHaveLength(12);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.ciphertext.toString('utf8')).not.toContain('sk_test');
    expect(open(ring, slot, a)).toBe('sk_test_1234567890abcdef');
  });

  it('refuses a tampered ciphertext, tag or nonce instead of returning garbage', () => {
    const ring = ringOf(`k1:${key()}`);
    const sealed = seal(ring, slot, 'sk_test_secret_value');
    for (const part of ['ciphertext', 'tag', 'nonce'] as const) {
      const flipped = Buffer.from(sealed[part]);
      flipped.writeUInt8(flipped.readUInt8(0) ^ 0x01, 0);
      const bad = { ...sealed, [part]: flipped };
      expect(() => open(ring, slot, bad)).toThrow(expect.objectContaining({ code: 'GW_ERR_SECRET_UNREADABLE' }));
    }
  });

  it('binds the integration and field: a value moved to another slot does not open', () => {
    const ring = ringOf(`k1:${key()}`);
    const sealed = seal(ring, slot, 'sk_test_secret_value');
    expect(() => open(ring, { integration: 'payment.stripe', field: 'webhookSecret' }, sealed)).toThrow(
      expect.objectContaining({ code: 'GW_ERR_SECRET_UNREADABLE' }),
    );
    expect(() => open(ring, { integration: 'sms.smsru', field: 'secretKey' }, sealed)).toThrow(
      expect.objectContaining({ code: 'GW_ERR_SECRET_UNREADABLE' }),
    );
  });

  it('names the key id a value needs when the ring lacks it', () => {
    const sealed = seal(ringOf(`old:${key()}`), slot, 'sk_test_secret_value');
    try {
      open(ringOf(`new:${key()}`), slot, sealed);
      expect.unreachable();
    } catch (e) {
      expect(isGatewayError(e, 'GW_ERR_SECRET_KEY_MISSING')).toBe(true);
      expect((e as Error).message).toContain('"old"');
    }
  });

  it('checks SECRETS_KEYS and SECRETS_ACTIVE_KEY at start-up without quoting key material', () => {
    const k = key();
    const cases: [Record<string, string>, RegExp][] = [
      [{ SECRETS_KEYS: 'k1:c2hvcnQ=' }, /SECRETS_KEYS key "k1": expected 32 random bytes/],
      [{ SECRETS_KEYS: `k1:${k},k2:${key()}` }, /SECRETS_ACTIVE_KEY: required/],
      [{ SECRETS_KEYS: `k1:${k}`, SECRETS_ACTIVE_KEY: 'k9' }, /SECRETS_ACTIVE_KEY="k9" is not an id/],
      [{ SECRETS_KEYS: `nocolon${k}` }, /SECRETS_KEYS entry 1/],
    ];
    for (const [env, message] of cases) {
      try {
        loadConfig({ DATA_DIR: '/nonexistent', ...env });
        expect.unreachable();
      } catch (e) {
        expect(isGatewayError(e, 'GW_ERR_CONFIG')).toBe(true);
        expect((e as Error).message).toMatch(message);
        expect((e as Error).message).not.toContain(k);
      }
    }
    expect(
      loadConfig({ DATA_DIR: '/nonexistent', SECRETS_KEYS: `k1:${k},k2:${key()}`, SECRETS_ACTIVE_KEY: 'k2' }).secrets.activeKeyId,
    ).toBe('k2');
  });

  it('embedded mode generates one key file with mode 0600 and reads the same key later', async () => {
    const t = await tempDir();
    try {
      const path = join(t.dir, 'data', 'secrets.key');
      const first = await embeddedKeyFile(path);
      expect(first.created).toBe(true);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const again = await embeddedKeyFile(path);
      expect(again.created).toBe(false);
      const sealed = seal(first.ring, slot, 'sk_test_kept_across_restarts');
      expect(open(again.ring, slot, sealed)).toBe('sk_test_kept_across_restarts');
      expect(await readFile(path, 'utf8')).toMatch(/^local-1:[A-Za-z0-9+/]+=*\n$/);
    } finally {
      await t.remove();
    }
  });
});
