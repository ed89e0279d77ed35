import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GatewayError } from '../../schemas/errors.js';

/** The AES-256 keys fleetgate can decrypt with, by id, and the one new values are encrypted under. */
export interface KeyRing {
  readonly ids: readonly string[];
  /** undefined: no key configured (distributed mode without SECRETS_KEYS); storing a credential is refused. */
  readonly activeId: string | undefined;
  get(id: string): Buffer | undefined;
  /** Throws `GW_ERR_SECRETS_NO_KEY` when the ring is empty. */
  active(): { id: string; key: Buffer };
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const KEY_BYTES = 32;

/**
 * `SECRETS_KEYS` (`id:base64,…`) and `SECRETS_ACTIVE_KEY`, checked: every problem is returned as
 * a line for start-up, never quoting key material. One key and no active id: that key is active.
 */
export const parseKeyRing = (spec: string | undefined, activeId: string | undefined): KeyRing | { problems: string[] } => {
  const problems: string[] = [];
  const keys = new Map<string, Buffer>();
  const entries = (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    if (!KEY_ID.test(id)) {
      problems.push(`SECRETS_KEYS entry ${i + 1}: expected id:base64 with an id of letters, digits, _ . -`);
      return;
    }
    const b64 = entry.slice(colon + 1);
    const key = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || key.length !== KEY_BYTES) {
      problems.push(`SECRETS_KEYS key "${id}": expected ${KEY_BYTES} random bytes in base64 (openssl rand -base64 32)`);
      return;
    }
    if (keys.has(id)) problems.push(`SECRETS_KEYS key "${id}" is listed twice`);
    keys.set(id, key);
  });
  if (activeId !== undefined && !keys.has(activeId)) {
    problems.push(`SECRETS_ACTIVE_KEY="${activeId}" is not an id in SECRETS_KEYS`);
  }
  if (activeId === undefined && keys.size > 1) {
    problems.push('SECRETS_ACTIVE_KEY: required when SECRETS_KEYS holds more than one key');
  }
  if (problems.length) return { problems };
  return keyRing(keys, activeId ?? [...keys.keys()][0]);
};

export const keyRing = (keys: ReadonlyMap<string, Buffer>, activeId: string | undefined): KeyRing => ({
  ids: [...keys.keys()],
  activeId,
  get: (id) => keys.get(id),
  active() {
    const key = activeId === undefined ? undefined : keys.get(activeId);
    if (!key || activeId === undefined) {
      throw new GatewayError(
        'GW_ERR_SECRETS_NO_KEY',
        'no encryption key: set SECRETS_KEYS (id:base64 of 32 random bytes) and SECRETS_ACTIVE_KEY to store credentials',
      );
    }
    return { id: activeId, key };
  },
});

export const isKeyRing = (r: KeyRing | { problems: string[] }): r is KeyRing => !('problems' in r);

/**
 * The embedded mode's key when none is configured: read from `path`, or generated once with
 * mode 0600. `created` tells start-up to say so (and to back the file up apart from the data).
 */
export const embeddedKeyFile = async (path: string): Promise<{ ring: KeyRing; created: boolean }> => {
  let text: string | undefined;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let created = false;
  if (text === undefined) {
    await mkdir(dirname(path), { recursive: true });
    text = `local-1:${randomBytes(KEY_BYTES).toString('base64')}`;
    // wx: two processes starting at once never overwrite each other's key.
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(`${text}\n`);
    } finally {
      await fh.close();
    }
    await chmod(path, 0o600);
    created = true;
  }
  const ring = parseKeyRing(text, undefined);
  if (!isKeyRing(ring)) {
    throw new GatewayError('GW_ERR_CONFIG', `${path}: ${ring.problems.join('; ')}`);
  }
  return { ring, created };
};
