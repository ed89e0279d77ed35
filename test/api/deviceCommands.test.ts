import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  await fetch(`${api.url}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'unit-7' }),
  });
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const send = (deviceId: string, body: unknown) =>
  fetch(`${api.url}/api/v1/devices/${deviceId}/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('POST /api/v1/devices/{id}/commands', () => {
  it('appends device.command_requested on the device subject and shows it queued with its expiry', async () => {
    const res = await send('unit-7', { command: 'set_interval', payload: { seconds: 10 }, ttlSeconds: 600 });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const [m] = (await api.log.read('EVENTS', 10, { filterSubject: 'evt.devcmd.unit-7' })).filter((x) => x.events[0]?.id === id);
    expect(m?.events[0]).toMatchObject({
      type: 'device.command_requested',
      data: { deviceId: 'unit-7', command: 'set_interval', payload: { seconds: 10 } },
    });
    await api.caughtUp();
    const got = await fetch(`${api.url}/api/v1/devices/unit-7/commands/${id}`, { headers: { authorization: `Bearer ${key}` } });
    const body = (await got.json()) as { status: string; expiresAt: string; requestedAt: string };
    expect(body.status).toBe('queued');
    expect(Date.parse(body.expiresAt) - Date.parse(body.requestedAt)).toBeGreaterThan(590_000);
  });

  it('refuses an unknown device (404), a bad command name and an oversized payload (400), appending nothing', async () => {
    const before = await api.log.lastSeq('EVENTS');
    expect((await send('nope', { command: 'reboot' })).status).toBe(404);
    const bad = await send('unit-7', { command: 'rm -rf', ttlSeconds: 0 });
    expect(((await bad.json()) as { errors: { field: string }[] }).errors.map((e) => e.field).sort()).toEqual([
      'command',
      'ttlSeconds',
    ]);
    expect((await send('unit-7', { command: 'load', payload: 'x'.repeat(20_000) })).status).toBe(400);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });
});
