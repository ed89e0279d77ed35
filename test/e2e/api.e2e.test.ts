import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
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

const KEY = /fgk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}/;

describe('the API in the real process (embedded defaults)', () => {
  it('writes an admin key to a 0600 file on first start and prints only its path; the key works; apikeys create makes a scoped key that only its scope opens', async () => {
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
    // The key is in DATA_DIR/admin-api-key, readable by this user only; stdout (the service
    // journal) and the log name the file, never the key.
    const keyFile = join(dataDir, 'admin-api-key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const admin = (await readFile(keyFile, 'utf8')).trim();
    expect(admin).toMatch(new RegExp(`^${KEY.source}$`));
    expect(first.output()).toContain(keyFile);
    expect(first.output() + first.stderr()).not.toMatch(KEY);

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
    // The key never reaches the structured logs (nor anything else the process wrote).
    expect(
      first
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{') && l.includes(admin)),
    ).toEqual([]);
    expect(first.output() + first.stderr()).not.toContain(admin);
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
    expect(second.output()).not.toMatch(KEY);
    expect(second.output()).not.toContain(keyFile);
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
