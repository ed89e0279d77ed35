import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceRegistry } from '../../core/devices/registry.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store);
  key = await api.key(['devices']);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const call = (method: string, path: string, body?: unknown) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('device registry', () => {
  it('registers a device and shows its token once; the token authenticates it and is stored only hashed', async () => {
    const res = await call('POST', '/api/v1/devices', { id: 'truck-17', kind: 'unit', name: 'Volvo FH' });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { id, token, kind } = (await res.json()) as { id: string; token: string; kind: string };
    expect([id, kind]).toEqual(['truck-17', 'unit']);
    expect(token).toMatch(/^fgd_[A-Za-z0-9_-]{43}$/);
    const registry = deviceRegistry(store.sql, { cacheMs: 0 });
    expect(await registry.authenticate('truck-17', token)).toEqual({ id: 'truck-17', kind: 'unit', driverId: null });
    expect(await registry.authenticate('truck-17', `${token}x`)).toBeUndefined();
    expect(await registry.authenticate('truck-18', token)).toBeUndefined();
    expect(await registry.byToken(token)).toMatchObject({ id: 'truck-17' });
    const info = (await (await call('GET', '/api/v1/devices/truck-17')).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ id: 'truck-17', kind: 'unit', name: 'Volvo FH', disabled: false });
    expect(JSON.stringify(info)).not.toContain(token);
    const [row] = await store.sql<{ token_hash: Buffer }[]>`SELECT token_hash FROM devices WHERE id = 'truck-17'`;
    expect(row?.token_hash.length).toBe(32);
  });

  it('refuses a second device with the same id (409) and a bad id (400), naming the field', async () => {
    await call('POST', '/api/v1/devices', { id: 'dup-1' });
    const again = await call('POST', '/api/v1/devices', { id: 'dup-1' });
    expect([again.status, ((await again.json()) as { code: string }).code]).toEqual([409, 'GW_ERR_CONFLICT']);
    const bad = await call('POST', '/api/v1/devices', { id: 'has/slash', kind: 'drone' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors.map((e) => e.field).sort()).toEqual(['id', 'kind']);
  });

  it('rotates a token (the old one stops working), disables and enables, and leaves audit events', async () => {
    const { token: old } = (await (
      await call('POST', '/api/v1/devices', { id: 'phone-9', kind: 'phone', driverId: 'drv-3' })
    ).json()) as {
      token: string;
    };
    const registry = deviceRegistry(store.sql, { cacheMs: 0 });
    const rotated = (await (await call('POST', '/api/v1/devices/phone-9/rotate')).json()) as { token: string };
    expect(await registry.authenticate('phone-9', old)).toBeUndefined();
    expect(await registry.authenticate('phone-9', rotated.token)).toEqual({ id: 'phone-9', kind: 'phone', driverId: 'drv-3' });
    expect(((await (await call('POST', '/api/v1/devices/phone-9/disable')).json()) as { disabled: boolean }).disabled).toBe(true);
    expect(await registry.authenticate('phone-9', rotated.token)).toBeUndefined();
    expect(await registry.byToken(rotated.token)).toBeUndefined();
    await call('POST', '/api/v1/devices/phone-9/enable');
    expect(await registry.authenticate('phone-9', rotated.token)).toBeDefined();
    expect((await call('POST', '/api/v1/devices/nope/disable')).status).toBe(404);
    const audit = (await api.log.read('EVENTS', 100, { filterSubject: 'evt.device.phone-9' })).flatMap((m) => m.events);
    expect(audit.map((e) => e.type)).toEqual(['device.registered', 'device.token_rotated', 'device.disabled', 'device.enabled']);
    expect(JSON.stringify(audit)).not.toContain(rotated.token);
  });
});
