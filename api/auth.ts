import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { uuidv7 } from '../core/eventlog/uuid.js';
import { lookupCache } from '../core/lookupCache.js';
import type { Sql } from '../core/stores/postgres.js';
import { isScope, type Scope } from '../schemas/http/scopes.js';
import { writeFirstStartKey } from './firstStartKeyFile.js';
import type { ApiPrincipal } from './route.js';

/*
 * API keys look like `fgk_<prefix>_<secret>`. Only a SHA-256 of the whole key is stored; the
 * prefix finds the row, then the hashes are compared in constant time. A key of another shape
 * (ADMIN_API_KEY chosen by an operator) is found by its hash and gets a random prefix, stored
 * with it: the prefix is copied into events (`requestedBy`), and one derived from an unsalted
 * hash of a chosen key would let anyone test guesses of that key against the log.
 */
const KEY_RE = /^fgk_([a-z0-9]{12})_[A-Za-z0-9_-]{43}$/;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** The prefix a generated key carries ('' for an operator-chosen key: its prefix is random and stored). */
export const prefixOf = (key: string): string => KEY_RE.exec(key)?.[1] ?? '';

const randomPrefix = () => `r${randomBytes(6).toString('hex').slice(0, 11)}`;

export const generateApiKey = (): string => {
  const prefix = randomBytes(8).toString('hex').slice(0, 12);
  return `fgk_${prefix}_${randomBytes(32).toString('base64url')}`;
};

interface KeyRow {
  id: string;
  prefix: string;
  key_hash: Buffer;
  scopes: string[];
  revoked_at: Date | null;
}

export interface ApiKeyStore {
  /** Creates a key and returns it in full: the only time it exists outside the caller's hands. */
  create(scopes: readonly Scope[], name?: string, key?: string): Promise<{ id: string; prefix: string; key: string }>;
  /** The principal for a presented key, or undefined. Cached briefly: revocation takes effect within `cacheMs`. */
  authenticate(presented: string): Promise<ApiPrincipal | undefined>;
  revoke(prefix: string): Promise<boolean>;
  list(): Promise<{ id: string; prefix: string; name: string; scopes: string[]; createdAt: Date; revokedAt: Date | null }[]>;
  /** Is there any usable key at all? (first start creates an admin key) */
  any(): Promise<boolean>;
}

export const postgresApiKeyStore = (sql: Sql, opts: { cacheMs?: number; now?: () => number } = {}): ApiKeyStore => {
  const cacheMs = opts.cacheMs ?? 10_000;
  // Keyed by a generated key's prefix, or `#<hash>` for an operator-chosen key.
  const cache = lookupCache<KeyRow>({
    ttlMs: cacheMs,
    missTtlMs: Math.min(cacheMs, 2_000),
    maxEntries: 10_000,
    maxMisses: 10_000,
    ...(opts.now ? { now: opts.now } : {}),
  });

  // One lookup per key at a time: when a cached key expires under load, the requests that arrive
  // meanwhile wait for the same query instead of each sending its own.
  const inFlight = new Map<string, Promise<KeyRow | undefined>>();
  // Bumped by create and revoke: a lookup that began before them must not cache what it read.
  let generation = 0;

  const lookup = async (prefix: string, hash: Buffer, cacheKey: string): Promise<KeyRow | undefined> => {
    const began = generation;
    const [row] = prefix
      ? await sql<KeyRow[]>`SELECT id, prefix, key_hash, scopes, revoked_at FROM api_keys WHERE prefix = ${prefix}`
      : await sql<KeyRow[]>`SELECT id, prefix, key_hash, scopes, revoked_at FROM api_keys WHERE key_hash = ${hash}`;
    if (began === generation) cache.set(cacheKey, row);
    return row;
  };

  const rowFor = (presented: string, hash: Buffer): Promise<KeyRow | undefined> | KeyRow | undefined => {
    const prefix = prefixOf(presented);
    const cacheKey = prefix || `#${hash.toString('hex')}`;
    const hit = cache.get(cacheKey);
    if (hit) return hit.value;
    let pending = inFlight.get(cacheKey);
    if (!pending) {
      const started = lookup(prefix, hash, cacheKey).finally(() => {
        if (inFlight.get(cacheKey) === started) inFlight.delete(cacheKey);
      });
      pending = started;
      inFlight.set(cacheKey, started);
    }
    return pending;
  };

  const forget = () => {
    generation++;
    inFlight.clear();
    cache.clear();
  };

  return {
    async create(scopes, name = '', key = generateApiKey()) {
      const id = uuidv7();
      const prefix = prefixOf(key) || randomPrefix();
      await sql`INSERT INTO api_keys (id, prefix, key_hash, name, scopes)
                VALUES (${id}, ${prefix}, ${sha256(key)}, ${name}, ${sql.array([...scopes])})`;
      forget();
      return { id, prefix, key };
    },
    async authenticate(presented) {
      if (presented.length < 16 || presented.length > 256) return undefined;
      const hash = sha256(presented);
      const row = await rowFor(presented, hash);
      // Compared even when no row matched, so a miss and a wrong secret take the same time.
      const stored = row?.key_hash ?? Buffer.alloc(32);
      const ok = timingSafeEqual(hash, stored) && row !== undefined && row.revoked_at === null;
      if (!ok || !row) return undefined;
      return { keyId: row.id, prefix: row.prefix, scopes: row.scopes.filter(isScope) };
    },
    async revoke(prefix) {
      const r = await sql`UPDATE api_keys SET revoked_at = now() WHERE prefix = ${prefix} AND revoked_at IS NULL`;
      forget();
      return r.count > 0;
    },
    async list() {
      const rows = await sql<
        { id: string; prefix: string; name: string; scopes: string[]; created_at: Date; revoked_at: Date | null }[]
      >`
        SELECT id, prefix, name, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at`;
      return rows.map((r) => ({
        id: r.id,
        prefix: r.prefix,
        name: r.name,
        scopes: r.scopes,
        createdAt: r.created_at,
        revokedAt: r.revoked_at,
      }));
    },
    async any() {
      const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL`;
      return (r?.n ?? 0) > 0;
    },
  };
};

export const hasScope = (p: ApiPrincipal, scope: Scope) => p.scopes.includes('admin') || p.scopes.includes(scope);

/** The key from `Authorization: Bearer <key>` (or `X-API-Key`, which the PHP CRM used). */
export const presentedKey = (headers: Readonly<Record<string, string>>): string | undefined => {
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  return headers['x-api-key']?.trim() || undefined;
};

/**
 * First start: with no usable key, ADMIN_API_KEY becomes the admin key, or a new one is made
 * and written to `keyFile` (mode 0600), never returned for printing. With ADMIN_API_KEY set it
 * is always (re)registered, and an earlier ADMIN_API_KEY is revoked: changing the variable is
 * how an operator rotates it.
 */
export const ensureAdminKey = async (
  keys: ApiKeyStore,
  sql: Sql,
  adminApiKey: string | undefined,
  keyFile: string,
): Promise<{ created: 'env' } | { created: 'generated'; keyFile: string } | undefined> => {
  if (adminApiKey) {
    const hash = sha256(adminApiKey);
    await sql`UPDATE api_keys SET revoked_at = now()
              WHERE name = 'ADMIN_API_KEY' AND key_hash <> ${hash} AND revoked_at IS NULL`;
    const [exists] = await sql<{ prefix: string }[]>`SELECT prefix FROM api_keys WHERE key_hash = ${hash}`;
    if (exists) {
      // Registered by a version that derived the prefix from the key's hash: give it a random one.
      if (!prefixOf(adminApiKey) && exists.prefix === `h${hash.toString('hex').slice(0, 11)}`) {
        await sql`UPDATE api_keys SET prefix = ${randomPrefix()} WHERE key_hash = ${hash}`;
      }
      return undefined;
    }
    await keys.create(['admin'], 'ADMIN_API_KEY', adminApiKey);
    return { created: 'env' };
  }
  if (await keys.any()) return undefined;
  // The file first: if it cannot be written (or one is already there), no key exists that nobody holds.
  const key = generateApiKey();
  await writeFirstStartKey(keyFile, key);
  try {
    await keys.create(['admin'], 'first start', key);
  } catch (e) {
    await rm(keyFile, { force: true });
    throw e;
  }
  return { created: 'generated', keyFile };
};
