import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayPolling } from '../support/gatewayClient.js';
import { freePort, runCli } from '../support/gatewayProcess.js';
import { tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

let dataDir: string;
let remove: () => Promise<void>;
beforeAll(async () => {
  ({ dir: dataDir, remove } = await tempDir('fg-e2e-api-'));
});
afterAll(() => remove?.());

const KEY_LINE = /\n {2}(fgk_[a-z0-9]{12}_[A-Za-z0-9_-]{43})\n/;

describe('the API in the real process (embedded defaults)', () => {
  it('prints an admin key once on first start; the key works; apikeys create makes a scoped key that only its scope opens', async () => {
    const port = await freePort();
    const env = {
      DATA_DIR: dataDir,
      HTTP_PORT: String(port),
      MQTT_PORT: String(await freePort()),
      OSMAND_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    };
    const base = `http://127.0.0.1:${port}`;
    const first = runCli(['start'], env);
    await first.waitHealthy(`${base}/readyz`, 90_000);
    const admin = KEY_LINE.exec(first.output())?.[1] as string;
    expect(admin).toBeDefined();

    const sent = await fetch(`${base}/api/v1/sms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: '+79991234567', text: 'Test SMS' }),
    });
    expect(sent.status).toBe(202);
    const { id } = (await sent.json()) as { id: string };
    // Sent in test mode on the default embedded stack: guards (sms_admit on PGlite), call records, sms_log.
    let sms: { status?: string; testMode?: boolean } = {};
    await until(
      async () => {
        const r = await fetch(`${base}/api/v1/sms/${id}`, { headers: { authorization: `Bearer ${admin}` } });
        if (r.status === 200) sms = (await r.json()) as typeof sms;
        return sms.status === 'sent';
      },
      { ...gatewayPolling, what: () => `sms ${id} sent (status: ${sms.status})` },
    );
    expect(sms.status).toBe('sent');
    const docs = await fetch(`${base}/openapi.json`);
    expect(((await docs.json()) as { openapi: string }).openapi).toBe('3.1.0');
    // The key never reaches the structured logs.
    expect(
      first
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{') && l.includes(admin)),
    ).toEqual([]);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const create = runCli(['apikeys', 'create', '--scopes', 'email'], env);
    expect(await create.exited).toBe(0);
    const scoped = create.output().trim();
    expect(scoped).toMatch(/^fgk_/);
    const bad = runCli(['apikeys', 'create', '--scopes', 'sms,teleport'], env);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('teleport');

    const second = runCli(['start'], env);
    await second.waitHealthy(`${base}/readyz`, 90_000);
    expect(second.output()).not.toMatch(KEY_LINE);
    const forbidden = await fetch(`${base}/api/v1/sms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${scoped}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: '+79991234567', text: 'Test SMS' }),
    });
    expect(forbidden.status).toBe(403);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 240_000);
});
