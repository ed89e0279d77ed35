import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureAdminKey, postgresApiKeyStore } from '../../api/auth.js';
import { firstStartKeyPath } from '../../api/firstStartKeyFile.js';
import { mountApi } from '../../api/index.js';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { HttpServer } from '../../core/http/server.js';
import { createLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { isGatewayError } from '../../schemas/errors.js';
import { startTestHttpServer } from '../support/httpServer.js';
import { freshPglite, tempDir } from '../support/stores.js';

let store: PostgresStore;
let dir: { dir: string; remove: () => Promise<void> };
let log: EventLog;
let http: HttpServer | undefined;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  store = await freshPglite();
  dir = await tempDir('fg-first-key-');
  log = embeddedEventLog(store.sql, { pollMs: 20 });
}, 60_000);
afterAll(async () => {
  http?.close();
  await close?.();
  await log?.close();
  await store?.close();
  await dir?.remove();
});

describe('the admin key made on first start (issue 23.8)', () => {
  it('is written to a 0600 file under DATA_DIR, never to stdout or the log, and opens the API', async () => {
    // A DATA_DIR that does not exist yet, as for an `api` process on shared Postgres and NATS.
    const dataDir = join(dir.dir, 'data');
    const config = loadConfig({ DATA_DIR: dataDir });
    const logLines: string[] = [];
    const logger = createLogger('info', 'fleetgate', { write: (line: string) => void logLines.push(line) });
    const stdout: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
    try {
      http = await startTestHttpServer(async (app) => {
        const mounted = await mountApi(app, { config, log, sql: store.sql, logger });
        close = mounted.close;
      });
    } finally {
      spy.mockRestore();
    }

    const path = firstStartKeyPath(dataDir);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const key = (await readFile(path, 'utf8')).trim();
    expect(key).toMatch(/^fgk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);

    const printed = stdout.join('');
    expect(printed).toContain(path);
    expect(printed).not.toContain(key);
    expect(logLines.some((l) => l.includes(path))).toBe(true);
    expect(logLines.filter((l) => l.includes(key))).toEqual([]);

    const url = `http://127.0.0.1:${http.port}/api/v1/devices/no-such-device`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${key}` } })).status).toBe(404);
  }, 60_000);

  it('refuses to overwrite a key file left by an earlier start, and then creates no key', async () => {
    await store.sql`UPDATE api_keys SET revoked_at = now()`;
    const keys = postgresApiKeyStore(store.sql, { cacheMs: 0 });
    const path = join(dir.dir, 'admin-api-key-left-over');
    await writeFile(path, 'the only copy of an earlier key\n', { mode: 0o600 });

    const refused = await ensureAdminKey(keys, store.sql, undefined, path).catch((e: unknown) => e);
    expect(isGatewayError(refused, 'GW_ERR_CONFIG')).toBe(true);
    expect(String((refused as Error).message)).toContain(path);
    expect(await readFile(path, 'utf8')).toBe('the only copy of an earlier key\n');
    expect(await keys.any()).toBe(false);
  });
});
