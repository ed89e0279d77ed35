import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, readEnv } from '../../core/config.js';
import { isGatewayError } from '../../schemas/errors.js';
import { tempDir } from '../support/stores.js';

describe('config', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.mode).toEqual({ eventLog: 'embedded', postgres: 'pglite', clickhouse: 'chdb' });
    expect(c.http.port).toBe(8080);
    expect(c.mqtt.port).toBe(1883);
    expect(c.osmand.port).toBe(5055);
    expect(c.mqtt.wsPort).toBeUndefined(); // MQTT over WebSocket only when asked
    expect(c.roles).toEqual(['ingest', 'api', 'projections', 'handlers']);
    expect(c.sms.testMode).toBe(true);
    expect(c.postgres.pgliteDir).toMatch(/data\/pg$/);
    expect(Object.isFrozen(c.handlers)).toBe(true);
  });

  it("sizes PGlite's buffer cache from PGLITE_SHARED_BUFFERS_MB (16 MiB unless set), within its bounds", () => {
    expect(loadConfig({}).postgres.pgliteSharedBuffersMb).toBe(16);
    expect(loadConfig({ PGLITE_SHARED_BUFFERS_MB: '64' }).postgres.pgliteSharedBuffersMb).toBe(64);
    expect(() => loadConfig({ PGLITE_SHARED_BUFFERS_MB: '2' })).toThrow(/PGLITE_SHARED_BUFFERS_MB="2": .*from 4 to 1024/);
  });

  it('switches each part to distributed mode by its own variable, keeping the CRM names', () => {
    const c = loadConfig({
      NATS_URL: 'nats://a:4222,nats://b:4222',
      NATS_STREAM_REPLICAS: '3',
      DATABASE_URL: 'postgres://u@db/fleet',
      CLICKHOUSE_URL: 'http://ch:8123',
      SMS_TEST_MODE: 'false',
      GPS_TRACKING_ENABLED: 'no',
      SMS_API_KEY: '',
      ROLES: 'handlers,api',
    });
    expect(c.mode).toEqual({ eventLog: 'jetstream', postgres: 'postgres', clickhouse: 'server' });
    expect(c.nats?.servers).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(c.nats?.replicas).toBe(3);
    expect(c.sms.testMode).toBe(false);
    expect(c.gps.enabled).toBe(false);
    expect(c.sms.smsru.apiKey).toBeUndefined();
    expect(c.roles).toEqual(['api', 'handlers']);
  });

  it('names a bad secret without echoing its value (issue 23.8)', () => {
    const secret = 'short-but-secret-admin-key';
    let err: unknown;
    try {
      loadConfig({ ADMIN_API_KEY: secret });
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GW_ERR_CONFIG')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('ADMIN_API_KEY=(secret, not shown): expected an API key of at least 32 characters');
    expect(msg).not.toContain(secret);
  });

  it('lists every bad variable with what it expects', () => {
    let err: unknown;
    try {
      loadConfig({
        HTTP_PORT: '70000',
        MQTT_WS_PORT: '0',
        ROLES: 'api,cooking',
        DATABASE_URL: 'mysql://x',
        HANDLER_BACKOFF_BASE_MS: '5000',
        HANDLER_BACKOFF_MAX_MS: '100',
      });
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GW_ERR_CONFIG')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('HTTP_PORT="70000": expected a TCP port: an integer from 0 to 65535');
    expect(msg).toContain('MQTT_WS_PORT="0": expected a TCP port for MQTT over WebSocket (unset: off)');
    expect(msg).toContain('ROLES="api,cooking": expected a comma-separated list of ingest, api, projections, handlers');
    expect(msg).toContain('DATABASE_URL="mysql://x": expected the Postgres server: a URL starting with postgres://');
    expect(msg).toContain('HANDLER_BACKOFF_BASE_MS must not exceed HANDLER_BACKOFF_MAX_MS');
  });

  it('reads .env under the process environment, which wins', async () => {
    const t = await tempDir();
    const file = join(t.dir, '.env');
    await writeFile(file, 'SMS_PROVIDER=twilio\nHTTP_PORT=9000\nSMS_API_KEY=\n');
    const c = loadConfig(readEnv({ HTTP_PORT: '9100' }, file));
    expect(c.sms.provider).toBe('twilio');
    expect(c.http.port).toBe(9100);
    await t.remove();
  });

  it('runs the device ingest in a worker thread where it can reach the log and Postgres itself', () => {
    const distributed = { NATS_URL: 'nats://a:4222', DATABASE_URL: 'postgres://u@db/fleet' };
    expect(loadConfig({}).ingest.thread).toBe('main'); // the embedded log and PGlite live in the main thread
    expect(loadConfig({ NATS_URL: 'nats://a:4222' }).ingest.thread).toBe('main');
    expect(loadConfig(distributed).ingest.thread).toBe(availableParallelism() > 1 ? 'worker' : 'main');
    expect(loadConfig({ ...distributed, INGEST_THREAD: 'main' }).ingest.thread).toBe('main');
    expect(loadConfig({ ...distributed, INGEST_THREAD: 'worker' }).ingest.thread).toBe('worker');
    const refused = (() => {
      try {
        loadConfig({ INGEST_THREAD: 'worker' });
      } catch (e) {
        return e;
      }
    })();
    expect(isGatewayError(refused, 'GW_ERR_CONFIG')).toBe(true);
    expect((refused as Error).message).toContain('INGEST_THREAD=worker needs NATS_URL and DATABASE_URL');
    expect(() => loadConfig({ INGEST_THREAD: 'thread' })).toThrow(/INGEST_THREAD="thread": expected one of auto, main, worker/);
  });
});
