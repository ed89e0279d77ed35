/** Shared set-up of the MQTT ingest tests: PGlite, the embedded log, the registry, the broker. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { loadConfig } from '../../core/config.js';
import { type DeviceRegistry, deviceRegistry } from '../../core/devices/registry.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { registry } from '../../core/metrics.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type MqttIngest, type MqttIngestOptions, startMqttIngest } from '../../ingest/mqtt/broker.js';
import type { GpsReported } from '../../schemas/events/gps.js';
import { freePort } from '../support/natsServer.js';
import { freshPglite } from '../support/stores.js';

export interface Harness {
  store: PostgresStore;
  log: EventLog;
  devices: DeviceRegistry;
  ingest: MqttIngest;
  port: number;
  /** Registers a device and returns its token. */
  device(id: string): Promise<string>;
  close(): Promise<void>;
}

export const startHarness = async (
  env: Record<string, string> = {},
  opts: Partial<Omit<MqttIngestOptions, 'config' | 'devices'>> & {
    wrapLog?(log: EventLog): EventLog;
    /** Another broker on this harness' database (closed by its owner, not here). */
    shareStore?: PostgresStore;
  } = {},
): Promise<Harness> => {
  const { wrapLog, shareStore, ...ingestOpts } = opts;
  const store = shareStore ?? (await freshPglite());
  const realLog = embeddedEventLog(store.sql, { pollMs: 50 });
  const devices = deviceRegistry(store.sql);
  const config = loadConfig({ MQTT_CONNECTS_PER_IP_PER_MINUTE: '0', ...env });
  const ingest = await startMqttIngest({
    config,
    devices,
    logger: opts.logger ?? silentLogger(),
    host: '127.0.0.1',
    port: await freePort(),
    ...ingestOpts,
    log: wrapLog ? wrapLog(realLog) : (ingestOpts.log ?? realLog),
  });
  return {
    store,
    log: realLog,
    devices,
    ingest,
    port: ingest.port,
    device: async (id) => (await devices.create({ id })).token,
    close: async () => {
      await ingest.close();
      await realLog.close();
      if (!shareStore) await store.close();
    },
  };
};

/** An mqtt.js 3.1.1 client, connected (rejects with the CONNACK error otherwise); no reconnects. */
export const connectDevice = (port: number, username: string, password: string, opts: IClientOptions = {}) =>
  connectUrl(`mqtt://127.0.0.1:${port}`, username, password, opts);

/** The same over WebSocket (MQTT_WS_PORT, path /mqtt). */
export const connectDeviceWs = (port: number, username: string, password: string, opts: IClientOptions = {}) =>
  connectUrl(`ws://127.0.0.1:${port}/mqtt`, username, password, opts);

const connectUrl = (url: string, username: string, password: string, opts: IClientOptions) =>
  new Promise<MqttClient>((resolve, reject) => {
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      clientId: username,
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      ...opts,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (e) => {
      client.end(true);
      reject(e);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });

export const publish = (client: MqttClient, topic: string, body: unknown, qos: 0 | 1 = 1) =>
  new Promise<void>((resolve, reject) =>
    client.publish(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos }, (e) => (e ? reject(e) : resolve())),
  );

/** Every gps.reported event in the log, in order. */
export const gpsEvents = async (log: EventLog): Promise<EventEnvelope<GpsReported>[]> => {
  const out: EventEnvelope<GpsReported>[] = [];
  let fromSeq = 1;
  for (;;) {
    const page = await log.read('GPS', 1_000, { fromSeq });
    for (const m of page) out.push(...(m.events as EventEnvelope<GpsReported>[]));
    if (page.length < 1_000) return out;
    fromSeq = (page.at(-1)?.seq ?? 0) + 1;
  }
};

/** The current value of a counter on the shared registry (0 when the label set was never seen). */
export const counter = async (name: string, labels: Record<string, string> = {}) => {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
};

/** Resolves on the client's `close` event, or rejects after `ms`. */
export const closed = (client: MqttClient, ms = 3_000) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
    client.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });

export const fix = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  ts: Date.now() - 1_000,
  lat: 55.75,
  lon: 37.62,
  ...over,
});
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
