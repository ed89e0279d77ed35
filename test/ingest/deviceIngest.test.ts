/**
 * Start-up of the device ingest when a port is taken: a default port (a local Mosquitto on 1883)
 * turns that protocol off and says so; a port the operator chose, MQTT_WS_PORT included, stops start-up.
 */
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../core/config.js';
import { deviceRegistry } from '../../core/devices/registry.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { startDeviceIngest } from '../../ingest/deviceIngest.js';
import { isGatewayError } from '../../schemas/errors.js';
import { freePort } from '../support/natsServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let taken: Server;
let takenPort: number;
beforeAll(async () => {
  store = await freshPglite();
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  takenPort = (taken.address() as { port: number }).port;
}, 60_000);
afterAll(async () => {
  taken?.close();
  await store?.close();
});

/** A config whose ports are free unless overridden; `defaults` marks which of them count as left at their default. */
const configWith = async (env: Record<string, string>, defaults: { mqtt?: boolean; osmand?: boolean } = {}) => {
  const c = loadConfig({
    MQTT_PORT: String(await freePort()),
    OSMAND_PORT: String(await freePort()),
    MQTT_CONNECTS_PER_IP_PER_MINUTE: '0',
    ...env,
  });
  return {
    ...c,
    mqtt: { ...c.mqtt, portExplicit: !defaults.mqtt },
    osmand: { ...c.osmand, portExplicit: !defaults.osmand },
  } as Config;
};

const start = async (config: Config) => {
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  const log = embeddedEventLog(store.sql, { pollMs: 50 });
  const result = await startDeviceIngest({ config, log, sql: store.sql, devices: deviceRegistry(store.sql), logger }).then(
    (ingest) => ({ ingest, error: undefined }),
    (error: unknown) => ({ ingest: undefined, error }),
  );
  await result.ingest?.close();
  await log.close();
  return { ...result, lines };
};

describe('device ingest ports at start-up', () => {
  it('runs without MQTT when its default port is taken, and says which variable to set', async () => {
    const r = await start(await configWith({ MQTT_PORT: String(takenPort) }, { mqtt: true }));
    expect(r.error).toBeUndefined();
    expect(r.ingest?.mqttPort).toBeUndefined();
    expect(r.ingest?.osmandPort).toBeGreaterThan(0);
    expect(r.lines.join('')).toContain('mqtt ingest is OFF: set MQTT_PORT to a free port');
  });

  it('runs without OsmAnd when its default port is taken', async () => {
    const r = await start(await configWith({ OSMAND_PORT: String(takenPort) }, { osmand: true }));
    expect(r.error).toBeUndefined();
    expect(r.ingest?.osmandPort).toBeUndefined();
    expect(r.ingest?.mqttPort).toBeGreaterThan(0);
    expect(r.lines.join('')).toContain('osmand ingest is OFF: set OSMAND_PORT to a free port');
  });

  it('stops when a chosen MQTT_PORT is taken', async () => {
    const r = await start(await configWith({ MQTT_PORT: String(takenPort) }));
    expect(isGatewayError(r.error, 'GW_ERR_CONFIG')).toBe(true);
    expect((r.error as Error).message).toBe(`MQTT_PORT ${takenPort} is not available (EADDRINUSE): another broker?`);
  });

  it('stops when MQTT_WS_PORT is taken, even with MQTT_PORT at its default', async () => {
    const r = await start(await configWith({ MQTT_WS_PORT: String(takenPort) }, { mqtt: true }));
    expect(isGatewayError(r.error, 'GW_ERR_CONFIG')).toBe(true);
    expect((r.error as Error).message).toBe(`MQTT_WS_PORT ${takenPort} is not available (EADDRINUSE)`);
  });
});
