import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../api/index.js';
import { type RouteSpec, routeScopes } from '../../api/route.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { SCOPES, type Scope } from '../../schemas/http/scopes.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { migrateClickHouse, openTestChdb } from '../support/gps.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;
let routes: RouteSpec[];

let chdb: Awaited<ReturnType<typeof openTestChdb>>;

beforeAll(async () => {
  store = await freshPglite();
  chdb = await openTestChdb();
  await migrateClickHouse(store, chdb.store);
  // Every route, the ClickHouse ones included (the read-only profile matters not for auth).
  const ch = { clickhouse: chdb.client, analytics: chdb.client };
  api = await startApi(store, {}, ch);
  routes = apiRoutes({ config: api.config, log: api.log, sql: store.sql, logger: silentLogger() }, ch);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await chdb?.close();
  await store?.close();
});

const concrete = (path: string) =>
  path.replace(/\{(\w+)\}/g, (_, n: string) => (n === 'id' ? '0190a4b2-0000-7000-8000-000000000000' : `x-${n}`));

const call = (r: RouteSpec, key?: string) =>
  fetch(`${api.url}${concrete(r.path)}`, {
    method: r.method,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    ...(r.method === 'GET' ? {} : { body: '{}' }),
  });

describe('authorization over every route', () => {
  it('refuses no key and a wrong key (401), a key without the scope (403), and lets the right scope through', async () => {
    const guarded = routes.filter((r) => r.auth !== 'public');
    expect(guarded.length).toBeGreaterThan(0);
    const wrong = `fgk_000000000000_${'A'.repeat(43)}`;
    for (const r of guarded) {
      const scopes = routeScopes(r.auth);
      const scope = scopes[0] as Scope;
      const other = SCOPES.find((s) => !scopes.includes(s) && s !== 'admin') as Scope;
      const [none, bad, missing, right, admin] = await Promise.all([
        call(r),
        call(r, wrong),
        api.key([other]).then((k) => call(r, k)),
        api.key([scope]).then((k) => call(r, k)),
        api.key(['admin']).then((k) => call(r, k)),
      ]);
      const label = `${r.method} ${r.path}`;
      expect([label, none.status, none.headers.get('content-type')]).toEqual([label, 401, 'application/problem+json']);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect([label, bad.status]).toEqual([label, 401]);
      expect([label, missing.status, ((await missing.json()) as { code: string }).code]).toEqual([
        label,
        403,
        'GW_ERR_FORBIDDEN',
      ]);
      expect([label, [401, 403].includes(right.status)]).toEqual([label, false]);
      expect([label, [401, 403].includes(admin.status)]).toEqual([label, false]);
    }
  });

  it('serves public routes without a key', async () => {
    const open = routes.filter((r) => r.auth === 'public' && r.method === 'GET');
    for (const r of open) {
      const res = await call(r);
      expect([r.path, [401, 403].includes(res.status)]).toEqual([r.path, false]);
    }
  });

  it('stops honouring a revoked key once the cache expires', async () => {
    const { postgresApiKeyStore, prefixOf } = await import('../../api/auth.js');
    const keys = postgresApiKeyStore(store.sql, { cacheMs: 0 });
    const key = await api.key(['sms']);
    expect(await keys.authenticate(key)).toBeDefined();
    expect(await keys.revoke(prefixOf(key))).toBe(true);
    expect(await keys.authenticate(key)).toBeUndefined();
    // A key is never stored in the clear.
    const rows = await store.sql<{ key_hash: Buffer }[]>`SELECT key_hash FROM api_keys`;
    expect(rows.every((r) => !r.key_hash.toString('latin1').includes(key))).toBe(true);
  });

  it('revokes the previous ADMIN_API_KEY when the variable changes (issue 23.8)', async () => {
    const { postgresApiKeyStore, ensureAdminKey } = await import('../../api/auth.js');
    const keys = postgresApiKeyStore(store.sql, { cacheMs: 0 });
    const first = `operator-chosen-admin-key-${'a'.repeat(20)}`;
    const second = `operator-chosen-admin-key-${'b'.repeat(20)}`;
    const unusedKeyFile = '/nonexistent/admin-api-key'; // only a generated key is written
    expect(await ensureAdminKey(keys, store.sql, first, unusedKeyFile)).toEqual({ created: 'env' });
    expect(await keys.authenticate(first)).toBeDefined();
    expect(await ensureAdminKey(keys, store.sql, second, unusedKeyFile)).toEqual({ created: 'env' });
    expect(await keys.authenticate(second)).toBeDefined();
    expect(await keys.authenticate(first)).toBeUndefined();
    // A restart with the same variable changes nothing.
    expect(await ensureAdminKey(keys, store.sql, second, unusedKeyFile)).toBeUndefined();
    expect(await keys.authenticate(second)).toBeDefined();
  });

  it("gives an operator-chosen key a random prefix, not one derived from the key's hash (issue 23.8)", async () => {
    const { createHash } = await import('node:crypto');
    const { postgresApiKeyStore } = await import('../../api/auth.js');
    const keys = postgresApiKeyStore(store.sql, { cacheMs: 0 });
    const chosen = `another-chosen-key-${'c'.repeat(24)}`;
    const a = await keys.create(['admin'], 'chosen', chosen);
    const hashed = `h${createHash('sha256').update(chosen).digest('hex').slice(0, 11)}`;
    expect(a.prefix).not.toBe(hashed);
    expect(a.prefix).toMatch(/^[a-z0-9]{12}$/);
    expect((await keys.authenticate(chosen))?.prefix).toBe(a.prefix);
    expect(await keys.revoke(a.prefix)).toBe(true);
    expect(await keys.authenticate(chosen)).toBeUndefined();
  });

  it('a flood of unknown keys does not flush the cached real ones (issue 23.8)', async () => {
    const { postgresApiKeyStore, generateApiKey } = await import('../../api/auth.js');
    const key = await api.key(['sms']);
    let queries = 0;
    const counting = postgresApiKeyStore(
      ((...args: Parameters<typeof store.sql>) => {
        queries++;
        return store.sql(...args);
      }) as typeof store.sql,
      { cacheMs: 600_000 },
    );
    expect(await counting.authenticate(key)).toBeDefined();
    for (let i = 0; i < 10_050; i++) await counting.authenticate(generateApiKey());
    const before = queries;
    expect(await counting.authenticate(key)).toBeDefined();
    expect(queries).toBe(before); // still served from the cache: no query
  }, 120_000);

  it('looks a key up once for the requests that ask for it together, and refuses it once revoked', async () => {
    const { postgresApiKeyStore, prefixOf } = await import('../../api/auth.js');
    const key = await api.key(['sms']);
    let queries = 0;
    const counting = postgresApiKeyStore(
      Object.assign((...args: Parameters<typeof store.sql>) => {
        queries++;
        return store.sql(...args);
      }, store.sql) as typeof store.sql,
      { cacheMs: 600_000 },
    );
    const together = await Promise.all(Array.from({ length: 50 }, () => counting.authenticate(key)));
    expect(together.every((p) => p?.scopes.includes('sms'))).toBe(true);
    expect(queries).toBe(1);
    // Lookups of the same prefix racing a revocation: afterwards the key is refused, not served from the cache.
    const racing = Promise.all(Array.from({ length: 5 }, () => counting.authenticate(`${key.slice(0, -1)}x`)));
    expect(await counting.revoke(prefixOf(key))).toBe(true);
    await racing;
    expect(await counting.authenticate(key)).toBeUndefined();
  });
});
