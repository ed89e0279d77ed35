import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { freePort, runCli } from '../support/gatewayProcess.js';
import { tempDir } from '../support/stores.js';

let dataDir: string;
let remove: () => Promise<void>;
beforeAll(async () => {
  ({ dir: dataDir, remove } = await tempDir('fg-e2e-'));
});
afterAll(async () => remove());

/** Appends one event straight into the stopped gateway's PGlite, and reads it back later. */
const withLog = async <T>(f: (log: ReturnType<typeof embeddedEventLog>) => Promise<T>) => {
  const store = await openPostgres({ pgliteDir: join(dataDir, 'pg'), poolMax: 1 });
  try {
    return await f(embeddedEventLog(store.sql));
  } finally {
    await store.close();
  }
};

describe('fleetgate start (embedded defaults)', () => {
  it('answers /healthz, stops on SIGTERM, starts again with its data, and recovers after SIGKILL', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const env = {
      DATA_DIR: dataDir,
      HTTP_PORT: String(port),
      METRICS_PORT: String(metricsPort),
      MQTT_PORT: String(await freePort()),
      OSMAND_PORT: String(await freePort()),
    };
    const first = runCli(['start'], env);
    await first.waitHealthy(`http://127.0.0.1:${port}/healthz`, 90_000);
    const ready = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
    expect(ready).toEqual({ status: 'ready', checks: { postgres: true, eventLog: true, clickhouse: true } });
    // Metrics on the internal listener only (METRICS_PORT, localhost); the probes on both.
    expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toContain(
      'fleetgate_http_request_duration_seconds',
    );
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);
    expect(first.output()).toMatch(/"migrations applied"/);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output()).toMatch(/"shut down cleanly"/);

    const { seq, id } = await withLog(async (log) => {
      const e = newEvent({ type: 'test.persisted', subject: 'evt.e2e.1', source: 'e2e', data: { hello: 'world' } });
      return { seq: (await log.append('evt.e2e.1', e)).seq, id: e.id };
    });

    const second = runCli(['start'], env);
    await second.waitHealthy(`http://127.0.0.1:${port}/healthz`, 60_000);
    expect(second.output()).not.toMatch(/"migrations applied"/);
    // SIGKILL leaves a stale pid file; the next start takes it over.
    second.child.kill('SIGKILL');
    await second.exited;

    const third = runCli(['start'], env);
    await third.waitHealthy(`http://127.0.0.1:${port}/readyz`, 60_000);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    const [m] = await withLog((log) => log.read('EVENTS', 1, { fromSeq: seq }));
    expect(m?.events[0]?.id).toBe(id);
  }, 240_000);

  it('refuses a second process on the same DATA_DIR and says why', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const first = runCli(['start'], {
      DATA_DIR: dataDir,
      HTTP_PORT: String(p1),
      MQTT_PORT: String(await freePort()),
      OSMAND_PORT: String(await freePort()),
    });
    await first.waitHealthy(`http://127.0.0.1:${p1}/healthz`, 60_000);
    const second = runCli(['start'], {
      DATA_DIR: dataDir,
      HTTP_PORT: String(p2),
      MQTT_PORT: String(await freePort()),
      OSMAND_PORT: String(await freePort()),
    });
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toContain(`in use by fleetgate process ${first.child.pid}`);
    expect(await fetch(`http://127.0.0.1:${p1}/healthz`).then((r) => r.status)).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  }, 120_000);

  it('exits non-zero naming each bad variable and what it expects', async () => {
    const p = runCli(['start'], { DATA_DIR: dataDir, HTTP_PORT: 'eighty', SMS_TEST_MODE: 'maybe', NATS_URL: 'http://x' });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toContain('HTTP_PORT="eighty": expected a TCP port: an integer from 0 to 65535');
    expect(p.stderr()).toContain('SMS_TEST_MODE="maybe": expected true or false');
    expect(p.stderr()).toContain('NATS_URL="http://x": expected NATS servers');
    expect(p.output()).toBe('');
  });
});

describe('fleetgate start (distributed: NATS_URL and DATABASE_URL)', () => {
  it('creates the JetStream streams, uses the Postgres server, and reports ready', async () => {
    const { startNatsServer } = await import('../support/natsServer.js');
    const { freshPostgresDb } = await import('../support/stores.js');
    const nats = await startNatsServer();
    const db = await freshPostgresDb();
    const t = await tempDir('fg-e2e-dist-');
    try {
      const port = await freePort();
      const p = runCli(['start', '--roles', 'api,handlers'], {
        DATA_DIR: t.dir,
        HTTP_PORT: String(port),
        MQTT_PORT: String(await freePort()),
        OSMAND_PORT: String(await freePort()),
        NATS_URL: nats.url,
        DATABASE_URL: db.url,
      });
      await p.waitHealthy(`http://127.0.0.1:${port}/readyz`, 60_000);
      expect(p.output()).toMatch(/"eventLog":"jetstream"/);
      expect(p.output()).toMatch(/"postgres":"postgres"/);
      const { jetStreamEventLog } = await import('../../core/eventlog/jetstream.js');
      const log = await jetStreamEventLog({
        servers: nats.url,
        replicas: 1,
        eventsMaxAgeMs: 0,
        gpsMaxAgeMs: 3_600_000,
        dlqMaxAgeMs: 0,
        duplicateWindowMs: 60_000,
        gpsDuplicateWindowMs: 60_000,
      });
      expect(await log.lastSeq('EVENTS')).toBe(0);
      expect(await log.lastSeq('GPS')).toBe(0);
      await log.close();
      const [row] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM schema_migrations`;
      expect(Number(row?.n)).toBeGreaterThanOrEqual(4);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await db.close();
      await nats.stop();
      await t.remove();
    }
  }, 120_000);
});
