import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../core/config.js';
import { type Integrations, openIntegrations } from '../../core/integrations/index.js';
import { rotateThroughGateway } from '../../core/integrations/remoteRotate.js';
import { silentLogger } from '../../core/logger.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPostgresDb } from '../support/stores.js';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const ENV = { DATA_DIR: '/nonexistent', SECRETS_KEYS: `k1:${k1}` };
const STRIPE_KEY = `sk_test_${randomBytes(16).toString('hex')}`;

/** The running gateway's side of `fleetgate secrets rotate` (the embedded CLI cannot open DATA_DIR while it runs). */
describe('POST /api/v1/secrets/rotate', () => {
  let store: Awaited<ReturnType<typeof freshPostgresDb>>;
  const open: Array<{ api: ApiHarness; integrations: Integrations }> = [];
  const gateway = async (env: Record<string, string>) => {
    const integrations = await openIntegrations(loadConfig(env), store.sql, silentLogger(), { pollMs: 50 });
    const api = await startApi(store, env, {}, { integrations });
    open.push({ api, integrations });
    return { api, integrations, admin: await api.key(['admin']) };
  };
  const keyIds = async () => (await store.sql<{ key_id: string }[]>`SELECT key_id FROM integration_secrets`).map((r) => r.key_id);

  beforeAll(async () => {
    store = await freshPostgresDb();
  });
  afterAll(async () => {
    for (const g of open.reverse()) {
      g.integrations.settings.close();
      await g.api.close();
    }
    await store?.close();
  });

  it('re-encrypts under the active key in the running gateway; the CLI path reaches it with the admin key file', async () => {
    // A credential stored under key 1...
    const first = await gateway(ENV);
    const set = await fetch(`${first.api.url}/api/v1/integrations/payment.stripe`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${first.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ secretKey: STRIPE_KEY }),
    });
    expect(set.status).toBe(200);
    expect(await keyIds()).toEqual(['k1']);
    first.integrations.settings.close();
    await first.api.close();
    open.length = 0;

    // ...then the gateway restarted with key 2 active and key 1 still in the ring.
    const second = await gateway({ ...ENV, SECRETS_KEYS: `k1:${k1},k2:${k2}`, SECRETS_ACTIVE_KEY: 'k2' });
    const refused = await fetch(`${second.api.url}/api/v1/secrets/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await second.api.key(['payments'])}` },
    });
    expect(refused.status).toBe(403);
    expect(await keyIds()).toEqual(['k1']);

    const dataDir = await mkdtemp(join(tmpdir(), 'fg-rotate-'));
    try {
      await writeFile(join(dataDir, 'admin-api-key'), `${second.admin}\n`, { mode: 0o600 });
      const { port } = new URL(second.api.url);
      const config = { http: { host: '0.0.0.0', port: Number(port) }, dataDir } as unknown as Config;
      const lines: string[] = [];
      await rotateThroughGateway(config, {}, (l) => lines.push(l));
      expect(lines).toEqual([expect.stringMatching(/^re-encrypted 1 value\(s\) under key "k2" \(by the running gateway\)/)]);
      expect(await keyIds()).toEqual(['k2']);
      await second.integrations.settings.refresh();
      expect(second.integrations.settings.value('payment.stripe', 'secretKey')).toBe(STRIPE_KEY);

      // No admin key to hand: a clear error, nothing sent.
      await expect(rotateThroughGateway({ ...config, dataDir: join(dataDir, 'none') }, {}, () => {})).rejects.toThrow(
        /FLEETGATE_ADMIN_KEY/,
      );
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
